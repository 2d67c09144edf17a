export interface SlidingWindowLimit {
  /** requests allowed in any window */
  max: number;
  windowMs: number;
}

export interface LimitDecision {
  allowed: boolean;
  /** requests left in the window after this one (0 when refused) */
  remaining: number;
  /** seconds until the next request would be allowed (0 when a slot is free) */
  resetAfterSeconds: number;
}

/** A sliding window of request times per key (a channel, an interaction token). */
export class SlidingWindowLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(readonly limit: SlidingWindowLimit) {}

  take(key: string, now: number = Date.now()): LimitDecision {
    const times = (this.hits.get(key) ?? []).filter((at) => now - at < this.limit.windowMs);
    this.hits.set(key, times);
    if (times.length >= this.limit.max) {
      return { allowed: false, remaining: 0, resetAfterSeconds: this.secondsUntilFree(times, now) };
    }
    times.push(now);
    const remaining = this.limit.max - times.length;
    return {
      allowed: true,
      remaining,
      resetAfterSeconds: remaining > 0 ? 0 : this.secondsUntilFree(times, now),
    };
  }

  private secondsUntilFree(times: number[], now: number): number {
    const oldest = times[0] ?? now;
    return Math.max(0.001, (oldest + this.limit.windowMs - now) / 1000);
  }
}
