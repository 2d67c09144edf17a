import type { SlidingWindowLimiter } from '../fake-discord/sliding-window-limiter.js';
import type { FileHost } from './file-host.js';
import { MessageStore, type StoredMessage } from './message-store.js';
import type { TsClock } from './ts-clock.js';

export type Json = Record<string, unknown>;

/** How `chat.startStream` answers: as on a workspace with streaming, or as where it is missing. */
export type StreamingSupport = 'available' | 'unknown_method' | 'feature_not_enabled';

/** A fault for the next `times` (default 1) calls of `method` (`*`: any method). */
export type FaultInput = { method: string; times?: number } & (
  | { type: 'ratelimited'; retryAfterSeconds?: number }
  | { type: 'http'; status: number; body?: string }
  | { type: 'error'; error: string; extra?: Json }
);

export type Fault = FaultInput & { left: number };

export interface FakeSlackUser {
  id: string;
  name: string;
  real_name?: string;
  display_name?: string;
  is_bot?: boolean;
  tz?: string;
}

export interface FakeSlackChannel {
  id: string;
  name?: string;
  /** default: from the id (`D…` an IM, `G…` private) */
  type?: 'channel' | 'group' | 'im' | 'mpim';
  /** the other member of an IM */
  user?: string;
}

/** The assistant container state of one thread, from `assistant.threads.*`. */
export interface AssistantThreadState {
  channel_id: string;
  thread_ts: string;
  /** every status set, in order ('' clears) */
  statuses: { status: string; loading_messages?: unknown }[];
  prompts?: { title?: string; prompts: unknown };
  title?: string;
}

export interface EphemeralMessage {
  channel: string;
  user: string;
  text: string;
  blocks?: unknown;
  thread_ts?: string;
  message_ts: string;
}

export interface WebApiState {
  teamId: string;
  teamDomain: string;
  appId: string;
  botUserId: string;
  botId: string;
  socketUrl: () => string;
  clock: TsClock;
  messages: MessageStore;
  ephemerals: EphemeralMessage[];
  assistantThreads: Map<string, AssistantThreadState>;
  users: FakeSlackUser[];
  channels: FakeSlackChannel[];
  files: FileHost;
  streaming: StreamingSupport;
  faults: Fault[];
  updateLimiter: SlidingWindowLimiter | null;
  counters: { rateLimited: number; updateLimitRateLimited: number; faults: number };
}

/** What a method answers: JSON (`status` 200 unless set), headers, or a raw body. */
export interface ApiReply {
  status: number;
  json?: Json;
  raw?: string;
  headers?: Record<string, string>;
}

/** Fields the WebClient sends as JSON strings (arrays and objects are stringified into the form). */
const JSON_FIELDS = new Set([
  'blocks',
  'attachments',
  'metadata',
  'chunks',
  'prompts',
  'loading_messages',
  'unfurls',
  'user_auth_blocks',
  'file_uploads',
  'files',
  'view',
]);

/** decodes the JSON-string fields of a form body */
export function decodeFields(body: Json): Json {
  const decoded: Json = {};
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === 'string' && JSON_FIELDS.has(key)) {
      try {
        decoded[key] = JSON.parse(value);
        continue;
      } catch {
        // kept as sent
      }
    }
    decoded[key] = value;
  }
  return decoded;
}

const ok = (fields: Json = {}): ApiReply => ({ status: 200, json: { ok: true, ...fields } });
const fail = (error: string, fields: Json = {}): ApiReply => ({
  status: 200,
  json: { ok: false, error, ...fields },
});
const missing = (field: string): ApiReply =>
  fail('invalid_arguments', {
    response_metadata: { messages: [`[ERROR] missing required field: ${field}`] },
  });

const str = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;

