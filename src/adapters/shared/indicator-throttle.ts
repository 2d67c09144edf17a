/**
 * At most one indicator (Discord's typing, a status line) per key and interval, however many
 * waiting turns ask for one: under load hundreds of queued questions would otherwise spend the
 * platform's global request budget on indicators the channel already shows.
 */
export class IndicatorThrottle {
  private readonly shownAt = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: { intervalMs: number; now?: () => number }) {
    this.now = options.now ?? (() => Date.now());
  }

  /** true when `key` may show the indicator now (and counts it as shown) */
  claim(key: string): boolean {
    const now = this.now();
    const last = this.shownAt.get(key);
    if (last !== undefined && now - last < this.options.intervalMs) return false;
    this.shownAt.set(key, now);
    if (this.shownAt.size > 1024) {
      for (const [other, at] of this.shownAt)
        if (now - at >= this.options.intervalMs) this.shownAt.delete(other);
    }
    return true;
  }
}
