import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { benchImage, paritySizeOf } from '../../src/bench/bench-image.js';
import {
  expandImageTokens,
  hfImageTokenCount,
  loadTransformersPeer,
  readImageTokenRule,
} from '../../src/bench/transformers-peer.js';

const fixture = 'test/fixtures/tiny-llava-random';

describe('HF image-token rule', () => {
  it('counts 576 tokens for a 336 px / patch-14 CLIP with the default strategy', async () => {
    const rule = await readImageTokenRule(fixture);
    expect(rule).toEqual({
      imageTokenId: 510,
      patchSize: 14,
      numAdditionalImageTokens: 1,
      strategy: 'default',
    });
    expect(hfImageTokenCount(rule, 336, 336)).toBe(576);
    expect(hfImageTokenCount({ ...rule, strategy: 'full' }, 336, 336)).toBe(577);
  });

  it('expands every image token, not only the first', () => {
    expect(expandImageTokens([1, 9, 5, 9], 9, 3)).toEqual([1, 9, 9, 9, 5, 9, 9, 9]);
  });
});

describe('transformers.js peer on the fixture', () => {
  it('builds the reference prompt ids and generates greedily', async () => {
    const reference = JSON.parse(await readFile(`${fixture}/reference.json`, 'utf8')) as {
      input_ids_before_image_expansion: number[];
    };
    const peer = await loadTransformersPeer(fixture, 1);
    try {
      const image = await benchImage(undefined, await paritySizeOf(fixture));
      const run = await peer.run(image, 'What colour is the circle?', 4);
      expect(run.promptIds).toEqual(expandImageTokens(reference.input_ids_before_image_expansion, 510, 576));
      expect(run.generatedIds).toHaveLength(4);
      expect(run.sample.generatedTokens).toBe(4);
      expect(peer.label).toMatch(/^transformers\.js \d/);
    } finally {
      await peer.dispose();
    }
  });
});

describe('paritySizeOf', () => {
  it("reads the model's input size from preprocessor_config.json", async () => {
    expect(await paritySizeOf(fixture)).toEqual([336, 336]);
    expect(await paritySizeOf('test/no-such-model')).toEqual([336, 336]);
  });
});
