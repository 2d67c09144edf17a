import type { SlackFile } from './file-host.js';
import type { MessageStore } from './message-store.js';
import type { TsClock } from './ts-clock.js';

export type Payload = Record<string, unknown>;

/** What the builders need of the fake's workspace. */
export interface EventWorld {
  teamId: string;
  appId: string;
  botUserId: string;
  botId: string;
  userId: string;
  channelId: string;
  clock: TsClock;
  messages: MessageStore;
  /** a fresh response_url on the fake */
  newResponseUrl: () => string;
}

export interface EnvelopeOptions {
  event_id?: string;
  event_time?: number;
  /** extra top-level fields (`authorizations`, `is_ext_shared_channel`, `event_context`, …) */
  extra?: Payload;
}

export interface MessageEventInput {
  text?: string;
  /** default: the fake's user */
  user?: string;
  /** default: the fake's channel; a `D…` id makes `channel_type: 'im'` the default */
  channel?: string;
  channel_type?: 'channel' | 'group' | 'im' | 'mpim';
  /** makes it a thread reply */
  thread_ts?: string;
  ts?: string;
  files?: SlackFile[];
  blocks?: unknown[];
  /** extra fields on the event */
  extra?: Payload;
}

export interface SlashCommandInput {
  command?: string;
  text?: string;
  user?: string;
  user_name?: string;
  channel?: string;
  channel_name?: string;
  trigger_id?: string;
  /** default: a fresh one on the fake, where posts are recorded */
  response_url?: string;
}

let eventCounter = 0;

/** Events API payloads as Slack sends them (`event_callback` envelopes) and slash command bodies. */
export class SlackEvents {
  constructor(private readonly world: EventWorld) {}

  /** wraps any event in an `event_callback` */
  callback(event: Payload, options: EnvelopeOptions = {}): Payload {
    eventCounter++;
    const { world } = this;
    return {
      token: 'verification-token-unused',
      team_id: world.teamId,
      context_team_id: world.teamId,
      context_enterprise_id: null,
      api_app_id: world.appId,
      event: { event_ts: event.ts ?? world.clock.next(), ...event },
      type: 'event_callback',
      event_id: options.event_id ?? `Ev0FAKE${String(eventCounter).padStart(6, '0')}`,
      event_time: options.event_time ?? Math.floor(Date.now() / 1000),
      authorizations: [
        {
          enterprise_id: null,
          team_id: world.teamId,
          user_id: world.botUserId,
          is_bot: true,
          is_enterprise_install: false,
        },
      ],
      is_ext_shared_channel: false,
      event_context: `4-fake-${eventCounter}`,
      ...options.extra,
    };
  }

  /** `app_mention`; the text should hold `<@botUserId>` as Slack's does */
  appMention(input: MessageEventInput = {}, options?: EnvelopeOptions): Payload {
    const event = this.userMessage(input, 'app_mention');
    delete event.channel_type;
    return this.callback(event, options);
  }

  /** `message` from a user: in a channel, a DM (`channel_type: 'im'`), a thread (`thread_ts`), with files */
  message(input: MessageEventInput = {}, options?: EnvelopeOptions): Payload {
    const event = this.userMessage(input, 'message');
    if (input.files?.length) event.subtype = 'file_share';
    return this.callback(event, options);
  }

  /** `message` / `file_share`: a message carrying uploaded files */
  fileShare(input: MessageEventInput & { files: SlackFile[] }, options?: EnvelopeOptions): Payload {
    return this.message(input, options);
  }

  /** `message` / `message_changed`: a user edited a message already sent with `message()` */
  messageChanged(
    input: { channel?: string; ts: string; text: string; channel_type?: string },
    options?: EnvelopeOptions,
  ): Payload {
    const channel = input.channel ?? this.world.channelId;
    const stored = this.world.messages.get(channel, input.ts);
    const previous = stored
      ? this.wireMessage(stored)
      : { type: 'message', user: this.world.userId, ts: input.ts, text: '' };
    if (stored) {
      stored.text = input.text;
      stored.edits++;
    }
    const eventTs = this.world.clock.next();
    return this.callback(
      {
        type: 'message',
        subtype: 'message_changed',
        hidden: true,
        channel,
        channel_type: input.channel_type ?? channelTypeOf(channel),
        ts: eventTs,
        message: { ...previous, text: input.text, edited: { user: previous.user, ts: eventTs } },
        previous_message: previous,
      },
      options,
    );
  }

