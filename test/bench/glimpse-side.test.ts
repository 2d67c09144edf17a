import { describe, expect, it } from 'vitest';
import { benchImage, paritySizeOf } from '../../src/bench/bench-image.js';
import { loadGlimpseSide } from '../../src/bench/glimpse-side.js';
import { loadTransformersPeer } from '../../src/bench/transformers-peer.js';

const fixture = 'test/fixtures/tiny-llava-random';

describe('the bench sides on the fixture', () => {
  it('agree token for token on the parity picture, which neither side resizes', async () => {
    const image = await benchImage(undefined, await paritySizeOf(fixture));
    const glimpse = await loadGlimpseSide(fixture, 1);
    const peer = await loadTransformersPeer(fixture, 1);
    try {
      const ours = await glimpse.run(image, 'What colour is the circle?', 12);
      const theirs = await peer.run(image, 'What colour is the circle?', 12);
      expect(ours.promptIds).toEqual(theirs.promptIds);
      expect(ours.generatedIds).toEqual(theirs.generatedIds);
      expect(ours.generatedIds).toHaveLength(12);
      expect(ours.text).toBe(theirs.text);
      expect(ours.sample.generatedTokens).toBe(12);
      expect(ours.sample.endToEndMs).toBeGreaterThan(0);
    } finally {
      await Promise.all([glimpse.dispose(), peer.dispose()]);
    }
  });
});
