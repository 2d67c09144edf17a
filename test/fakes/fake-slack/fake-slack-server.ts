import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type SlidingWindowLimit, SlidingWindowLimiter } from '../fake-discord/sliding-window-limiter.js';
import { CallLog, type RecordedCall, type TokenKind } from './call-log.js';
import { SlackEvents } from './events.js';
import { FileHost, type HostFileInput, type SlackFile } from './file-host.js';
import { MessageStore, type StoredMessage } from './message-store.js';
import { FakeSocketMode } from './socket-mode-server.js';
import { TsClock } from './ts-clock.js';
import {
  type AssistantThreadState,
  decodeFields,
  type EphemeralMessage,
  type FakeSlackChannel,
  type FakeSlackUser,
  FakeWebApi,
  type Fault,
  type FaultInput,
  type Json,
  type StreamingSupport,
  type WebApiState,
} from './web-api.js';

export interface FakeSlackOptions {
  /** the bot token the Web API and file downloads want as bearer (default `xoxb-fake-bot-token`) */
  botToken?: string;
  /** the app-level token apps.connections.open wants (default `xapp-1-fake-app-token`) */
  appToken?: string;
  teamId?: string;
  teamDomain?: string;
  appId?: string;
  botUserId?: string;
  botId?: string;
  /** users.info knows these, the bot user and `fake.userId` (alice) */
  users?: FakeSlackUser[];
  channels?: FakeSlackChannel[];
  /** `chat.startStream` & co. (default 'available') */
  streaming?: StreamingSupport;
  /** a sliding window of chat.update per channel; past it HTTP 429 `ratelimited` with retry-after */
  updateLimit?: SlidingWindowLimit;
  /** ws pings to Socket Mode clients every … ms (default 5 000; 0: none) */
  socketPingIntervalMs?: number;
}

/** A post to one of the fake's response URLs (what bolt's `respond()` sends). */
export interface RecordedResponse {
  url: string;
  body: Json;
  at: number;
}

export interface FakeSlack {
  /** `http://127.0.0.1:PORT/api/` — `new App({ clientOptions: { slackApiUrl: apiUrl } })` */
  apiUrl: string;
  /** `http://127.0.0.1:PORT` — files and response URLs live here */
  origin: string;
  botToken: string;
  appToken: string;
  teamId: string;
  appId: string;
  botUserId: string;
  botId: string;
  /** a user (alice) to send events as */
  userId: string;
  /** a public channel (`C0FAKEGEN1`) to send events in */
  channelId: string;
  /** an IM channel between the bot and `userId` */
  imChannelId: string;
  /** every HTTP request answered, in order */
  calls: RecordedCall[];
  /** Web API calls only, optionally of one method */
  apiCalls(method?: string): RecordedCall[];
  messages: MessageStore;
  /** the bot's messages in a channel (optionally of one thread), oldest first */
  botMessages(channel: string, threadTs?: string): StoredMessage[];
  ephemerals: EphemeralMessage[];
  /** by `<channel_id>:<thread_ts>` */
  assistantThreads: Map<string, AssistantThreadState>;
  /** posts to response URLs */
  responses: RecordedResponse[];
  /** 429s sent (all, of the chat.update limit), and injected faults */
  counters: WebApiState['counters'];
  /** Events API payloads and slash command bodies for this workspace */
  events: SlackEvents;
  socket: FakeSocketMode;
  /** hosts bytes under /files-pri and returns the file object that events and files.info carry */
  hostFile(input: HostFileInput): SlackFile;
  /** a fresh response URL on the fake */
  newResponseUrl(): string;
  /** make the next `times` calls of a method fail */
  failNext(fault: FaultInput): void;
  setStreaming(support: StreamingSupport): void;
  waitFor(predicate: (call: RecordedCall) => boolean, timeoutMs?: number): Promise<RecordedCall>;
  waitForApi(method: string, timeoutMs?: number): Promise<RecordedCall>;
  /** the first post to a response URL (past or future) whose body matches */
  waitForResponse(predicate?: (body: Json) => boolean, timeoutMs?: number): Promise<RecordedResponse>;
  close(): Promise<void>;
}

