export interface RateLimiterOptions {
  /** accepted events per key per window; 0 turns the limiter off */
  limit: number;
  /** the window, in ms (default one minute) */
  windowMs?: number;
  /** the clock (tests inject one) */
  now?: () => number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * A sliding-window rate limiter: at most `limit` accepted events per key in any `windowMs`.
 * Refused attempts do not count. Keys with no recent events are forgotten.
 */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(private readonly options: RateLimiterOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? (() => Date.now());
  }

  /** checks `key` and, when allowed, counts this event */
  take(key: string): RateDecision {
    if (this.options.limit <= 0) return { allowed: true };
    const now = this.now();
    const recent = (this.hits.get(key) ?? []).filter((at) => now - at < this.windowMs);
    if (recent.length >= this.options.limit) {
      this.hits.set(key, recent);
      const oldest = recent[0]!;
      return { allowed: false, retryAfterMs: Math.max(1, oldest + this.windowMs - now) };
    }
    recent.push(now);
    this.hits.set(key, recent);
    this.prune(now);
    return { allowed: true };
  }

  /** gives an event back (e.g. a turn that never ran because the queue was full) */
  refund(key: string): void {
    const recent = this.hits.get(key);
    recent?.pop();
    if (recent?.length === 0) this.hits.delete(key);
  }

  private prune(now: number): void {
    if (this.hits.size < 1024) return;
    for (const [key, times] of this.hits) {
      if (times.every((at) => now - at >= this.windowMs)) this.hits.delete(key);
    }
  }
}
