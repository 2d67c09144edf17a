import type { ChatEvent, ChatEventHandler, RenderedReply, ReplyChannel } from '../adapters/chat-adapter.js';
import type { Config } from '../config.js';
import { GlimpseError, toGlimpseError } from '../errors.js';
import type { Logger } from '../logger.js';
import { type ChatMessage, imagesOf, type MessagePart, textOf } from '../messages.js';
import type { ModelRequest, VisionChatModel } from '../pipeline/vision-chat-model.js';
import { fitContext } from './context-budget.js';
import {
  busyReply,
  emptyMessageReply,
  helpReply,
  rateLimitedReply,
  resetReply,
  type StatusFacts,
  statusReply,
  stoppingReply,
  storeFailedReply,
} from './conversation-replies.js';
import type { ConversationStore, ConversationTurn, StoredPart } from './conversation-store.js';
import { FairScheduler } from './fair-scheduler.js';
import { RateLimiter } from './rate-limiter.js';
import { type StreamOutcome, toReplyParts } from './reply-stream.js';

/** The parts of `Config` the manager reads (a whole `Config` will do). */
export type ConversationManagerConfig = Pick<Config, 'generation' | 'images' | 'scheduler'>;

export interface ConversationManagerOptions {
  model: VisionChatModel;
  store: ConversationStore;
  logger: Logger;
  config: ConversationManagerConfig;
  /** the clock for the rate limit (tests inject one) */
  now?: () => number;
}

interface ActiveTurn {
  message: ChatMessage;
  reply: ReplyChannel;
  controller: AbortController;
  /** the conversation's reset epoch when the turn was accepted */
  epoch: number;
}

/**
 * The conversation layer: turns each `message` event into one model turn, with history from the
 * store, fitted to the context, streamed back through the event's `ReplyChannel`, then stored.
 *
 * - one turn at a time per conversation, in order; at most `scheduler.concurrency` turns overall,
 *   fair across conversations (`FairScheduler`); a bounded queue (`busy` reply when full)
 * - a per-user rate limit (`RateLimiter`) with a reply that says when to retry
 * - `message-deleted` / `message-edited` of the triggering message cancel its turn, waiting or
 *   running; an answer cut off is stored as far as it was shown, marked `interrupted`
 * - commands: `reset`, `help`, `status`
 *
 * `handle` resolves once the event is dealt with: for a message, when its turn is stored (or was
 * refused or cancelled). It never rejects: failures become a short reply and a log line.
 */
export class ConversationManager implements ChatEventHandler {
  private readonly model: VisionChatModel;
  private readonly store: ConversationStore;
  private readonly logger: Logger;
  private readonly config: ConversationManagerConfig;
  private readonly scheduler: FairScheduler;
  private readonly limiter: RateLimiter;
  private readonly turns = new Map<string, ActiveTurn>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly epochs = new Map<string, number>();
  private stopping = false;

  constructor(options: ConversationManagerOptions) {
    this.model = options.model;
    this.store = options.store;
    this.logger = options.logger.child({ component: 'conversation' });
    this.config = options.config;
    this.scheduler = new FairScheduler({
      concurrency: options.config.scheduler.concurrency,
      queueMax: options.config.scheduler.queueMax,
    });
    this.limiter = new RateLimiter({
      limit: options.config.scheduler.rateLimitPerMinute,
      windowMs: 60_000,
      ...(options.now ? { now: options.now } : {}),
    });
  }

  async handle(event: ChatEvent): Promise<void> {
    const work = this.dispatch(event).catch((error: unknown) => {
      const glimpseError = toGlimpseError(error);
      this.logger.error({ err: glimpseError, code: glimpseError.code, event: event.type }, 'event failed');
    });
    this.pending.add(work);
    try {
      await work;
    } finally {
      this.pending.delete(work);
    }
  }

  /** the queue as the `status` command reports it */
  queueState(conversationId?: string): Pick<StatusFacts, 'waiting' | 'running' | 'here'> {
    const position = conversationId === undefined ? undefined : this.scheduler.positionOf(conversationId);
    const here: StatusFacts['here'] =
      conversationId !== undefined && this.scheduler.isRunning(conversationId)
        ? { state: 'running' }
        : position !== undefined
          ? { state: 'waiting', position: position + 1 }
          : { state: 'idle' };
    return { waiting: this.scheduler.waiting, running: this.scheduler.active, here };
  }

