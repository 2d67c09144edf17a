import type { FakeGateway } from './fake-gateway.js';
import type { MessageInput, MessageLog } from './message-log.js';
import type { SlidingWindowLimiter } from './sliding-window-limiter.js';
import { nextSnowflake } from './snowflake.js';
import { type FakeUser, type Payload, userPayload } from './world.js';

/** A reply of the REST API. */
export interface RestReply {
  status: number;
  json?: unknown;
  headers?: Record<string, string>;
}

export interface RestRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  files: { field: string; filename: string; contentType: string; bytes: Uint8Array }[];
}

/** Make the next `times` calls to a route fail (fault injection). */
export interface FaultInput {
  /** a route template (`PATCH /channels/:channelId/messages/:messageId`) or a RegExp on `METHOD /path` */
  route: string | RegExp;
  status: number;
  /** how many calls fail (default 1) */
  times?: number;
  /** for a 429: seconds in `retry_after` and the headers (default 0.05) */
  retryAfterSeconds?: number;
  /** for a 429: a global limit (`x-ratelimit-global`) */
  global?: boolean;
}

export interface InteractionRecord {
  id: string;
  token: string;
  applicationId: string;
  channelId: string;
  guildId?: string;
  /** who used the command, and `authorizing_integration_owners`, for messages' `interaction_metadata` */
  user: FakeUser;
  owners: Payload;
  commandName: string;
  /** callback types answered, in order */
  callbacks: number[];
  originalMessageId?: string;
}

/** What the REST API reads and changes — the fake's state. */
export interface RestState {
  token: string;
  bot: FakeUser;
  applicationId: string;
  gatewayUrl: string;
  messages: MessageLog;
  gateway: FakeGateway;
  interactions: Map<string, InteractionRecord>;
  commands: Map<string, Payload[]>;
  faults: (FaultInput & { left: number })[];
  counters: { rateLimited: number; editLimitRateLimited: number; faults: number };
  editLimiter: SlidingWindowLimiter | null;
  interactionEditLimiter: SlidingWindowLimiter | null;
  announceRateLimits: boolean;
  echoOwnMessages: boolean;
  channel(channelId: string): Payload | undefined;
  /** `guild_id` and `type` of a known channel (DMs: type 1, no guild) */
  channelInfo(channelId: string): { guildId?: string; type: number } | undefined;
  hostUpload(file: { filename: string; contentType: string; bytes: Uint8Array }): Payload;
  /** MESSAGE_CREATE / MESSAGE_UPDATE / MESSAGE_DELETE to the gateway, filtered by intents */
  dispatchMessage(event: 'MESSAGE_CREATE' | 'MESSAGE_UPDATE', message: Payload): void;
  dispatchDelete(message: Payload): void;
}

type Handler = (request: RestRequest) => RestReply | Promise<RestReply>;

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
  /** webhook and interaction routes take no bot token */
  auth: boolean;
}

export function errorReply(status: number, message: string, code = 0): RestReply {
  return { status, json: { message, code } };
}

/** Discord's REST API, the part a bot uses, answered from the fake's state. */
export class FakeRestApi {
  private readonly routes: Route[] = [];

