import { ByteLru, type LruUsage } from './byte-lru.js';

/**
 * What a decoder state stands for: the token ids it has read, and — because every image's tokens
 * share one id — which image filled each run of image tokens (its feature-cache key). Two prompts
 * agree up to position p exactly when their ids and their images agree up to p.
 */
export interface PromptKey {
  ids: readonly number[];
  /** one key per image, in the order their image tokens appear */
  imageKeys: readonly string[];
}

/** One layer's key or value cache, `[1, kvHeads, length, headDim]` row-major. */
export type KvArray = Float32Array | Uint16Array;

/** A decoder's past as plain arrays: one per `past_key_values.*` input, in the session's order. */
export interface KvSnapshot {
  /** tokens held */
  length: number;
  kvHeads: number;
  headDim: number;
  layers: KvArray[];
}

export function snapshotBytes(snapshot: KvSnapshot): number {
  return snapshot.layers.reduce((sum, layer) => sum + layer.byteLength, 0);
}

/** The first `length` tokens of `snapshot`, copied head by head (the sequence axis is not outermost). */
export function truncateSnapshot(snapshot: KvSnapshot, length: number): KvSnapshot {
  if (length >= snapshot.length) return snapshot;
  const { kvHeads, headDim } = snapshot;
  const layers = snapshot.layers.map((layer) => {
    const out = new (layer.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(
      kvHeads * length * headDim,
    );
    for (let head = 0; head < kvHeads; head++) {
      const from = head * snapshot.length * headDim;
      out.set(layer.subarray(from, from + length * headDim), head * length * headDim);
    }
    return out;
  });
  return { length, kvHeads, headDim, layers };
}

interface Entry {
  key: PromptKey;
  snapshot: KvSnapshot;
}

/** A reusable prefix: the first `length` tokens of a stored state (never the whole new prompt). */
export interface PrefixMatch {
  id: number;
  length: number;
  snapshot: KvSnapshot;
}

/**
 * Decoder states kept after answers, found again by content: a new prompt reuses the stored state
 * with the longest common prefix (token ids and images), so only the rest is prefilled. No
 * conversation id is involved: a state is reused only up to where the new prompt is identical, so
 * what a request computes never depends on another request beyond the prefix they share exactly.
 * Stored arrays are never written after `store`; a request that reuses one feeds it to the
 * session read-only or copies its prefix. LRU, bounded by bytes (GLIMPSE_KV_CACHE_MB).
 *
 * A plain scan of the (few) stored states with a longest-common-prefix compare each; a trie
 * would pay off only with many more states than fit in memory.
 */
export class KvPrefixCache {
  private readonly lru: ByteLru<number, Entry>;
  private nextId = 1;
  hits = 0;
  misses = 0;
  /** prompt tokens not prefilled thanks to the cache */
  reusedTokens = 0;

  constructor(
    maxBytes: number,
    private readonly imageTokenId: number,
    private readonly tokensPerImage: number,
  ) {
    this.lru = new ByteLru(maxBytes);
  }

  /** how full it is (bytes, bound, entries, evictions) */
  usage(): LruUsage {
    return this.lru.usage();
  }

  /** How many leading positions `a` and `b` share (ids, and the image behind image tokens). */
  commonPrefix(a: PromptKey, b: PromptKey): number {
    const n = Math.min(a.ids.length, b.ids.length);
    let images = 0;
    for (let p = 0; p < n; p++) {
      const id = a.ids[p];
      if (id !== b.ids[p]) return p;
      if (id === this.imageTokenId) {
        // the first token of each image decides: the rest of its run follows from the ids
        if (images % this.tokensPerImage === 0) {
          const image = Math.floor(images / this.tokensPerImage);
          if (a.imageKeys[image] === undefined || a.imageKeys[image] !== b.imageKeys[image]) return p;
        }
        images++;
      }
    }
    return n;
  }

  /**
   * The stored state sharing the longest prefix with `key`, cut to at most `key.ids.length − 1`
   * tokens (the last prompt token is always run, for its logits); undefined when none shares any.
   */
  match(key: PromptKey): PrefixMatch | undefined {
    let best: { id: number; entry: Entry; length: number } | undefined;
    for (const id of this.lru.keys()) {
      const entry = this.lru.peek(id)!;
      const length = Math.min(this.commonPrefix(entry.key, key), entry.snapshot.length, key.ids.length - 1);
      if (length > 0 && (!best || length > best.length)) best = { id, entry, length };
    }
    if (!best) {
      this.misses++;
      return undefined;
    }
    this.lru.get(best.id); // most recently used
    this.hits++;
    this.reusedTokens += best.length;
    return { id: best.id, length: best.length, snapshot: best.entry.snapshot };
  }

  /**
   * Keeps the state after an answer. Stored states that are a prefix of this one go (the same
   * conversation one turn earlier): a conversation holds one state, not one per turn. A state
   * the new prompt parted from early (a trimmed or edited history, or another conversation that
   * shares only the template's first tokens) stays until the byte bound evicts it — by content
   * alone a trimmed history and a different conversation look the same.
   */
  store(key: PromptKey, snapshot: KvSnapshot): void {
    if (snapshot.length === 0 || this.lru.maxBytes === 0) return;
    const stored: PromptKey = { ids: key.ids.slice(0, snapshot.length), imageKeys: key.imageKeys };
    for (const id of [...this.lru.keys()]) {
      const entry = this.lru.peek(id)!;
      if (this.commonPrefix(entry.key, stored) >= entry.snapshot.length) this.lru.delete(id);
    }
    this.lru.set(this.nextId++, { key: stored, snapshot }, snapshotBytes(snapshot));
  }

  clear(): void {
    this.lru.clear();
  }
}
