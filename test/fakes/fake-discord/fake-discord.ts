import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AttachmentHost, type HostedBehaviour } from './attachment-host.js';
import { CallLog, type RecordedCall, type RecordedFile } from './call-log.js';
import { FakeGateway, type GatewayRefusal, type RecordedIdentify } from './fake-gateway.js';
import { type MessageInput, MessageLog } from './message-log.js';
import { FakeRestApi, type FaultInput, type InteractionRecord, type RestState } from './rest-api.js';
import { type SlidingWindowLimit, SlidingWindowLimiter } from './sliding-window-limiter.js';
import { nextSnowflake } from './snowflake.js';
import {
  channelPayload,
  DEFAULT_EVERYONE_PERMISSIONS,
  defaultGuild,
  dmChannelPayload,
  type FakeGuildInput,
  type FakeThreadInput,
  type FakeUser,
  guildCreatePayload,
  memberPayload,
  type Payload,
  threadPayload,
  userPayload,
} from './world.js';

/** Gateway intent bits the fake honours when it dispatches. */
const INTENT = {
  Guilds: 1,
  GuildMessages: 1 << 9,
  DirectMessages: 1 << 12,
  MessageContent: 1 << 15,
} as const;

export interface FakeDiscordOptions {
  /** the bot token REST (`Bot <token>`) and IDENTIFY must carry (default `fake-bot-token`) */
  token?: string;
  /** the bot's user (default: a fresh id, username `Glimpse`) */
  bot?: FakeUser;
  /** default: the bot's id, as for real applications */
  applicationId?: string;
  /** the servers the bot is in (default: one, see `defaultGuild`, owned by `fake.user`) */
  guilds?: FakeGuildInput[];
  /** HELLO's heartbeat_interval (default 60 000 ms: no heartbeat during a short test) */
  heartbeatIntervalMs?: number;
  /** close IDENTIFY with a code, e.g. `{ code: 4014, reason: 'Disallowed intent(s).' }` */
  refuseIdentify?: GatewayRefusal | ((identify: RecordedIdentify) => GatewayRefusal | undefined);
  /** a sliding window of PATCH /channels/:id/messages/:id per channel; past it 429 */
  editLimit?: SlidingWindowLimit;
  /** the same for PATCH /webhooks/:app/:token/messages/:id, per interaction token */
  interactionEditLimit?: SlidingWindowLimit;
  /** send `x-ratelimit-*` on successful limited calls too, as Discord does (default false, so that
   * going over a limit always shows as a counted 429 instead of discord.js quietly waiting) */
  announceRateLimits?: boolean;
  /** echo the bot's own messages back as MESSAGE_CREATE/UPDATE, as Discord does (default true) */
  echoOwnMessages?: boolean;
}

/** A message as a test makes a user send it. */
export type SendMessageInput = Omit<MessageInput, 'channelType' | 'extra'>;

export interface EditMessageInput {
  id: string;
  content?: string;
  embeds?: Payload[];
  attachments?: Payload[];
}

export interface InteractionInput {
  /** `chat-input`: a slash command (type 2 / data.type 1); `message-context`: data.type 3 */
  type: 'chat-input' | 'message-context';
  commandName: string;
  commandId?: string;
  channelId: string;
  /** default: the channel's guild (none for a DM channel) */
  guildId?: string;
  user: FakeUser;
  /** raw API options, e.g. `{ name: 'image', type: 11, value: attachment.id }` */
  options?: Payload[];
  /** attachments for attachment options, sent as `data.resolved.attachments` */
  attachments?: Payload[];
  /** message-context: the message (from the fake's log) the command was used on */
  targetMessageId?: string;
  id?: string;
  token?: string;
}

export interface HostAttachmentInput {
  filename: string;
  contentType: string;
  body: Uint8Array;
  behaviour?: HostedBehaviour;
  /** what the attachment object claims (default: the body's length) */
  size?: number;
  width?: number;
  height?: number;
}

