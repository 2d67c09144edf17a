import type { Config } from '../config.js';
import { GlimpseError, toGlimpseError } from '../errors.js';
import type { Logger } from '../logger.js';
import { type ChatMessage, type ImagePart, imagesOf, type MessagePart, textOf } from '../messages.js';
import type { ModelRequest, VisionChatModel } from '../pipeline/vision-chat-model.js';
import type { ImageLabeler } from '../pipeline/zero-shot-labeler.js';
import { captionReplyText, defaultCaptionPrompt, topLabels } from './caption-prompt.js';
import {
  type CaptionEvent,
  type ChatEvent,
  type ChatEventHandler,
  type CommandEvent,
  type HandleResult,
  type MessageEditedEvent,
  type MessageEvent,
  type RenderedReply,
  type ReplyChannel,
  ReplyRenderError,
} from './chat-event.js';
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
import { TurnCheckpoint } from './turn-checkpoint.js';
import type { TurnTicket } from './turn-ticket.js';

/** The parts of `Config` the manager reads (a whole `Config` will do). */
export type ConversationManagerConfig = Pick<Config, 'generation' | 'images' | 'scheduler'> & {
  captions?: Partial<CaptionSettings>;
};

export interface CaptionSettings {
  /** captions per channel per minute (0 = off) */
  perChannelPerMinute: number;
  /** zero-shot labels offered with each caption, when a labeler is given */
  labels: string[];
  prompt: string;
  maxNewTokens: number;
}

export interface ConversationManagerOptions {
  model: VisionChatModel;
  store: ConversationStore;
  logger: Logger;
  config: ConversationManagerConfig;
  /** zero-shot labels for captions (a model with a text encoder) */
  labeler?: ImageLabeler;
  /** the clock for the rate limits (tests inject one) */
  now?: () => number;
  /** how often a waiting turn's channel hears that it still waits (ms; default 8000) */
  waitingRefreshMs?: number;
}

interface ActiveTurn {
  message: ChatMessage;
  reply: ReplyChannel;
  controller: AbortController;
  /** the conversation's reset epoch when the turn was accepted */
  epoch: number;
  /** the images being downloaded since the turn was accepted */
  downloads: Promise<PromiseSettledResult<ImagePart>[]>;
  continuesFrom?: string;
  /** settles when the turn is over (stored, refused or cancelled) */
  finished: Promise<void>;
  /** set when the scheduler starts it */
  started: boolean;
  /** the conversation whose turn queue the turn waits in (a reply chain's, else its own) */
  lane: string;
  /** its place in that queue (shared by every replica on the store) */
  ticket: TurnTicket;
  /** set when the ticket could not be acquired */
  ticketError?: unknown;
}

const defaultCaptions: CaptionSettings = {
  perChannelPerMinute: 10,
  labels: [],
  prompt: defaultCaptionPrompt,
  maxNewTokens: 48,
};

/**
 * The conversation layer: turns each `message` event into one model turn, with history from the
 * store, fitted to the context, streamed back through the event's `ReplyChannel`, then stored.
 *
 * - `handle` resolves as soon as an event is accepted or refused; `done` follows when the turn is
 *   stored. The author's rate limit and the queue are checked before any image is downloaded;
 *   accepted images are downloaded at once, while the turn waits
 * - one turn at a time per conversation, in order — across every replica sharing the store: a turn
 *   takes a ticket in the conversation's queue (`ConversationStore.queueTurn`) when accepted and
 *   reads and writes the history only while it holds it; at most `scheduler.concurrency` turns
 *   overall, fair across conversations (`FairScheduler`); a bounded queue (`busy` reply when full)
 * - a reply to a known message continues its conversation; a reply to an earlier turn branches
 * - `message-deleted` cancels the turn, waiting or running; `message-edited` cancels it and answers
 *   the new text; an answer cut off is stored as far as it was shown, marked `interrupted`
 * - commands: `reset`, `help`, `status`; `caption` events (auto-caption) within a channel budget
 *
 * It never rejects: failures become a short reply and a log line.
 */
