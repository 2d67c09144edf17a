import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Config } from '../config.js';
import { GlimpseError } from '../errors.js';
import type { ImagePart } from '../messages.js';
import { type ImageMode, preprocessImage } from './image-preprocess.js';
import { type JsonObject, onnxFileName, readModelDirectory } from './model-directory.js';
import { type ImageProcessorSpec, modelSpecOf } from './model-spec.js';
import { TextTokenizer } from './text-tokenizer.js';

/**
 * CLIP-style zero-shot labels: ranks free-text labels ("a red circle", "a diagram") by how well
 * they match an image. Needs a model directory with zero-shot support: `onnx/text_encoder.onnx`
 * (`input_ids`, `attention_mask` → L2-normalised `text_embeds`), an `image_embeds` output on the
 * vision encoder, and `config.json`'s `glimpse_zero_shot`:
 * `{text_encoder, logit_scale, max_length, add_special_tokens, pad_token_id}`.
 */

export interface LabelScore {
  label: string;
  /** softmax over the given labels of `logit_scale · cosine` */
  probability: number;
  /** cosine similarity of the image and label embeddings, in [-1, 1] */
  similarity: number;
}

/** A ranking of labels for one image: what moderators' auto-tagging and the evaluation use. */
export interface ImageLabeler {
  rank(image: ImagePart | Uint8Array, labels: readonly string[], signal?: AbortSignal): Promise<LabelScore[]>;
  close(): Promise<void>;
}

export interface ZeroShotSettings {
  textEncoder: string;
  logitScale: number;
  maxLength: number;
  addSpecialTokens: boolean;
  padTokenId: number;
  /** optional: `right` (default) or `left` */
  paddingSide: 'right' | 'left';
  /** optional: the vision encoder's embedding output (default `image_embeds`) */
  imageEmbedsOutput: string;
  /** optional: how a label becomes the encoded text, `{label}` by default ("a photo of {label}") */
  template: string;
}

export interface ZeroShotLoadOptions {
  precision?: string;
  device?: 'cpu' | 'cuda';
  /** intra-op threads; 0 or undefined = onnxruntime's default */
  threads?: number;
  imageMode?: ImageMode;
}

function unsupported(dir: string, why: string): GlimpseError {
  return new GlimpseError(
    'glimpse_zero_shot_unsupported',
    `model directory ${dir} has no zero-shot label support: ${why}. Zero-shot labels need a CLIP text encoder (onnx/text_encoder.onnx), an image_embeds output on the vision encoder and a "glimpse_zero_shot" object in config.json, as models/tiny-shapes has.`,
    { userMessage: 'This model cannot rank labels.', details: { dir, why } },
  );
}

/** Reads and checks `config.json`'s `glimpse_zero_shot` object. */
export function zeroShotSettingsOf(dir: string, config: JsonObject): ZeroShotSettings {
  const raw = config.glimpse_zero_shot;
  if (raw === undefined) throw unsupported(dir, 'config.json has no "glimpse_zero_shot" object');
  const value = raw as Record<string, unknown>;
  const problems: string[] = [];
  const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (raw === null || typeof raw !== 'object') problems.push('it is not an object');
  if (typeof value?.text_encoder !== 'string') problems.push('text_encoder must be a path');
  if (!isNumber(value?.logit_scale) || value.logit_scale <= 0)
    problems.push('logit_scale must be a positive number');
  if (!Number.isInteger(value?.max_length) || (value.max_length as number) < 1)
    problems.push('max_length must be a positive integer');
  if (typeof value?.add_special_tokens !== 'boolean')
    problems.push('add_special_tokens must be true or false');
  if (!Number.isInteger(value?.pad_token_id)) problems.push('pad_token_id must be an integer');
  if (value?.padding_side !== undefined && value.padding_side !== 'right' && value.padding_side !== 'left')
    problems.push('padding_side must be "right" or "left"');
  if (value?.image_embeds_output !== undefined && typeof value.image_embeds_output !== 'string')
    problems.push('image_embeds_output must be an output name');
  if (
    value?.template !== undefined &&
    (typeof value.template !== 'string' || !value.template.includes('{label}'))
  )
    problems.push('template must contain {label}');
  if (problems.length > 0) {
    throw new GlimpseError(
      'glimpse_model_invalid',
      `model directory ${dir}: config.json "glimpse_zero_shot" is invalid: ${problems.join('; ')}`,
      { userMessage: 'The model is not installed correctly.', details: { dir, problems } },
    );
  }
  return {
    textEncoder: value.text_encoder as string,
    logitScale: value.logit_scale as number,
    maxLength: value.max_length as number,
    addSpecialTokens: value.add_special_tokens as boolean,
    padTokenId: value.pad_token_id as number,
    paddingSide: value.padding_side === 'left' ? 'left' : 'right',
    imageEmbedsOutput: (value.image_embeds_output as string | undefined) ?? 'image_embeds',
    template: (value.template as string | undefined) ?? '{label}',
  };
}

