import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RawImage } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImagePart } from '../../src/messages.js';
import { preprocessImage, preprocessToRgb } from '../../src/pipeline/image-preprocess.js';
import { IncrementalDetokenizer } from '../../src/pipeline/incremental-detokenizer.js';
import { readModelDirectory } from '../../src/pipeline/model-directory.js';
import { modelSpecOf } from '../../src/pipeline/model-spec.js';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import type { ModelMessage, ModelStreamPart } from '../../src/pipeline/vision-chat-model.js';
import { imagePart, shapesImage } from './helpers/fixture.js';
import { loadTransformersJs, type TransformersJsLlava } from './helpers/transformers-js.js';

/**
 * A random tiny LLaVA of the exact shape of llava-hf/llava-interleave-qwen-0.5b-hf
 * (models/recipes/tiny-interleave-qwen): SigLIP-style tower at 384 px / patch 14 → 27×27 = 729
 * patches and no CLS token, "full" strategy, feature layer −1; a Qwen2-style decoder (GQA with
 * 2 KV heads for 4 heads, q/k/v biases, rope_theta 1e6, tied embeddings, 512 rows for a
 * 449-token vocabulary); Qwen's byte-level BPE without BOS, `<|im_start|>`/`<|im_end|>`, the
 * template in chat_template.json; SiglipImageProcessor (384×384 bicubic, no crop, mean/std 0.5).
 */
const dir = resolve('test/fixtures/tiny-llava-interleave-qwen');
const side = 384;
const perImage = 729;

interface TemplatePart {
  type: 'image' | 'text';
  text?: string;
}
interface ReferenceCase {
  name: string;
  messages: { role: 'system' | 'user' | 'assistant'; content: TemplatePart[] }[];
  images: string[];
  prompt: string;
  input_ids_before_image_expansion: number[];
  greedy_new_tokens: number[];
  greedy_text: string;
}
interface Reference {
  image_tokens: number;
  image_token_id: number;
  preprocess: {
    image: string;
    width: number;
    height: number;
    resized_rgb_sha256: string;
    pixel_values_sha256: string;
    pixel_values_sum: number;
    pixel_values_first: number[];
  };
  cases: ReferenceCase[];
}

const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
const imageId = reference.image_token_id;
const caseNamed = (name: string) => reference.cases.find((item) => item.name === name)!;

/** reference.json's `formula:k` pixel values: `((7x + 3y + 11c + 5k) mod 17) / 8 − 1`. */
function formulaPixels(k: number): Float32Array {
  const out = new Float32Array(3 * side * side);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++)
        out[c * side * side + y * side + x] = ((7 * x + 3 * y + 11 * c + 5 * k) % 17) / 8 - 1;
  return out;
}

const sourcePng = () => new Uint8Array(readFileSync(join(dir, reference.preprocess.image)));

async function imageFor(name: string, index: number): Promise<ImagePart> {
  if (name.startsWith('formula:')) return shapesImage(side, side, `${index}.png`, index * 90);
  return imagePart(sourcePng(), reference.preprocess.width, reference.preprocess.height, name);
}

/** A reference case as Glimpse's messages: each `{type: 'image'}` becomes the next image. */
async function messagesOf(item: ReferenceCase): Promise<ModelMessage[]> {
  let next = 0;
  const out: ModelMessage[] = [];
  for (const message of item.messages) {
    const content: ModelMessage['content'] = [];
    for (const part of message.content) {
      if (part.type === 'image') {
        content.push(await imageFor(item.images[next]!, next));
        next++;
      } else content.push({ type: 'text', text: part.text! });
    }
    out.push({ role: message.role, content });
  }
  return out;
}

const expand = (ids: number[]) =>
  ids.flatMap((id) => (id === imageId ? new Array<number>(perImage).fill(imageId) : [id]));

async function run(stream: AsyncIterable<ModelStreamPart>) {
  let text = '';
  for await (const part of stream) {
    if (part.type === 'error') throw part.error;
    if (part.type === 'text-delta') text += part.text;
    if (part.type === 'finish') return { text, finish: part, tokenIds: part.tokenIds ?? [] };
  }
  throw new Error('no finish part');
}