  /**
   * Stops taking turns: waiting turns are dropped, running ones aborted (their shown part is
   * stored as interrupted), and resolves once every event in hand is done. Call before closing
   * the store.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.scheduler.cancelWaiting();
    for (const turn of this.turns.values()) turn.controller.abort(abortReason('shutdown'));
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private async dispatch(event: ChatEvent): Promise<void> {
    switch (event.type) {
      case 'message':
        return this.onMessage(event.message, event.reply);
      case 'command':
        return this.onCommand(event);
      case 'message-deleted':
      case 'message-edited':
        return this.cancel(event.conversationId, event.messageId, event.type);
    }
  }

  private async onMessage(message: ChatMessage, reply: ReplyChannel): Promise<void> {
    const log = this.logger.child({ conversationId: message.conversationId, messageId: message.messageId });
    if (message.author.isBot) {
      log.debug('message from a bot ignored');
      return;
    }
    if (this.stopping) return this.notify(reply, stoppingReply, 'info', log);
    if (textOf(message.parts) === '' && imagesOf(message.parts).length === 0) {
      log.info({ code: 'glimpse_usage' }, 'empty message ignored');
      return this.notify(reply, emptyMessageReply, 'info', log);
    }
    const key = turnKey(message.conversationId, message.messageId);
    if (this.turns.has(key)) {
      log.debug('duplicate delivery of a message already in hand');
      return;
    }
    if (this.scheduler.full) {
      log.warn({ code: 'glimpse_busy', waiting: this.scheduler.waiting }, 'queue full; turn refused');
      return this.notify(reply, busyReply, 'warning', log);
    }
    const userKey = `${message.platform}:${message.author.id}`;
    const decision = this.limiter.take(userKey);
    if (!decision.allowed) {
      log.warn(
        { code: 'glimpse_rate_limited', userId: message.author.id, retryAfterMs: decision.retryAfterMs },
        'rate limited',
      );
      return this.notify(reply, rateLimitedReply(decision.retryAfterMs), 'warning', log);
    }

    const turn: ActiveTurn = {
      message,
      reply,
      controller: new AbortController(),
      epoch: this.epochs.get(message.conversationId) ?? 0,
    };
    this.turns.set(key, turn);
    try {
      const task = this.scheduler.schedule(
        message.conversationId,
        () => this.runTurn(turn, log),
        turn.controller.signal,
      );
      const outcome = await task.finished;
      if (outcome === 'cancelled') log.info({ code: 'glimpse_aborted' }, 'turn cancelled before it started');
    } catch (error) {
      if (error instanceof GlimpseError && error.code === 'glimpse_busy') {
        this.limiter.refund(userKey);
        log.warn({ code: error.code }, 'queue full; turn refused');
        return this.notify(reply, busyReply, 'warning', log);
      }
      throw error;
    } finally {
      this.turns.delete(key);
    }
  }

  private async runTurn(turn: ActiveTurn, log: Logger): Promise<void> {
    const { message, reply, controller } = turn;
    const signal = controller.signal;
    if (signal.aborted) return;
    const started = Date.now();

    let userParts: StoredPart[];
    let history: ConversationTurn[];
    let request: ModelRequest;
    let warnings: string[];
    try {
      userParts = await this.storeParts(message.parts);
      history = await this.store.load(message.conversationId);
      const maxImages = Math.min(this.config.images.maxPerRequest, this.model.info.maxImagesPerRequest);
      const maxNewTokens = this.config.generation.maxNewTokens;
      const budgetTokens = Math.max(1, this.model.info.contextLength - maxNewTokens);
      const fitted = await fitContext({
        model: this.model,
        history,
        message: message.parts,
        maxImages,
        budgetTokens,
        loadImage: (sha256) => this.store.getImage(sha256),
        ...(this.config.generation.systemPrompt ? { systemPrompt: this.config.generation.systemPrompt } : {}),
      });
      warnings = fitted.warnings;
      if (fitted.keptExchanges < fitted.totalExchanges || fitted.droppedImages > 0) {
        log.info(
          {
            code: 'glimpse_context_trimmed',
            keptExchanges: fitted.keptExchanges,
            totalExchanges: fitted.totalExchanges,
            droppedImages: fitted.droppedImages,
            promptTokens: fitted.promptTokens,
          },
          'history trimmed to fit the context',
        );
      }
      const { generation } = this.config;
      request = {
        messages: fitted.messages,
        maxNewTokens,
        temperature: generation.temperature,
        topP: generation.topP,
        topK: generation.topK,
        repetitionPenalty: generation.repetitionPenalty,
      };
    } catch (error) {
      const glimpseError = toGlimpseError(error, 'glimpse_store_failed');
      log.warn({ err: glimpseError, code: glimpseError.code }, 'turn could not start');
      return this.notify(reply, glimpseError.userMessage, 'error', log);
    }
    if (signal.aborted) return;

    const outcome: StreamOutcome = { interrupted: false, text: '' };
    let rendered: RenderedReply;
    try {
      rendered = await reply.render(
        toReplyParts(this.model.stream(request, signal), { warnings, signal, outcome }),
      );
    } catch (error) {
      // the platform failed to show it: we cannot know how much was seen
      log.warn({ err: error, code: 'glimpse_render_failed' }, 'rendering the reply failed');
      rendered = { shownText: '', messageIds: [] };
      outcome.interrupted = true;
    }
    if (outcome.error) {
      log.warn({ err: outcome.error, code: outcome.error.code }, 'the model failed');
    }
    const interrupted = outcome.interrupted || signal.aborted;

    if ((this.epochs.get(message.conversationId) ?? 0) !== turn.epoch) {
      log.info('conversation was reset during the turn; not storing it');
      return;
    }
    const createdAt = new Date().toISOString();
    const userTurn: ConversationTurn = {
      role: 'user',
      parts: userParts,
      messageId: message.messageId,
      author: message.author,
      createdAt: (message.createdAt ?? new Date(started)).toISOString(),
    };
    const assistantTurn: ConversationTurn = {
      role: 'assistant',
      parts: [{ type: 'text', text: rendered.shownText }],
      createdAt,
      ...(rendered.messageIds[0] !== undefined ? { messageId: rendered.messageIds[0] } : {}),
      ...(interrupted ? { interrupted: true } : {}),
    };
    try {
      // one write per completed turn: the question and the answer land together or not at all
      await this.store.append(message.conversationId, [userTurn, assistantTurn]);
    } catch (error) {
      const glimpseError = toGlimpseError(error, 'glimpse_store_failed');
      log.error({ err: glimpseError, code: glimpseError.code }, 'could not store the turn');
      await this.notify(reply, storeFailedReply, 'error', log);
      return;
    }
    log.info(
      {
        promptTokens: outcome.usage?.promptTokens,
        completionTokens: outcome.usage?.completionTokens,
        finishReason: outcome.finishReason,
        interrupted,
        shownChars: rendered.shownText.length,
        ms: Date.now() - started,
      },
      interrupted ? 'turn interrupted' : 'turn done',
    );
  }

  private async storeParts(parts: MessagePart[]): Promise<StoredPart[]> {
    const stored: StoredPart[] = [];
    for (const part of parts) {
      if (part.type === 'text') stored.push({ type: 'text', text: part.text });
      else stored.push(await this.store.putImage(part));
    }
    return stored;
  }

  private async onCommand(event: Extract<ChatEvent, { type: 'command' }>): Promise<void> {
    const log = this.logger.child({ conversationId: event.conversationId, command: event.command });
    switch (event.command) {
      case 'help':
        return this.notify(
          event.reply,
          helpReply({
            maxImages: Math.min(this.config.images.maxPerRequest, this.model.info.maxImagesPerRequest),
            rateLimitPerMinute: this.config.scheduler.rateLimitPerMinute,
          }),
          'info',
          log,
        );
      case 'status':
        return this.notify(
          event.reply,
          statusReply({
            modelId: this.model.info.id,
            contextLength: this.model.info.contextLength,
            concurrency: this.config.scheduler.concurrency,
            ...this.queueState(event.conversationId),
          }),
          'info',
          log,
        );
      case 'reset': {
        this.epochs.set(event.conversationId, (this.epochs.get(event.conversationId) ?? 0) + 1);
        for (const turn of this.turns.values()) {
          if (turn.message.conversationId === event.conversationId)
            turn.controller.abort(abortReason('reset'));
        }
        try {
          await this.store.reset(event.conversationId);
        } catch (error) {
          const glimpseError = toGlimpseError(error, 'glimpse_store_failed');
          log.error({ err: glimpseError, code: glimpseError.code }, 'reset failed');
          return this.notify(event.reply, glimpseError.userMessage, 'error', log);
        }
        log.info('conversation reset');
        return this.notify(event.reply, resetReply, 'info', log);
      }
    }
  }

  private async cancel(conversationId: string, messageId: string, why: string): Promise<void> {
    const turn = this.turns.get(turnKey(conversationId, messageId));
    if (!turn) return;
    this.logger.info({ code: 'glimpse_aborted', conversationId, messageId, why }, 'cancelling a turn');
    turn.controller.abort(abortReason(why));
  }

  private async notify(
    reply: ReplyChannel,
    text: string,
    kind: 'info' | 'warning' | 'error',
    log: Logger,
  ): Promise<void> {
    try {
      await reply.notice(text, kind);
    } catch (error) {
      log.warn({ err: error, code: 'glimpse_notice_failed' }, 'could not send a notice');
    }
  }
}

const turnKey = (conversationId: string, messageId: string) => `${conversationId}\u0000${messageId}`;

const abortReason = (why: string) =>
  new GlimpseError('glimpse_aborted', `turn cancelled (${why})`, { userMessage: 'Stopped.' });

/** The factory the composition root calls. */
export function createConversationManager(options: ConversationManagerOptions): ConversationManager {
  return new ConversationManager(options);
}
