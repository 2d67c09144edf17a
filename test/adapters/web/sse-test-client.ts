export interface SseEvent {
  event: string;
  data: unknown;
  raw: string;
}

/**
 * Reads a Server-Sent Events response the way the spec frames it (blocks separated by a blank
 * line; `event:`, `data:`, comments), keeping every raw block so tests can check the framing.
 */
export class SseTestClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly rawBlocks: string[] = [];
  ended = false;
  private waiters: (() => void)[] = [];
  private readonly controller = new AbortController();
  response: Response | undefined;

  static async open(url: string): Promise<SseTestClient> {
    const client = new SseTestClient();
    const response = await fetch(url, {
      headers: { accept: 'text/event-stream' },
      signal: client.controller.signal,
    });
    client.response = response;
    if (response.ok && response.body) void client.pump(response.body);
    return client;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          this.parseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
        this.wake();
      }
    } catch {
      // aborted by close()
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private parseBlock(block: string): void {
    this.rawBlocks.push(block);
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('event: ')) event = line.slice('event: '.length);
      else if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
    }
    if (data.length > 0) this.events.push({ event, data: JSON.parse(data.join('\n')), raw: block });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Resolves once `predicate` holds, failing after `timeoutMs` with what was seen. */
  async until(
    predicate: (client: SseTestClient) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}; saw ${JSON.stringify(this.events.map((e) => e.event))}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for an event of this name (and, optionally, for this message) and returns it. */
  async next(event: string, messageId?: string, timeoutMs?: number): Promise<SseEvent> {
    const find = () =>
      this.events.find(
        (item) =>
          item.event === event &&
          (messageId === undefined || (item.data as { messageId?: string }).messageId === messageId),
      );
    await this.until(() => find() !== undefined, `event ${event}`, timeoutMs);
    return find()!;
  }

  forMessage(messageId: string): SseEvent[] {
    return this.events.filter((item) => (item.data as { messageId?: string }).messageId === messageId);
  }

  close(): void {
    this.controller.abort();
  }
}