/** the text of `markdown_text` and the `markdown_text` chunks of a stream call */
function streamPieces(body: Json): { chunks: unknown[]; text: string } {
  const chunks: unknown[] = [];
  const markdown = str(body.markdown_text);
  if (markdown) chunks.push({ type: 'markdown_text', text: markdown });
  if (Array.isArray(body.chunks)) chunks.push(...body.chunks);
  let text = '';
  for (const chunk of chunks) {
    const { type, text: piece } = chunk as { type?: unknown; text?: unknown };
    if (type === 'markdown_text' && typeof piece === 'string') text += piece;
  }
  return { chunks, text };
}

/** Slack's Web API methods, as far as a bot uses them. */
export class FakeWebApi {
  constructor(private readonly state: WebApiState) {}

  /** a fault to inject for this call, if one is pending */
  takeFault(method: string): ApiReply | undefined {
    const index = this.state.faults.findIndex((fault) => fault.method === method || fault.method === '*');
    if (index < 0) return undefined;
    const fault = this.state.faults[index]!;
    fault.left--;
    if (fault.left <= 0) this.state.faults.splice(index, 1);
    this.state.counters.faults++;
    if (fault.type === 'ratelimited') {
      this.state.counters.rateLimited++;
      return {
        status: 429,
        json: { ok: false, error: 'ratelimited' },
        headers: { 'retry-after': String(fault.retryAfterSeconds ?? 1) },
      };
    }
    if (fault.type === 'http') return { status: fault.status, raw: fault.body ?? 'Internal Server Error' };
    return fail(fault.error, fault.extra);
  }

  handle(method: string, body: Json): ApiReply {
    const s = this.state;
    switch (method) {
      case 'api.test':
        return ok({ args: body });
      case 'auth.test':
        return ok({
          url: `https://${s.teamDomain}.slack.com/`,
          team: 'Fake Workspace',
          user: 'glimpse',
          team_id: s.teamId,
          user_id: s.botUserId,
          bot_id: s.botId,
          is_enterprise_install: false,
        });
      case 'apps.connections.open':
        return ok({ url: s.socketUrl() });
      case 'chat.postMessage':
        return this.postMessage(body);
      case 'chat.update':
        return this.update(body);
      case 'chat.delete': {
        const message = this.find(body);
        if ('status' in message) return message;
        message.deleted = true;
        return ok({ channel: message.channel, ts: message.ts });
      }
      case 'chat.postEphemeral': {
        const channel = str(body.channel);
        const user = str(body.user);
        if (!channel) return fail('channel_not_found');
        if (!user) return fail('user_not_in_channel');
        const messageTs = s.clock.next();
        s.ephemerals.push({
          channel,
          user,
          text: str(body.text) ?? '',
          ...(body.blocks === undefined ? {} : { blocks: body.blocks }),
          ...(str(body.thread_ts) ? { thread_ts: str(body.thread_ts) } : {}),
          message_ts: messageTs,
        });
        return ok({ message_ts: messageTs });
      }
      case 'chat.startStream':
        return this.startStream(body);
      case 'chat.appendStream':
      case 'chat.stopStream':
        return this.continueStream(method, body);
      case 'assistant.threads.setStatus':
      case 'assistant.threads.setSuggestedPrompts':
      case 'assistant.threads.setTitle':
        return this.assistant(method, body);
      case 'reactions.add':
      case 'reactions.remove': {
        const message = this.find({ channel: body.channel, ts: body.timestamp });
        if ('status' in message) return message;
        const name = str(body.name);
        if (!name) return fail('invalid_name');
        message.reactions ??= [];
        const reactions = message.reactions;
        const has = reactions.includes(name);
        if (method === 'reactions.add') {
          if (has) return fail('already_reacted');
          reactions.push(name);
        } else {
          if (!has) return fail('no_reaction');
          reactions.splice(reactions.indexOf(name), 1);
        }
        return ok();
      }
      case 'conversations.replies': {
        const channel = str(body.channel);
        const ts = str(body.ts);
        if (!channel) return fail('channel_not_found');
        if (!ts) return fail('thread_not_found');
        const thread = s.messages.thread(channel, ts);
        if (thread.length === 0) return fail('thread_not_found');
        return ok({
          messages: thread.map((message) => MessageStore.toPayload(message, s.teamId, s.appId)),
          has_more: false,
          response_metadata: { next_cursor: '' },
        });
      }
      case 'conversations.history': {
        const channel = str(body.channel);
        if (!channel) return fail('channel_not_found');
        const messages = s.messages
          .inChannel(channel)
          .filter((message) => !message.thread_ts || message.thread_ts === message.ts)
          .reverse();
        return ok({
          messages: messages.map((message) => MessageStore.toPayload(message, s.teamId, s.appId)),
          has_more: false,
          response_metadata: { next_cursor: '' },
        });
      }
      case 'conversations.info': {
        const id = str(body.channel);
        if (!id) return fail('channel_not_found');
        return ok({ channel: this.channelPayload(id) });
      }
      case 'users.info': {
        const id = str(body.user);
        const user = s.users.find((candidate) => candidate.id === id);
        if (!user) return fail('user_not_found');
        return ok({ user: this.userPayload(user) });
      }
      case 'files.info': {
        const file = s.files.files.get(str(body.file) ?? '');
        if (!file) return fail('file_not_found');
        return ok({ file, comments: [], response_metadata: { next_cursor: '' } });
      }
      default:
        return fail('unknown_method', { req_method: method });
    }
  }

