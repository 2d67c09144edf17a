import type { ChatAuthor, ChatMessage, Platform } from '../messages.js';
import type { ModelTimings, ModelUsage } from '../pipeline/vision-chat-model.js';

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
}

export type CommandName = 'reset' | 'help' | 'status';

export type ChatEvent =
  | { type: 'message'; message: ChatMessage; reply: ReplyChannel }
  | {
      type: 'command';
      command: CommandName;
      platform: Platform;
      conversationId: string;
      author: ChatAuthor;
      reply: ReplyChannel;
    }
  | { type: 'message-deleted'; platform: Platform; conversationId: string; messageId: string }
  | { type: 'message-edited'; platform: Platform; conversationId: string; messageId: string };

/** Receives normalized events from adapters: the conversation manager implements it. */
export interface ChatEventHandler {
  handle(event: ChatEvent): Promise<void>;
}

/**
 * The adapter seam. An adapter only translates: platform events → `ChatEvent`s, and
 * `ReplyChannel` calls → platform API calls. Platform types never leave `src/adapters/<platform>`.
 */
export interface ChatAdapter {
  readonly platform: Platform;
  start(handler: ChatEventHandler): Promise<void>;
  stop(): Promise<void>;
  /** a line for the start-up log, e.g. `web playground on http://127.0.0.1:8080` */
  describe(): string;
}
