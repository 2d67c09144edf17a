import { formatSseEvent, type SseConnection } from './sse-connection.js';

/**
 * One browser tab's conversation: its id (`web:local:<uuid>`), the event streams open on it,
 * the events published while none was open, and the turns still being answered.
 */
export class WebSession {
  readonly conversationId: string;
  lastActiveAt: number;
  private readonly subscribers = new Set<SseConnection>();
  private readonly backlog: string[] = [];
  /** message ids whose answer has not finished yet, oldest first */
  private readonly pending = new Set<string>();

  constructor(
    readonly id: string,
    private readonly options: {
      maxBacklog: number;
      maxPending: number;
      /** event streams open on the chat at once; a new one closes the oldest (default 4) */
      maxStreams?: number;
      now: () => number;
    },
  ) {
    this.conversationId = `web:local:${id}`;
    this.lastActiveAt = options.now();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  get pendingTurns(): string[] {
    return [...this.pending];
  }

  touch(): void {
    this.lastActiveAt = this.options.now();
  }

  /** Sends an event to every open stream; with none open, keeps it for the next one (bounded). */
  publish(event: string, data: unknown): void {
    const frame = formatSseEvent(event, data);
    let delivered = false;
    for (const connection of this.subscribers) delivered = connection.writeFrame(frame) || delivered;
    if (!delivered) {
      this.backlog.push(frame);
      if (this.backlog.length > this.options.maxBacklog) this.backlog.shift();
    }
  }

  /** Attaches a stream, replays the backlog into it, and calls `onEmpty` when the last one closes. */
  subscribe(connection: SseConnection, onEmpty: () => void): void {
    // a reconnecting tab opens a new stream before the old one is seen to close: keep the newest
    const oldest =
      this.subscribers.size >= (this.options.maxStreams ?? 4)
        ? this.subscribers.values().next().value
        : undefined;
    this.subscribers.add(connection);
    oldest?.close();
    this.touch();
    for (const frame of this.backlog.splice(0)) connection.writeFrame(frame);
    connection.onClose(() => {
      this.subscribers.delete(connection);
      this.touch();
      if (this.subscribers.size === 0) onEmpty();
    });
  }

  closeStreams(): void {
    for (const connection of [...this.subscribers]) connection.close();
  }

  beginTurn(messageId: string): void {
    this.pending.add(messageId);
    if (this.pending.size > this.options.maxPending) {
      const oldest = this.pending.values().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
  }

  endTurn(messageId: string): void {
    this.pending.delete(messageId);
  }
}
