import { OpenAIError } from './openai-error.js';

/** Gives a slot back; calling it twice is harmless. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  reject: (error: unknown) => void;
}

/**
 * At most `concurrency` generations run at once; up to `maxWaiting` more wait in arrival order.
 * Past that a request is refused at once with 429 and a `Retry-After` estimated from how long
 * requests have been taking. A waiting request whose client goes away leaves the queue.
 */
export class RequestQueue {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  /** moving average of how long a slot is held, ms */
  private averageHoldMs = 0;

  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
  ) {}

  get active(): number {
    return this.running;
  }

  get depth(): number {
    return this.waiting.length;
  }

  /** Seconds a refused client should wait: the queue ahead of it drained at the recent pace (1–60). */
  retryAfterSeconds(): number {
    const ahead = this.waiting.length + this.running;
    const estimate = (this.averageHoldMs * ahead) / this.concurrency / 1000;
    return Math.min(60, Math.max(1, Math.ceil(estimate)));
  }

  /**
   * Takes a place: throws a 429 OpenAIError at once when every slot is taken and the queue is
   * full (so a streaming answer can still get its status line); otherwise the promise resolves
   * with a slot, or rejects with the signal's reason when it aborts while waiting.
   */
  enqueue(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.running < this.concurrency) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxWaiting) {
      const retryAfter = this.retryAfterSeconds();
      throw new OpenAIError(
        429,
        'rate_limit_error',
        'glimpse_busy',
        `the server is busy (${this.running} running, ${this.waiting.length} waiting); retry after ${retryAfter} s`,
        null,
        { 'retry-after': String(retryAfter) },
      );
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject,
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(waiter);
        if (index !== -1) this.waiting.splice(index, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): Release {
    const started = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const held = performance.now() - started;
      this.averageHoldMs = this.averageHoldMs === 0 ? held : this.averageHoldMs * 0.8 + held * 0.2;
      const next = this.waiting.shift();
      if (next) next.grant(this.releaser());
      else this.running--;
    };
  }

  /** Refuses every waiting request (shutdown). */
  rejectWaiting(error: unknown): void {
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }
}
