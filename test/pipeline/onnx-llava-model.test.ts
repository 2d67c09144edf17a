import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listSupportedBackends } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isGlimpseError } from '../../src/errors.js';
import { KvCacheDecoder } from '../../src/pipeline/kv-cache-decoder.js';
import { readModelDirectory } from '../../src/pipeline/model-directory.js';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import { createLlavaSessions } from '../../src/pipeline/onnx-sessions.js';
import type { FinishPart, ModelMessage, ModelStreamPart } from '../../src/pipeline/vision-chat-model.js';
import { fixtureDir, fixtureReference, imagePart, referencePixels, shapesImage } from './helpers/fixture.js';

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

const question = (text: string, ...images: ModelMessage['content']): ModelMessage[] => [
  { role: 'user', content: [...images, { type: 'text', text }] },
];

function finishOf(parts: ModelStreamPart[]): FinishPart {
  const last = parts.at(-1);
  if (last?.type === 'error')
    throw new Error(`expected a finish part, got ${last.error.code}: ${last.error.message}`);
  if (last?.type !== 'finish') throw new Error(`expected a finish part, got ${JSON.stringify(last)}`);
  return last;
}

const textOf = (parts: ModelStreamPart[]) =>
  parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');

/** A copy of the fixture with some JSON files changed. */
async function variant(changes: Record<string, (json: Record<string, unknown>) => void>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'glimpse-variant-'));
  await cp(fixtureDir, dir, { recursive: true });
  for (const [file, change] of Object.entries(changes)) {
    const json = JSON.parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown>;
    change(json);
    await writeFile(join(dir, file), JSON.stringify(json));
  }
  return dir;
}