export class ConversationManager implements ChatEventHandler {
  private readonly model: VisionChatModel;
  private readonly store: ConversationStore;
  private readonly logger: Logger;
  private readonly config: ConversationManagerConfig;
  private readonly captions: CaptionSettings;
  private readonly labeler: ImageLabeler | undefined;
  private readonly scheduler: FairScheduler;
  private readonly limiter: RateLimiter;
  private readonly captionLimiter: RateLimiter;
  private readonly waitingRefreshMs: number;
  private readonly turns = new Map<string, ActiveTurn>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly epochs = new Map<string, number>();
  private stopping = false;

  constructor(options: ConversationManagerOptions) {
    this.model = options.model;
    this.store = options.store;
    this.logger = options.logger.child({ component: 'conversation' });
    this.config = options.config;
    this.captions = { ...defaultCaptions, ...options.config.captions };
    this.labeler = options.labeler;
    this.waitingRefreshMs = options.waitingRefreshMs ?? 8000;
    this.scheduler = new FairScheduler({
      concurrency: options.config.scheduler.concurrency,
      queueMax: options.config.scheduler.queueMax,
    });
    const now = options.now ? { now: options.now } : {};
    this.limiter = new RateLimiter({
      limit: options.config.scheduler.rateLimitPerMinute,
      windowMs: 60_000,
      ...now,
    });
    this.captionLimiter = new RateLimiter({
      limit: this.captions.perChannelPerMinute,
      windowMs: 60_000,
      ...now,
    });
  }

