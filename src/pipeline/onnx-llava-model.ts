import { createHash } from 'node:crypto';
import { Tensor } from 'onnxruntime-node';
import { GlimpseError, toGlimpseError } from '../errors.js';
import type { LruUsage } from './byte-lru.js';
import { float32Data, floatTensor, inputFloatType } from './float16.js';
import { ImageFeatureCache, imageFeatureKey } from './image-feature-cache.js';
import { type ImageMode, preprocessImage } from './image-preprocess.js';
import { IncrementalDetokenizer } from './incremental-detokenizer.js';
import { KvCacheDecoder } from './kv-cache-decoder.js';
import { KvPrefixCache, type PromptKey, truncateSnapshot } from './kv-prefix-cache.js';
import { type BuiltPrompt, LlavaPrompt } from './llava-prompt.js';
import { readModelDirectory } from './model-directory.js';
import { type ModelSpec, modelSpecOf } from './model-spec.js';
import { createLlavaSessions, type LlavaSessions, type SessionOptions } from './onnx-sessions.js';
import { Sampler } from './sampler.js';
import { checkStopStrings } from './stop-strings.js';
import { TextTokenizer } from './text-tokenizer.js';
import type {
  FinishReason,
  GenerationOptions,
  ModelInfo,
  ModelMessage,
  ModelRequest,
  ModelStats,
  ModelStreamPart,
  PromptMeasure,
  VisionChatModel,
} from './vision-chat-model.js';

export interface OnnxLlavaOptions {
  dir: string;
  precision?: string;
  device?: SessionOptions['device'];
  threads?: number;
  imageMode?: ImageMode;
  /** images per request; older ones are dropped with a warning */
  maxImages?: number;
  /** defaults for what a request leaves out */
  generation?: GenerationOptions;
  /** bytes of decoder state kept for reuse across turns (GLIMPSE_KV_CACHE_MB); 0 = off */
  kvCacheBytes?: number;
  /** bytes of vision-encoder output kept per distinct image (GLIMPSE_IMAGE_CACHE_MB); 0 = off */
  imageCacheBytes?: number;
}

export const defaultKvCacheBytes = 256 * 1024 * 1024;
export const defaultImageCacheBytes = 64 * 1024 * 1024;

/** Counters of one cache; `bytes` never exceeds `maxBytes`. */
export interface CacheCounters extends LruUsage {
  hits: number;
  misses: number;
}

export interface CacheStats {
  images: CacheCounters;
  kv: CacheCounters & { reusedTokens: number };
}

/** A request's images as the generation loop asks for them: a key each, features on demand. */
interface PreparedImages {
  keys: readonly string[];
  features(index: number, timings: { preprocessMs: number; visionMs: number }): Promise<Float32Array>;
}

/** The tensors of one request, as HF's LlavaProcessor would build them (for parity tests and tools). */
export interface LlavaInputs {
  prompt: BuiltPrompt;
  /** `[images, 3, H, W]`, CHW float32 per image */
  pixelValues: Float32Array;
  pixelShape: [number, number, number, number];
  /** what identifies each image for the KV prefix cache; default: a hash of its pixel values */
  imageKeys?: string[];
}

const now = () => performance.now();

/**
 * A LLaVA export in the standard ONNX layout (design.md), run in-process with onnxruntime-node:
 * sharp preprocessing → vision encoder (+ projector) → embed → merge → decoder with KV cache →
 * sampler → incremental detokenizer.
 */
export class OnnxLlavaModel implements VisionChatModel {
  readonly info: ModelInfo;
  private readonly imageCache: ImageFeatureCache;
  private readonly kvCache: KvPrefixCache | undefined;

