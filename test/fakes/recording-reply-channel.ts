import type { RenderedReply, ReplyChannel, ReplyPart } from '../../src/conversation/chat-event.js';

export interface RecordedNotice {
  text: string;
  kind: 'info' | 'warning' | 'error' | undefined;
}

export interface RecordedRender {
  parts: ReplyPart[];
  /** what `render` resolved with (absent while it runs) */
  result?: RenderedReply;
}

export interface RecordingReplyChannelOptions {
  /** called with every part as it arrives (tests cancel mid-stream from here) */
  onPart?: (part: ReplyPart, channel: RecordingReplyChannel) => void | Promise<void>;
  /** what the user got to see of the received text (default: all of it) */
  shown?: (received: string) => string;
  /** make `render` fail after consuming the stream */
  failRender?: Error;
}

/** A ReplyChannel that records notices and rendered parts, like an adapter that shows everything. */
export class RecordingReplyChannel implements ReplyChannel {
  readonly notices: RecordedNotice[] = [];
  readonly renders: RecordedRender[] = [];
  private static nextId = 1;

  constructor(private readonly options: RecordingReplyChannelOptions = {}) {}

  async notice(text: string, kind?: 'info' | 'warning' | 'error'): Promise<void> {
    this.notices.push({ text, kind });
  }

  async render(parts: AsyncIterable<ReplyPart>): Promise<RenderedReply> {
    const record: RecordedRender = { parts: [] };
    this.renders.push(record);
    let received = '';
    for await (const part of parts) {
      record.parts.push(part);
      if (part.type === 'text-delta') received += part.text;
      await this.options.onPart?.(part, this);
    }
    if (this.options.failRender) throw this.options.failRender;
    const result = {
      shownText: this.options.shown ? this.options.shown(received) : received,
      messageIds: [`reply-${RecordingReplyChannel.nextId++}`],
    };
    record.result = result;
    return result;
  }

  /** the text deltas of every render, joined per render */
  texts(): string[] {
    return this.renders.map((render) =>
      render.parts
        .filter((part): part is { type: 'text-delta'; text: string } => part.type === 'text-delta')
        .map((part) => part.text)
        .join(''),
    );
  }
}