  async handle(event: ChatEvent): Promise<HandleResult> {
    try {
      const result = await this.dispatch(event);
      const done = result.done.catch((error: unknown) => this.logFailure(error, event));
      this.track(done);
      return { ...result, done };
    } catch (error) {
      this.logFailure(error, event);
      return { status: 'ignored', reason: 'glimpse_internal', done: Promise.resolve() };
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

  /** resolves once nothing is in hand (tests, load runs) */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track(work: Promise<unknown>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  private logFailure(error: unknown, event: ChatEvent): void {
    const glimpseError = toGlimpseError(error);
    this.logger.error({ err: glimpseError, code: glimpseError.code, event: event.type }, 'event failed');
  }

  private async dispatch(event: ChatEvent): Promise<HandleResult> {
    switch (event.type) {
      case 'message':
        return this.onMessage(event);
      case 'command':
        return accepted(this.onCommand(event));
      case 'caption':
        return this.onCaption(event);
      case 'message-deleted':
        return this.cancel(event.conversationId, event.messageId, 'deleted');
      case 'message-edited':
        return this.onEdited(event);
    }
  }

  private refuse(reason: string, reply: ReplyChannel, text: string, kind: 'info' | 'warning', log: Logger) {
    return { status: 'refused' as const, reason, done: this.notify(reply, text, kind, log) };
  }

  private async onMessage(event: MessageEvent): Promise<HandleResult> {
    const { message, reply } = event;
    const pendingImages = event.images ?? [];
    const log = this.logger.child({ conversationId: message.conversationId, messageId: message.messageId });
    if (message.author.isBot) {
      log.debug('message from a bot ignored');
      return ignored('bot');
    }
    if (this.stopping) return this.refuse('glimpse_stopping', reply, stoppingReply, 'info', log);
    if (textOf(message.parts) === '' && imagesOf(message.parts).length === 0 && pendingImages.length === 0) {
      log.info({ code: 'glimpse_usage' }, 'empty message ignored');
      return this.refuse('glimpse_usage', reply, emptyMessageReply, 'info', log);
    }
    const key = turnKey(message.conversationId, message.messageId);
    if (this.turns.has(key)) {
      log.debug('duplicate delivery of a message already in hand');
      return ignored('duplicate');
    }
    if (event.onlyIfKnown && !(await this.knows(message.conversationId, log)))
      return ignored('unknown conversation');
    if (this.scheduler.full) {
      log.warn({ code: 'glimpse_busy', waiting: this.scheduler.waiting }, 'queue full; turn refused');
      return this.refuse('glimpse_busy', reply, busyReply, 'warning', log);
    }
    const userKey = `${message.platform}:${message.author.id}`;
    const decision = this.limiter.take(userKey);
    if (!decision.allowed) {
      log.warn(
        { code: 'glimpse_rate_limited', userId: message.author.id, retryAfterMs: decision.retryAfterMs },
        'rate limited',
      );
      return this.refuse(
        'glimpse_rate_limited',
        reply,
        rateLimitedReply(decision.retryAfterMs),
        'warning',
        log,
      );
    }

    const lane = await this.laneOf(message, event.continuesFrom, log);
    let ticket: TurnTicket;
    try {
      ticket = await this.store.queueTurn(lane);
    } catch (error) {
      this.limiter.refund(userKey);
      const glimpseError = toGlimpseError(error, 'glimpse_store_failed');
      log.error({ err: glimpseError, code: glimpseError.code }, 'could not queue the turn');
      return this.refuse(glimpseError.code, reply, storeFailedReply, 'warning', log);
    }

    const controller = new AbortController();
    let finish!: () => void;
    const turn: ActiveTurn = {
      lane,
      ticket,
      message,
      reply,
      controller,
      epoch: this.epochs.get(message.conversationId) ?? 0,
      // downloaded at once: platform links expire while a turn waits
      downloads: Promise.allSettled(pendingImages.map((image) => image.fetch(controller.signal))),
      ...(event.continuesFrom !== undefined ? { continuesFrom: event.continuesFrom } : {}),
      finished: new Promise<void>((resolve) => {
        finish = resolve;
      }),
      started: false,
    };
    // the turn waits for its ticket without holding a model slot: a slot never waits on another
    // replica, so replicas cannot deadlock on each other's conversations
    const ready = ticket.acquire(controller.signal).catch((error: unknown) => {
      turn.ticketError = error;
    });
    let task: ReturnType<FairScheduler['schedule']>;
    try {
      task = this.scheduler.schedule(lane, () => this.runTurn(turn, log), controller.signal, ready);
    } catch (error) {
      controller.abort();
      void ticket.release();
      if (error instanceof GlimpseError && error.code === 'glimpse_busy') {
        this.limiter.refund(userKey);
        log.warn({ code: error.code }, 'queue full; turn refused');
        return this.refuse('glimpse_busy', reply, busyReply, 'warning', log);
      }
      throw error;
    }
    this.turns.set(key, turn);
    const waiting = this.announceWaiting(turn, log);
    const done = (async () => {
      try {
        const outcome = await task.finished;
        if (outcome === 'cancelled')
          log.info({ code: 'glimpse_aborted' }, 'turn cancelled before it started');
      } finally {
        waiting.stop();
        await ticket.release();
        if (this.turns.get(key) === turn) this.turns.delete(key);
        finish();
      }
    })();
    return { status: 'accepted', done };
  }

  /**
   * The conversation whose turns this message queues behind: for a reply to a linked message, that
   * message's conversation (the turn may continue it), else the message's own.
   */
  private async laneOf(
    message: ChatMessage,
    continuesFrom: string | undefined,
    log: Logger,
  ): Promise<string> {
    if (continuesFrom === undefined) return message.conversationId;
    try {
      const link = await this.store.findMessage(`${message.platform}:${continuesFrom}`);
      return link?.conversationId ?? message.conversationId;
    } catch (error) {
      log.warn({ err: error, code: 'glimpse_store_failed' }, 'could not look up the replied-to message');
      return message.conversationId;
    }
  }

  /** whether a conversation has history (false when the store cannot say) */
  private async knows(conversationId: string, log: Logger): Promise<boolean> {
    try {
      return (await this.store.load(conversationId)).length > 0;
    } catch (error) {
      log.warn(
        { err: error, code: 'glimpse_store_failed' },
        'could not tell whether the conversation is known',
      );
      return false;
    }
  }

  /** tells the channel the turn waits (typing, queue position) until it starts */
  private announceWaiting(turn: ActiveTurn, log: Logger): { stop(): void } {
    const { reply } = turn;
    if (!reply.waiting || turn.started) return { stop: () => undefined };
    const tell = () => {
      if (turn.started) return;
      void this.sendWaiting(reply, this.scheduler.positionOf(turn.lane) ?? 0, log);
    };
    tell();
    const timer = setInterval(tell, this.waitingRefreshMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  private async sendWaiting(reply: ReplyChannel, position: number, log: Logger): Promise<void> {
    try {
      await reply.waiting?.(position);
    } catch (error) {
      log.debug({ err: error }, 'could not show the waiting state');
    }
  }

  private async runTurn(turn: ActiveTurn, log: Logger): Promise<void> {
    const { message, reply, controller } = turn;
    turn.started = true;
    const signal = controller.signal;
    if (signal.aborted) return;
    const started = Date.now();
    if (turn.ticketError !== undefined) {
      const glimpseError = toGlimpseError(turn.ticketError, 'glimpse_store_failed');
      if (glimpseError.code === 'glimpse_aborted') return;
      log.error({ err: glimpseError, code: glimpseError.code }, 'could not take the conversation’s turn');
      this.limiter.refund(`${message.platform}:${message.author.id}`);
      return this.notify(reply, storeFailedReply, 'error', log);
    }

    const downloaded = await turn.downloads;
    const failed = downloaded.filter(
      (result): result is PromiseRejectedResult => result.status === 'rejected',
    );
    if (signal.aborted) return;
    if (failed.length > 0) {
      const errors = failed.map((result) => toGlimpseError(result.reason, 'glimpse_image_download_failed'));
      for (const error of errors) log.warn({ err: error, code: error.code }, 'image refused');
      this.limiter.refund(`${message.platform}:${message.author.id}`);
      return this.notify(
        reply,
        [...new Set(errors.map((error) => error.userMessage))].join('\n'),
        'error',
        log,
      );
    }
    const parts: MessagePart[] = [
      ...message.parts,
      ...downloaded.map((result) => (result as PromiseFulfilledResult<ImagePart>).value),
    ];

    let conversationId = message.conversationId;
    let userParts: StoredPart[];
    let history: ConversationTurn[];
    let request: ModelRequest;
    let warnings: string[];
    try {
      const resolved = await this.resolveConversation(turn, log);
      conversationId = resolved.conversationId;
      history = resolved.history;
      userParts = await this.storeParts(parts);
      const maxImages = Math.min(this.config.images.maxPerRequest, this.model.info.maxImagesPerRequest);
      const maxNewTokens = this.config.generation.maxNewTokens;
      const budgetTokens = Math.max(1, this.model.info.contextLength - maxNewTokens);
      const fitted = await fitContext({
        model: this.model,
        history,
        message: parts,
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

    const userTurn: ConversationTurn = {
      role: 'user',
      parts: userParts,
      messageId: message.messageId,
      author: message.author,
      createdAt: (message.createdAt ?? new Date(started)).toISOString(),
    };
    // saved as it streams, so that a process killed mid-answer leaves the turn, interrupted
    const checkpoint = new TurnCheckpoint({ store: this.store, conversationId, question: userTurn, log });
    const outcome: StreamOutcome = { interrupted: false, text: '' };
    let rendered: RenderedReply;
    try {
      rendered = await reply.render(
        checkpoint.track(toReplyParts(this.model.stream(request, signal), { warnings, signal, outcome })),
      );
    } catch (error) {
      // the platform stopped showing it: keep what it says was seen, else nothing
      log.warn({ err: error, code: 'glimpse_render_failed' }, 'rendering the reply failed');
      rendered = error instanceof ReplyRenderError ? error.rendered : { shownText: '', messageIds: [] };
      outcome.interrupted = true;
    }
    if (outcome.error) {
      log.warn({ err: outcome.error, code: outcome.error.code }, 'the model failed');
    }
    const interrupted = outcome.interrupted || signal.aborted;

    if ((this.epochs.get(message.conversationId) ?? 0) !== turn.epoch) {
      log.info('conversation was reset during the turn; not storing it');
      await checkpoint.end();
      return;
    }
    if (turn.ticket.lost.aborted) {
      // another turn of this conversation may be writing now: storing ours could overwrite it
      log.error(
        { code: 'glimpse_store_failed', conversationId },
        'lost the conversation’s turn while answering; this turn is not stored',
      );
      await checkpoint.end();
      return;
    }
    const createdAt = new Date().toISOString();
    const assistantTurn: ConversationTurn = {
      role: 'assistant',
      parts: [{ type: 'text', text: rendered.shownText }],
      createdAt,
      ...(rendered.messageIds[0] !== undefined ? { messageId: rendered.messageIds[0] } : {}),
      ...(interrupted ? { interrupted: true } : {}),
    };
    try {
      // one write per completed turn: the question and the answer land together or not at all
      await this.store.append(conversationId, [userTurn, assistantTurn]);
      const anchor = rendered.messageIds[0] ?? message.messageId;
      await this.store.linkMessages(
        conversationId,
        anchor,
        [message.messageId, ...rendered.messageIds].map((id) => `${message.platform}:${id}`),
      );
    } catch (error) {
      const glimpseError = toGlimpseError(error, 'glimpse_store_failed');
      log.error({ err: glimpseError, code: glimpseError.code }, 'could not store the turn');
      await this.notify(reply, storeFailedReply, 'error', log);
      return;
    } finally {
      await checkpoint.end();
    }
    log.info(
      {
        conversationId,
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

  /**
   * The conversation a turn goes into and its history. A reply to a linked message continues that
   * message's conversation; when the message is not its newest turn, the history up to it is
   * copied into a branch under the turn's own conversation id.
   */
  private async resolveConversation(
    turn: ActiveTurn,
    log: Logger,
  ): Promise<{ conversationId: string; history: ConversationTurn[] }> {
    const { message } = turn;
    const own = { conversationId: message.conversationId };
    if (turn.continuesFrom === undefined)
      return { ...own, history: await this.store.load(message.conversationId) };
    const link = await this.store.findMessage(`${message.platform}:${turn.continuesFrom}`);
    if (!link) return { ...own, history: await this.store.load(message.conversationId) };
    const history = await this.store.load(link.conversationId);
    const at = history.findIndex((stored) => stored.messageId === link.anchor);
    if (at < 0 || link.conversationId === message.conversationId) {
      return { conversationId: link.conversationId, history };
    }
    // keep the whole exchange the message belongs to (a question keeps its answer)
    const end = history[at]?.role === 'user' && history[at + 1]?.role === 'assistant' ? at + 2 : at + 1;
    if (end >= history.length) return { conversationId: link.conversationId, history };
    const prefix = history.slice(0, end);
    const existing = await this.store.load(message.conversationId);
    if (existing.length === 0) await this.store.append(message.conversationId, prefix);
    log.info(
      { code: 'glimpse_branch', from: link.conversationId, turns: prefix.length },
      'reply to an earlier turn: a branch of the conversation',
    );
    return { conversationId: message.conversationId, history: existing.length === 0 ? prefix : existing };
  }

  private async storeParts(parts: MessagePart[]): Promise<StoredPart[]> {
    const stored: StoredPart[] = [];
    for (const part of parts) {
      if (part.type === 'text') stored.push({ type: 'text', text: part.text });
      else stored.push(await this.store.putImage(part));
    }
    return stored;
  }

  private async onEdited(event: MessageEditedEvent): Promise<HandleResult> {
    const key = turnKey(event.conversationId, event.messageId);
    const turn = this.turns.get(key);
    if (!turn) return ignored('nothing in hand');
    this.logger.info(
      {
        code: 'glimpse_aborted',
        conversationId: event.conversationId,
        messageId: event.messageId,
        why: 'edited',
      },
      'cancelling a turn: its question was edited',
    );
    turn.controller.abort(abortReason('edited'));
    if (!event.message || !event.reply) return { status: 'accepted', done: turn.finished };
    const next: MessageEvent = {
      type: 'message',
      message: event.message,
      reply: event.reply,
      ...(event.images ? { images: event.images } : {}),
      ...(turn.continuesFrom !== undefined ? { continuesFrom: turn.continuesFrom } : {}),
    };
    await turn.finished;
    return this.onMessage(next);
  }

  private async onCommand(event: CommandEvent): Promise<void> {
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
          await this.resetInTurn(event.conversationId, log);
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

  /**
   * Forgets a conversation in its turn: after the turns queued before it (here they were just
   * cancelled; another replica's finishes first), so no earlier turn is stored after the reset.
   * Waits at most `resetWaitMs`; then resets anyway.
   */
  private async resetInTurn(conversationId: string, log: Logger): Promise<void> {
    const ticket = await this.store.queueTurn(conversationId);
    try {
      await ticket.acquire(AbortSignal.timeout(resetWaitMs)).catch((error: unknown) => {
        log.warn(
          { err: error, code: 'glimpse_store_failed' },
          'reset did not get its turn in time; resetting now',
        );
      });
      await this.store.reset(conversationId);
    } finally {
      await ticket.release();
    }
  }

  /** an auto-caption: the caption prompt (and zero-shot labels) for each image, within the budget */
  private async onCaption(event: CaptionEvent): Promise<HandleResult> {
    const log = this.logger.child({
      channel: event.channelKey,
      messageId: event.messageId,
      event: 'caption',
    });
    if (this.stopping) return ignored('glimpse_stopping');
    if (event.images.length === 0) return ignored('no image');
    const decision = this.captionLimiter.take(event.channelKey);
    if (!decision.allowed) {
      log.info({ code: 'glimpse_rate_limited', retryAfterMs: decision.retryAfterMs }, 'caption budget spent');
      return { status: 'refused', reason: 'glimpse_rate_limited', done: Promise.resolve() };
    }
    if (this.scheduler.full) {
      log.warn({ code: 'glimpse_busy' }, 'queue full; caption skipped');
      return { status: 'refused', reason: 'glimpse_busy', done: Promise.resolve() };
    }
    const controller = new AbortController();
    const downloads = Promise.allSettled(event.images.map((image) => image.fetch(controller.signal)));
    const key = `caption:${event.channelKey}:${event.messageId}`;
    const task = this.scheduler.schedule(
      key,
      () => this.runCaption(event, downloads, controller.signal, log),
      controller.signal,
    );
    return { status: 'accepted', done: task.finished.then(() => undefined) };
  }

  private async runCaption(
    event: CaptionEvent,
    downloads: Promise<PromiseSettledResult<ImagePart>[]>,
    signal: AbortSignal,
    log: Logger,
  ): Promise<void> {
    const images: ImagePart[] = [];
    for (const result of await downloads) {
      if (result.status === 'fulfilled') images.push(result.value);
      else {
        const error = toGlimpseError(result.reason, 'glimpse_image_download_failed');
        log.info({ err: error, code: error.code }, 'caption: image refused');
      }
    }
    const lines: string[] = [];
    for (const image of images) {
      if (signal.aborted) return;
      let caption = '';
      for await (const part of this.model.stream(
        {
          messages: [{ role: 'user', content: [image, { type: 'text', text: this.captions.prompt }] }],
          maxNewTokens: this.captions.maxNewTokens,
          temperature: 0,
        },
        signal,
      )) {
        if (part.type === 'text-delta') caption += part.text;
        else if (part.type === 'error') {
          log.warn({ err: part.error, code: part.error.code }, 'caption failed');
          return;
        }
      }
      const labels =
        this.labeler && this.captions.labels.length > 0
          ? await topLabels(this.labeler, image, this.captions.labels, { signal }).catch((error: unknown) => {
              log.warn({ err: error, code: 'glimpse_model_failed' }, 'caption labels failed');
              return [];
            })
          : [];
      const prefix = images.length > 1 ? `${image.name}: ` : '';
      lines.push(prefix + captionReplyText(caption, labels));
    }
    if (lines.length === 0) return;
    log.info({ images: images.length }, 'caption done');
    await this.notify(event.reply, lines.join('\n\n'), 'info', log);
  }

  private async cancel(conversationId: string, messageId: string, why: string): Promise<HandleResult> {
    const turn = this.turns.get(turnKey(conversationId, messageId));
    if (!turn) return ignored('nothing in hand');
    this.logger.info({ code: 'glimpse_aborted', conversationId, messageId, why }, 'cancelling a turn');
    turn.controller.abort(abortReason(why));
    return { status: 'accepted', done: turn.finished };
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

/** how long a reset waits for the turns queued before it */
const resetWaitMs = 30_000;

const turnKey = (conversationId: string, messageId: string) => `${conversationId}\u0000${messageId}`;

const abortReason = (why: string) =>
  new GlimpseError('glimpse_aborted', `turn cancelled (${why})`, { userMessage: 'Stopped.' });

const ignored = (reason: string): HandleResult => ({ status: 'ignored', reason, done: Promise.resolve() });

const accepted = (work: Promise<void>): HandleResult => ({ status: 'accepted', done: work });

/** The factory the composition root calls. */
export function createConversationManager(options: ConversationManagerOptions): ConversationManager {
  return new ConversationManager(options);
}
