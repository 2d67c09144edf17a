/**
 * One write budget per channel, shared by every answer rendering into it: writes (posts and
 * edits) to one channel are spaced at least `intervalMs` apart, handed out first come, first
 * served, so ten answers streaming into one channel take turns instead of tripping the platform's
 * per-channel limit. A 429 pushes the channel's next slot past its `retry_after`.
 */
export interface ChannelWriteBudgetOptions {
  /** the least time between two writes to one channel (default 1000: one edit a second) */
  intervalMs?: number;
  now?: () => number;
}

interface Lane {
  /** when the next write may go */
  nextAt: number;
  waiters: {
    resolve: () => void;
    reject: (error: unknown) => void;
    signal?: AbortSignal;
    onAbort?: () => void;
  }[];
  timer?: NodeJS.Timeout;
}

export class ChannelWriteBudget {
  readonly intervalMs: number;
  private readonly now: () => number;
  private readonly lanes = new Map<string, Lane>();

  constructor(options: ChannelWriteBudgetOptions = {}) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.now = options.now ?? (() => Date.now());
  }

  /** resolves when this caller may write once to `channel`; rejects when `signal` aborts first */
  acquire(channel: string, signal?: AbortSignal): Promise<void> {
    const lane = this.lane(channel);
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const waiter: Lane['waiters'][number] = { resolve, reject, ...(signal ? { signal } : {}) };
      if (signal) {
        waiter.onAbort = () => {
          const index = lane.waiters.indexOf(waiter);
          if (index >= 0) lane.waiters.splice(index, 1);
          reject(signal.reason);
          this.drop(channel, lane);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      lane.waiters.push(waiter);
      this.pump(channel, lane);
    });
  }

  /** the platform said to wait (a 429's `retry_after`): no write to `channel` before then */
  penalize(channel: string, retryAfterMs: number): void {
    const lane = this.lane(channel);
    lane.nextAt = Math.max(lane.nextAt, this.now() + Math.max(0, retryAfterMs));
    if (lane.timer) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
    }
    this.pump(channel, lane);
  }

  /** waiting writers on `channel` (tests, status) */
  waiting(channel: string): number {
    return this.lanes.get(channel)?.waiters.length ?? 0;
  }

  private lane(channel: string): Lane {
    let lane = this.lanes.get(channel);
    if (!lane) {
      lane = { nextAt: 0, waiters: [] };
      this.lanes.set(channel, lane);
    }
    return lane;
  }

  private pump(channel: string, lane: Lane): void {
    if (lane.timer || lane.waiters.length === 0) return;
    const wait = lane.nextAt - this.now();
    if (wait > 0) {
      lane.timer = setTimeout(() => {
        lane.timer = undefined;
        this.pump(channel, lane);
      }, wait);
      return;
    }
    const waiter = lane.waiters.shift()!;
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    lane.nextAt = this.now() + this.intervalMs;
    waiter.resolve();
    if (lane.waiters.length > 0) this.pump(channel, lane);
    else this.drop(channel, lane);
  }

  /** forgets an idle lane once its interval has passed (bounded memory across many channels) */
  private drop(channel: string, lane: Lane): void {
    if (lane.waiters.length > 0 || lane.timer) return;
    const idleFor = lane.nextAt - this.now();
    const timer = setTimeout(() => {
      if (this.lanes.get(channel) === lane && lane.waiters.length === 0 && !lane.timer)
        this.lanes.delete(channel);
    }, Math.max(0, idleFor) + 1);
    timer.unref();
  }
}
