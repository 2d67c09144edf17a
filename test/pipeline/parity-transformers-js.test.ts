import { RawImage } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import type { ModelMessage, ModelStreamPart } from '../../src/pipeline/vision-chat-model.js';
import { fixtureDir, shapesImage } from './helpers/fixture.js';
import { loadTransformersJs, type TransformersJsLlava } from './helpers/transformers-js.js';

const maxNewTokens = 16;

async function glimpseGreedy(model: OnnxLlavaModel, messages: ModelMessage[]) {
  const inputs = await model.buildInputs(messages);
  let tokenIds: number[] | undefined;
  // through the public stream: preprocessing, prompt, vision, merge, KV-cache decode
  for await (const part of model.stream({
    messages,
    temperature: 0,
    maxNewTokens,
  }) as AsyncIterable<ModelStreamPart>) {
    if (part.type === 'error') throw part.error;
    if (part.type === 'finish') tokenIds = part.tokenIds;
  }
  return { inputs, tokenIds: tokenIds ?? [] };
}

/**
 * Greedy parity with transformers.js 4.3.1's LlavaForConditionalGeneration.generate on the tiny
 * random fixture. transformers.js's own LlavaProcessor is wrong for llava-1.5 configs (see the last
 * test), so it is fed the input_ids / attention_mask / pixel_values that HF's processor builds —
 * ours — and both must then pick the same tokens.
 */
describe('greedy parity with transformers.js', () => {
  let glimpse: OnnxLlavaModel;
  let reference: TransformersJsLlava;
  beforeAll(async () => {
    glimpse = await OnnxLlavaModel.load({ dir: fixtureDir, threads: 1 });
    reference = await loadTransformersJs(fixtureDir);
  });
  afterAll(async () => {
    await glimpse.close();
    await reference.model.dispose();
  });

  async function expectParity(messages: ModelMessage[], images: number) {
    const { inputs, tokenIds } = await glimpseGreedy(glimpse, messages);
    expect(inputs.pixelShape[0]).toBe(images);
    expect(inputs.prompt.imageTokens).toBe(576 * images);
    const expected = await reference.greedy(
      inputs.prompt.inputIds,
      inputs.pixelValues,
      inputs.pixelShape,
      maxNewTokens,
    );
    expect(tokenIds.length).toBeGreaterThan(0);
    expect(tokenIds).toEqual(expected);
    // the same text tokens as transformers.js's tokenizer gives the rendered prompt (special tokens on)
    const expanded = inputs.prompt.text.replaceAll('<image>', '<image>'.repeat(576));
    expect(reference.tokenizer.encode(expanded, { add_special_tokens: true })).toEqual(
      inputs.prompt.inputIds,
    );
    return tokenIds;
  }

  it('one 336×336 image and a question', async () => {
    const image = await shapesImage(336, 336);
    await expectParity(
      [{ role: 'user', content: [image, { type: 'text', text: 'What colour is the circle?' }] }],
      1,
    );
  });

  it('the answer depends on the image (the features reach the decoder)', async () => {
    const question = { type: 'text' as const, text: 'What colour is the circle?' };
    const red = await glimpseGreedy(glimpse, [
      { role: 'user', content: [await shapesImage(336, 336, 'r.png', 0), question] },
    ]);
    const blue = await glimpseGreedy(glimpse, [
      { role: 'user', content: [await shapesImage(336, 336, 'b.png', 230), question] },
    ]);
    expect(red.tokenIds).not.toEqual(blue.tokenIds);
  });

  it('two images in one turn', async () => {
    const first = await shapesImage(336, 336, 'a.png', 0);
    const second = await shapesImage(336, 336, 'b.png', 200);
    await expectParity(
      [{ role: 'user', content: [first, second, { type: 'text', text: 'What differs between them?' }] }],
      2,
    );
  });

  it('a multi-turn history with an image in an earlier turn', async () => {
    const image = await shapesImage(336, 336);
    await expectParity(
      [
        { role: 'system', content: [{ type: 'text', text: 'You answer briefly.' }] },
        { role: 'user', content: [image, { type: 'text', text: 'What shapes are there?' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'A circle and a square.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Which one is bigger?' }] },
      ],
      1,
    );
  });

  it('greedy with a repetition penalty (over prompt and answer, image tokens included)', async () => {
    const messages: ModelMessage[] = [
      { role: 'user', content: [await shapesImage(336, 336), { type: 'text', text: 'Describe it.' }] },
    ];
    const inputs = await glimpse.buildInputs(messages);
    let tokenIds: number[] = [];
    for await (const part of glimpse.stream({
      messages,
      temperature: 0,
      maxNewTokens: 24,
      repetitionPenalty: 1.5,
    })) {
      if (part.type === 'finish') tokenIds = part.tokenIds ?? [];
    }
    const plain = await glimpseGreedy(glimpse, messages);
    const expected = await reference.greedy(
      inputs.prompt.inputIds,
      inputs.pixelValues,
      inputs.pixelShape,
      24,
      1.5,
    );
    expect(tokenIds).toEqual(expected);
    expect(tokenIds.slice(0, maxNewTokens)).not.toEqual(plain.tokenIds);
  });

  it('a text-only turn', async () => {
    await expectParity([{ role: 'user', content: [{ type: 'text', text: 'Say hello.' }] }], 0);
  });

  it("transformers.js's own LlavaProcessor disagrees with HF's count (577, first <image> only); ours follows HF and the vision encoder", async () => {
    const image = await shapesImage(336, 336);
    const messages: ModelMessage[] = [
      { role: 'user', content: [image, image, { type: 'text', text: 'Compare.' }] },
    ];
    const ours = await glimpse.buildInputs(messages);
    const raw = new RawImage(new Uint8ClampedArray(336 * 336 * 3).fill(200), 336, 336, 3);
    const theirs = await reference.processor([raw, raw], ours.prompt.text);
    const theirIds = Array.from((theirs.input_ids as { data: BigInt64Array }).data, Number);
    const count = (ids: number[]) => ids.filter((id) => id === 510).length;
    // transformers.js: (336/14)² + 1 = 577 for the first placeholder, the second left as one token
    expect(count(theirIds)).toBe(577 + 1);
    // HF: (336/14)² + num_additional_image_tokens(1) − 1 ("default" drops CLS) = 576 per image
    expect(count(ours.prompt.inputIds)).toBe(2 * 576);
    // the ground truth: the vision encoder emits 576 features per image
    const features = await reference.model.sessions.vision_encoder.run({
      pixel_values: new (await import('onnxruntime-node')).Tensor(
        'float32',
        ours.pixelValues.slice(0, 3 * 336 * 336),
        [1, 3, 336, 336],
      ),
    });
    expect((features.image_features as { dims: number[] }).dims).toEqual([1, 576, 64]);
  });
});