export interface FakeDiscord {
  /** `http://127.0.0.1:PORT/api` — pass as `new Client({ rest: { api: apiUrl } })` */
  apiUrl: string;
  /** `http://127.0.0.1:PORT` — where attachments are hosted */
  origin: string;
  /** `ws://127.0.0.1:PORT/gateway` — what GET /gateway/bot answers */
  gatewayUrl: string;
  token: string;
  bot: FakeUser;
  applicationId: string;
  /** a member of the default guild to send messages as */
  user: FakeUser;
  guilds: FakeGuildInput[];
  /** the first guild, its first text channel and that channel's first thread */
  guildId: string;
  textChannelId: string;
  threadId: string | undefined;
  /** every HTTP request answered (REST and downloads), in order */
  calls: RecordedCall[];
  gateway: FakeGateway;
  messages: MessageLog;
  interactions: Map<string, InteractionRecord>;
  /** 429s sent: all of them, those of the edit limits, and injected faults */
  counters: { rateLimited: number; editLimitRateLimited: number; faults: number };
  /** REST calls only, optionally of one route (`PATCH /channels/:channelId/messages/:messageId`) */
  restCalls(route?: string): RecordedCall[];
  /** MESSAGE_CREATE as a user; returns the full payload (also kept in the fake's message log) */
  sendMessage(input: SendMessageInput): Payload;
  /** MESSAGE_UPDATE: a user edited their message */
  editMessage(input: EditMessageInput): Payload;
  /** MESSAGE_DELETE */
  deleteMessage(id: string): void;
  /** INTERACTION_CREATE; answer it through `POST /interactions/:id/:token/callback` */
  sendInteraction(input: InteractionInput): { id: string; token: string; payload: Payload };
  /** the DM channel between the bot and `user` (made on first use; Discord sends no CHANNEL_CREATE) */
  dmChannel(user: FakeUser): string;
  /** THREAD_CREATE for a new thread under `parentId` */
  createThread(input: Omit<FakeThreadInput, 'id'> & { id?: string; guildId?: string }): Payload;
  /** hosts a file under `/attachments/<path>`; returns its URL */
  hostFile(
    path: string,
    file: { body: Uint8Array; contentType: string; behaviour?: HostedBehaviour },
  ): string;
  /** hosts a file and returns the attachment object a message or interaction carries */
  hostAttachment(input: HostAttachmentInput): Payload;
  /** make the next `times` calls of a route fail with `status` */
  failNext(fault: FaultInput): void;
  /** the first call (already made or to come) matching `predicate` */
  waitFor(predicate: (call: RecordedCall) => boolean, timeoutMs?: number): Promise<RecordedCall>;
  close(): Promise<void>;
}

