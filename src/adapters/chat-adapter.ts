import type { ChatEventHandler } from '../conversation/chat-event.js';
import type { Platform } from '../messages.js';

/**
 * The adapter seam. An adapter only translates: platform events → `ChatEvent`s, and
 * `ReplyChannel` calls → platform API calls. Platform types never leave `src/adapters/<platform>`.
 * The event contract itself is the conversation layer's (`src/conversation/chat-event.ts`).
 */
export interface ChatAdapter {
  readonly platform: Platform;
  start(handler: ChatEventHandler): Promise<void>;
  stop(): Promise<void>;
  /** a line for the start-up log, e.g. `web playground on http://127.0.0.1:8080` */
  describe(): string;
}
