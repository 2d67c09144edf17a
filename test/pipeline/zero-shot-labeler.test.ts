import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { renderScenePng } from '../../src/eval/scene-renderer.js';
import { loadSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';
import { softmaxScaled, ZeroShotLabeler, zeroShotSettingsOf } from '../../src/pipeline/zero-shot-labeler.js';

const fixture = 'test/fixtures/tiny-llava-random';

describe('zero-shot settings and scoring', () => {
  it('softmax of logit_scale × cosine: sums to 1, keeps the order, survives large scales', () => {
    const p = softmaxScaled([0.3, 0.1, -0.2], 100);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p[0]).toBeGreaterThan(p[1]!);
    expect(p[1]).toBeGreaterThan(p[2]!);
    expect(softmaxScaled([1, 1], 1e6)).toEqual([0.5, 0.5]);
  });

  it('reads glimpse_zero_shot, and lists every problem of an invalid one', () => {
    expect(
      zeroShotSettingsOf('m', {
        glimpse_zero_shot: {
          text_encoder: 'onnx/text_encoder.onnx',
          logit_scale: 50,
          max_length: 32,
          add_special_tokens: true,
          pad_token_id: 0,
        },
      }),
    ).toEqual({
      textEncoder: 'onnx/text_encoder.onnx',
      logitScale: 50,
      maxLength: 32,
      addSpecialTokens: true,
      padTokenId: 0,
      paddingSide: 'right',
      imageEmbedsOutput: 'image_embeds',
      template: '{label}',
    });
    expect(() =>
      zeroShotSettingsOf('m', {
        glimpse_zero_shot: {
          text_encoder: 3,
          logit_scale: -1,
          max_length: 0,
          padding_side: 'middle',
          template: 'x',
        },
      }),
    ).toThrowError(
      expect.objectContaining({
        code: 'glimpse_model_invalid',
        message: expect.stringMatching(
          /text_encoder.*logit_scale.*max_length.*add_special_tokens.*pad_token_id/,
        ),
      }),
    );
  });

  it('says clearly when a model directory has no zero-shot support', async () => {
    await expect(ZeroShotLabeler.load(fixture)).rejects.toMatchObject({
      code: 'glimpse_zero_shot_unsupported',
      message: expect.stringMatching(/no zero-shot label support: config.json has no "glimpse_zero_shot"/),
    });
    const remote = loadConfig({
      GLIMPSE_MODEL_PROVIDER: 'remote',
      GLIMPSE_REMOTE_URL: 'http://127.0.0.1:9/v1',
      GLIMPSE_REMOTE_MODEL: 'llava',
    });
    await expect(ZeroShotLabeler.fromConfig(remote)).rejects.toMatchObject({
      code: 'glimpse_zero_shot_unsupported',
    });
  });
});

const modelDir = 'models/tiny-shapes';
const haveModel = existsSync(`${modelDir}/config.json`);
if (!haveModel)
  console.warn(`skipping the zero-shot tests on the real model: ${modelDir} does not exist yet`);

describe.skipIf(!haveModel)(`ZeroShotLabeler on ${modelDir}`, () => {
  let spec: SceneSpec;
  let labeler: ZeroShotLabeler;
  beforeAll(async () => {
    spec = await loadSceneSpec();
    labeler = await ZeroShotLabeler.load(modelDir);
  });
  afterAll(async () => {
    await labeler?.close();
  });

  async function single(kind: string, colour: string): Promise<Uint8Array> {
    const png = await renderScenePng(
      {
        index: 0,
        imageSize: spec.imageSize,
        background: 'white',
        backgroundRgb: [255, 255, 255],
        shapes: [{ kind, colour, rgb: spec.colours[colour]!, size: 36, cx: 64, cy: 64, outlined: false }],
        arrows: [],
      },
      {
        outlineWidth: spec.diagram.outlineWidth,
        labelColour: spec.diagram.labelColour,
        arrowColour: spec.diagram.arrowColour,
      },
    );
    return new Uint8Array(png);
  }

  it('ranks the right label first, best first, with probabilities summing to 1', async () => {
    const labels = ['a blue square', 'a red circle', 'a green star', 'an orange triangle'];
    const ranked = await labeler.rank(await single('circle', 'red'), labels);
    expect(ranked[0]!.label).toBe('a red circle');
    expect(ranked.map((r) => r.label).sort()).toEqual([...labels].sort());
    expect(ranked.reduce((a, r) => a + r.probability, 0)).toBeCloseTo(1, 6);
    for (let i = 1; i < ranked.length; i++)
      expect(ranked[i - 1]!.probability).toBeGreaterThanOrEqual(ranked[i]!.probability);
    for (const r of ranked) expect(Math.abs(r.similarity)).toBeLessThanOrEqual(1.0001);
  });

  it("gives a label the same similarity alone or batched with longer labels (padding doesn't leak)", async () => {
    const image = await single('star', 'orange');
    const alone = await labeler.rank(image, ['a star']);
    const fresh = await ZeroShotLabeler.load(modelDir);
    try {
      const batched = await fresh.rank(image, ['an orange star, a blue square and a red circle', 'a star']);
      const star = batched.find((r) => r.label === 'a star')!;
      expect(star.similarity).toBeCloseTo(alone[0]!.similarity, 4);
    } finally {
      await fresh.close();
    }
  });

  it('tells every colour apart on a lone circle, and every kind apart in one colour', async () => {
    const colours = Object.keys(spec.colours);
    let right = 0;
    for (const colour of colours) {
      const ranked = await labeler.rank(
        await single('circle', colour),
        colours.map((c) => `${/^[aeiou]/.test(c) ? 'an' : 'a'} ${c} circle`),
      );
      if (ranked[0]!.label.includes(` ${colour} `)) right++;
    }
    for (const kind of spec.kinds) {
      const ranked = await labeler.rank(
        await single(kind, 'blue'),
        spec.kinds.map((k) => `a blue ${k}`),
      );
      if (ranked[0]!.label === `a blue ${kind}`) right++;
    }
    expect(right).toBeGreaterThanOrEqual(Math.floor(0.85 * (colours.length + spec.kinds.length)));
  });

  it('rejects an empty label list with a coded error', async () => {
    await expect(labeler.rank(await single('circle', 'red'), [])).rejects.toMatchObject({
      code: 'glimpse_usage',
    });
  });
});
