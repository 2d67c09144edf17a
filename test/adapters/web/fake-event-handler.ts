import type {
  ChatEvent,
  ChatEventHandler,
  HandleResult,
  ReplyPart,
} from '../../../src/conversation/chat-event.js';
import { textOf } from '../../../src/messages.js';
import type { ModelStreamPart } from '../../../src/pipeline/vision-chat-model.js';
import type { ScriptedModel } from '../../fakes/scripted-model.js';

async function* toReplyParts(parts: AsyncIterable<ModelStreamPart>): AsyncIterable<ReplyPart> {
  for await (const part of parts) {
    if (part.type === 'text-delta') yield part;
    else if (part.type === 'warning') yield { type: 'warning', message: part.message };
    else if (part.type === 'error') yield { type: 'error', message: part.error.userMessage };
    else {
      yield {
        type: 'finish',
        usage: part.usage,
        timings: part.timings,
        interrupted: part.finishReason === 'abort',
      };
    }
  }
}

/**
 * A stand-in for the conversation manager: records every event, answers messages from a scripted
 * model (aborting on `message-deleted`), and acknowledges `reset` with a notice.
 */
export class FakeEventHandler implements ChatEventHandler {
  readonly events: ChatEvent[] = [];
  private readonly running = new Map<string, AbortController>();
  /** set to make `handle` reply with a notice instead of an answer */
  noticeInstead: { text: string; kind: 'info' | 'warning' | 'error' } | undefined;

  constructor(private readonly model: ScriptedModel) {}

  async handle(event: ChatEvent): Promise<HandleResult> {
    this.events.push(event);
    return { status: 'accepted', done: this.answer(event) };
  }

  private async answer(event: ChatEvent): Promise<void> {
    if (event.type === 'message-deleted') {
      this.running.get(event.messageId)?.abort();
      return;
    }
    if (event.type === 'command') {
      await event.reply.notice(`Done: ${event.command}.`, 'info');
      return;
    }
    if (event.type !== 'message') return;
    if (this.noticeInstead) {
      await event.reply.notice(this.noticeInstead.text, this.noticeInstead.kind);
      return;
    }
    const controller = new AbortController();
    this.running.set(event.message.messageId, controller);
    try {
      const stream = this.model.stream(
        { messages: [{ role: 'user', content: [{ type: 'text', text: textOf(event.message.parts) }] }] },
        controller.signal,
      );
      await event.reply.render(toReplyParts(stream));
    } finally {
      this.running.delete(event.message.messageId);
    }
  }

  ofType<T extends ChatEvent['type']>(type: T): Extract<ChatEvent, { type: T }>[] {
    return this.events.filter((event): event is Extract<ChatEvent, { type: T }> => event.type === type);
  }
}