describe('a llava-interleave-qwen-shaped LLaVA (SigLIP 384/14, "full", Qwen2 GQA, no BOS)', () => {
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

  it('takes every size from the files: 729 tokens (no CLS, no −1), 384×384 without crop, 2 KV heads, <|im_end|>', async () => {
    expect(reference.image_tokens).toBe(perImage);
    expect(model.info).toMatchObject({ imageTokens: perImage, contextLength: 32768 });
    expect(model.spec).toMatchObject({
      featureSelectStrategy: 'full',
      numAdditionalImageTokens: 0,
      patchSize: 14,
      imageTokenId: imageId,
      eosTokenIds: [model.tokenizer.tokenToId('<|im_end|>')],
    });
    expect(model.spec.image).toMatchObject({
      doCenterCrop: false,
      shortestEdge: undefined,
      resizeTo: { height: side, width: side },
      outputSize: { height: side, width: side },
      imageMean: [0.5, 0.5, 0.5],
      imageStd: [0.5, 0.5, 0.5],
    });
    expect(model.spec.decoder).toEqual({
      numLayers: 2,
      numKeyValueHeads: 2,
      headDim: 16,
      hiddenSize: 64,
      vocabSize: 512,
    });
    expect(model.tokenizer.bosToken).toBeUndefined();
    // the template lives in chat_template.json; tokenizer_config.json has none
    const files = await readModelDirectory(dir);
    expect(files.tokenizerConfig.chat_template).toBeUndefined();
    expect(files.chatTemplate).toContain('<|im_start|>');
  });

  it("builds each reference prompt as HF's LlavaProcessor does: Qwen template, no BOS, 729 tokens per <image>", async () => {
    const imStart = model.tokenizer.tokenToId('<|im_start|>');
    for (const item of reference.cases) {
      const inputs = await model.buildInputs(await messagesOf(item));
      expect({ name: item.name, text: inputs.prompt.text }).toEqual({ name: item.name, text: item.prompt });
      // the Python tokenizer (tokenizers' rules, written out independently) made these ids
      expect(inputs.prompt.inputIds).toEqual(expand(item.input_ids_before_image_expansion));
      expect(inputs.prompt.inputIds[0]).toBe(imStart);
      expect(inputs.prompt.imageTokens).toBe(perImage * item.images.length);
      expect(inputs.pixelShape).toEqual([item.images.length, 3, side, side]);
      // transformers.js's tokenizer agrees (special tokens on: the ByteLevel post-processor adds nothing)
      const expanded = inputs.prompt.text.replaceAll('<image>', '<image>'.repeat(perImage));
      expect(peer.tokenizer.encode(expanded, { add_special_tokens: true })).toEqual(inputs.prompt.inputIds);
    }
  });

  it('renders the same text as transformers.js with chat_template.json', async () => {
    const { chat_template: template } = JSON.parse(readFileSync(join(dir, 'chat_template.json'), 'utf8')) as {
      chat_template: string;
    };
    for (const item of reference.cases) {
      const theirs = peer.tokenizer.apply_chat_template(item.messages as never, {
        chat_template: template,
        tokenize: false,
        add_generation_prompt: true,
      });
      expect(theirs).toBe(item.prompt);
    }
  });

  it('an image without a question: the default prompt in the Qwen format', async () => {
    const inputs = await model.buildInputs([{ role: 'user', content: [await shapesImage(side, side)] }]);
    expect(inputs.prompt.text).toBe(
      '<|im_start|>user\n<image>\nDescribe this image.<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it("SigLIP preprocessing: a 93×61 picture resized straight to 384×384 (no crop) is PIL's, byte for byte", async () => {
    const spec = model.spec.image;
    const rgb = await preprocessToRgb(sourcePng(), spec);
    expect([rgb.width, rgb.height]).toEqual([side, side]);
    expect(createHash('sha256').update(rgb.data).digest('hex')).toBe(reference.preprocess.resized_rgb_sha256);
    // rescale and normalise with HF's arithmetic: the float32 pixel values are bit-identical too
    const pixels = await preprocessImage(sourcePng(), spec);
    expect(Array.from(pixels.slice(0, 8))).toEqual(reference.preprocess.pixel_values_first);
    let sum = 0;
    for (const value of pixels) sum += value;
    expect(sum).toBeCloseTo(reference.preprocess.pixel_values_sum, 6);
    const bytes = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(reference.preprocess.pixel_values_sha256);
  });

  it("at the model's input size, transformers.js's SiglipImageProcessor gives the same pixel values", async () => {
    const image = await shapesImage(side, side);
    const ours = await preprocessImage(image.bytes, model.spec.image);
    const raw = await RawImage.fromBlob(new Blob([Buffer.from(image.bytes)]));
    const theirs = await peer.processor(raw);
    const values = (theirs.pixel_values as { data: Float32Array; dims: number[] }).data;
    expect((theirs.pixel_values as { dims: number[] }).dims).toEqual([1, 3, side, side]);
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - values[i]!));
    expect(worst).toBeLessThan(1e-6);
  });

  it("reproduces PyTorch's greedy tokens recorded at export, for every case", async () => {
    for (const item of reference.cases) {
      const messages = await messagesOf(item);
      const inputs = await model.buildInputs(messages);
      if (item.images.every((name) => name.startsWith('formula:'))) {
        inputs.pixelValues = new Float32Array(item.images.length * 3 * side * side);
        for (const [k] of item.images.entries())
          inputs.pixelValues.set(formulaPixels(k), k * 3 * side * side);
        const { text, tokenIds } = await run(
          model.streamInputs(inputs, { temperature: 0, maxNewTokens: item.greedy_new_tokens.length }),
        );
        expect({ name: item.name, tokenIds, text }).toEqual({
          name: item.name,
          tokenIds: item.greedy_new_tokens,
          text: item.greedy_text,
        });
      } else {
        // the whole path: PNG → sharp decode → PIL-exact resize → SigLIP normalise → vision → decoder
        const { text, tokenIds } = await run(
          model.stream({ messages, temperature: 0, maxNewTokens: item.greedy_new_tokens.length }),
        );
        expect({ name: item.name, tokenIds, text }).toEqual({
          name: item.name,
          tokenIds: item.greedy_new_tokens,
          text: item.greedy_text,
        });
      }
    }
  });

  describe('greedy parity with transformers.js 4.3.1 (LlavaForConditionalGeneration.generate)', () => {
    const maxNewTokens = 16;
    async function expectParity(messages: ModelMessage[], images: number) {
      const inputs = await model.buildInputs(messages);
      expect(inputs.prompt.imageTokens).toBe(perImage * images);
      const { tokenIds } = await run(model.stream({ messages, temperature: 0, maxNewTokens }));
      const expected = await peer.greedy(
        inputs.prompt.inputIds,
        inputs.pixelValues,
        inputs.pixelShape,
        maxNewTokens,
      );
      expect(tokenIds).toHaveLength(maxNewTokens);
      expect(tokenIds).toEqual(expected);
      return tokenIds;
    }

    it('one 384×384 image and a question', async () => {
      await expectParity(
        [
          {
            role: 'user',
            content: [await shapesImage(side, side), { type: 'text', text: 'What colour is the circle?' }],
          },
        ],
        1,
      );
    });

    it('two images in one turn', async () => {
      await expectParity(
        [
          {
            role: 'user',
            content: [
              await shapesImage(side, side, 'a.png', 0),
              await shapesImage(side, side, 'b.png', 200),
              { type: 'text', text: 'What differs between them?' },
            ],
          },
        ],
        2,
      );
    });

    it('a multi-turn history with a system prompt and an image in an earlier turn', async () => {
      await expectParity(
        [
          { role: 'system', content: [{ type: 'text', text: 'You answer briefly.' }] },
          {
            role: 'user',
            content: [await shapesImage(side, side), { type: 'text', text: 'What shapes are there?' }],
          },
          { role: 'assistant', content: [{ type: 'text', text: 'A circle and a square.' }] },
          { role: 'user', content: [{ type: 'text', text: 'Which one is bigger?' }] },
        ],
        1,
      );
    });

    it('the answer depends on the image (the features reach the decoder)', async () => {
      const question = { type: 'text' as const, text: 'What colour is the circle?' };
      const red = await expectParity(
        [{ role: 'user', content: [await shapesImage(side, side, 'r.png', 0), question] }],
        1,
      );
      const blue = await expectParity(
        [{ role: 'user', content: [await shapesImage(side, side, 'b.png', 230), question] }],
        1,
      );
      expect(red).not.toEqual(blue);
    });
  });

  it('a follow-up turn reuses the decoder state (GQA caches) and answers as a cold model does', async () => {
    const first: ModelMessage[] = [
      {
        role: 'user',
        content: [await shapesImage(side, side), { type: 'text', text: 'What shapes are there?' }],
      },
    ];
    const warm = await OnnxLlavaModel.load({ dir, threads: 1 });
    const cold = await OnnxLlavaModel.load({ dir, threads: 1, kvCacheBytes: 0 });
    try {
      const answer = await run(warm.stream({ messages: first, temperature: 0, maxNewTokens: 8 }));
      const second: ModelMessage[] = [
        ...first,
        { role: 'assistant', content: [{ type: 'text', text: answer.text }] },
        { role: 'user', content: [{ type: 'text', text: 'Which one is bigger?' }] },
      ];
      const reused = await run(warm.stream({ messages: second, temperature: 0, maxNewTokens: 12 }));
      expect(warm.cacheStats().kv.reusedTokens).toBeGreaterThan(perImage);
      const fresh = await run(cold.stream({ messages: second, temperature: 0, maxNewTokens: 12 }));
      expect(reused.tokenIds).toEqual(fresh.tokenIds);
    } finally {
      await warm.close();
      await cold.close();
    }
  });

  it("transformers.js's own LlavaProcessor: 729 for the first <image> here (SigLIP adds 0), the second left unexpanded", async () => {
    const raw = new RawImage(new Uint8ClampedArray(side * side * 3).fill(120), side, side, 3);
    const text = caseNamed('two images in one turn').prompt;
    const theirs = await peer.processor([raw, raw], text);
    const ids = Array.from((theirs.input_ids as { data: BigInt64Array }).data, Number);
    expect(ids.filter((id) => id === imageId)).toHaveLength(perImage + 1);
    const ours = await model.buildInputs(await messagesOf(caseNamed('two images in one turn')));
    expect(ours.prompt.inputIds.filter((id) => id === imageId)).toHaveLength(2 * perImage);
  });
});