  private postMessage(body: Json): ApiReply {
    const s = this.state;
    const channel = str(body.channel);
    if (!channel) return fail('channel_not_found');
    const text = str(body.text);
    if (!text && body.blocks === undefined && body.attachments === undefined) return fail('no_text');
    const threadTs = str(body.thread_ts);
    const message = s.messages.add({
      channel,
      ts: s.clock.next(),
      user: s.botUserId,
      bot_id: s.botId,
      text: text ?? '',
      ...(threadTs ? { thread_ts: threadTs } : {}),
      ...(body.blocks === undefined ? {} : { blocks: body.blocks }),
      ...(body.attachments === undefined ? {} : { attachments: body.attachments }),
      ...(body.metadata === undefined ? {} : { metadata: body.metadata }),
    });
    return ok({ channel, ts: message.ts, message: MessageStore.toPayload(message, s.teamId, s.appId) });
  }

  private update(body: Json): ApiReply {
    const s = this.state;
    const message = this.find(body);
    if ('status' in message) return message;
    if (message.user !== s.botUserId) return fail('cant_update_message');
    if (s.updateLimiter) {
      const decision = s.updateLimiter.take(message.channel);
      if (!decision.allowed) {
        s.counters.rateLimited++;
        s.counters.updateLimitRateLimited++;
        return {
          status: 429,
          json: { ok: false, error: 'ratelimited' },
          headers: { 'retry-after': String(Math.max(1, Math.ceil(decision.resetAfterSeconds))) },
        };
      }
    }
    const text = str(body.text);
    if (text !== undefined) message.text = text;
    if (body.blocks !== undefined) message.blocks = body.blocks;
    if (body.attachments !== undefined) message.attachments = body.attachments;
    if (body.metadata !== undefined) message.metadata = body.metadata;
    message.edits++;
    return ok({
      channel: message.channel,
      ts: message.ts,
      text: message.text,
      message: MessageStore.toPayload(message, s.teamId, s.appId),
    });
  }

  private startStream(body: Json): ApiReply {
    const s = this.state;
    if (s.streaming !== 'available') return fail(s.streaming);
    const channel = str(body.channel);
    if (!channel) return missing('channel');
    const threadTs = str(body.thread_ts);
    if (!threadTs) return missing('thread_ts');
    const { chunks, text } = streamPieces(body);
    const recipientUserId = str(body.recipient_user_id);
    const recipientTeamId = str(body.recipient_team_id);
    const message = s.messages.add({
      channel,
      ts: s.clock.next(),
      thread_ts: threadTs,
      user: s.botUserId,
      bot_id: s.botId,
      text,
      stream: {
        state: 'in_progress',
        chunks,
        appends: 0,
        ...(recipientUserId ? { recipientUserId } : {}),
        ...(recipientTeamId ? { recipientTeamId } : {}),
      },
    });
    return ok({ channel, ts: message.ts });
  }

