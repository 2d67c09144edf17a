import type { ServerResponse } from 'node:http';

export interface SseConnectionOptions {
  /** how often a `: ping` comment keeps idle proxies and the browser from dropping the stream */
  heartbeatMs: number;
  /** how long the browser waits before reconnecting (the `retry:` field) */
  retryMs?: number;
  /** a client that stops reading is dropped once this much output is waiting for it */
  maxBufferedBytes?: number;
}

/**
 * One `event:` / `data:` frame. The data is JSON, which never holds a raw line break, so a
 * frame is always exactly two lines and a blank one.
 */
export function formatSseEvent(event: string, data: unknown): string {
  if (!/^[a-z][a-z-]*$/.test(event)) throw new Error(`invalid SSE event name: ${event}`);
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** An open Server-Sent Events response: headers, framing, heartbeat, and close detection. */
export class SseConnection {
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeListeners: (() => void)[] = [];
  private readonly maxBufferedBytes: number;

  constructor(
    private readonly response: ServerResponse,
    options: SseConnectionOptions,
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    response.socket?.setNoDelay(true);
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.writeRaw(`retry: ${options.retryMs ?? 2000}\n\n`);
    this.heartbeat = setInterval(() => this.writeRaw(': ping\n\n'), options.heartbeatMs);
    this.heartbeat.unref();
    response.on('close', () => this.handleClose());
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Writes a frame made by `formatSseEvent`. Returns false when the connection is gone. */
  writeFrame(frame: string): boolean {
    return this.writeRaw(frame);
  }

  send(event: string, data: unknown): boolean {
    return this.writeRaw(formatSseEvent(event, data));
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  close(): void {
    if (this.closed) return;
    this.response.end();
    this.handleClose();
  }

  private writeRaw(text: string): boolean {
    if (this.closed) return false;
    if (this.response.writableLength > this.maxBufferedBytes) {
      // The client is not reading; holding its output would grow without bound.
      this.response.destroy();
      this.handleClose();
      return false;
    }
    this.response.write(text);
    return true;
  }

  private handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