/** A local Discord (REST under /api, the gateway under /gateway, files under /attachments) on loopback. */
export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const token = options.token ?? 'fake-bot-token';
  const bot: FakeUser = options.bot ?? { id: nextSnowflake(), username: 'Glimpse', bot: true };
  const applicationId = options.applicationId ?? bot.id;
  const user: FakeUser = { id: nextSnowflake(), username: 'alice', globalName: 'Alice' };
  const guilds = options.guilds ?? [defaultGuild(user)];
  const log = new CallLog();
  const messages = new MessageLog();
  const host = new AttachmentHost();
  const dms = new Map<string, FakeUser>();
  const dmByUser = new Map<string, string>();
  const interactions = new Map<string, InteractionRecord>();
  const counters = { rateLimited: 0, editLimitRateLimited: 0, faults: 0 };
  const faults: RestState['faults'] = [];

  const server = createServer((request, response) => {
    void onRequest(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ message: `fake-discord: ${String(error)}`, code: 0 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const gatewayUrl = `ws://127.0.0.1:${port}/gateway`;

  const findGuildOf = (channelId: string): { guild: FakeGuildInput; type: number } | undefined => {
    for (const guild of guilds) {
      const channel = guild.channels?.find((candidate) => candidate.id === channelId);
      if (channel) return { guild, type: channel.type ?? 0 };
      const thread = guild.threads?.find((candidate) => candidate.id === channelId);
      if (thread) return { guild, type: thread.type ?? 11 };
    }
    return undefined;
  };
  const channelInfo = (channelId: string) => {
    const found = findGuildOf(channelId);
    if (found) return { guildId: found.guild.id, type: found.type };
    return dms.has(channelId) ? { type: 1 } : undefined;
  };
  const isDm = (message: Payload) => !message.guild_id;

  /** what a session's intents let it see of a message (Discord blanks content without MessageContent) */
  const filterMessage = (message: Payload) => (intents: number) => {
    if (!(intents & (isDm(message) ? INTENT.DirectMessages : INTENT.GuildMessages))) return null;
    if (intents & INTENT.MessageContent || isDm(message)) return message;
    const author = message.author as Payload;
    const mentionsBot = (message.mentions as Payload[]).some((mention) => mention.id === bot.id);
    if (author.id === bot.id || mentionsBot) return message;
    return { ...message, content: '', embeds: [], attachments: [], components: [] };
  };

  const hostAttachment = (input: HostAttachmentInput): Payload => {
    const id = nextSnowflake();
    const url = hostFile(`${id}/${encodeURIComponent(input.filename)}`, input);
    return {
      id,
      filename: input.filename,
      size: input.size ?? input.body.byteLength,
      url: `${url}?ex=${Math.floor(Date.now() / 1000 + 86_400).toString(16)}&is=0&hm=fake`,
      proxy_url: `${url}?proxy=1`,
      content_type: input.contentType,
      ...(input.width === undefined ? {} : { width: input.width }),
      ...(input.height === undefined ? {} : { height: input.height }),
    };
  };
  const hostFile: FakeDiscord['hostFile'] = (path, file) => {
    const clean = path.replace(/^\/+/, '');
    host.set(`/attachments/${clean}`, {
      body: file.body,
      contentType: file.contentType,
      behaviour: file.behaviour ?? { type: 'bytes' },
    });
    return `${origin}/attachments/${clean}`;
  };

  const gateway = new FakeGateway({
    server,
    path: '/gateway',
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 60_000,
    token,
    refuseIdentify: options.refuseIdentify,
    onIdentify: (_identify, session) => ({
      ready: {
        v: 10,
        user: { ...userPayload({ ...bot, bot: true }), verified: true, mfa_enabled: false, email: null },
        guilds: guilds.map((guild) => ({ id: guild.id, unavailable: true })),
        session_id: session.sessionId,
        resume_gateway_url: session.resumeUrl,
        shard: [0, 1],
        application: { id: applicationId, flags: (1 << 19) | (1 << 23) },
        user_settings: {},
        relationships: [],
        private_channels: [],
        presences: [],
        guild_join_requests: [],
        geo_ordered_rtc_regions: [],
        _trace: ['["fake-discord",{"micros":0}]'],
      },
      guilds: guilds.map((guild) => guildCreatePayload(guild, bot)),
    }),
  });
  gateway.url = gatewayUrl;

  const state: RestState = {
    token,
    bot,
    applicationId,
    gatewayUrl,
    messages,
    gateway,
    interactions,
    commands: new Map(),
    faults,
    counters,
    editLimiter: options.editLimit ? new SlidingWindowLimiter(options.editLimit) : null,
    interactionEditLimiter: options.interactionEditLimit
      ? new SlidingWindowLimiter(options.interactionEditLimit)
      : null,
    announceRateLimits: options.announceRateLimits ?? false,
    echoOwnMessages: options.echoOwnMessages ?? true,
    channel: (channelId) => {
      for (const guild of guilds) {
        const index = guild.channels?.findIndex((candidate) => candidate.id === channelId) ?? -1;
        if (index >= 0) return channelPayload(guild.id, guild.channels![index]!, index);
        const thread = guild.threads?.find((candidate) => candidate.id === channelId);
        if (thread) return threadPayload(guild.id, thread);
      }
      const recipient = dms.get(channelId);
      return recipient ? dmChannelPayload(channelId, recipient) : undefined;
    },
    channelInfo,
    hostUpload: (file) =>
      hostAttachment({ filename: file.filename, contentType: file.contentType, body: file.bytes }),
    dispatchMessage: (event, message) => gateway.dispatch(event, filterMessage(message)),
    dispatchDelete: (message) =>
      gateway.dispatch('MESSAGE_DELETE', (intents) =>
        intents & (isDm(message) ? INTENT.DirectMessages : INTENT.GuildMessages)
          ? {
              id: message.id,
              channel_id: message.channel_id,
              ...(message.guild_id ? { guild_id: message.guild_id } : {}),
            }
          : null,
      ),
  };
  const rest = new FakeRestApi(state);

  async function onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', origin);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (name !== 'authorization' && value !== undefined) headers[name] = String(value);
    }
    const authorization = request.headers.authorization ?? null;
    const query = Object.fromEntries(url.searchParams);
    const base = {
      method: request.method ?? 'GET',
      query,
      headers,
      authorized: authorization === `Bot ${token}`,
      authorizationScheme: authorization ? (authorization.split(' ')[0] ?? null) : null,
      at: Date.now(),
    };
    if (url.pathname.startsWith('/attachments/')) {
      const status = host.serve(url.pathname, request, response);
      log.record({
        ...base,
        kind: 'attachment',
        path: url.pathname,
        route: 'GET /attachments/*',
        body: null,
        files: [],
        status,
        response: null,
      });
      return;
    }
    const raw = await readBody(request);
    const { body, files } = await parseBody(raw, headers['content-type'] ?? '');
    const path = url.pathname.replace(/^\/api/, '').replace(/^\/v\d+(?=\/)/, '');
    const reply = url.pathname.startsWith('/api/')
      ? await rest.handle({ method: base.method, path, query, body, files }, base.authorized)
      : { status: 404, json: { message: '404: Not Found', code: 0 }, route: 'unknown' };
    const text = reply.json === undefined || reply.status === 204 ? '' : JSON.stringify(reply.json);
    response.writeHead(reply.status, {
      ...(text ? { 'content-type': 'application/json' } : {}),
      'content-length': String(Buffer.byteLength(text)),
      ...reply.headers,
    });
    response.end(text);
    const recordedFiles: RecordedFile[] = files.map((file) => ({
      field: file.field,
      filename: file.filename,
      contentType: file.contentType,
      size: file.bytes.byteLength,
    }));
    log.record({
      ...base,
      kind: 'rest',
      path: safeDecode(path),
      route: reply.route,
      body,
      files: recordedFiles,
      status: reply.status,
      response: reply.json ?? null,
    });
  }

  const dmChannel = (recipient: FakeUser): string => {
    let id = dmByUser.get(recipient.id);
    if (!id) {
      id = nextSnowflake();
      dmByUser.set(recipient.id, id);
      dms.set(id, recipient);
    }
    return id;
  };

  const firstGuild = guilds[0];
  const firstText = firstGuild?.channels?.find((channel) => (channel.type ?? 0) === 0);

  const fake: FakeDiscord = {
    apiUrl: `${origin}/api`,
    origin,
    gatewayUrl,
    token,
    bot,
    applicationId,
    user,
    guilds,
    guildId: firstGuild?.id ?? '',
    textChannelId: firstText?.id ?? '',
    threadId: firstGuild?.threads?.find((thread) => thread.parentId === firstText?.id)?.id,
    calls: log.calls,
    gateway,
    messages,
    interactions,
    counters,
    restCalls: (route) =>
      log.calls.filter((call) => call.kind === 'rest' && (route === undefined || call.route === route)),
    sendMessage: (input) => {
      let info = channelInfo(input.channelId);
      if (!info && !input.guildId) {
        // an unknown channel without a guild: the DM channel between the bot and the author
        dms.set(input.channelId, input.author);
        dmByUser.set(input.author.id, input.channelId);
        info = { type: 1 };
      }
      const message = messages.add(
        messages.build({ ...input, guildId: input.guildId ?? info?.guildId, channelType: info?.type }),
      );
      gateway.dispatch('MESSAGE_CREATE', filterMessage(message));
      return message;
    },
    editMessage: (input) => {
      const { id, ...fields } = input;
      const updated = messages.update(id, fields);
      if (!updated) throw new Error(`fake-discord: no message ${id} to edit`);
      gateway.dispatch('MESSAGE_UPDATE', filterMessage(updated));
      return updated;
    },
    deleteMessage: (id) => {
      const message = messages.delete(id);
      if (!message) throw new Error(`fake-discord: no message ${id} to delete`);
      state.dispatchDelete(message);
    },
    sendInteraction: (input) => {
      const id = input.id ?? nextSnowflake();
      const interactionToken = input.token ?? `interaction-token-${id}`;
      const info = channelInfo(input.channelId);
      const guildId = input.guildId ?? info?.guildId;
      const channel = state.channel(input.channelId) ?? dmChannelPayload(input.channelId, input.user);
      if (!info && !guildId) dms.set(input.channelId, input.user);
      const resolved: Payload = {};
      if (input.attachments?.length) {
        resolved.attachments = Object.fromEntries(
          input.attachments.map((attachment) => [attachment.id, attachment]),
        );
      }
      let targetId: string | undefined;
      if (input.type === 'message-context') {
        const target = input.targetMessageId ? messages.get(input.targetMessageId) : undefined;
        if (!target) throw new Error(`fake-discord: no target message ${input.targetMessageId}`);
        targetId = String(target.id);
        resolved.messages = { [targetId]: target };
      }
      const payload: Payload = {
        id,
        application_id: applicationId,
        type: 2,
        token: interactionToken,
        version: 1,
        locale: 'en-US',
        app_permissions: DEFAULT_EVERYONE_PERMISSIONS,
        entitlements: [],
        authorizing_integration_owners: guildId ? { '0': guildId } : { '1': input.user.id },
        context: guildId ? 0 : 1,
        attachment_size_limit: 10_485_760,
        channel_id: input.channelId,
        channel,
        ...(guildId
          ? {
              guild_id: guildId,
              guild_locale: 'en-US',
              guild: { id: guildId, locale: 'en-US', features: [] },
              member: { ...memberPayload(input.user), permissions: DEFAULT_EVERYONE_PERMISSIONS },
            }
          : { user: userPayload(input.user) }),
        data: {
          id: input.commandId ?? nextSnowflake(),
          name: input.commandName,
          type: input.type === 'chat-input' ? 1 : 3,
          ...(input.options ? { options: input.options } : {}),
          ...(Object.keys(resolved).length ? { resolved } : {}),
          ...(targetId ? { target_id: targetId } : {}),
          ...(guildId ? { guild_id: guildId } : {}),
        },
      };
      interactions.set(interactionToken, {
        id,
        token: interactionToken,
        applicationId,
        channelId: input.channelId,
        guildId,
        user: input.user,
        owners: payload.authorizing_integration_owners as Payload,
        commandName: input.commandName,
        callbacks: [],
      });
      gateway.dispatch('INTERACTION_CREATE', payload);
      return { id, token: interactionToken, payload };
    },
    dmChannel,
    createThread: (input) => {
      const found = findGuildOf(input.parentId);
      const guild = input.guildId ? guilds.find((candidate) => candidate.id === input.guildId) : found?.guild;
      if (!guild) throw new Error(`fake-discord: no guild for parent ${input.parentId}`);
      const thread: FakeThreadInput = { ...input, id: input.id ?? nextSnowflake() };
      guild.threads = [...(guild.threads ?? []), thread];
      const payload = { ...threadPayload(guild.id, thread), newly_created: true };
      gateway.dispatch('THREAD_CREATE', (intents) => (intents & INTENT.Guilds ? payload : null));
      return payload;
    },
    hostFile,
    hostAttachment,
    failNext: (fault) => {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    waitFor: (predicate, timeoutMs) => log.waitFor(predicate, timeoutMs),
    close: async () => {
      await gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

/** `%40original` → `@original`, as tests write paths */
function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

async function parseBody(
  raw: Buffer,
  contentType: string,
): Promise<{
  body: unknown;
  files: { field: string; filename: string; contentType: string; bytes: Uint8Array }[];
}> {
  if (raw.byteLength === 0) return { body: null, files: [] };
  if (contentType.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), {
      headers: { 'content-type': contentType },
    }).formData();
    let body: unknown = null;
    const files = [];
    const entries: [string, FormDataEntryValue][] = [];
    form.forEach((value, field) => {
      entries.push([field, value]);
    });
    for (const [field, value] of entries) {
      if (typeof value === 'string') {
        if (field === 'payload_json') body = JSON.parse(value);
      } else {
        files.push({
          field,
          filename: value.name,
          contentType: value.type || 'application/octet-stream',
          bytes: new Uint8Array(await value.arrayBuffer()),
        });
      }
    }
    return { body, files };
  }
  const text = raw.toString('utf8');
  try {
    return { body: JSON.parse(text), files: [] };
  } catch {
    return { body: text, files: [] };
  }
}