/** `text_encoder.onnx` → `text_encoder_q4.onnx` for another precision, if that file exists. */
async function withPrecision(path: string, precision: string): Promise<string> {
  if (precision === 'fp32') return path;
  const suffixed = onnxFileName('x', precision).slice('onnx/x'.length, -'.onnx'.length);
  const candidate = path.replace(/\.onnx$/, `${suffixed}.onnx`);
  try {
    await access(candidate);
    return candidate;
  } catch {
    return path;
  }
}

function l2normalize(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum) || 1;
  return vector.map((v) => v / norm);
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** Softmax of `scale · similarity`, numerically stable. */
export function softmaxScaled(similarities: readonly number[], scale: number): number[] {
  const logits = similarities.map((s) => s * scale);
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

const textEmbeddingCacheSize = 4096;

export class ZeroShotLabeler implements ImageLabeler {
  private readonly textCache = new Map<string, Float32Array>();

  private constructor(
    readonly dir: string,
    readonly settings: ZeroShotSettings,
    private readonly tokenizer: TextTokenizer,
    private readonly imageSpec: ImageProcessorSpec,
    private readonly imageMode: ImageMode,
    private readonly vision: ort.InferenceSession,
    private readonly text: ort.InferenceSession,
  ) {}

  /** Loads the zero-shot parts of a model directory (a `glimpse_zero_shot_unsupported` error if absent). */
  static async load(dir: string, options: ZeroShotLoadOptions = {}): Promise<ZeroShotLabeler> {
    const precision = options.precision ?? 'fp32';
    const model = await readModelDirectory(dir, precision);
    const settings = zeroShotSettingsOf(model.dir, model.config);
    const textPath = await withPrecision(resolve(model.dir, settings.textEncoder), precision);
    try {
      await access(textPath);
    } catch {
      throw unsupported(model.dir, `config.json names ${settings.textEncoder}, which does not exist`);
    }
    const spec = modelSpecOf(model);
    const tokenizer = new TextTokenizer(model.tokenizerJson, model.tokenizerConfig, model.specialTokensMap);
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [options.device === 'cuda' ? 'cuda' : 'cpu'],
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    };
    let vision: ort.InferenceSession;
    let text: ort.InferenceSession;
    try {
      [vision, text] = await Promise.all([
        ort.InferenceSession.create(model.onnx.visionEncoder, sessionOptions),
        ort.InferenceSession.create(textPath, sessionOptions),
      ]);
    } catch (error) {
      throw new GlimpseError(
        'glimpse_model_invalid',
        `cannot load the zero-shot graphs of ${model.dir}: ${String(error)}`,
        {
          cause: error,
          userMessage: 'The model is not installed correctly.',
        },
      );
    }
    if (!vision.outputNames.includes(settings.imageEmbedsOutput)) {
      await Promise.all([vision.release(), text.release()]);
      throw unsupported(
        model.dir,
        `${join('onnx', 'vision_encoder.onnx')} has no ${settings.imageEmbedsOutput} output`,
      );
    }
    for (const name of ['input_ids', 'attention_mask']) {
      if (!text.inputNames.includes(name)) {
        await Promise.all([vision.release(), text.release()]);
        throw new GlimpseError('glimpse_model_invalid', `${textPath} has no ${name} input`, {
          userMessage: 'The model is not installed correctly.',
        });
      }
    }
    return new ZeroShotLabeler(
      model.dir,
      settings,
      tokenizer,
      spec.image,
      options.imageMode ?? 'crop',
      vision,
      text,
    );
  }

  /** The labeler of the configured model (`GLIMPSE_MODEL_DIR`, precision, device, threads). */
  static async fromConfig(config: Config): Promise<ZeroShotLabeler> {
    if (config.model.provider !== 'onnx') {
      throw new GlimpseError(
        'glimpse_zero_shot_unsupported',
        'zero-shot labels need an in-process model (GLIMPSE_MODEL_PROVIDER=onnx)',
        { userMessage: 'This model cannot rank labels.' },
      );
    }
    const { dir, precision, device, threads, imageMode } = config.model;
    return ZeroShotLabeler.load(dir, { precision, device, threads, imageMode });
  }

  /** Labels ranked best first, with probabilities that sum to 1 over `labels`. */
  async rank(
    image: ImagePart | Uint8Array,
    labels: readonly string[],
    signal?: AbortSignal,
  ): Promise<LabelScore[]> {
    if (labels.length === 0) {
      throw new GlimpseError('glimpse_usage', 'give at least one label to rank', {
        userMessage: 'Give at least one label.',
      });
    }
    const [imageEmbedding, textEmbeddings] = await Promise.all([
      this.embedImage(image, signal),
      this.embedTexts(labels, signal),
    ]);
    const similarities = textEmbeddings.map((embedding) => dot(imageEmbedding, embedding));
    const probabilities = softmaxScaled(similarities, this.settings.logitScale);
    return labels
      .map((label, i) => ({ label, probability: probabilities[i]!, similarity: similarities[i]! }))
      .sort((a, b) => b.probability - a.probability);
  }

  private async embedImage(image: ImagePart | Uint8Array, signal?: AbortSignal): Promise<Float32Array> {
    const bytes = image instanceof Uint8Array ? image : image.bytes;
    const name = image instanceof Uint8Array ? 'image' : image.name;
    const pixels = await preprocessImage(bytes, this.imageSpec, this.imageMode, name);
    signal?.throwIfAborted();
    const { height, width } = this.imageSpec.outputSize;
    const input = new ort.Tensor('float32', pixels, [1, 3, height, width]);
    try {
      const name = this.settings.imageEmbedsOutput;
      const result = await this.vision.run({ [this.vision.inputNames[0]!]: input }, [name]);
      return l2normalize(new Float32Array(result[name]!.data as Float32Array));
    } catch (error) {
      throw new GlimpseError('glimpse_model_failed', `the vision encoder failed: ${String(error)}`, {
        cause: error,
      });
    }
  }

  /** Label embeddings, batched and padded on the configured side (masked out by attention_mask). */
  private async embedTexts(labels: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    const missing = [...new Set(labels.filter((label) => !this.textCache.has(label)))];
    if (missing.length > 0) {
      signal?.throwIfAborted();
      const { maxLength, addSpecialTokens, padTokenId, paddingSide, template } = this.settings;
      const encoded = missing.map((label) =>
        this.tokenizer.encode(template.replaceAll('{label}', label), addSpecialTokens).slice(0, maxLength),
      );
      const length = Math.max(1, ...encoded.map((ids) => ids.length));
      const ids = new BigInt64Array(missing.length * length).fill(BigInt(padTokenId));
      const mask = new BigInt64Array(missing.length * length);
      encoded.forEach((tokens, row) => {
        const offset = paddingSide === 'left' ? length - tokens.length : 0;
        tokens.forEach((id, col) => {
          ids[row * length + offset + col] = BigInt(id);
          mask[row * length + offset + col] = 1n;
        });
      });
      let data: Float32Array;
      let dim: number;
      try {
        const result = await this.text.run({
          input_ids: new ort.Tensor('int64', ids, [missing.length, length]),
          attention_mask: new ort.Tensor('int64', mask, [missing.length, length]),
        });
        const output = result.text_embeds ?? result[this.text.outputNames[0]!]!;
        data = output.data as Float32Array;
        dim = output.dims.at(-1)!;
      } catch (error) {
        throw new GlimpseError('glimpse_model_failed', `the text encoder failed: ${String(error)}`, {
          cause: error,
        });
      }
      if (this.textCache.size + missing.length > textEmbeddingCacheSize) this.textCache.clear();
      missing.forEach((label, row) => {
        this.textCache.set(label, l2normalize(data.slice(row * dim, (row + 1) * dim)));
      });
    }
    return labels.map((label) => this.textCache.get(label)!);
  }

  async close(): Promise<void> {
    await Promise.all([this.vision.release(), this.text.release()]);
  }
}