  /** `message` / `message_deleted` */
  messageDeleted(
    input: { channel?: string; ts: string; channel_type?: string },
    options?: EnvelopeOptions,
  ): Payload {
    const channel = input.channel ?? this.world.channelId;
    const stored = this.world.messages.get(channel, input.ts);
    const previous = stored ? this.wireMessage(stored) : { type: 'message', ts: input.ts, text: '' };
    if (stored) stored.deleted = true;
    return this.callback(
      {
        type: 'message',
        subtype: 'message_deleted',
        hidden: true,
        channel,
        channel_type: input.channel_type ?? channelTypeOf(channel),
        ts: this.world.clock.next(),
        deleted_ts: input.ts,
        previous_message: previous,
      },
      options,
    );
  }

  /** `assistant_thread_started`: a user opened the assistant container (a DM thread) */
  assistantThreadStarted(
    input: { user?: string; channel?: string; thread_ts?: string; context?: Payload } = {},
    options?: EnvelopeOptions,
  ): Payload {
    return this.callback(
      { type: 'assistant_thread_started', assistant_thread: this.assistantThread(input) },
      options,
    );
  }

  /** `assistant_thread_context_changed`: the user moved to another channel with the container open */
  assistantThreadContextChanged(
    input: { user?: string; channel?: string; thread_ts?: string; context?: Payload } = {},
    options?: EnvelopeOptions,
  ): Payload {
    return this.callback(
      { type: 'assistant_thread_context_changed', assistant_thread: this.assistantThread(input) },
      options,
    );
  }

  /** a slash command's fields (post them with `encoding: 'form'`, or as a Socket Mode `slash_commands` payload) */
  slashCommand(input: SlashCommandInput = {}): Record<string, string> {
    const { world } = this;
    eventCounter++;
    return {
      token: 'verification-token-unused',
      team_id: world.teamId,
      team_domain: 'fake-workspace',
      channel_id: input.channel ?? world.channelId,
      channel_name: input.channel_name ?? 'general',
      user_id: input.user ?? world.userId,
      user_name: input.user_name ?? 'alice',
      command: input.command ?? '/glimpse',
      text: input.text ?? '',
      api_app_id: world.appId,
      is_enterprise_install: 'false',
      response_url: input.response_url ?? world.newResponseUrl(),
      trigger_id: input.trigger_id ?? `${eventCounter}.1234567890.fake${eventCounter}`,
    };
  }

  private assistantThread(input: { user?: string; channel?: string; thread_ts?: string; context?: Payload }) {
    const { world } = this;
    return {
      user_id: input.user ?? world.userId,
      context: input.context ?? { channel_id: world.channelId, team_id: world.teamId, enterprise_id: null },
      channel_id: input.channel ?? 'D0FAKEDM01',
      thread_ts: input.thread_ts ?? world.clock.next(),
    };
  }

  private userMessage(input: MessageEventInput, type: 'message' | 'app_mention'): Payload {
    const { world } = this;
    const channel = input.channel ?? world.channelId;
    const ts = input.ts ?? world.clock.next();
    const user = input.user ?? world.userId;
    const text = input.text ?? '';
    world.messages.add({
      channel,
      ts,
      user,
      text,
      ...(input.thread_ts ? { thread_ts: input.thread_ts } : {}),
      ...(input.files ? { files: input.files } : {}),
      ...(input.blocks ? { blocks: input.blocks } : {}),
    });
    return {
      type,
      user,
      text,
      ts,
      channel,
      channel_type: input.channel_type ?? channelTypeOf(channel),
      team: world.teamId,
      client_msg_id: `00000000-0000-4000-8000-${ts.replace('.', '').padStart(12, '0').slice(-12)}`,
      blocks: input.blocks ?? [
        {
          type: 'rich_text',
          block_id: 'fake',
          elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text }] }],
        },
      ],
      ...(input.thread_ts
        ? {
            thread_ts: input.thread_ts,
            parent_user_id: world.messages.get(channel, input.thread_ts)?.user ?? world.userId,
          }
        : {}),
      ...(input.files ? { files: input.files, upload: false, display_as_bot: false } : {}),
      ...input.extra,
    };
  }

  private wireMessage(stored: { user: string; text: string; ts: string; thread_ts?: string }) {
    return {
      type: 'message',
      user: stored.user,
      text: stored.text,
      ts: stored.ts,
      team: this.world.teamId,
      ...(stored.thread_ts ? { thread_ts: stored.thread_ts } : {}),
    };
  }
}

function channelTypeOf(channel: string): string {
  if (channel.startsWith('D')) return 'im';
  if (channel.startsWith('G')) return 'group';
  return 'channel';
}
