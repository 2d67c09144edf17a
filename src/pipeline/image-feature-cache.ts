import { createHash } from 'node:crypto';
import { ByteLru, type LruUsage } from './byte-lru.js';
import type { ImageMode } from './image-preprocess.js';

/**
 * What identifies one image's features for one model: the sha256 of its bytes (computed here,
 * not trusted from the caller) and the preprocessing mode. One cache belongs to one loaded model,
 * so the model is part of the key by construction.
 */
export function imageFeatureKey(bytes: Uint8Array, mode: ImageMode): string {
  return `${createHash('sha256').update(bytes).digest('hex')}:${mode}`;
}

/**
 * The vision encoder's output per distinct image (`[tokens × hidden]` float32), least recently
 * used first out, bounded by bytes (GLIMPSE_IMAGE_CACHE_MB). Values are never written after they
 * are stored; readers copy them into their embeddings.
 */
export class ImageFeatureCache {
  private readonly lru: ByteLru<string, Float32Array>;
  hits = 0;
  misses = 0;

  constructor(maxBytes: number) {
    this.lru = new ByteLru(maxBytes);
  }

  /** how full it is (bytes, bound, entries, evictions) */
  usage(): LruUsage {
    return this.lru.usage();
  }

  get(key: string): Float32Array | undefined {
    const value = this.lru.get(key);
    if (value) this.hits++;
    else this.misses++;
    return value;
  }

  set(key: string, features: Float32Array): void {
    this.lru.set(key, features, features.byteLength);
  }

  clear(): void {
    this.lru.clear();
  }
}