  private constructor(
    readonly spec: ModelSpec,
    readonly tokenizer: TextTokenizer,
    private readonly prompt: LlavaPrompt,
    private readonly sessions: LlavaSessions,
    private readonly options: Required<Omit<OnnxLlavaOptions, 'generation'>> & {
      generation: GenerationOptions;
    },
    name: string,
    source: string,
  ) {
    this.info = {
      id: name,
      source,
      contextLength: spec.contextLength,
      imageTokens: spec.imageTokensPerImage,
      maxImagesPerRequest: options.maxImages,
    };
    // fails at start if the decoder's names do not fit the layout
    new KvCacheDecoder(sessions.decoder, spec.decoder);
    this.imageCache = new ImageFeatureCache(options.imageCacheBytes);
    this.kvCache =
      options.kvCacheBytes > 0
        ? new KvPrefixCache(options.kvCacheBytes, spec.imageTokenId, spec.imageTokensPerImage)
        : undefined;
  }

  /** Reads and checks the model directory, then creates the sessions once. */
  static async load(options: OnnxLlavaOptions): Promise<OnnxLlavaModel> {
    const full = {
      dir: options.dir,
      precision: options.precision ?? 'fp32',
      device: options.device ?? 'cpu',
      threads: options.threads ?? 0,
      imageMode: options.imageMode ?? 'crop',
      maxImages: options.maxImages ?? 4,
      generation: options.generation ?? {},
      kvCacheBytes: options.kvCacheBytes ?? defaultKvCacheBytes,
      imageCacheBytes: options.imageCacheBytes ?? defaultImageCacheBytes,
    } as const;
    const files = await readModelDirectory(full.dir, full.precision);
    const spec = modelSpecOf(files);
    const tokenizer = new TextTokenizer(files.tokenizerJson, files.tokenizerConfig, files.specialTokensMap);
    const prompt = LlavaPrompt.fromFiles(spec, tokenizer, files.chatTemplate, { maxImages: full.maxImages });
    const sessions = await createLlavaSessions(files.onnx, { device: full.device, threads: full.threads });
    try {
      return new OnnxLlavaModel(spec, tokenizer, prompt, sessions, full, files.name, files.dir);
    } catch (error) {
      await Promise.all(Object.values(sessions).map((session) => session.release()));
      throw error;
    }
  }

  async measure(messages: ModelMessage[]): Promise<PromptMeasure> {
    const built = this.prompt.build(messages);
    return { promptTokens: built.inputIds.length, imageTokens: built.imageTokens };
  }

  /** The prompt ids and pixel values this model feeds for `messages`. */
  async buildInputs(messages: readonly ModelMessage[]): Promise<LlavaInputs> {
    const prompt = this.prompt.build(messages);
    const { height, width } = this.spec.image.outputSize;
    const plane = 3 * height * width;
    const pixelValues = new Float32Array(prompt.images.length * plane);
    for (const [index, image] of prompt.images.entries()) {
      pixelValues.set(
        await preprocessImage(image.bytes, this.spec.image, this.options.imageMode, image.name),
        index * plane,
      );
    }
    return { prompt, pixelValues, pixelShape: [prompt.images.length, 3, height, width] };
  }

  stream(request: ModelRequest, signal?: AbortSignal): AsyncIterable<ModelStreamPart> {
    return this.generate(request, signal);
  }

  /** What the caches hold now (for the benchmark, logs and tests). */
  cacheStats(): CacheStats {
    const kv = this.kvCache;
    const images = this.imageCache;
    return {
      images: { ...images.usage(), hits: images.hits, misses: images.misses },
      kv: {
        ...(kv?.usage() ?? { bytes: 0, maxBytes: 0, entries: 0, evictions: 0 }),
        hits: kv?.hits ?? 0,
        misses: kv?.misses ?? 0,
        reusedTokens: kv?.reusedTokens ?? 0,
      },
    };
  }

  /** The seam's counters: the execution provider and both caches' hits and misses. */
  stats(): ModelStats {
    const { images, kv } = this.cacheStats();
    const plain = (counters: CacheCounters) => ({
      hits: counters.hits,
      misses: counters.misses,
      entries: counters.entries,
      bytes: counters.bytes,
    });
    return {
      executionProvider: this.options.device,
      imageCache: plain(images),
      kvCache: { ...plain(kv), reusedTokens: kv.reusedTokens },
    };
  }

