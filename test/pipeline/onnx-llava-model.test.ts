import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import type { ModelStreamPart } from '../../src/pipeline/vision-chat-model.js';
import { fixtureDir, fixtureReference, referencePixels, shapesImage } from './helpers/fixture.js';

async function collect(stream: AsyncIterable<ModelStreamPart>): Promise<ModelStreamPart[]> {
  const parts: ModelStreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

describe('OnnxLlavaModel on the tiny random fixture', () => {
  let model: OnnxLlavaModel;
  beforeAll(async () => {
    model = await OnnxLlavaModel.load({ dir: fixtureDir, threads: 1 });
  });
  afterAll(async () => {
    await model.close();
  });

  it('reads sizes from the files: 336 px, patch 14, default strategy → 576 image tokens', () => {
    expect(model.info).toMatchObject({ imageTokens: 576, contextLength: 4096, id: 'tiny-llava-random' });
    expect(model.spec.eosTokenIds).toEqual([2]);
  });

  it("builds reference.json's prompt ids (BOS from the post-processor, <image> expanded to 576)", async () => {
    const reference = fixtureReference();
    const image = await shapesImage(336, 336);
    const inputs = await model.buildInputs([
      { role: 'user', content: [image, { type: 'text', text: 'What colour is the circle?' }] },
    ]);
    expect(inputs.prompt.text).toBe(reference.prompt);
    const expanded = reference.input_ids_before_image_expansion.flatMap((id) =>
      id === 510 ? new Array<number>(576).fill(510) : [id],
    );
    expect(inputs.prompt.inputIds).toEqual(expanded);
    expect(inputs.pixelShape).toEqual([1, 3, 336, 336]);
  });

  it("reproduces PyTorch's greedy tokens for reference.json's pixel values", async () => {
    const reference = fixtureReference();
    const image = await shapesImage(336, 336);
    const inputs = await model.buildInputs([
      { role: 'user', content: [image, { type: 'text', text: 'What colour is the circle?' }] },
    ]);
    inputs.pixelValues = referencePixels(336);
    const parts = await collect(
      model.streamInputs(inputs, { temperature: 0, maxNewTokens: reference.greedy_new_tokens.length }),
    );
    const finish = parts.at(-1);
    expect(finish?.type).toBe('finish');
    if (finish?.type !== 'finish') return;
    expect(finish.tokenIds).toEqual(reference.greedy_new_tokens);
    expect(finish.finishReason).toBe('length');
    const text = parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
    expect(text).toBe(reference.greedy_text);
    expect(finish.usage).toEqual({ promptTokens: 585, imageTokens: 576, completionTokens: 24 });
  });
});
