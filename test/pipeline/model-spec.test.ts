import { describe, expect, it } from 'vitest';
import { isGlimpseError } from '../../src/errors.js';
import { readModelDirectory } from '../../src/pipeline/model-directory.js';
import { imageTokenCount, modelSpecOf } from '../../src/pipeline/model-spec.js';
import { fixtureDir } from './helpers/fixture.js';

describe('imageTokenCount (HF LlavaProcessor)', () => {
  it('336 px, patch 14, one additional (CLS) token, "default" strategy → 576', () => {
    expect(imageTokenCount({ height: 336, width: 336 }, 14, 1, 'default')).toBe(576);
  });
  it('"full" keeps the CLS feature → 577', () => {
    expect(imageTokenCount({ height: 336, width: 336 }, 14, 1, 'full')).toBe(577);
  });
  it('128 px, patch 16 → 64 with default, whatever the size', () => {
    expect(imageTokenCount({ height: 128, width: 128 }, 16, 1, 'default')).toBe(64);
    expect(imageTokenCount({ height: 384, width: 384 }, 14, 0, 'full')).toBe(729);
  });
});

describe('modelSpecOf', () => {
  it('takes every number from the files', async () => {
    const spec = modelSpecOf(await readModelDirectory(fixtureDir));
    expect(spec).toMatchObject({
      modelType: 'llava',
      imageTokenId: 510,
      imageToken: '<image>',
      patchSize: 14,
      numAdditionalImageTokens: 1,
      featureSelectStrategy: 'default',
      imageTokensPerImage: 576,
      eosTokenIds: [2],
      contextLength: 4096,
      decoder: { numLayers: 2, numKeyValueHeads: 2, headDim: 16, hiddenSize: 64, vocabSize: 512 },
    });
    expect(spec.image).toMatchObject({
      shortestEdge: 336,
      cropSize: { height: 336, width: 336 },
      outputSize: { height: 336, width: 336 },
      doCenterCrop: true,
      rescaleFactor: 1 / 255,
    });
    expect(spec.image.imageMean[0]).toBeCloseTo(0.48145466);
  });

  it('follows a changed size: 128 px crops with patch 16 give 64 tokens', async () => {
    const files = await readModelDirectory(fixtureDir);
    files.preprocessorConfig = { ...files.preprocessorConfig, size: { shortest_edge: 128 }, crop_size: 128 };
    files.processorConfig = { ...files.processorConfig, patch_size: 16 };
    files.config = {
      ...files.config,
      vision_config: { ...(files.config.vision_config as object), image_size: 128, patch_size: 16 },
    };
    const spec = modelSpecOf(files);
    expect(spec.imageTokensPerImage).toBe(64);
    expect(spec.image.outputSize).toEqual({ height: 128, width: 128 });
  });

  it('EOS ids: generation_config wins, lists are kept', async () => {
    const files = await readModelDirectory(fixtureDir);
    files.generationConfig = { eos_token_id: [2, 7] };
    expect(modelSpecOf(files).eosTokenIds).toEqual([2, 7]);
    files.generationConfig = undefined;
    expect(modelSpecOf(files).eosTokenIds).toEqual([2]);
  });

  it('a preprocessor that does not fit the vision tower is one clear error', async () => {
    const files = await readModelDirectory(fixtureDir);
    files.preprocessorConfig = { ...files.preprocessorConfig, crop_size: { height: 224, width: 224 } };
    const error = (() => {
      try {
        modelSpecOf(files);
      } catch (caught) {
        return caught;
      }
    })();
    expect(isGlimpseError(error, 'glimpse_model_invalid')).toBe(true);
    expect((error as Error).message).toMatch(/224×224.*336×336/);
  });

  it('refuses multi-view (anyres) variants with a clear message', async () => {
    const files = await readModelDirectory(fixtureDir);
    files.config = { ...files.config, model_type: 'llava_onevision' };
    expect(() => modelSpecOf(files)).toThrow(/anyres/);
  });

  it('a config without image_token_index is rejected', async () => {
    const files = await readModelDirectory(fixtureDir);
    const { image_token_index: _, ...rest } = files.config;
    files.config = rest;
    expect(() => modelSpecOf(files)).toThrow(/image_token_index/);
  });
});