describe('OnnxLlavaModel.stream', () => {
  let model: OnnxLlavaModel;
  const temps: string[] = [];
  beforeAll(async () => {
    model = await OnnxLlavaModel.load({ dir: fixtureDir, threads: 1, maxImages: 2 });
  });
  afterAll(async () => {
    await model.close();
    await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('streams deltas then one finish with usage, timings and token ids; measure() agrees', async () => {
    const image = await shapesImage(400, 300);
    const messages = question('What is this?', image);
    const parts = await collect(model.stream({ messages, temperature: 0, maxNewTokens: 6 }));
    const finish = finishOf(parts);
    expect(parts.slice(0, -1).every((part) => part.type === 'text-delta')).toBe(true);
    expect(finish.finishReason).toBe('length');
    expect(finish.tokenIds).toHaveLength(6);
    expect(finish.usage).toEqual({ ...(await model.measure(messages)), completionTokens: 6 });
    expect(finish.usage.imageTokens).toBe(576);
    for (const value of Object.values(finish.timings)) expect(value).toBeGreaterThanOrEqual(0);
    expect(finish.timings.totalMs).toBeGreaterThanOrEqual(finish.timings.prefillMs);
    expect(textOf(parts)).toBe(model.tokenizer.decode(finish.tokenIds!));
  });

  it('a text-only turn works', async () => {
    const parts = await collect(
      model.stream({ messages: question('Hello'), temperature: 0, maxNewTokens: 4 }),
    );
    expect(finishOf(parts).usage.imageTokens).toBe(0);
  });

  it('an image with no question gets the default prompt', async () => {
    const image = await shapesImage(336, 336);
    const inputs = await model.buildInputs([{ role: 'user', content: [image] }]);
    expect(inputs.prompt.text).toBe('USER: <image>\nDescribe this image. ASSISTANT:');
  });

  it('images over the maximum are dropped oldest-first, with a warning before any text', async () => {
    const images = await Promise.all(
      [0, 1, 2].map((index) => shapesImage(336, 336, `${index}.png`, index * 90)),
    );
    const parts = await collect(
      model.stream({ messages: question('Compare', ...images), temperature: 0, maxNewTokens: 2 }),
    );
    expect(parts[0]).toMatchObject({ type: 'warning', code: 'glimpse_too_many_images' });
    expect(finishOf(parts).usage.imageTokens).toBe(2 * 576);
  });

  it('a corrupt image is a glimpse_image_invalid error part', async () => {
    const broken = imagePart(new Uint8Array([0xff, 0xd8, 0xff, 0x00, 0x01]), 10, 10, 'broken.jpg');
    const parts = await collect(model.stream({ messages: question('What?', broken) }));
    expect(parts).toHaveLength(1);
    expect(parts[0]?.type).toBe('error');
    if (parts[0]?.type === 'error')
      expect(isGlimpseError(parts[0].error, 'glimpse_image_invalid')).toBe(true);
  });

  it('stops before a stop string and does not show it', async () => {
    const reference = fixtureReference();
    const image = await shapesImage(336, 336);
    const inputs = await model.buildInputs(question('What colour is the circle?', image));
    inputs.pixelValues = referencePixels(336);
    // reference text: "left? this image theueUownx …"
    const parts = await collect(
      model.streamInputs(inputs, { temperature: 0, maxNewTokens: 24, stop: [' image'] }),
    );
    expect(textOf(parts)).toBe(reference.greedy_text.slice(0, reference.greedy_text.indexOf(' image')));
    expect(finishOf(parts).finishReason).toBe('stop');
    expect(finishOf(parts).tokenIds!.length).toBeLessThan(24);
  });

  it('stops on an EOS id from generation_config (kept in tokenIds, never shown)', async () => {
    const reference = fixtureReference();
    const eos = reference.greedy_new_tokens[3]!;
    const dir = await variant({
      'generation_config.json': (json) => {
        json.eos_token_id = [2, eos];
      },
    });
    temps.push(dir);
    const eosModel = await OnnxLlavaModel.load({ dir, threads: 1 });
    try {
      const inputs = await eosModel.buildInputs(
        question('What colour is the circle?', await shapesImage(336, 336)),
      );
      inputs.pixelValues = referencePixels(336);
      const parts = await collect(eosModel.streamInputs(inputs, { temperature: 0, maxNewTokens: 24 }));
      const finish = finishOf(parts);
      expect(finish.finishReason).toBe('stop');
      expect(finish.tokenIds).toEqual(reference.greedy_new_tokens.slice(0, 4));
      expect(textOf(parts)).toBe(eosModel.tokenizer.decode(reference.greedy_new_tokens.slice(0, 3)));
    } finally {
      await eosModel.close();
    }
  });

  it('an abort stops within one decode step with finish reason abort', async () => {
    const controller = new AbortController();
    const parts: ModelStreamPart[] = [];
    for await (const part of model.stream(
      { messages: question('Hello'), temperature: 0, maxNewTokens: 50 },
      controller.signal,
    )) {
      parts.push(part);
      if (part.type === 'text-delta') controller.abort();
    }
    const finish = finishOf(parts);
    expect(finish.finishReason).toBe('abort');
    expect(finish.usage.completionTokens).toBeLessThan(50);
    // already aborted: nothing runs
    const early = await collect(model.stream({ messages: question('Hello') }, AbortSignal.abort()));
    expect(finishOf(early)).toMatchObject({ finishReason: 'abort', usage: { completionTokens: 0 } });
  });

  it('frees the KV cache when the consumer stops early or aborts', async () => {
    const dispose = vi.spyOn(KvCacheDecoder.prototype, 'dispose');
    try {
      for await (const part of model.stream({
        messages: question('Hello'),
        temperature: 0,
        maxNewTokens: 20,
      })) {
        if (part.type === 'text-delta') break;
      }
      expect(dispose).toHaveBeenCalledTimes(1);
      const controller = new AbortController();
      for await (const part of model.stream(
        { messages: question('Hi'), maxNewTokens: 20 },
        controller.signal,
      )) {
        if (part.type === 'text-delta') controller.abort();
      }
      expect(dispose).toHaveBeenCalledTimes(2);
    } finally {
      dispose.mockRestore();
    }
  });

  it('the same seed samples the same tokens', async () => {
    const run = async () =>
      finishOf(
        await collect(
          model.stream({ messages: question('Hi'), temperature: 1, topK: 20, seed: 5, maxNewTokens: 8 }),
        ),
      ).tokenIds;
    expect(await run()).toEqual(await run());
  });

  it('image features and image tokens must agree (a processor_config that does not fit the encoder)', async () => {
    const dir = await variant({
      'processor_config.json': (json) => {
        json.num_additional_image_tokens = 2; // → 577 tokens per image; the encoder gives 576
      },
    });
    temps.push(dir);
    const wrong = await OnnxLlavaModel.load({ dir, threads: 1 });
    try {
      expect(wrong.info.imageTokens).toBe(577);
      const parts = await collect(wrong.stream({ messages: question('What?', await shapesImage(336, 336)) }));
      const last = parts.at(-1);
      expect(last?.type).toBe('error');
      if (last?.type === 'error') {
        expect(isGlimpseError(last.error, 'glimpse_model_invalid')).toBe(true);
        expect(last.error.message).toMatch(/576 image features for 577 image tokens/);
      }
    } finally {
      await wrong.close();
    }
  });

  it('a prompt longer than the context is glimpse_context_overflow', async () => {
    const dir = await variant({
      'config.json': (json) => {
        (json.text_config as Record<string, unknown>).max_position_embeddings = 300;
      },
    });
    temps.push(dir);
    const small = await OnnxLlavaModel.load({ dir, threads: 1 });
    try {
      const parts = await collect(small.stream({ messages: question('What?', await shapesImage(336, 336)) }));
      expect(parts.at(-1)?.type).toBe('error');
      if (parts.at(-1)?.type === 'error') {
        expect(isGlimpseError((parts.at(-1) as { error: unknown }).error, 'glimpse_context_overflow')).toBe(
          true,
        );
      }
    } finally {
      await small.close();
    }
  });
});

describe('sessions', () => {
  it('fp16 graphs (float16 inputs, outputs and cache) load by suffix and generate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glimpse-fp16-'));
    try {
      await cp(fixtureDir, dir, { recursive: true });
      await cp('test/fixtures/tiny-llava-random-fp16/onnx', join(dir, 'onnx'), { recursive: true });
      const half = await OnnxLlavaModel.load({ dir, precision: 'fp16', threads: 1 });
      const full = await OnnxLlavaModel.load({ dir, precision: 'fp32', threads: 1 });
      try {
        const messages = question('What colour is the circle?', await shapesImage(336, 336));
        const run = async (model: OnnxLlavaModel) =>
          finishOf(await collect(model.stream({ messages, temperature: 0, maxNewTokens: 8 })));
        const [halfFinish, fullFinish] = [await run(half), await run(full)];
        expect(halfFinish).toMatchObject({
          finishReason: 'length',
          usage: { imageTokens: 576, completionTokens: 8 },
        });
        // half precision may drift later, but the first token of a clear argmax agrees
        expect(halfFinish.tokenIds![0]).toBe(fullFinish.tokenIds![0]);
      } finally {
        await half.close();
        await full.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(listSupportedBackends().some((backend) => backend.name === 'cuda' && backend.bundled))(
    'cuda without the CUDA build fails at start and says how to install it',
    async () => {
      const files = await readModelDirectory(fixtureDir);
      const error = await createLlavaSessions(files.onnx, { device: 'cuda', threads: 0 }).catch(
        (caught: unknown) => caught,
      );
      expect(isGlimpseError(error, 'glimpse_model_device_unavailable')).toBe(true);
      expect((error as Error).message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 npm install');
    },
  );
});
