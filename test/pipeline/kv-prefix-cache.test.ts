import { describe, expect, it } from 'vitest';
import { ByteLru } from '../../src/pipeline/byte-lru.js';
import {
  KvPrefixCache,
  type KvSnapshot,
  snapshotBytes,
  truncateSnapshot,
} from '../../src/pipeline/kv-prefix-cache.js';

const IMAGE = 9;

/** A state of `length` tokens, 2 heads × head dim 2, one layer; value = head·100 + position. */
function state(length: number): KvSnapshot {
  const layer = new Float32Array(2 * length * 2);
  for (let head = 0; head < 2; head++)
    for (let position = 0; position < length; position++)
      for (let d = 0; d < 2; d++) layer[(head * length + position) * 2 + d] = head * 100 + position;
  return { length, kvHeads: 2, headDim: 2, layers: [layer] };
}

describe('ByteLru', () => {
  it('evicts the least recently used to stay within its bytes; refuses what can never fit', () => {
    const lru = new ByteLru<string, string>(10);
    lru.set('a', 'A', 4);
    lru.set('b', 'B', 4);
    lru.get('a'); // b is now the oldest
    lru.set('c', 'C', 4);
    expect([...lru.keys()]).toEqual(['a', 'c']);
    expect(lru.bytes).toBe(8);
    expect(lru.evictions).toBe(1);
    expect(lru.set('huge', 'H', 11)).toBe(false);
    expect(lru.bytes).toBeLessThanOrEqual(10);
    lru.set('a', 'A2', 6); // replacing counts the new size only
    expect(lru.bytes).toBe(10);
    expect(new ByteLru<string, string>(0).set('x', 'X', 1)).toBe(false);
  });
});

describe('KvPrefixCache', () => {
  const cache = () => new KvPrefixCache(1 << 20, IMAGE, 3);

  it('the common prefix compares ids and, for image tokens, which image stands there', () => {
    const c = cache();
    const a = { ids: [1, 5, IMAGE, IMAGE, IMAGE, 6, 7], imageKeys: ['red'] };
    expect(c.commonPrefix(a, { ids: [1, 5, IMAGE, IMAGE, IMAGE, 6, 8], imageKeys: ['red'] })).toBe(6);
    expect(c.commonPrefix(a, { ids: [1, 5, IMAGE, IMAGE, IMAGE, 6, 7], imageKeys: ['blue'] })).toBe(2);
    expect(c.commonPrefix(a, { ids: [1, 5], imageKeys: [] })).toBe(2);
    // two images back to back: the second one's key decides from its first token on
    const two = { ids: [1, IMAGE, IMAGE, IMAGE, IMAGE, IMAGE, IMAGE, 2], imageKeys: ['red', 'blue'] };
    expect(c.commonPrefix(two, { ...two, imageKeys: ['red', 'green'] })).toBe(4);
  });

  it('matches the longest stored prefix, never the whole prompt (its last token is always run)', () => {
    const c = cache();
    c.store({ ids: [1, 2, 3, 4], imageKeys: [] }, state(4));
    c.store({ ids: [1, 2, 7, 8, 9], imageKeys: [] }, state(5));
    expect(c.match({ ids: [1, 2, 3, 4, 5], imageKeys: [] })).toMatchObject({ length: 4 });
    expect(c.match({ ids: [1, 2, 7, 8, 9], imageKeys: [] })).toMatchObject({ length: 4 });
    expect(c.match({ ids: [1, 2, 7], imageKeys: [] })).toMatchObject({ length: 2 });
    expect(c.match({ ids: [3, 1], imageKeys: [] })).toBeUndefined();
    expect(c).toMatchObject({ hits: 3, misses: 1 });
  });

  it("a conversation's new state replaces its previous one (a prefix of it); diverged states stay", () => {
    const c = cache();
    c.store({ ids: [1, 2, 3], imageKeys: [] }, state(3));
    c.store({ ids: [1, 2, 4], imageKeys: [] }, state(3));
    c.store({ ids: [1, 2, 3, 5, 6], imageKeys: [] }, state(5));
    expect(c.usage().entries).toBe(2);
    expect(c.usage().bytes).toBe(snapshotBytes(state(3)) + snapshotBytes(state(5)));
  });

  it('stays within its bytes, oldest first out', () => {
    const bytes = snapshotBytes(state(10));
    const c = new KvPrefixCache(2 * bytes, IMAGE, 3);
    for (let first = 0; first < 5; first++)
      c.store({ ids: Array.from({ length: 10 }, (_, i) => first * 100 + i), imageKeys: [] }, state(10));
    expect(c.usage().entries).toBe(2);
    expect(c.usage().bytes).toBeLessThanOrEqual(2 * bytes);
    expect(c.usage().evictions).toBe(3);
    expect(c.match({ ids: [400, 401, 402], imageKeys: [] })).toMatchObject({ length: 2 });
    expect(c.match({ ids: [0, 1, 2], imageKeys: [] })).toBeUndefined();
  });

  it('truncating copies each head’s first tokens (the sequence axis is not outermost)', () => {
    const cut = truncateSnapshot(state(4), 2);
    expect(cut.length).toBe(2);
    expect(Array.from(cut.layers[0]!)).toEqual([0, 0, 1, 1, 100, 100, 101, 101]);
    const whole = state(3);
    expect(truncateSnapshot(whole, 3)).toBe(whole);
  });
});