/** A local Slack (Web API under /api/, Socket Mode under /socket, files, response URLs) on loopback. */
export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const botToken = options.botToken ?? 'xoxb-fake-bot-token';
  const appToken = options.appToken ?? 'xapp-1-fake-app-token';
  const teamId = options.teamId ?? 'T0FAKETEAM';
  const teamDomain = options.teamDomain ?? 'fake-workspace';
  const appId = options.appId ?? 'A0FAKEAPP1';
  const botUserId = options.botUserId ?? 'U0FAKEBOT1';
  const botId = options.botId ?? 'B0FAKEBOT1';
  const userId = 'U0FAKEALIC';
  const channelId = 'C0FAKEGEN1';
  const imChannelId = 'D0FAKEDM01';
  const users: FakeSlackUser[] = [
    { id: userId, name: 'alice', real_name: 'Alice Example', display_name: 'Alice' },
    { id: botUserId, name: 'glimpse', real_name: 'Glimpse', is_bot: true },
    ...(options.users ?? []),
  ];
  const channels: FakeSlackChannel[] = [
    { id: channelId, name: 'general', type: 'channel' },
    { id: imChannelId, type: 'im', user: userId },
    ...(options.channels ?? []),
  ];

  const log = new CallLog();
  const clock = new TsClock();
  const messages = new MessageStore();
  const responses: RecordedResponse[] = [];
  const responseUrls = new Set<string>();
  const tickets = new Set<string>();
  const faults: Fault[] = [];
  const counters = { rateLimited: 0, updateLimitRateLimited: 0, faults: 0 };

  const server = createServer((request, response) => {
    void onRequest(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ok: false, error: `fake_slack_error: ${String(error)}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  const files = new FileHost(origin, teamId, teamDomain, userId);
  const socket = new FakeSocketMode({
    server,
    path: '/socket',
    appId,
    pingIntervalMs: options.socketPingIntervalMs ?? 5_000,
    isTicketValid: (ticket) => ticket !== undefined && tickets.has(ticket),
  });
  const state: WebApiState = {
    teamId,
    teamDomain,
    appId,
    botUserId,
    botId,
    socketUrl: () => {
      const ticket = randomBytes(8).toString('hex');
      tickets.add(ticket);
      return `ws://127.0.0.1:${port}/socket?ticket=${ticket}&app_id=${appId}`;
    },
    clock,
    messages,
    ephemerals: [],
    assistantThreads: new Map(),
    users,
    channels,
    files,
    streaming: options.streaming ?? 'available',
    faults,
    updateLimiter: options.updateLimit ? new SlidingWindowLimiter(options.updateLimit) : null,
    counters,
  };
  const api = new FakeWebApi(state);
  let responseCounter = 0;
  const newResponseUrl = () => {
    responseCounter++;
    const url = `${origin}/commands/${teamId}/${1000 + responseCounter}/${randomBytes(12).toString('hex')}`;
    responseUrls.add(new URL(url).pathname);
    return url;
  };

  const tokenKind = (bearer: string | undefined): TokenKind => {
    if (bearer === undefined) return 'none';
    if (bearer === botToken) return 'bot';
    if (bearer === appToken) return 'app';
    return 'other';
  };

  async function onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', origin);
    const httpMethod = request.method ?? 'GET';
    const header = request.headers.authorization;
    const bearer = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    const contentType = request.headers['content-type'] ?? '';
    const base = { httpMethod, path: url.pathname, contentType, at: Date.now() };

    if (url.pathname.startsWith('/files-pri/')) {
      const token = tokenKind(bearer);
      const status = files.serve(url.pathname, token === 'bot', request, response);
      log.record({
        ...base,
        kind: 'file',
        method: httpMethod,
        body: Object.fromEntries(url.searchParams),
        token,
        authorized: token === 'bot',
        tokenInBody: false,
        status,
        response: null,
      });
      return;
    }

    const raw = await readBody(request);
    const parsed = await parseBody(raw, contentType);
    const tokenInBody = typeof parsed.token === 'string';
    const bodyToken = tokenInBody ? String(parsed.token) : undefined;
    delete parsed.token;
    const body = decodeFields(parsed);

    if (responseUrls.has(url.pathname) && httpMethod === 'POST') {
      const recorded: RecordedResponse = { url: `${origin}${url.pathname}`, body, at: Date.now() };
      responses.push(recorded);
      send(response, { status: 200, json: { ok: true } });
      log.record({
        ...base,
        kind: 'response_url',
        method: httpMethod,
        body,
        token: tokenKind(bearer),
        authorized: true,
        tokenInBody,
        status: 200,
        response: { ok: true },
      });
      return;
    }

    if (!url.pathname.startsWith('/api/')) {
      send(response, { status: 404, raw: 'Not Found' });
      log.record({
        ...base,
        kind: 'other',
        method: httpMethod,
        body,
        token: tokenKind(bearer),
        authorized: false,
        tokenInBody,
        status: 404,
        response: null,
      });
      return;
    }

    const method = decodeURIComponent(url.pathname.slice('/api/'.length));
    const token = tokenKind(bearer ?? bodyToken);
    const wanted: TokenKind = method === 'apps.connections.open' ? 'app' : 'bot';
    const authorized = token === wanted;
    let reply = api.takeFault(method);
    if (!reply) {
      if (token === 'none') reply = { status: 200, json: { ok: false, error: 'not_authed' } };
      else if (token === 'other') reply = { status: 200, json: { ok: false, error: 'invalid_auth' } };
      else if (!authorized) reply = { status: 200, json: { ok: false, error: 'not_allowed_token_type' } };
      else reply = api.handle(method, body);
    }
    send(response, reply);
    log.record({
      ...base,
      kind: 'api',
      method,
      body,
      token,
      authorized,
      tokenInBody,
      status: reply.status,
      response: reply.json ?? null,
    });
  }

  const fake: FakeSlack = {
    apiUrl: `${origin}/api/`,
    origin,
    botToken,
    appToken,
    teamId,
    appId,
    botUserId,
    botId,
    userId,
    channelId,
    imChannelId,
    calls: log.calls,
    apiCalls: (method) =>
      log.calls.filter((call) => call.kind === 'api' && (method === undefined || call.method === method)),
    messages,
    botMessages: (channel, threadTs) =>
      messages
        .inChannel(channel, { byUser: botUserId })
        .filter((message) => threadTs === undefined || message.thread_ts === threadTs),
    ephemerals: state.ephemerals,
    assistantThreads: state.assistantThreads,
    responses,
    counters,
    events: new SlackEvents({
      teamId,
      appId,
      botUserId,
      botId,
      userId,
      channelId,
      clock,
      messages,
      newResponseUrl,
    }),
    socket,
    hostFile: (input) => files.add(input),
    newResponseUrl,
    failNext: (fault) => {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    setStreaming: (support) => {
      state.streaming = support;
    },
    waitFor: (predicate, timeoutMs) => log.waitFor(predicate, timeoutMs),
    waitForApi: (method, timeoutMs) =>
      log.waitFor((call) => call.kind === 'api' && call.method === method, timeoutMs),
    waitForResponse: async (predicate, timeoutMs) => {
      const call = await log.waitFor(
        (candidate) =>
          candidate.kind === 'response_url' && (predicate === undefined || predicate(candidate.body)),
        timeoutMs,
      );
      return { url: `${origin}${call.path}`, body: call.body, at: call.at };
    },
    close: async () => {
      await socket.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

function send(
  response: ServerResponse,
  reply: { status: number; json?: Json; raw?: string; headers?: Record<string, string> },
) {
  const text = reply.json === undefined ? (reply.raw ?? '') : JSON.stringify(reply.json);
  response.writeHead(reply.status, {
    'content-type': reply.json === undefined ? 'text/plain' : 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...reply.headers,
  });
  response.end(text);
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** form-encoded, JSON or multipart (files are reduced to their name and size) */
async function parseBody(raw: Buffer, contentType: string): Promise<Json> {
  if (raw.byteLength === 0) return {};
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  if (contentType.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), {
      headers: { 'content-type': contentType },
    }).formData();
    const body: Json = {};
    form.forEach((value, field) => {
      body[field] = typeof value === 'string' ? value : { filename: value.name, size: value.size };
    });
    return body;
  }
  const text = raw.toString('utf8');
  try {
    const json: unknown = JSON.parse(text);
    return json !== null && typeof json === 'object' && !Array.isArray(json)
      ? (json as Json)
      : { _json: json };
  } catch {
    return { _raw: text };
  }
}
