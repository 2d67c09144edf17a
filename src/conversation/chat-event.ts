import type { ChatAuthor, ChatMessage, ImagePart, Platform } from '../messages.js';
import type { ModelTimings, ModelUsage } from '../pipeline/vision-chat-model.js';

/**
 * The event contract between the chat platforms and the conversation layer. It belongs to the
 * conversation layer: adapters depend on it, never the other way round.
 */

/** What the conversation layer sends back to a platform while answering. */
export type ReplyPart =
  | { type: 'text-delta'; text: string }
  | { type: 'warning'; message: string }
  | { type: 'finish'; usage: ModelUsage; timings: ModelTimings; interrupted: boolean }
  | { type: 'error'; message: string };

export interface RenderedReply {
  /** the text the user actually saw (what was flushed to the platform) */
  shownText: string;
  /** the platform ids of the messages the reply was rendered into */
  messageIds: string[];
}

/** The way back to where a message came from. Implemented by each adapter. */
export interface ReplyChannel {
  /** a short standalone message: help text, "busy, try again", a rate-limit reply */
  notice(text: string, kind?: 'info' | 'warning' | 'error'): Promise<void>;
  /**
   * Renders a streamed answer (throttled edits, splitting at platform limits, a "still writing"
   * marker). Resolves once the stream has ended and the last edit is out.
   */
  render(parts: AsyncIterable<ReplyPart>): Promise<RenderedReply>;
  /**
   * The turn waits in the queue: `position` turns are ahead of it (a typing indicator, a status
   * line). Called when the turn is accepted and again while it waits. Optional.
   */
  waiting?(position: number): Promise<void>;
}

/**
 * An image attached to a message, not downloaded yet: the conversation layer checks the author's
 * rate limit and the queue first, then fetches it at once (platform links expire).
 */
export interface PendingImage {
  name: string;
  /** throws a coded error (`glimpse_image_*`) whose userMessage says what went wrong */
  fetch(signal: AbortSignal): Promise<ImagePart>;
}

export type CommandName = 'reset' | 'help' | 'status';

export interface MessageEvent {
  type: 'message';
  message: ChatMessage;
  reply: ReplyChannel;
  /** images still to download; they join `message.parts` after the text */
  images?: PendingImage[];
  /**
   * The platform message this one answers (a reply). When it belongs to a known conversation, the
   * message continues it; when it is not that conversation's newest turn, the message starts a
   * branch (`message.conversationId`) holding the history up to it.
   */
  continuesFrom?: string;
  /**
   * Answer only when the conversation already has history (a reply in a thread where Glimpse has
   * answered before, without a mention): read from the store, so it holds across restarts and
   * replicas.
   */
  onlyIfKnown?: boolean;
}

export interface CommandEvent {
  type: 'command';
  command: CommandName;
  platform: Platform;
  conversationId: string;
  author: ChatAuthor;
  reply: ReplyChannel;
}

/** An image posted where captions are configured, not addressed to the bot (moderators' alt text). */
export interface CaptionEvent {
  type: 'caption';
  platform: Platform;
  /** the caption budget is kept per channel */
  channelKey: string;
  messageId: string;
  author: ChatAuthor;
  images: PendingImage[];
  reply: ReplyChannel;
}

export interface MessageDeletedEvent {
  type: 'message-deleted';
  platform: Platform;
  conversationId: string;
  messageId: string;
}

/** The question was edited: its running or waiting answer is cancelled and the new text answered. */
export interface MessageEditedEvent {
  type: 'message-edited';
  platform: Platform;
  conversationId: string;
  messageId: string;
  /** the edited message, to answer instead (absent: only cancel) */
  message?: ChatMessage;
  reply?: ReplyChannel;
  images?: PendingImage[];
}

export type ChatEvent = MessageEvent | CommandEvent | CaptionEvent | MessageDeletedEvent | MessageEditedEvent;

/**
 * How an event was taken: `accepted` (a turn will run, or a command ran), `refused` (the user was
 * told why: busy, rate limited, empty, stopping), or `ignored` (nothing to do: a bot, a duplicate,
 * nothing to cancel). `done` settles when everything the event started has finished (the answer
 * stored, the notice sent); it never rejects.
 */
export interface HandleResult {
  status: 'accepted' | 'refused' | 'ignored';
  /** a machine-readable reason for `refused` / `ignored` (`glimpse_busy`, `bot`, …) */
  reason?: string;
  done: Promise<void>;
}

/**
 * Receives normalized events from adapters: the conversation manager implements it. `handle`
 * resolves as soon as the event is accepted or refused — platforms want an acknowledgement within
 * 3 s — and the answer follows on its own. It never rejects.
 */
export interface ChatEventHandler {
  handle(event: ChatEvent): Promise<HandleResult>;
}

/** A reply the platform stopped showing midway (a deleted message, a lost permission): what was shown. */
export class ReplyRenderError extends Error {
  constructor(
    message: string,
    readonly rendered: RenderedReply,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReplyRenderError';
  }
}
