/**
 * A least-recently-used map bounded by bytes: each value is stored with its size, and inserting
 * past the bound evicts the oldest entries first. A value larger than the whole bound is not
 * stored. A bound of 0 turns the cache off.
 */
/** How full a `ByteLru` is; `bytes` never exceeds `maxBytes`. */
export interface LruUsage {
  bytes: number;
  maxBytes: number;
  entries: number;
  evictions: number;
}

export class ByteLru<K, V> {
  private readonly entries = new Map<K, { value: V; bytes: number }>();
  private used = 0;
  private evicted = 0;

  constructor(readonly maxBytes: number) {}

  /** bytes held now; never more than `maxBytes` */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** entries dropped to stay within the bound since the cache was made */
  get evictions(): number {
    return this.evicted;
  }

  /** what it holds now, for a cache's counters */
  usage(): LruUsage {
    return { bytes: this.used, maxBytes: this.maxBytes, entries: this.entries.size, evictions: this.evicted };
  }

  /** The value, marked as the most recently used. */
  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** The value without touching its recency. */
  peek(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** Stores `value` as the most recently used; returns false when it does not fit at all. */
  set(key: K, value: V, bytes: number): boolean {
    this.delete(key);
    if (bytes > this.maxBytes) return false;
    while (this.used + bytes > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
      this.evicted++;
    }
    this.entries.set(key, { value, bytes });
    this.used += bytes;
    return true;
  }

  delete(key: K): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.used -= entry.bytes;
    return true;
  }

  /** oldest first */
  keys(): IterableIterator<K> {
    return this.entries.keys();
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}
