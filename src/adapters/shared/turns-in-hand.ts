import type { ChatEvent, ChatEventHandler, HandleResult } from '../../conversation/chat-event.js';

interface InHand {
  conversationId: string;
  /** the platform messages its answer was rendered into */
  answers: Set<string>;
}

/**
 * The questions an adapter has handed over whose turn is not over yet, and the messages their
 * answers went into: an edit of the question or the deletion of any of those messages maps back
 * to the turn. Entries go when the turn is done (or was refused), so memory stays bounded.
 */
export class TurnsInHand {
  private readonly inHand = new Map<string, InHand>();
  private readonly answerOf = new Map<string, string>();

  /**
   * Hands `event` to `handler`; with `question` (its message id and conversation), tracks the
   * turn until `done`.
   */
  async dispatch(
    handler: ChatEventHandler,
    event: ChatEvent,
    question?: { messageId: string; conversationId: string },
  ): Promise<HandleResult> {
    if (!question) return handler.handle(event);
    const entry: InHand = { conversationId: question.conversationId, answers: new Set() };
    this.inHand.set(question.messageId, entry);
    const result = await handler.handle(event);
    const forget = () => {
      if (this.inHand.get(question.messageId) !== entry) return;
      this.inHand.delete(question.messageId);
      for (const id of entry.answers) this.answerOf.delete(id);
    };
    if (result.status === 'accepted') void result.done.finally(forget);
    else forget();
    return result;
  }

  /** the answer to `questionId` was rendered into `messageId` too */
  posted(questionId: string, messageId: string): void {
    this.answerOf.set(messageId, questionId);
    this.inHand.get(questionId)?.answers.add(messageId);
  }

  /** the conversation of a question whose turn is in hand */
  conversationOf(questionId: string): string | undefined {
    return this.inHand.get(questionId)?.conversationId;
  }

  /** the turn a message belongs to (its question, or one of its answer's messages) */
  turnOf(messageId: string): { messageId: string; conversationId: string } | undefined {
    const questionId = this.inHand.has(messageId) ? messageId : this.answerOf.get(messageId);
    const conversationId = questionId === undefined ? undefined : this.inHand.get(questionId)?.conversationId;
    return questionId === undefined || conversationId === undefined
      ? undefined
      : { messageId: questionId, conversationId };
  }
}
