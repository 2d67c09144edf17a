import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { GlimpseError } from '../errors.js';
import type { ImagePart } from '../messages.js';
import type { BenchSide, RunSample } from './bench-result.js';

/**
 * The peer: transformers.js's `LlavaForConditionalGeneration.generate` on the same model
 * directory, with prompt ids built the way HF's LlavaProcessor builds them. transformers.js
 * 4.3.1's own LlavaProcessor counts one image token too many for the "default" feature strategy
 * (577 for a 336 px / patch-14 CLIP) and expands only the first `<image>` (design.md), so it is
 * not used for the text; its image processor is.
 */

type Transformers = typeof import('@huggingface/transformers');
type Tensor = InstanceType<Transformers['Tensor']>;

interface LoadedTokenizer {
  apply_chat_template(messages: unknown[], options: Record<string, unknown>): unknown;
  (text: string, options?: Record<string, unknown>): { input_ids: Tensor };
  decode(ids: number[] | bigint[], options?: Record<string, unknown>): string;
}

type LoadedImageProcessor = (image: unknown) => Promise<{ pixel_values: Tensor }>;

interface LoadedModel {
  generate(inputs: Record<string, unknown>): Promise<unknown>;
  dispose(): Promise<unknown>;
}

/** How HF's LlavaProcessor sizes and marks an image in the prompt. */
export interface ImageTokenRule {
  imageTokenId: number;
  patchSize: number;
  numAdditionalImageTokens: number;
  /** `default` drops the CLS feature: one token fewer */
  strategy: string;
}

/** HF's count: `(H/patch)·(W/patch) + num_additional_image_tokens`, minus 1 for the "default" strategy. */
export function hfImageTokenCount(rule: ImageTokenRule, height: number, width: number): number {
  const count =
    Math.floor(height / rule.patchSize) * Math.floor(width / rule.patchSize) + rule.numAdditionalImageTokens;
  return rule.strategy === 'default' ? count - 1 : count;
}

/** Every image token id of `ids` repeated `count` times, as HF's processor expands them. */
export function expandImageTokens(ids: readonly number[], imageTokenId: number, count: number): number[] {
  return ids.flatMap((id) => (id === imageTokenId ? new Array<number>(count).fill(id) : [id]));
}

/** The rule from `config.json` and `processor_config.json` of a model directory. */
export async function readImageTokenRule(dir: string): Promise<ImageTokenRule> {
  const readJson = async (name: string): Promise<Record<string, unknown>> => {
    try {
      return JSON.parse(await readFile(resolve(dir, name), 'utf8')) as Record<string, unknown>;
    } catch {
      return {};
    }
  };
  const config = await readJson('config.json');
  const processor = await readJson('processor_config.json');
  const vision = (config.vision_config ?? {}) as Record<string, unknown>;
  const imageTokenId = config.image_token_index ?? config.image_token_id;
  if (typeof imageTokenId !== 'number') {
    throw new GlimpseError('glimpse_model_invalid', `${dir}/config.json names no image_token_index`);
  }
  return {
    imageTokenId,
    patchSize: Number(processor.patch_size ?? vision.patch_size ?? 14),
    numAdditionalImageTokens: Number(processor.num_additional_image_tokens ?? 1),
    strategy: String(
      processor.vision_feature_select_strategy ?? config.vision_feature_select_strategy ?? 'default',
    ),
  };
}

