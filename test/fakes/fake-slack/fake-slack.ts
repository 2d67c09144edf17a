import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export type Payload = Record<string, unknown>;

/** One Web API call the bot made (the token itself is never recorded). */
export interface SlackCall {
  method: string;
  body: Payload;
  /** `authorization: Bearer <the expected token>` was present */
  authorized: boolean;
  at: number;
}

export interface FakeSlackMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  text: string;
  /** a native stream still open */
  streaming?: boolean;
}

export interface FakeSlackOptions {
  botToken?: string;
  appToken?: string;
  teamId?: string;
  botUserId?: string;
  /** chat.startStream answers this error instead of streaming (e.g. `unknown_method`) */
  streamRefusal?: string;
  signingSecret?: string;
}

interface HostedFile {
  body: Uint8Array;
  mimetype: string;
}

/**
 * A local Slack on loopback for a real bolt `App`: the Web API under `/api/<method>` (recording
 * every call), private file downloads that need the bot token (without it: Slack's HTML login page,
 * as when `files:read` is missing), a `response_url` endpoint, Socket Mode's WebSocket, and a
 * helper that posts correctly signed Events API requests to a bolt HTTP receiver.
 */
export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly messages = new Map<string, FakeSlackMessage>();
  readonly responses: Payload[] = [];
  readonly acks: Payload[] = [];
  readonly botToken: string;
  readonly appToken: string;
  readonly teamId: string;
  readonly botUserId: string;
  readonly signingSecret: string;
  streamRefusal: string | undefined;
  /** false: the token lacks files:read, and every download gets the login page */
  filesReadable = true;
  /** an HTTP status every private file download answers instead of the file (e.g. 500) */
  fileFailure: number | undefined;
  origin = '';
  private readonly files = new Map<string, HostedFile>();
  private readonly faults: { method: string; error: string; status?: number; retryAfter?: number }[] = [];
  private readonly server = createServer((request, response) => void this.route(request, response));
  private readonly sockets = new WebSocketServer({ noServer: true });
  private socket: WebSocket | undefined;
  private tsCounter = 0;
  private eventCounter = 0;

  constructor(options: FakeSlackOptions = {}) {
    this.botToken = options.botToken ?? 'xoxb-fake-bot-token';
    this.appToken = options.appToken ?? 'xapp-fake-app-token';
    this.teamId = options.teamId ?? 'T0FAKE';
    this.botUserId = options.botUserId ?? 'U0GLIMPSE';
    this.streamRefusal = options.streamRefusal;
    this.signingSecret = options.signingSecret ?? 'fake-signing-secret';
    this.server.on('upgrade', (request, socket, head) => {
      this.sockets.handleUpgrade(request, socket, head, (ws) => {
        this.socket = ws;
        ws.on('message', (data) => this.acks.push(JSON.parse(String(data)) as Payload));
        ws.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A0FAKE' } }));
      });
    });
  }

  get apiUrl(): string {
    return `${this.origin}/api/`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const client of this.sockets.clients) client.terminate();
    this.sockets.close();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** calls of one method */
  callsOf(method: string): SlackCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /**
   * the next `times` calls of `method` fail with `error`: a Slack error code (HTTP 200, `ok: false`),
   * `ratelimited` (HTTP 429 with retry-after), `http_500`, or `drop` (the connection is cut)
   */
  failNext(method: string, error: string, times = 1, retryAfter = 1): void {
    for (let i = 0; i < times; i++) this.faults.push({ method, error, retryAfter });
  }

  /** a private file, as a Slack file object whose URLs need the bot token */
  hostFile(name: string, mimetype: string, body: Uint8Array): Payload {
    const id = `F${(++this.eventCounter).toString().padStart(6, '0')}`;
    this.files.set(`/files-pri/${this.teamId}-${id}/${name}`, { body, mimetype });
    const url = `${this.origin}/files-pri/${this.teamId}-${id}/${name}`;
    return {
      id,
      name,
      mimetype,
      filetype: name.split('.').pop(),
      size: body.byteLength,
      url_private: url,
      url_private_download: url,
    };
  }

  nextTs(): string {
    this.tsCounter++;
    return `1700000000.${this.tsCounter.toString().padStart(6, '0')}`;
  }

  /** the bot's messages in a thread, in order */
  thread(channel: string, threadTs: string): FakeSlackMessage[] {
    return [...this.messages.values()].filter((m) => m.channel === channel && m.thread_ts === threadTs);
  }

  /** an Events API `event_callback` envelope around `event` */
  envelope(event: Payload, eventId = `Ev${++this.eventCounter}`): Payload {
    return {
      token: 'verification-token',
      team_id: this.teamId,
      api_app_id: 'A0FAKE',
      type: 'event_callback',
      event_id: eventId,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ team_id: this.teamId, user_id: this.botUserId, is_bot: true }],
      event,
    };
  }

  /** POSTs `body` to a bolt HTTP receiver, signed as Slack signs it (or not, or too late) */
  async postSigned(
    url: string,
    body: Payload | string,
    options: { timestamp?: number; badSignature?: boolean; retryNum?: number } = {},
  ): Promise<{ status: number; text: string }> {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', options.badSignature ? 'wrong-secret' : this.signingSecret)
      .update(`v0:${timestamp}:${raw}`)
      .digest('hex')}`;
    const response = await fetch(url, {
      method: 'POST',
      body: raw,
      headers: {
        'content-type': typeof body === 'string' ? 'application/x-www-form-urlencoded' : 'application/json',
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature': signature,
        ...(options.retryNum !== undefined
          ? { 'x-slack-retry-num': String(options.retryNum), 'x-slack-retry-reason': 'http_timeout' }
          : {}),
      },
    });
    return { status: response.status, text: await response.text() };
  }

  /** a slash command's form body (its response_url points at this fake) */
  slashCommand(fields: { text: string; channel: string; user: string }): string {
    return new URLSearchParams({
      token: 'verification-token',
      team_id: this.teamId,
      channel_id: fields.channel,
      user_id: fields.user,
      command: '/glimpse',
      text: fields.text,
      trigger_id: `trigger-${++this.eventCounter}`,
      response_url: `${this.origin}/respond/${this.eventCounter}`,
      api_app_id: 'A0FAKE',
    }).toString();
  }

  /** Socket Mode: sends an envelope to the connected app; resolves once it acked */
  async sendEnvelope(
    type: 'events_api' | 'slash_commands',
    payload: Payload,
    retryAttempt = 0,
  ): Promise<Payload> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) throw new Error('no Socket Mode connection');
    const envelopeId = `env-${++this.eventCounter}`;
    socket.send(
      JSON.stringify({
        envelope_id: envelopeId,
        type,
        payload,
        accepts_response_payload: false,
        retry_attempt: retryAttempt,
        retry_reason: '',
      }),
    );
    const deadline = Date.now() + 5000;
    for (;;) {
      const ack = this.acks.find((a) => a.envelope_id === envelopeId);
      if (ack) return ack;
      if (Date.now() > deadline) throw new Error(`no ack for ${envelopeId}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** whether a Socket Mode client is connected */
  get socketConnected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.origin);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString();
    if (url.pathname.startsWith('/files-pri/')) return this.serveFile(url.pathname, request, response);
    if (url.pathname.startsWith('/respond/')) {
      this.responses.push(JSON.parse(raw || '{}') as Payload);
      return void response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    }
    if (!url.pathname.startsWith('/api/')) return void response.writeHead(404).end();
    const method = url.pathname.slice('/api/'.length);
    const body = parseBody(raw, request.headers['content-type']);
    const auth = request.headers.authorization ?? '';
    const token = method === 'apps.connections.open' ? this.appToken : this.botToken;
    const authorized = auth === `Bearer ${token}` || body.token === token;
    delete body.token;
    this.calls.push({ method, body, authorized, at: Date.now() });
    const send = (status: number, json: Payload, headers: Record<string, string> = {}) =>
      void response
        .writeHead(status, { 'content-type': 'application/json', ...headers })
        .end(JSON.stringify(json));
    if (!authorized) return send(200, { ok: false, error: 'invalid_auth' });
    const fault = this.faults.findIndex((f) => f.method === method);
    if (fault >= 0) {
      const [f] = this.faults.splice(fault, 1);
      if (f!.error === 'ratelimited')
        return send(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(f!.retryAfter ?? 1) });
      if (f!.error === 'http_500') return send(500, { ok: false, error: 'internal_error' });
      // the connection dropped before any answer (a network failure, not an HTTP one)
      if (f!.error === 'drop') return void request.socket.destroy();
      return send(200, { ok: false, error: f!.error });
    }
    send(200, this.answer(method, body));
  }

  private answer(method: string, body: Payload): Payload {
    const channel = String(body.channel ?? '');
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: `${this.origin}/`,
          team: 'Fake',
          user: 'glimpse',
          team_id: this.teamId,
          user_id: this.botUserId,
          bot_id: 'B0GLIMPSE',
        };
      case 'apps.connections.open':
        return { ok: true, url: `${this.origin.replace('http', 'ws')}/socket` };
      case 'chat.postMessage': {
        const ts = this.nextTs();
        const message: FakeSlackMessage = {
          channel,
          ts,
          text: String(body.text ?? ''),
          ...(body.thread_ts ? { thread_ts: String(body.thread_ts) } : {}),
        };
        this.messages.set(`${channel}:${ts}`, message);
        return { ok: true, channel, ts, message: { ...message, user: this.botUserId, bot_id: 'B0GLIMPSE' } };
      }
      case 'chat.update': {
        const message = this.messages.get(`${channel}:${body.ts}`);
        if (!message) return { ok: false, error: 'message_not_found' };
        message.text = String(body.text ?? '');
        return { ok: true, channel, ts: message.ts, text: message.text };
      }
      case 'chat.delete':
        return this.messages.delete(`${channel}:${body.ts}`)
          ? { ok: true, channel, ts: body.ts }
          : { ok: false, error: 'message_not_found' };
      case 'chat.startStream': {
        if (this.streamRefusal) return { ok: false, error: this.streamRefusal };
        const ts = this.nextTs();
        this.messages.set(`${channel}:${ts}`, {
          channel,
          ts,
          text: String(body.markdown_text ?? ''),
          streaming: true,
          ...(body.thread_ts ? { thread_ts: String(body.thread_ts) } : {}),
        });
        return { ok: true, channel, ts };
      }
      case 'chat.appendStream':
      case 'chat.stopStream': {
        const message = this.messages.get(`${channel}:${body.ts}`);
        if (!message?.streaming) return { ok: false, error: 'message_not_in_streaming_state' };
        message.text += String(body.markdown_text ?? '');
        if (method === 'chat.stopStream') message.streaming = false;
        return { ok: true, channel, ts: message.ts };
      }
      case 'assistant.threads.setStatus':
      case 'assistant.threads.setSuggestedPrompts':
      case 'assistant.threads.setTitle':
        return { ok: true };
      case 'conversations.replies':
        return { ok: true, messages: [{ ts: body.ts }], has_more: false };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private serveFile(path: string, request: IncomingMessage, response: ServerResponse): void {
    const file = this.files.get(path);
    if (!file) return void response.writeHead(404).end();
    if (this.fileFailure !== undefined) {
      return void response
        .writeHead(this.fileFailure, { 'content-type': 'text/plain' })
        .end('upstream error');
    }
    if (!this.filesReadable || request.headers.authorization !== `Bearer ${this.botToken}`) {
      // what Slack sends when the token cannot read files: a login page, with 200
      return void response
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!DOCTYPE html><html><body>Sign in to Slack</body></html>');
    }
    response
      .writeHead(200, { 'content-type': file.mimetype, 'content-length': String(file.body.byteLength) })
      .end(file.body);
  }
}

function parseBody(raw: string, contentType: string | undefined): Payload {
  if (raw === '') return {};
  if (contentType?.includes('application/json')) return JSON.parse(raw) as Payload;
  const body: Payload = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    body[key] = /^[[{]/.test(value) ? safeJson(value) : value;
  }
  return body;
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  return new FakeSlack(options).start();
}