  private continueStream(method: string, body: Json): ApiReply {
    const s = this.state;
    if (s.streaming !== 'available') return fail(s.streaming);
    const message = this.find(body);
    if ('status' in message) return message;
    if (message.stream?.state !== 'in_progress') return fail('message_not_in_streaming_state');
    const { chunks, text } = streamPieces(body);
    message.stream.chunks.push(...chunks);
    message.text += text;
    if (method === 'chat.appendStream') {
      message.stream.appends++;
      return ok({ channel: message.channel, ts: message.ts });
    }
    message.stream.state = 'completed';
    if (body.blocks !== undefined) message.blocks = body.blocks;
    if (body.metadata !== undefined) message.metadata = body.metadata;
    return ok({
      channel: message.channel,
      ts: message.ts,
      message: MessageStore.toPayload(message, s.teamId, s.appId),
    });
  }

  private assistant(method: string, body: Json): ApiReply {
    const channelId = str(body.channel_id);
    const threadTs = str(body.thread_ts);
    if (!channelId) return missing('channel_id');
    if (!threadTs) return missing('thread_ts');
    const key = `${channelId}:${threadTs}`;
    let thread = this.state.assistantThreads.get(key);
    if (!thread) {
      thread = { channel_id: channelId, thread_ts: threadTs, statuses: [] };
      this.state.assistantThreads.set(key, thread);
    }
    if (method === 'assistant.threads.setStatus') {
      const status = str(body.status);
      if (status === undefined) return missing('status');
      thread.statuses.push({
        status,
        ...(body.loading_messages === undefined ? {} : { loading_messages: body.loading_messages }),
      });
    } else if (method === 'assistant.threads.setSuggestedPrompts') {
      if (!Array.isArray(body.prompts)) return missing('prompts');
      thread.prompts = { prompts: body.prompts, ...(str(body.title) ? { title: str(body.title) } : {}) };
    } else {
      const title = str(body.title);
      if (title === undefined) return missing('title');
      thread.title = title;
    }
    return ok();
  }

  private find(body: Json): StoredMessage | ApiReply {
    const channel = str(body.channel);
    const ts = str(body.ts);
    if (!channel) return fail('channel_not_found');
    const message = ts ? this.state.messages.get(channel, ts) : undefined;
    return message ?? fail('message_not_found');
  }

  private channelPayload(id: string): Json {
    const known = this.state.channels.find((channel) => channel.id === id);
    const type = known?.type ?? (id.startsWith('D') ? 'im' : id.startsWith('G') ? 'group' : 'channel');
    return {
      id,
      name: known?.name ?? (type === 'im' ? undefined : id.toLowerCase()),
      is_channel: type === 'channel',
      is_group: type === 'group',
      is_im: type === 'im',
      is_mpim: type === 'mpim',
      is_private: type !== 'channel',
      is_archived: false,
      is_member: true,
      context_team_id: this.state.teamId,
      ...(type === 'im' ? { user: known?.user ?? this.state.users[0]?.id } : {}),
    };
  }

  private userPayload(user: FakeSlackUser): Json {
    const realName = user.real_name ?? user.name;
    return {
      id: user.id,
      team_id: this.state.teamId,
      name: user.name,
      deleted: false,
      real_name: realName,
      tz: user.tz ?? 'Europe/Berlin',
      is_bot: user.is_bot ?? false,
      is_app_user: false,
      profile: {
        real_name: realName,
        display_name: user.display_name ?? user.name,
        image_72: `https://avatars.slack-edge.com/fake/${user.id}_72.png`,
        team: this.state.teamId,
        ...(user.is_bot ? { bot_id: this.state.botId } : {}),
      },
    };
  }
}
