import { Tensor } from 'onnxruntime-node';
import { GlimpseError, toGlimpseError } from '../errors.js';
import { float32Data, floatTensor, inputFloatType } from './float16.js';
import { type ImageMode, preprocessImage } from './image-preprocess.js';
import { IncrementalDetokenizer } from './incremental-detokenizer.js';
import { KvCacheDecoder } from './kv-cache-decoder.js';
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
}

/** The tensors of one request, as HF's LlavaProcessor would build them (for parity tests and tools). */
export interface LlavaInputs {
  prompt: BuiltPrompt;
  /** `[images, 3, H, W]`, CHW float32 per image */
  pixelValues: Float32Array;
  pixelShape: [number, number, number, number];
}

const now = () => performance.now();

/**
 * A LLaVA export in the standard ONNX layout (design.md), run in-process with onnxruntime-node:
 * sharp preprocessing → vision encoder (+ projector) → embed → merge → decoder with KV cache →
 * sampler → incremental detokenizer.
 */
export class OnnxLlavaModel implements VisionChatModel {
  readonly info: ModelInfo;

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

  private async *generate(
    request: ModelRequest,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ModelStreamPart> {
    const started = now();
    let inputs: LlavaInputs;
    try {
      // an already-aborted request skips the image work: the prompt alone gives the usage
      inputs = signal?.aborted
        ? {
            prompt: this.prompt.build(request.messages),
            pixelValues: new Float32Array(0),
            pixelShape: [0, 3, 0, 0],
          }
        : await this.buildInputs(request.messages);
    } catch (error) {
      yield { type: 'error', error: toGlimpseError(error) };
      return;
    }
    yield* this.streamInputs(inputs, request, signal, started);
  }

  /**
   * Generates from prepared inputs (what `stream` does after preprocessing); parity tests feed
   * the same inputs to a reference implementation.
   */
  async *streamInputs(
    inputs: LlavaInputs,
    request: GenerationOptions,
    signal?: AbortSignal,
    started = now(),
  ): AsyncGenerator<ModelStreamPart> {
    const options = { ...this.options.generation, ...definedOnly(request) };
    const decoder = new KvCacheDecoder(this.sessions.decoder, this.spec.decoder);
    const tokenIds: number[] = [];
    const { prompt } = inputs;
    const promptTokens = prompt.inputIds.length;
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
      for (const warning of prompt.warnings) yield warning;
      if (promptTokens >= this.spec.contextLength) {
        throw new GlimpseError(
          'glimpse_context_overflow',
          `the prompt has ${promptTokens} tokens; the model takes ${this.spec.contextLength}`,
          { userMessage: 'This conversation is too long for the model; start a new one.' },
        );
      }
      const maxNewTokens = Math.min(options.maxNewTokens ?? 256, this.spec.contextLength - promptTokens);
      if (signal?.aborted) {
        yield finish('abort');
        return;
      }

      const visionStart = now();
      const features = await this.encodeImages(inputs, signal);
      timings.visionMs = now() - visionStart;
      if (signal?.aborted) {
        yield finish('abort');
        return;
      }

      const prefillStart = now();
      const embeds = await this.embed(prompt.inputIds);
      this.mergeImageFeatures(embeds, prompt.inputIds, features);
      let logits = await decoder.prefill(embeds, prompt.inputIds.length);
      timings.prefillMs = now() - prefillStart;

      const sampler = new Sampler(options);
      const penalize = (options.repetitionPenalty ?? 1) !== 1;
      const seen = penalize ? [...prompt.inputIds] : [];
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
      yield finish(reason);
    } catch (error) {
      yield { type: 'error', error: toGlimpseError(error) };
    } finally {
      decoder.dispose();
    }
  }

  /** Runs the vision encoder one image at a time (an abort is seen between images). */
  private async encodeImages(inputs: LlavaInputs, signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const [count, channels, height, width] = inputs.pixelShape;
    const plane = channels * height * width;
    const features: Float32Array[] = [];
    const inputName = this.sessions.vision.inputNames[0] ?? 'pixel_values';
    const outputName = this.sessions.vision.outputNames.includes('image_features')
      ? 'image_features'
      : this.sessions.vision.outputNames[0]!;
    const type = inputFloatType(this.sessions.vision, inputName);
    for (let index = 0; index < count; index++) {
      if (signal?.aborted) break;
      const data = inputs.pixelValues.subarray(index * plane, (index + 1) * plane);
      const pixels = floatTensor(type, data, [1, channels, height, width]);
      const outputs = await this.sessions.vision.run({ [inputName]: pixels });
      const output = outputs[outputName] as Tensor;
      features.push(float32Data(output));
      output.dispose();
    }
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

  /** Writes the image features over the image-token rows, in order; the counts must agree. */
  private mergeImageFeatures(embeds: Float32Array, ids: readonly number[], features: Float32Array[]): void {
    const hidden = this.spec.decoder.hiddenSize;
    const rows = features.reduce((sum, feature) => sum + feature.length / hidden, 0);
    const slots = ids.reduce((sum, id) => sum + (id === this.spec.imageTokenId ? 1 : 0), 0);
    if (rows !== slots) {
      throw new GlimpseError(
        'glimpse_model_invalid',
        `the vision encoder gave ${rows} image features for ${slots} image tokens (config says ${this.spec.imageTokensPerImage} per image)`,
        { userMessage: 'The model is not installed correctly.' },
      );
    }
    const all = new Float32Array(rows * hidden);
    let offset = 0;
    for (const feature of features) {
      all.set(feature, offset);
      offset += feature.length;
    }
    let row = 0;
    ids.forEach((id, position) => {
      if (id !== this.spec.imageTokenId) return;
      embeds.set(all.subarray(row * hidden, (row + 1) * hidden), position * hidden);
      row++;
    });
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.sessions).map((session) => session.release()));
  }
}

function definedOnly(request: GenerationOptions): GenerationOptions {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(request))
    if (key !== 'messages' && value !== undefined) out[key] = value;
  return out as GenerationOptions;
}
