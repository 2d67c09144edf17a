import type { AddressInfo } from 'node:net';
import { App, Assistant, type Logger as BoltLogger, LogLevel } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { SlackConfig } from '../../config.js';
import { parseChatCommand } from '../../conversation/chat-command.js';
import type { ChatEvent, ChatEventHandler, HandleResult } from '../../conversation/chat-event.js';
import type { ImageLimits } from '../../ingest/image-ingest.js';
import type { Logger } from '../../logger.js';
import type { ChatAdapter } from '../chat-adapter.js';
import { passesAccessList } from '../shared/access-list.js';
import type { DownloadPolicy } from '../shared/attachment-downloader.js';
import { ChannelWriteBudget } from '../shared/channel-write-budget.js';
import { TurnsInHand } from '../shared/turns-in-hand.js';
import {
  type SlackMessageEvent,
  slackChatMessage,
  slackConversationId,
  slackDownloadPolicy,
  slackImages,
  slackMessageId,
  slackQuestionText,
} from './slack-message.js';
import { SlackThreadReply } from './slack-reply-channel.js';

export interface SlackAdapterOptions {
  config: SlackConfig;
  images: ImageLimits;
  editIntervalMs: number;
  logger: Logger;
  /** how long a delivered event id is remembered, to answer redeliveries never (default 1 h) */
  eventTtlSeconds?: number;
}

interface Place {
  team: string;
  channel: string;
  user: string;
}