  /** Empties both caches (the benchmark's cold first turn). */
  clearCaches(): void {
    this.imageCache.clear();
    this.kvCache?.clear();
  }

  private async *generate(
    request: ModelRequest,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ModelStreamPart> {
    const started = now();
    let prompt: BuiltPrompt;
    let imageKeys: string[];
    try {
      prompt = this.prompt.build(request.messages);
      imageKeys = prompt.images.map((image) => imageFeatureKey(image.bytes, this.options.imageMode));
    } catch (error) {
      yield { type: 'error', error: toGlimpseError(error) };
      return;
    }
    const { height, width } = this.spec.image.outputSize;
    const images: PreparedImages = {
      keys: imageKeys,
      // only the images the reused prefix does not cover get here: the feature cache, else
      // preprocessing and the vision encoder
      features: async (index, timings) => {
        const key = imageKeys[index]!;
        const cached = this.imageCache.get(key);
        if (cached) return cached;
        const image = prompt.images[index]!;
        const preprocessStart = now();
        const pixels = await preprocessImage(
          image.bytes,
          this.spec.image,
          this.options.imageMode,
          image.name,
        );
        const visionStart = now();
        timings.preprocessMs += visionStart - preprocessStart;
        const features = await this.encodeImage(pixels, [1, 3, height, width]);
        timings.visionMs += now() - visionStart;
        this.imageCache.set(key, features);
        return features;
      },
    };
    yield* this.run(prompt, images, request, signal, started);
  }

  /**
   * Generates from prepared inputs (what `stream` does after building the prompt, with the given
   * pixel values instead of the images'); parity tests feed the same inputs to a reference
   * implementation. The image-feature cache is not used here; the KV prefix cache is, keyed by
   * the pixel values' hash unless `inputs.imageKeys` says otherwise.
   */
  async *streamInputs(
    inputs: LlavaInputs,
    request: GenerationOptions,
    signal?: AbortSignal,
    started = now(),
  ): AsyncGenerator<ModelStreamPart> {
    const [count, channels, height, width] = inputs.pixelShape;
    const plane = channels * height * width;
    const planeOf = (index: number) => inputs.pixelValues.subarray(index * plane, (index + 1) * plane);
    const keys =
      inputs.imageKeys ??
      Array.from({ length: count }, (_, index) => {
        const data = planeOf(index);
        const hash = createHash('sha256').update(
          new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        );
        return `pixels:${hash.digest('hex')}`;
      });
    const images: PreparedImages = {
      keys,
      features: async (index, timings) => {
        const visionStart = now();
        const features = await this.encodeImage(planeOf(index), [1, channels, height, width]);
        timings.visionMs += now() - visionStart;
        return features;
      },
    };
    yield* this.run(inputs.prompt, images, request, signal, started);
  }

  private async *run(
    prompt: BuiltPrompt,
    images: PreparedImages,
    request: GenerationOptions,
    signal: AbortSignal | undefined,
    started: number,
  ): AsyncGenerator<ModelStreamPart> {
    const options = { ...this.options.generation, ...definedOnly(request) };
    const decoder = new KvCacheDecoder(this.sessions.decoder, this.spec.decoder);
    const tokenIds: number[] = [];
    const ids = prompt.inputIds;
    const promptTokens = ids.length;
    const imageTokens = prompt.imageTokens;
    const timings = {
      preprocessMs: now() - started,
      visionMs: 0,
      prefillMs: 0,
      timeToFirstTokenMs: 0,
      decodeTokensPerSecond: 0,
      totalMs: 0,
    };
    const finish = (finishReason: FinishReason): ModelStreamPart => {
      timings.totalMs = now() - started;
      return {
        type: 'finish',
        finishReason,
        usage: { promptTokens, imageTokens, completionTokens: tokenIds.length },
        timings,
        tokenIds: [...tokenIds],
      };
    };
    try {
      if (promptTokens >= this.spec.contextLength) {
        for (const warning of prompt.warnings) yield warning;
        throw new GlimpseError(
          'glimpse_context_overflow',
          `the prompt has ${promptTokens} tokens; the model takes ${this.spec.contextLength}`,
          { userMessage: 'This conversation is too long for the model; start a new one.' },
        );
      }
      const maxNewTokens = Math.min(options.maxNewTokens ?? 256, this.spec.contextLength - promptTokens);
      if (signal?.aborted) {
        for (const warning of prompt.warnings) yield warning;
        yield finish('abort');
        return;
      }

      // the longest stored prefix of this prompt (ids and images): only the rest is prefilled
      const key: PromptKey = { ids, imageKeys: images.keys };
      const reused = this.kvCache?.match(key);
      const start = reused?.length ?? 0;

      // features for the images whose tokens are not all in the reused prefix
      const runs = imageRuns(ids, this.spec.imageTokenId, this.spec.imageTokensPerImage);
      if (runs.length !== images.keys.length) {
        throw new GlimpseError(
          'glimpse_model_invalid',
          `the prompt has ${runs.length} image-token runs for ${images.keys.length} images`,
          { userMessage: 'The model is not installed correctly.' },
        );
      }
      const features: (Float32Array | undefined)[] = [];
      for (const [index, run] of runs.entries()) {
        if (signal?.aborted) break;
        features.push(
          run + this.spec.imageTokensPerImage > start ? await images.features(index, timings) : undefined,
        );
      }
      for (const warning of prompt.warnings) yield warning;
      if (signal?.aborted) {
        yield finish('abort');
        return;
      }

      const prefillStart = now();
      const embeds = await this.embed(ids.slice(start));
      this.mergeImageFeatures(embeds, start, ids.length, runs, features);
      const past = reused ? truncateSnapshot(reused.snapshot, start) : undefined;
      let logits = await decoder.prefill(embeds, ids.length - start, {
        ...(past ? { past } : {}),
        capacity: ids.length + maxNewTokens,
      });
      timings.prefillMs = now() - prefillStart;

      const sampler = new Sampler(options);
      const penalize = (options.repetitionPenalty ?? 1) !== 1;
      const seen = penalize ? [...ids] : [];
      const eos = new Set(
        this.spec.eosTokenIds.length > 0 ? this.spec.eosTokenIds : [this.tokenizer.eosTokenId ?? -1],
      );
      const stops = options.stop ?? [];
      const detokenizer = new IncrementalDetokenizer((ids) => this.tokenizer.decode(ids, true));
      let shown = 0;
      let reason: FinishReason = 'length';
      let decodeStart = 0;
      while (tokenIds.length < maxNewTokens) {
        if (signal?.aborted) {
          reason = 'abort';
          break;
        }
        const id = sampler.sample(logits, seen);
        tokenIds.push(id);
        if (penalize) seen.push(id);
        if (tokenIds.length === 1) {
          timings.timeToFirstTokenMs = now() - started;
          decodeStart = now();
        }
        if (eos.has(id)) {
          reason = 'stop';
          break;
        }
        const text = detokenizer.push(id);
        const check = checkStopStrings(text, stops);
        if (check.safeLength > shown) {
          yield { type: 'text-delta', text: text.slice(shown, check.safeLength) };
          shown = check.safeLength;
        }
        if (check.stopAt !== undefined) {
          reason = 'stop';
          break;
        }
        if (tokenIds.length >= maxNewTokens) break;
        logits = await decoder.step(await this.embed([id]));
      }
      // release what was held back (trailing spaces, a possible start of a stop string)
      const text = reason === 'abort' ? detokenizer.text : detokenizer.finish();
      const end = checkStopStrings(text, stops).stopAt ?? text.length;
      if (end > shown) yield { type: 'text-delta', text: text.slice(shown, end) };
      const decodeSeconds = (now() - decodeStart) / 1000;
      timings.decodeTokensPerSecond =
        tokenIds.length > 1 && decodeSeconds > 0 ? (tokenIds.length - 1) / decodeSeconds : 0;
      // the state after this answer (prompt + every token fed back), for the next turn to continue
      if (this.kvCache && decoder.length > 0) {
        this.kvCache.store(
          { ids: [...ids, ...tokenIds].slice(0, decoder.length), imageKeys: images.keys },
          decoder.snapshot(),
        );
      }
      yield finish(reason);
    } catch (error) {
      yield { type: 'error', error: toGlimpseError(error) };
    } finally {
      decoder.dispose();
    }
  }

  /** The vision encoder on one image's pixel values → its features, `[tokens × hidden]` float32. */
  private async encodeImage(data: Float32Array, dims: readonly number[]): Promise<Float32Array> {
    const inputName = this.sessions.vision.inputNames[0] ?? 'pixel_values';
    const outputName = this.sessions.vision.outputNames.includes('image_features')
      ? 'image_features'
      : this.sessions.vision.outputNames[0]!;
    const type = inputFloatType(this.sessions.vision, inputName);
    const outputs = await this.sessions.vision.run({ [inputName]: floatTensor(type, data, dims) });
    const output = outputs[outputName] as Tensor;
    const features = float32Data(output);
    output.dispose();
    return features;
  }

  /** `embed_tokens.onnx` on ids → `[S × hidden]` (image ids become 0: their rows are replaced). */
  private async embed(ids: readonly number[]): Promise<Float32Array> {
    const imageId = this.spec.imageTokenId;
    const data = BigInt64Array.from(ids, (id) => BigInt(id === imageId ? 0 : id));
    const outputs = await this.sessions.embed.run({ input_ids: new Tensor('int64', data, [1, ids.length]) });
    const output = (outputs.inputs_embeds ?? Object.values(outputs)[0]) as Tensor;
    const embeds = float32Data(output);
    output.dispose();
    return embeds;
  }

  /**
   * Writes the image features over the image-token rows of `embeds` (which holds positions
   * `start`…`end − 1`); every image run that reaches past `start` needs its features, and their
   * sizes must agree with the prompt's image tokens.
   */
  private mergeImageFeatures(
    embeds: Float32Array,
    start: number,
    end: number,
    runs: readonly number[],
    features: readonly (Float32Array | undefined)[],
  ): void {
    const hidden = this.spec.decoder.hiddenSize;
    const perImage = this.spec.imageTokensPerImage;
    for (const [index, run] of runs.entries()) {
      if (run + perImage <= start) continue;
      const feature = features[index];
      if (!feature || feature.length !== perImage * hidden) {
        throw new GlimpseError(
          'glimpse_model_invalid',
          `the vision encoder gave ${feature ? feature.length / hidden : 0} image features for ${perImage} image tokens (config says ${perImage} per image)`,
          { userMessage: 'The model is not installed correctly.' },
        );
      }
      for (let position = Math.max(run, start); position < Math.min(run + perImage, end); position++) {
        const row = position - run;
        embeds.set(feature.subarray(row * hidden, (row + 1) * hidden), (position - start) * hidden);
      }
    }
  }

  async close(): Promise<void> {
    this.clearCaches();
    await Promise.all(Object.values(this.sessions).map((session) => session.release()));
  }
}

function definedOnly(request: GenerationOptions): GenerationOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(request))
    if (key !== 'messages' && value !== undefined) out[key] = value;
  return out as GenerationOptions;
}

/** Where each image's run of tokens starts: every `perImage` consecutive image tokens are one image. */
function imageRuns(ids: readonly number[], imageTokenId: number, perImage: number): number[] {
  const runs: number[] = [];
  let seen = 0;
  ids.forEach((id, position) => {
    if (id !== imageTokenId) return;
    if (seen % perImage === 0) runs.push(position);
    seen++;
  });
  return runs;
}