/** Loads transformers.js (a dev dependency) and the model in `dir`. */
export async function loadTransformersPeer(
  dir: string,
  threads: number,
  precision = 'fp32',
): Promise<BenchSide> {
  let transformers: Transformers;
  try {
    transformers = await import('@huggingface/transformers');
  } catch (error) {
    throw new GlimpseError(
      'glimpse_usage',
      'the benchmark needs the dev dependency @huggingface/transformers: run `npm install` (with dev dependencies)',
      { cause: error },
    );
  }
  const { env, AutoTokenizer, AutoProcessor, LlavaForConditionalGeneration, RawImage, Tensor, BaseStreamer } =
    transformers;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = '';
  const path = resolve(dir);
  const rule = await readImageTokenRule(path);
  const tokenizer = (await AutoTokenizer.from_pretrained(path)) as unknown as LoadedTokenizer;
  const processor = (await AutoProcessor.from_pretrained(path)) as unknown as {
    image_processor: LoadedImageProcessor;
  };
  const model = (await LlavaForConditionalGeneration.from_pretrained(path, {
    // transformers.js calls Glimpse's `quantized` (the `_quantized` suffix) q8
    dtype: (precision === 'quantized' ? 'q8' : precision) as 'fp32',
    device: 'cpu',
    ...(threads > 0 ? { session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 } } : {}),
  })) as unknown as LoadedModel;

  /** records when each new token arrives (the first `put` is the prompt) */
  class TimingStreamer extends BaseStreamer {
    readonly times: number[] = [];
    private sawPrompt = false;
    override put(_value: bigint[][]): void {
      if (!this.sawPrompt) {
        this.sawPrompt = true;
        return;
      }
      this.times.push(performance.now());
    }
    override end(): void {}
  }

  type Message = { role: 'user' | 'assistant'; content: Record<string, unknown>[] };
  /** one greedy generation for `messages` (the image in the first user turn), timed */
  const generate = async (
    pixel_values: Tensor,
    messages: Message[],
    maxNewTokens: number,
    started: number,
  ) => {
    const [height, width] = pixel_values.dims.slice(-2) as [number, number];
    const text = tokenizer.apply_chat_template(messages, {
      tokenize: false,
      add_generation_prompt: true,
    }) as string;
    // HF tokenizes the rendered template with special tokens on (BOS from the post-processor)
    const encoded = tokenizer(text, { add_special_tokens: true });
    const promptIds = expandImageTokens(
      Array.from(encoded.input_ids.data as BigInt64Array, Number),
      rule.imageTokenId,
      hfImageTokenCount(rule, height, width),
    );
    const inputIds = new Tensor('int64', BigInt64Array.from(promptIds, BigInt), [1, promptIds.length]);
    const attentionMask = new Tensor('int64', new BigInt64Array(promptIds.length).fill(1n), [
      1,
      promptIds.length,
    ]);
    const streamer = new TimingStreamer();
    const output = (await model.generate({
      input_ids: inputIds,
      attention_mask: attentionMask,
      pixel_values,
      max_new_tokens: maxNewTokens,
      do_sample: false,
      streamer,
    })) as Tensor;
    const finished = performance.now();
    const generatedIds = Array.from(output.data as BigInt64Array, Number).slice(promptIds.length);
    const first = streamer.times[0] ?? finished;
    const last = streamer.times.at(-1) ?? finished;
    const decodeSeconds = (last - first) / 1000;
    return {
      promptIds,
      generatedIds,
      timeToFirstTokenMs: first - started,
      decodeTokensPerSecond:
        generatedIds.length > 1 && decodeSeconds > 0 ? (generatedIds.length - 1) / decodeSeconds : 0,
      endToEndMs: finished - started,
      text: tokenizer.decode(generatedIds, { skip_special_tokens: true }),
    };
  };
  const pixelValuesOf = async (image: ImagePart) => {
    const raw = await RawImage.fromBlob(new Blob([new Uint8Array(image.bytes)], { type: image.mediaType }));
    return (await processor.image_processor(raw)).pixel_values;
  };

  return {
    label: `transformers.js ${env.version}`,
    async run(image, question, maxNewTokens, followUps) {
      const started = performance.now();
      const pixel_values = await pixelValuesOf(image);
      const messages: Message[] = [
        { role: 'user', content: [{ type: 'image' }, { type: 'text', text: question }] },
      ];
      const first = await generate(pixel_values, messages, maxNewTokens, started);
      const sample: RunSample = {
        timeToFirstTokenMs: first.timeToFirstTokenMs,
        decodeTokensPerSecond: first.decodeTokensPerSecond,
        endToEndMs: first.endToEndMs,
        generatedTokens: first.generatedIds.length,
      };
      let answer = first.text;
      for (const [index, followUp] of (followUps?.questions ?? []).entries()) {
        messages.push({ role: 'assistant', content: [{ type: 'text', text: answer }] });
        messages.push({ role: 'user', content: [{ type: 'text', text: followUp }] });
        // no reuse: the image is processed again and the whole history prefilled, as every turn does
        const turnStarted = performance.now();
        const later = await generate(
          await pixelValuesOf(image),
          messages,
          followUps!.maxNewTokens,
          turnStarted,
        );
        answer = later.text;
        sample.laterTurn = {
          turn: index + 2,
          timeToFirstTokenMs: later.timeToFirstTokenMs,
          promptTokens: later.promptIds.length,
        };
      }
      return { sample, promptIds: first.promptIds, generatedIds: first.generatedIds, text: first.text };
    },
    async preprocess(image) {
      return (await pixelValuesOf(image)).data as Float32Array;
    },
    async dispose() {
      await model.dispose();
    },
  };
}