/** bolt's logger interface on top of ours (its lines are debug unless they warn) */
function boltLogger(logger: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const text = (parts: unknown[]) =>
    parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join(' ');
  return {
    debug: (...parts) => logger.debug({ source: 'bolt' }, text(parts)),
    info: (...parts) => logger.debug({ source: 'bolt' }, text(parts)),
    warn: (...parts) => logger.warn({ source: 'bolt' }, text(parts)),
    error: (...parts) => logger.error({ source: 'bolt' }, text(parts)),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

const suggestedPrompts = [
  { title: 'Describe an image', message: 'Describe the image.' },
  { title: 'Ask about a diagram', message: 'What does this diagram show?' },
  { title: 'What can you do?', message: 'help' },
];

/**
 * Glimpse in a Slack workspace (@slack/bolt): `app_mention`s, DMs, replies in threads where it
 * has answered (no mention needed), `/glimpse <question>`, and the Agents & AI Apps surface
 * (suggested prompts, a status while a turn waits and runs, the thread title). One conversation
 * per thread; answers go into the thread, streamed natively where the workspace allows it. Socket
 * Mode when `SLACK_APP_TOKEN` is set, else HTTP at `/slack/events` with every request's signature
 * checked. Every event id is claimed once in the store, so a redelivery — to this replica or to
 * another sharing Redis — is never answered twice.
 */
export class SlackAdapter implements ChatAdapter {
  readonly platform = 'slack' as const;
  private readonly app: App;
  private readonly logger: Logger;
  private readonly budget: ChannelWriteBudget;
  private readonly policy: DownloadPolicy;
  private handler: ChatEventHandler | undefined;
  private claim: ((key: string) => Promise<boolean>) | undefined;
  private botUserId = '';
  private teamId = '';
  private streaming = true;
  private listening: string | undefined;
  private refusal: string | undefined;
  /** questions whose turn is in hand, and the messages of their answers */
  private readonly turns = new TurnsInHand();

  constructor(private readonly options: SlackAdapterOptions) {
    const { config } = options;
    this.logger = options.logger;
    this.budget = new ChannelWriteBudget({ intervalMs: options.editIntervalMs });
    this.policy = slackDownloadPolicy(config.botToken, config.apiUrl, options.images);
    const clientOptions = {
      slackApiUrl: config.apiUrl,
      // writes are paced by the shared renderer, which wants to hear about a 429
      rejectRateLimitedCalls: true,
      retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2000 },
    };
    this.app = new App({
      token: config.botToken,
      ...(config.appToken
        ? { socketMode: true, appToken: config.appToken, installerOptions: { clientOptions } }
        : { signingSecret: config.signingSecret }),
      clientOptions,
      logger: boltLogger(this.logger),
      ignoreSelf: true,
      // bolt checks the token at init; deferred to start, where a refusal is one log line
      deferInitialization: true,
    });
  }

  /** the event-id claim (the store's `claimEvent`); without it every delivery is answered */
  useEventClaims(claim: (key: string, ttlSeconds: number) => Promise<boolean>): void {
    const ttl = this.options.eventTtlSeconds ?? 3600;
    this.claim = (key) => claim(key, ttl);
  }

  describe(): string {
    if (this.refusal) return `off: ${this.refusal}`;
    const mode = this.options.config.appToken
      ? 'Socket Mode'
      : `HTTP on ${this.listening ?? '?'}/slack/events`;
    return `bot <@${this.botUserId}> in team ${this.teamId} (${mode})`;
  }

  /** where HTTP mode listens (tests) */
  get address(): string | undefined {
    return this.listening;
  }

  async start(handler: ChatEventHandler): Promise<void> {
    this.handler = handler;
    const { app } = this;
    try {
      await app.init();
      const auth = await app.client.auth.test();
      this.botUserId = String(auth.user_id ?? '');
      this.teamId = String(auth.team_id ?? '');
    } catch (error) {
      // one line, and the other adapters keep running
      const code = (error as { data?: { error?: string } }).data?.error;
      this.refusal = code
        ? `Slack refused SLACK_BOT_TOKEN (${code}): check the token and that the app is installed`
        : `could not reach Slack at ${this.options.config.apiUrl} (${error instanceof Error ? error.message : String(error)})`;
      this.logger.error({ code: 'glimpse_slack_refused' }, this.refusal);
      return;
    }
    app.error(async (error) => {
      this.logger.warn({ err: error, code: 'glimpse_slack_error' }, 'slack listener failed');
    });
    app.assistant(this.assistant());
    app.event('app_mention', async ({ event, body }) => {
      if (!(await this.firstDelivery(body))) return;
      await this.onMessage(event as unknown as SlackMessageEvent, { mentioned: true });
    });
    app.event('message', async ({ event, body }) => {
      const message = event as unknown as SlackMessageEvent;
      if (message.subtype === 'message_changed') return this.onChanged(message, body);
      if (message.subtype === 'message_deleted') return this.onDeleted(message);
      if (message.subtype && message.subtype !== 'file_share' && message.subtype !== 'thread_broadcast')
        return;
      if (message.bot_id || !message.user) return;
      // a mention in a channel comes as app_mention too: answered there
      if (message.channel_type !== 'im' && (message.text ?? '').includes(`<@${this.botUserId}`)) return;
      if (!(await this.firstDelivery(body))) return;
      await this.onMessage(message, { mentioned: false });
    });
    app.command('/glimpse', async ({ command, ack, respond }) => {
      await ack();
      await this.onSlashCommand(command, respond);
    });
    const server = this.options.config.appToken
      ? await app.start()
      : await app.start({ port: this.options.config.port, host: this.options.config.host });
    const address = (server as { address?: () => AddressInfo | string | null } | undefined)?.address?.();
    if (address && typeof address === 'object') this.listening = `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    if (this.refusal) return;
    await this.app.stop().catch((error: unknown) => this.logger.debug({ err: error }, 'slack stop'));
  }

  private async firstDelivery(body: unknown): Promise<boolean> {
    const eventId = (body as { event_id?: string }).event_id;
    if (!eventId || !this.claim) return true;
    try {
      const first = await this.claim(`slack:event:${eventId}`);
      if (!first)
        this.logger.info(
          { code: 'glimpse_duplicate_event', eventId },
          'slack redelivered an event; answered already',
        );
      return first;
    } catch (error) {
      this.logger.warn(
        { err: error, code: 'glimpse_store_failed', eventId },
        'could not claim the event; answering anyway',
      );
      return true;
    }
  }

  private allows(place: Place): boolean {
    const { access } = this.options.config;
    return (
      passesAccessList(access.users, [place.user]) &&
      passesAccessList(access.teams, [place.team]) &&
      passesAccessList(access.channels, [place.channel])
    );
  }

  private replyFor(
    client: WebClient,
    place: Place,
    threadTs: string,
    questionId: string,
    setStatus?: (status: string) => Promise<unknown>,
  ): SlackThreadReply {
    return new SlackThreadReply({
      client,
      channel: place.channel,
      threadTs,
      teamId: place.team,
      userId: place.user,
      budget: this.budget,
      logger: this.logger,
      streaming: () => this.streaming,
      onStreamRefused: (code) => {
        if (code !== 'message_not_in_streaming_state') this.streaming = false;
      },
      onPosted: (ts) => {
        const id = slackMessageId(place.channel, ts);
        this.turns.posted(questionId, id);
      },
      ...(setStatus ? { setStatus } : {}),
    });
  }

  /** hands an event over and keeps track of the turn until it is done */
  private dispatch(event: ChatEvent, questionId?: string, conversationId?: string): Promise<HandleResult> {
    if (!this.handler) throw new Error('slack adapter not started');
    const question =
      questionId !== undefined && conversationId !== undefined
        ? { messageId: questionId, conversationId }
        : undefined;
    return this.turns.dispatch(this.handler, event, question);
  }

  private async onMessage(
    message: SlackMessageEvent,
    how: { mentioned: boolean; setStatus?: (status: string) => Promise<unknown> },
  ): Promise<void> {
    if (!message.user) return;
    const place: Place = { team: message.team ?? this.teamId, channel: message.channel, user: message.user };
    const isDm = message.channel_type === 'im';
    const inThread = message.thread_ts !== undefined && message.thread_ts !== message.ts;
    const captionChannel = this.options.config.captionChannels.includes(message.channel);
    if (!how.mentioned && !isDm && !inThread) {
      if (captionChannel && message.files?.length) await this.autoCaption(message, place);
      return;
    }
    if (!this.allows(place)) {
      this.logger.debug({ channel: message.channel, user: message.user }, 'slack message not allowed here');
      return;
    }
    const threadTs = message.thread_ts ?? message.ts;
    const questionId = slackMessageId(message.channel, message.ts);
    const conversationId = slackConversationId(place.team, place.channel, threadTs);
    const reply = this.replyFor(this.app.client, place, threadTs, questionId, how.setStatus);
    const text = slackQuestionText(message.text, this.botUserId);
    const command = parseChatCommand(text);
    const author = { id: message.user, name: message.user, isBot: false };
    if (command?.kind === 'command') {
      await this.dispatch({
        type: 'command',
        command: command.command,
        platform: 'slack',
        conversationId,
        author,
        reply,
      });
      return;
    }
    if (command?.kind === 'caption') {
      await this.dispatch({
        type: 'caption',
        platform: 'slack',
        channelKey: `slack:${message.channel}`,
        messageId: questionId,
        author,
        images: slackImages(message.files, this.policy),
        reply,
      });
      return;
    }
    await this.dispatch(
      {
        type: 'message',
        message: slackChatMessage({
          team: place.team,
          channel: place.channel,
          threadTs,
          ts: message.ts,
          user: message.user,
          text: command?.kind === 'ask' ? command.question : text,
        }),
        reply,
        images: slackImages(message.files, this.policy),
        // a reply in a thread without a mention: only where Glimpse has answered before
        ...(!how.mentioned && !isDm && inThread ? { onlyIfKnown: true } : {}),
      },
      questionId,
      conversationId,
    );
  }

  private async autoCaption(message: SlackMessageEvent, place: Place): Promise<void> {
    if (!this.allows(place) || !message.user) return;
    const images = slackImages(message.files, this.policy);
    if (images.length === 0) return;
    const questionId = slackMessageId(message.channel, message.ts);
    await this.dispatch({
      type: 'caption',
      platform: 'slack',
      channelKey: `slack:${message.channel}`,
      messageId: questionId,
      author: { id: message.user, name: message.user, isBot: false },
      images,
      reply: this.replyFor(this.app.client, place, message.thread_ts ?? message.ts, questionId),
    });
  }

  private async onChanged(event: SlackMessageEvent, body: unknown): Promise<void> {
    const changed = event.message;
    if (!changed?.ts || !changed.user) return;
    const questionId = slackMessageId(event.channel, changed.ts);
    const conversationId = this.turns.conversationOf(questionId);
    if (conversationId === undefined || !(await this.firstDelivery(body))) return;
    const place: Place = { team: changed.team ?? this.teamId, channel: event.channel, user: changed.user };
    const threadTs = changed.thread_ts ?? changed.ts;
    await this.dispatch(
      {
        type: 'message-edited',
        platform: 'slack',
        conversationId: conversationId,
        messageId: questionId,
        message: slackChatMessage({
          team: place.team,
          channel: place.channel,
          threadTs,
          ts: changed.ts,
          user: changed.user,
          text: slackQuestionText(changed.text, this.botUserId),
        }),
        reply: this.replyFor(this.app.client, place, threadTs, questionId),
        images: slackImages(changed.files, this.policy),
      },
      questionId,
      conversationId,
    );
  }

  private async onDeleted(event: SlackMessageEvent): Promise<void> {
    if (!event.deleted_ts) return;
    const turn = this.turns.turnOf(slackMessageId(event.channel, event.deleted_ts));
    if (!turn || !this.handler) return;
    await this.handler.handle({ type: 'message-deleted', platform: 'slack', ...turn });
  }

  /** `/glimpse <question>`: acknowledged at once; the question is posted and answered in its thread */
  private async onSlashCommand(
    command: { text: string; channel_id: string; user_id: string; team_id: string; trigger_id: string },
    respond: (message: { text: string; response_type?: 'ephemeral' | 'in_channel' }) => Promise<unknown>,
  ): Promise<void> {
    const place: Place = { team: command.team_id, channel: command.channel_id, user: command.user_id };
    if (!this.allows(place)) {
      await respond({ text: "I'm not enabled here.", response_type: 'ephemeral' });
      return;
    }
    const question = command.text.trim();
    if (question === '') {
      await respond({
        text: 'Usage: `/glimpse <question>` — or mention me with an image.',
        response_type: 'ephemeral',
      });
      return;
    }
    let root: string;
    try {
      const posted = await this.app.client.chat.postMessage({
        channel: command.channel_id,
        text: `<@${command.user_id}> asked: ${question}`,
      });
      root = String(posted.ts);
    } catch (error) {
      this.logger.warn(
        { err: error, code: 'glimpse_slack_error' },
        'could not post the slash command question',
      );
      await respond({
        text: "I couldn't post in this channel — invite me first (`/invite @Glimpse`).",
        response_type: 'ephemeral',
      });
      return;
    }
    await this.onMessage(
      {
        type: 'message',
        channel: command.channel_id,
        user: command.user_id,
        team: command.team_id,
        text: question,
        ts: root,
      },
      { mentioned: true },
    );
  }

  private assistant(): Assistant {
    return new Assistant({
      threadStarted: async ({ setSuggestedPrompts }) => {
        await setSuggestedPrompts({ title: 'Show me an image and ask about it', prompts: suggestedPrompts });
      },
      userMessage: async ({ message, body, setStatus, setTitle }) => {
        if (!(await this.firstDelivery(body))) return;
        const event = message as unknown as SlackMessageEvent;
        if (!event.user || event.bot_id) return;
        const text = slackQuestionText(event.text, this.botUserId);
        if (text !== '' && event.thread_ts) {
          // the thread's title: its first question
          const replies = await this.app.client.conversations
            .replies({ channel: event.channel, ts: event.thread_ts, limit: 2 })
            .catch(() => undefined);
          if ((replies?.messages?.length ?? 0) <= 1) await setTitle(text.slice(0, 80)).catch(() => undefined);
        }
        await this.onMessage(
          { ...event, channel_type: 'im' },
          { mentioned: true, setStatus: (status) => setStatus(status) },
        );
      },
    });
  }
}

/** The factory the composition root calls. */
export function createSlackAdapter(options: SlackAdapterOptions): SlackAdapter {
  return new SlackAdapter(options);
}
