import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import type { ModelMessage, ModelStreamPart } from '../../src/pipeline/vision-chat-model.js';
import { type FixtureReference, referencePixels, shapesImage } from './helpers/fixture.js';
import { loadTransformersJs, type TransformersJsLlava } from './helpers/transformers-js.js';

/**
 * A second fixture with other geometry — 224 px, patch 32, the "full" feature strategy (CLS kept,
 * no −1) → 50 image tokens — so the tests show nothing is assumed from llava-1.5's 336/14/576.
 */
const dir = resolve('test/fixtures/tiny-llava-224-full');
const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as FixtureReference;

async function finishOf(stream: AsyncIterable<ModelStreamPart>) {
  for await (const part of stream) {
    if (part.type === 'error') throw part.error;
    if (part.type === 'finish') return part;
  }
  throw new Error('no finish part');
}

describe('a 224 px / patch 32 / "full" LLaVA', () => {
  let model: OnnxLlavaModel;
  let peer: TransformersJsLlava;
  beforeAll(async () => {
    model = await OnnxLlavaModel.load({ dir, threads: 1 });
    peer = await loadTransformersJs(dir);
  });
  afterAll(async () => {
    await model.close();
    await peer.model.dispose();
  });

  it('takes its sizes from the files: 224×224 pixel values, 50 image tokens', async () => {
    expect(model.info.imageTokens).toBe(50);
    expect(reference.image_tokens).toBe(50);
    const inputs = await model.buildInputs([
      {
        role: 'user',
        content: [await shapesImage(640, 480), { type: 'text', text: 'What colour is the circle?' }],
      },
    ]);
    expect(inputs.pixelShape).toEqual([1, 3, 224, 224]);
    expect(inputs.prompt.imageTokens).toBe(50);
    expect(inputs.prompt.inputIds.length).toBe(reference.input_ids_before_image_expansion.length - 1 + 50);
  });

  it("reproduces PyTorch's greedy tokens for reference.json's pixel values", async () => {
    const inputs = await model.buildInputs([
      {
        role: 'user',
        content: [await shapesImage(224, 224), { type: 'text', text: 'What colour is the circle?' }],
      },
    ]);
    inputs.pixelValues = referencePixels(224);
    const finish = await finishOf(
      model.streamInputs(inputs, { temperature: 0, maxNewTokens: reference.greedy_new_tokens.length }),
    );
    expect(finish.tokenIds).toEqual(reference.greedy_new_tokens);
  });

  it('greedy parity with transformers.js on a non-square photo and a two-turn history', async () => {
    const messages: ModelMessage[] = [
      { role: 'user', content: [await shapesImage(640, 480), { type: 'text', text: 'What is here?' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Shapes.' }] },
      {
        role: 'user',
        content: [await shapesImage(300, 500, 'tall.png', 60), { type: 'text', text: 'And here?' }],
      },
    ];
    const inputs = await model.buildInputs(messages);
    const finish = await finishOf(model.stream({ messages, temperature: 0, maxNewTokens: 12 }));
    const expected = await peer.greedy(inputs.prompt.inputIds, inputs.pixelValues, inputs.pixelShape, 12);
    expect(finish.tokenIds).toEqual(expected);
  });

  it('with "full", transformers.js\'s processor counts as HF does (50): only "default" needs the −1', async () => {
    const { RawImage } = await import('@huggingface/transformers');
    const raw = new RawImage(new Uint8ClampedArray(224 * 224 * 3).fill(100), 224, 224, 3);
    const theirs = await peer.processor([raw], 'USER: <image>\nHi ASSISTANT:');
    const ids = Array.from((theirs.input_ids as { data: BigInt64Array }).data, Number);
    expect(ids.filter((id) => id === 510)).toHaveLength(50);
  });
});