  constructor(private readonly state: RestState) {
    const s = state;
    this.add('GET', '/gateway', () => ({ status: 200, json: { url: s.gatewayUrl } }), false);
    this.add('GET', '/gateway/bot', () => ({
      status: 200,
      json: {
        url: s.gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 },
      },
    }));
    this.add('GET', '/users/@me', () => ({ status: 200, json: { ...userPayload(s.bot), verified: true } }));
    this.add('GET', '/applications/@me', () => ({ status: 200, json: this.application() }));
    this.add('GET', '/oauth2/applications/@me', () => ({ status: 200, json: this.application() }));
    this.add('GET', '/channels/:channelId', ({ params }) => {
      const channel = s.channel(params.channelId!);
      return channel ? { status: 200, json: channel } : errorReply(404, 'Unknown Channel', 10003);
    });
    this.add('POST', '/channels/:channelId/typing', ({ params }) =>
      s.channelInfo(params.channelId!) ? { status: 204 } : errorReply(404, 'Unknown Channel', 10003),
    );
    this.add('POST', '/channels/:channelId/messages', (request) => this.createChannelMessage(request));
    this.add('GET', '/channels/:channelId/messages/:messageId', ({ params }) => {
      const message = s.messages.get(params.messageId!);
      return message && message.channel_id === params.channelId
        ? { status: 200, json: message }
        : errorReply(404, 'Unknown Message', 10008);
    });
    this.add('PATCH', '/channels/:channelId/messages/:messageId', (request) =>
      this.editChannelMessage(request),
    );
    this.add('DELETE', '/channels/:channelId/messages/:messageId', ({ params }) => {
      const message = s.messages.get(params.messageId!);
      if (!message || message.channel_id !== params.channelId)
        return errorReply(404, 'Unknown Message', 10008);
      s.messages.delete(params.messageId!);
      s.dispatchDelete(message);
      return { status: 204 };
    });
    this.add('PUT', '/channels/:channelId/messages/:messageId/reactions/:emoji/@me', () => ({ status: 204 }));
    this.add('DELETE', '/channels/:channelId/messages/:messageId/reactions/:emoji/@me', () => ({
      status: 204,
    }));
    this.add(
      'POST',
      '/interactions/:interactionId/:token/callback',
      (request) => this.callback(request),
      false,
    );
    this.add(
      'GET',
      '/webhooks/:applicationId/:token/messages/:messageId',
      (request) => {
        const found = this.webhookMessage(request);
        return 'status' in found ? found : { status: 200, json: found.message };
      },
      false,
    );
    this.add(
      'PATCH',
      '/webhooks/:applicationId/:token/messages/:messageId',
      (request) => this.editWebhookMessage(request),
      false,
    );
    this.add(
      'DELETE',
      '/webhooks/:applicationId/:token/messages/:messageId',
      (request) => {
        const found = this.webhookMessage(request);
        if ('status' in found) return found;
        s.messages.delete(String(found.message.id));
        s.dispatchDelete(found.message);
        return { status: 204 };
      },
      false,
    );
    this.add('POST', '/webhooks/:applicationId/:token', (request) => this.followUp(request), false);
    this.add('GET', '/applications/:applicationId/commands', ({ params }) => ({
      status: 200,
      json: s.commands.get(`global:${params.applicationId}`) ?? [],
    }));
    this.add('PUT', '/applications/:applicationId/commands', ({ params, body }) =>
      this.putCommands(`global:${params.applicationId}`, params.applicationId!, undefined, body),
    );
    this.add('GET', '/applications/:applicationId/guilds/:guildId/commands', ({ params }) => ({
      status: 200,
      json: s.commands.get(`guild:${params.guildId}`) ?? [],
    }));
    this.add('PUT', '/applications/:applicationId/guilds/:guildId/commands', ({ params, body }) =>
      this.putCommands(`guild:${params.guildId}`, params.applicationId!, params.guildId, body),
    );
  }

  /** the route a request matches, with its parameters */
  match(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const found = route.pattern.exec(path);
      if (!found) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((key, index) => {
        params[key] = decodeURIComponent(found[index + 1]!);
      });
      return { route, params };
    }
    return undefined;
  }

  /** answers one request; `authorized` says whether it carried `Bot <token>` */
  async handle(
    request: Omit<RestRequest, 'params'>,
    authorized: boolean,
  ): Promise<RestReply & { route: string }> {
    const matched = this.match(request.method, request.path);
    const routeName = matched ? `${matched.route.method} ${matched.route.template}` : 'unknown';
    const fault = this.takeFault(routeName, `${request.method} ${request.path}`);
    if (fault) return { ...fault, route: routeName };
    if (!matched) return { ...errorReply(404, '404: Not Found', 0), route: routeName };
    if (matched.route.auth && !authorized)
      return { ...errorReply(401, '401: Unauthorized', 0), route: routeName };
    const reply = await matched.route.handler({ ...request, params: matched.params });
    return { ...reply, route: routeName };
  }

  private add(method: string, template: string, handler: Handler, auth = true): void {
    const keys: string[] = [];
    const source = template
      .split('/')
      .map((segment) => {
        if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        keys.push(segment.slice(1));
        return '([^/]+)';
      })
      .join('/');
    this.routes.push({ method, template, pattern: new RegExp(`^${source}$`), keys, handler, auth });
  }

  private takeFault(routeName: string, call: string): RestReply | undefined {
    const fault = this.state.faults.find(
      (candidate) =>
        candidate.left > 0 &&
        (typeof candidate.route === 'string' ? candidate.route === routeName : candidate.route.test(call)),
    );
    if (!fault) return undefined;
    fault.left--;
    this.state.counters.faults++;
    if (fault.status === 429) {
      this.state.counters.rateLimited++;
      return rateLimitReply(fault.retryAfterSeconds ?? 0.05, fault.global ?? false, 'fault');
    }
    return errorReply(
      fault.status,
      fault.status >= 500 ? '500: Internal Server Error' : `${fault.status}: fault`,
      0,
    );
  }

  private application(): Payload {
    return {
      id: this.state.applicationId,
      name: this.state.bot.username,
      icon: null,
      description: '',
      bot_public: true,
      bot_require_code_grant: false,
      verify_key: '0'.repeat(64),
      flags: (1 << 19) | (1 << 23),
      owner: userPayload({ id: nextSnowflake(), username: 'owner' }),
      team: null,
    };
  }

  private messageFields(request: RestRequest): Partial<MessageInput> & { attachments: Payload[] } {
    const body = (request.body ?? {}) as Payload;
    const attachments = request.files.map((file) => this.state.hostUpload(file));
    return {
      content: typeof body.content === 'string' ? body.content : '',
      embeds: Array.isArray(body.embeds) ? (body.embeds as Payload[]) : [],
      attachments,
    };
  }

  private createChannelMessage(request: RestRequest): RestReply {
    const channelId = request.params.channelId!;
    const info = this.state.channelInfo(channelId);
    if (!info) return errorReply(404, 'Unknown Channel', 10003);
    const body = (request.body ?? {}) as Payload;
    const fields = this.messageFields(request);
    if (!fields.content && fields.attachments.length === 0 && (fields.embeds ?? []).length === 0) {
      return errorReply(400, 'Cannot send an empty message', 50006);
    }
    const reference = body.message_reference as Payload | undefined;
    if (reference?.message_id && !this.state.messages.get(String(reference.message_id))) {
      if (reference.fail_if_not_exists !== false) {
        return {
          status: 400,
          json: { message: 'Invalid Form Body', code: 50035, errors: { message_reference: {} } },
        };
      }
    }
    const message = this.state.messages.add(
      this.state.messages.build({
        channelId,
        guildId: info.guildId,
        channelType: info.type,
        author: this.state.bot,
        ...fields,
        messageReference:
          reference?.message_id && this.state.messages.get(String(reference.message_id))
            ? String(reference.message_id)
            : undefined,
      }),
    );
    if (this.state.echoOwnMessages) this.state.dispatchMessage('MESSAGE_CREATE', message);
    return { status: 200, json: message };
  }

  private editChannelMessage(request: RestRequest): RestReply {
    const channelId = request.params.channelId!;
    const limited = this.limit(this.state.editLimiter, `channel:${channelId}`);
    if (limited.reply) return limited.reply;
    const message = this.state.messages.get(request.params.messageId!);
    if (!message || message.channel_id !== channelId) return errorReply(404, 'Unknown Message', 10008);
    if ((message.author as Payload).id !== this.state.bot.id) {
      return errorReply(403, 'Cannot edit a message authored by another user', 50005);
    }
    const updated = this.state.messages.update(String(message.id), this.editFields(request))!;
    if (this.state.echoOwnMessages) this.state.dispatchMessage('MESSAGE_UPDATE', updated);
    return { status: 200, json: updated, headers: limited.headers };
  }

  private editFields(request: RestRequest): Payload {
    const body = (request.body ?? {}) as Payload;
    const fields: Payload = {};
    if ('content' in body) fields.content = body.content ?? '';
    if ('embeds' in body) fields.embeds = body.embeds ?? [];
    if ('components' in body) fields.components = body.components ?? [];
    const uploads = request.files.map((file) => this.state.hostUpload(file));
    if ('attachments' in body || uploads.length > 0) {
      const kept = Array.isArray(body.attachments)
        ? (body.attachments as Payload[]).filter((attachment) => typeof attachment.url === 'string')
        : [];
      fields.attachments = [...kept, ...uploads];
    }
    return fields;
  }

  /** takes one request from `limiter`; a 429 reply when it is spent */
  private limit(
    limiter: SlidingWindowLimiter | null,
    key: string,
  ): { reply?: RestReply; headers?: Record<string, string> } {
    if (!limiter) return {};
    const decision = limiter.take(key);
    if (!decision.allowed) {
      this.state.counters.rateLimited++;
      this.state.counters.editLimitRateLimited++;
      return { reply: rateLimitReply(decision.resetAfterSeconds, false, key, limiter.limit.max) };
    }
    if (!this.state.announceRateLimits) return {};
    return {
      headers: {
        'x-ratelimit-limit': String(limiter.limit.max),
        'x-ratelimit-remaining': String(decision.remaining),
        'x-ratelimit-reset': String((Date.now() / 1000 + decision.resetAfterSeconds).toFixed(3)),
        'x-ratelimit-reset-after': decision.resetAfterSeconds.toFixed(3),
        'x-ratelimit-bucket': bucketHash(key),
      },
    };
  }

  private callback(request: RestRequest): RestReply {
    const interaction = this.state.interactions.get(request.params.token!);
    if (!interaction || interaction.id !== request.params.interactionId) {
      return errorReply(404, 'Unknown interaction', 10062);
    }
    const body = (request.body ?? {}) as Payload;
    const type = Number(body.type);
    if (interaction.callbacks.length > 0) {
      return errorReply(400, 'Interaction has already been acknowledged.', 40060);
    }
    interaction.callbacks.push(type);
    let message: Payload | undefined;
    if (type === 4 || type === 5) {
      const data = (body.data ?? {}) as Payload;
      message = this.state.messages.add(
        this.state.messages.build({
          channelId: interaction.channelId,
          guildId: interaction.guildId,
          author: this.state.bot,
          content: type === 4 && typeof data.content === 'string' ? data.content : '',
          embeds: type === 4 && Array.isArray(data.embeds) ? (data.embeds as Payload[]) : [],
          attachments: request.files.map((file) => this.state.hostUpload(file)),
          extra: {
            type: 20,
            webhook_id: interaction.applicationId,
            application_id: interaction.applicationId,
            // 128 = LOADING ("is thinking…"), 64 = EPHEMERAL
            flags: (type === 5 ? 128 : 0) | (Number(data.flags ?? 0) & 64),
            interaction_metadata: interactionMetadata(interaction),
          },
        }),
      );
      interaction.originalMessageId = String(message.id);
    }
    if (request.query.with_response === 'true') {
      return {
        status: 200,
        json: {
          interaction: {
            id: interaction.id,
            type: 2,
            activity_instance_id: null,
            response_message_id: message?.id ?? null,
            response_message_loading: type === 5,
            response_message_ephemeral: false,
          },
          resource: { type, ...(message ? { message } : {}) },
        },
      };
    }
    return { status: 204 };
  }

  private webhookMessage(request: RestRequest): { message: Payload } | RestReply {
    const interaction = this.state.interactions.get(request.params.token!);
    if (!interaction || interaction.applicationId !== request.params.applicationId) {
      return errorReply(404, 'Unknown Webhook', 10015);
    }
    const id =
      request.params.messageId === '@original' ? interaction.originalMessageId : request.params.messageId;
    const message = id ? this.state.messages.get(id) : undefined;
    return message ? { message } : errorReply(404, 'Unknown Message', 10008);
  }

  private editWebhookMessage(request: RestRequest): RestReply {
    const limited = this.limit(this.state.interactionEditLimiter, `webhook:${request.params.token}`);
    if (limited.reply) return limited.reply;
    const found = this.webhookMessage(request);
    if ('status' in found) return found;
    const fields = this.editFields(request);
    // an edit ends the "thinking" state
    fields.flags = Number(found.message.flags ?? 0) & ~128;
    const updated = this.state.messages.update(String(found.message.id), fields)!;
    if (this.state.echoOwnMessages) this.state.dispatchMessage('MESSAGE_UPDATE', updated);
    return { status: 200, json: updated, headers: limited.headers };
  }

  private followUp(request: RestRequest): RestReply {
    const interaction = this.state.interactions.get(request.params.token!);
    if (!interaction || interaction.applicationId !== request.params.applicationId) {
      return errorReply(404, 'Unknown Webhook', 10015);
    }
    if (interaction.callbacks.length === 0) return errorReply(404, 'Unknown Webhook', 10015);
    const body = (request.body ?? {}) as Payload;
    const message = this.state.messages.add(
      this.state.messages.build({
        channelId: interaction.channelId,
        guildId: interaction.guildId,
        author: this.state.bot,
        ...this.messageFields(request),
        extra: {
          webhook_id: interaction.applicationId,
          application_id: interaction.applicationId,
          flags: Number(body.flags ?? 0) & 64,
          interaction_metadata: interactionMetadata(interaction),
        },
      }),
    );
    if (this.state.echoOwnMessages) this.state.dispatchMessage('MESSAGE_CREATE', message);
    return request.query.wait === 'false' ? { status: 204 } : { status: 200, json: message };
  }

  private putCommands(
    scope: string,
    applicationId: string,
    guildId: string | undefined,
    body: unknown,
  ): RestReply {
    if (!Array.isArray(body)) return errorReply(400, 'Invalid Form Body', 50035);
    const previous = this.state.commands.get(scope) ?? [];
    const commands = (body as Payload[]).map((command) => ({
      id: String(previous.find((old) => old.name === command.name)?.id ?? nextSnowflake()),
      application_id: applicationId,
      version: nextSnowflake(),
      type: 1,
      description: '',
      default_member_permissions: null,
      nsfw: false,
      ...command,
      ...(guildId ? { guild_id: guildId } : {}),
    }));
    this.state.commands.set(scope, commands);
    return { status: 200, json: commands };
  }
}

function rateLimitReply(retryAfterSeconds: number, global: boolean, key: string, limit = 1): RestReply {
  const seconds = retryAfterSeconds.toFixed(3);
  return {
    status: 429,
    json: { message: 'You are being rate limited.', retry_after: Number(seconds), global },
    headers: {
      'retry-after': seconds,
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': (Date.now() / 1000 + retryAfterSeconds).toFixed(3),
      'x-ratelimit-reset-after': seconds,
      'x-ratelimit-bucket': bucketHash(key),
      'x-ratelimit-scope': global ? 'global' : 'user',
      ...(global ? { 'x-ratelimit-global': 'true' } : {}),
    },
  };
}

function interactionMetadata(interaction: InteractionRecord): Payload {
  return {
    id: interaction.id,
    type: 2,
    name: interaction.commandName,
    command_type: 1,
    user: userPayload(interaction.user),
    authorizing_integration_owners: interaction.owners,
  };
}

/** one hash per kind of limit (as Discord: the route's bucket; the channel is the major parameter) */
function bucketHash(key: string): string {
  return Buffer.from(key.split(':')[0] ?? key)
    .toString('hex')
    .slice(0, 32);
}