describe('the interleave fixture, read without a model', () => {
  it('byte-level BPE: streamed text never shows half a character, ids past the vocabulary decode to nothing', async () => {
    const model = await OnnxLlavaModel.load({ dir, threads: 1 });
    try {
      const { tokenizer } = model;
      const ids = tokenizer.encode('café ☕ 日本 done', true);
      // no BOS; the non-ASCII characters are spelt with single-byte tokens
      expect(tokenizer.decode(ids)).toBe('café ☕ 日本 done');
      const detokenizer = new IncrementalDetokenizer((all) => tokenizer.decode(all));
      for (const id of ids) expect(detokenizer.push(id)).not.toContain('\uFFFD');
      expect(detokenizer.finish()).toBe('café ☕ 日本 done');
      // config.json has 512 embedding rows for 449 tokens, as Qwen pads its vocabulary
      expect(model.spec.decoder.vocabSize).toBe(512);
      expect(tokenizer.decode([...ids.slice(0, 2), 500])).toBe(tokenizer.decode(ids.slice(0, 2)));
    } finally {
      await model.close();
    }
  });

  /** A copy of the fixture's JSON files (no ONNX needed for the spec) with some changed or removed. */
  async function directoryWith(changes: Record<string, ((json: Record<string, unknown>) => void) | null>) {
    const copy = await mkdtemp(join(tmpdir(), 'glimpse-interleave-'));
    try {
      await cp(dir, copy, { recursive: true });
      for (const [file, change] of Object.entries(changes)) {
        if (change === null) {
          await rm(join(copy, file));
          continue;
        }
        const json = JSON.parse(await readFile(join(copy, file), 'utf8')) as Record<string, unknown>;
        change(json);
        await writeFile(join(copy, file), JSON.stringify(json));
      }
      return await readModelDirectory(copy);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  }
  const specWith = async (changes: Parameters<typeof directoryWith>[0]) =>
    modelSpecOf(await directoryWith(changes));

  it("chat_template.json wins over a tokenizer_config.json template (HF's processor uses its own)", async () => {
    // Qwen's text-only chat template, as a tokenizer_config.json copied from the base LM carries it
    const qwenText =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const files = await directoryWith({
      'tokenizer_config.json': (json) => {
        json.chat_template = qwenText;
      },
    });
    expect(files.tokenizerConfig.chat_template).toBe(qwenText);
    expect(files.chatTemplate).toBe(
      (JSON.parse(readFileSync(join(dir, 'chat_template.json'), 'utf8')) as { chat_template: string })
        .chat_template,
    );
  });

  it('SigLIP adds no token even where processor_config.json does not say so (HF defaults to 0)', async () => {
    const without = await specWith({
      'processor_config.json': (json) => {
        delete json.num_additional_image_tokens;
      },
    });
    expect(without.imageTokensPerImage).toBe(729);
    const none = await specWith({ 'processor_config.json': null });
    expect(none).toMatchObject({ imageTokensPerImage: 729, featureSelectStrategy: 'full', patchSize: 14 });
  });
});
