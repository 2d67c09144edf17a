import { randomUUID } from 'node:crypto';
import type { RenderedReply, ReplyChannel, ReplyPart } from '../../conversation/chat-event.js';
import { toGlimpseError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { WebSession } from './web-session.js';

/**
 * The way back to a browser tab: every reply part becomes a Server-Sent Event on the session's
 * stream, tagged with the id of the message (or command) it answers.
 *
 * Events: `notice` {text, kind}; `start` {replyId}; `delta` {text}; `warning` {message};
 * `finish` {usage, timings, interrupted}; `error` {message}; `done` — each with `messageId`.
 */
export class SseReplyChannel implements ReplyChannel {
  constructor(
    private readonly session: WebSession,
    private readonly messageId: string,
    private readonly logger: Logger,
  ) {}

  async notice(text: string, kind: 'info' | 'warning' | 'error' = 'info'): Promise<void> {
    this.session.publish('notice', { messageId: this.messageId, text, kind });
  }

  async render(parts: AsyncIterable<ReplyPart>): Promise<RenderedReply> {
    const { messageId, session } = this;
    const replyId = randomUUID();
    let shownText = '';
    session.publish('start', { messageId, replyId });
    try {
      for await (const part of parts) {
        switch (part.type) {
          case 'text-delta':
            if (part.text === '') break;
            shownText += part.text;
            session.publish('delta', { messageId, text: part.text });
            break;
          case 'warning':
            session.publish('warning', { messageId, message: part.message });
            break;
          case 'finish':
            session.publish('finish', {
              messageId,
              usage: part.usage,
              timings: part.timings,
              interrupted: part.interrupted,
            });
            break;
          case 'error':
            session.publish('error', { messageId, message: part.message });
            break;
        }
      }
    } catch (error) {
      const coded = toGlimpseError(error);
      this.logger.error(
        { err: coded, code: coded.code, conversationId: session.conversationId, messageId },
        'web reply stream failed',
      );
      session.publish('error', { messageId, message: coded.userMessage });
      throw error;
    } finally {
      session.endTurn(messageId);
      session.publish('done', { messageId });
    }
    return { shownText, messageIds: [replyId] };
  }
}
