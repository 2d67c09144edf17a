import { GlimpseError } from '../errors.js';
import type { JsonObject, ModelDirectory } from './model-directory.js';

/** How an image becomes `pixel_values`: CLIPImageProcessor's settings, read from the files. */
export interface ImageProcessorSpec {
  doConvertRgb: boolean;
  doResize: boolean;
  /** resize so the shortest edge is this long (CLIP), or to exactly `resizeTo` */
  shortestEdge: number | undefined;
  resizeTo: { height: number; width: number } | undefined;
  doCenterCrop: boolean;
  cropSize: { height: number; width: number };
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** the side lengths of `pixel_values` */
  outputSize: { height: number; width: number };
}

/** The text decoder's shape, for empty KV caches. */
export interface DecoderSpec {
  numLayers: number;
  numKeyValueHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number | undefined;
}

/** Every number the pipeline needs, taken from the model files (never from constants). */
export interface ModelSpec {
  modelType: string;
  imageTokenId: number;
  /** the image placeholder as the chat template writes it, if the files name it */
  imageToken: string | undefined;
  patchSize: number;
  numAdditionalImageTokens: number;
  featureSelectStrategy: string;
  /** image tokens in the prompt per image (HF LlavaProcessor's formula) */
  imageTokensPerImage: number;
  eosTokenIds: number[];
  contextLength: number;
  image: ImageProcessorSpec;
  decoder: DecoderSpec;
}

function invalid(dir: string, message: string): GlimpseError {
  return new GlimpseError('glimpse_model_invalid', `model directory ${dir}: ${message}`, {
    userMessage: 'The model is not installed correctly.',
  });
}

const isObject = (value: unknown): value is JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function sizeOf(value: unknown): { height: number; width: number } | undefined {
  if (typeof value === 'number') return { height: value, width: value };
  if (isObject(value)) {
    const height = num(value.height);
    const width = num(value.width);
    if (height && width) return { height, width };
    const edge = num(value.shortest_edge);
    if (edge) return { height: edge, width: edge };
  }
  return undefined;
}

function triple(value: unknown, fallback: [number, number, number]): [number, number, number] {
  if (Array.isArray(value) && value.length === 3 && value.every((item) => typeof item === 'number')) {
    return [value[0] as number, value[1] as number, value[2] as number];
  }
  if (typeof value === 'number') return [value, value, value];
  return fallback;
}

function ids(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.filter((item): item is number => typeof item === 'number');
  return [];
}

/** LLaVA variants whose processors tile each image into several views (their token counts differ). */
const multiViewModelTypes = ['llava_next', 'llava_next_video', 'llava_onevision'];

/** CLIPImageProcessor's defaults where a preprocessor_config.json leaves a key out. */
function imageSpec(dir: string, pre: JsonObject, visionConfig: JsonObject): ImageProcessorSpec {
  const size = pre.size;
  const shortestEdge = isObject(size) ? num(size.shortest_edge) : typeof size === 'number' ? size : undefined;
  const resizeTo = shortestEdge === undefined ? sizeOf(size) : undefined;
  const doResize = pre.do_resize !== false;
  const doCenterCrop = pre.do_center_crop !== false && pre.crop_size !== undefined;
  const fromVision = num(visionConfig.image_size);
  const cropSize = sizeOf(pre.crop_size) ?? resizeTo ?? (shortestEdge ? sizeOf(shortestEdge) : undefined);
  if (!cropSize && !fromVision)
    throw invalid(dir, 'preprocessor_config.json gives neither crop_size nor size');
  const crop = cropSize ?? { height: fromVision!, width: fromVision! };
  if (doResize && !shortestEdge && !resizeTo)
    throw invalid(dir, 'preprocessor_config.json: do_resize without a size');
  const outputSize = doCenterCrop ? crop : (resizeTo ?? crop);
  return {
    doConvertRgb: pre.do_convert_rgb !== false,
    doResize,
    shortestEdge,
    resizeTo,
    doCenterCrop,
    cropSize: crop,
    doRescale: pre.do_rescale !== false,
    rescaleFactor: num(pre.rescale_factor) ?? 1 / 255,
    doNormalize: pre.do_normalize !== false,
    imageMean: triple(pre.image_mean, [0.48145466, 0.4578275, 0.40821073]),
    imageStd: triple(pre.image_std, [0.26862954, 0.26130258, 0.27577711]),
    outputSize,
  };
}

/**
 * Image tokens per image, as HF's LlavaProcessor counts them:
 * `(H / patch) · (W / patch) + num_additional_image_tokens`, minus 1 for the "default" feature
 * selection strategy (which drops CLIP's CLS feature) — 576 for 336 px and patch 14.
 */
export function imageTokenCount(
  size: { height: number; width: number },
  patchSize: number,
  numAdditionalImageTokens: number,
  strategy: string,
): number {
  const count =
    Math.floor(size.height / patchSize) * Math.floor(size.width / patchSize) + numAdditionalImageTokens;
  return strategy === 'default' ? count - 1 : count;
}

/** Interprets the files of a model directory; a missing or contradictory value is one clear error. */
export function modelSpecOf(model: ModelDirectory): ModelSpec {
  const { config, dir } = model;
  const processor = model.processorConfig ?? {};
  const textConfig = isObject(config.text_config) ? config.text_config : config;
  const visionConfig = isObject(config.vision_config) ? config.vision_config : {};
  const modelType = typeof config.model_type === 'string' ? config.model_type : 'llava';
  if (multiViewModelTypes.includes(modelType)) {
    throw invalid(
      dir,
      `model_type ${modelType} tiles images into several views (anyres), which Glimpse does not do yet; use a llava (llava-1.5 style) export`,
    );
  }

  const imageTokenId = num(config.image_token_index) ?? num(config.image_token_id);
  if (imageTokenId === undefined) throw invalid(dir, 'config.json has no image_token_index');

  const patchSize = num(processor.patch_size) ?? num(visionConfig.patch_size);
  if (!patchSize) throw invalid(dir, 'neither processor_config.json nor config.json gives a patch_size');
  const featureSelectStrategy =
    (typeof processor.vision_feature_select_strategy === 'string'
      ? processor.vision_feature_select_strategy
      : undefined) ??
    (typeof config.vision_feature_select_strategy === 'string'
      ? config.vision_feature_select_strategy
      : 'default');
  // Without a processor_config, a CLIP tower contributes its CLS feature (as the llava-hf exports say).
  const numAdditionalImageTokens =
    num(processor.num_additional_image_tokens) ?? (visionConfig.model_type === 'siglip_vision_model' ? 0 : 1);

  const image = imageSpec(dir, model.preprocessorConfig, visionConfig);
  const imageSize = num(visionConfig.image_size);
  if (imageSize && (image.outputSize.height !== imageSize || image.outputSize.width !== imageSize)) {
    throw invalid(
      dir,
      `preprocessor_config.json makes ${image.outputSize.width}×${image.outputSize.height} images but the vision tower expects ${imageSize}×${imageSize}`,
    );
  }
  const imageTokensPerImage = imageTokenCount(
    image.outputSize,
    patchSize,
    numAdditionalImageTokens,
    featureSelectStrategy,
  );

  const eosTokenIds = [
    ...new Set([
      ...ids(model.generationConfig?.eos_token_id),
      ...(model.generationConfig?.eos_token_id === undefined
        ? [...ids(config.eos_token_id), ...ids(textConfig.eos_token_id)]
        : []),
    ]),
  ];

  const hiddenSize = num(textConfig.hidden_size);
  const numLayers = num(textConfig.num_hidden_layers);
  const numHeads = num(textConfig.num_attention_heads);
  if (!hiddenSize || !numLayers || !numHeads)
    throw invalid(dir, 'config.json text_config lacks hidden_size, num_hidden_layers or num_attention_heads');
  const decoder: DecoderSpec = {
    numLayers,
    numKeyValueHeads: num(textConfig.num_key_value_heads) ?? numHeads,
    headDim: num(textConfig.head_dim) ?? hiddenSize / numHeads,
    hiddenSize,
    vocabSize: num(textConfig.vocab_size),
  };
  const contextLength =
    num(textConfig.max_position_embeddings) ??
    num(config.max_position_embeddings) ??
    num(model.tokenizerConfig.model_max_length);
  if (!contextLength || contextLength > 1e7)
    throw invalid(dir, 'config.json gives no max_position_embeddings (the context length)');

  return {
    modelType,
    imageTokenId,
    imageToken: typeof processor.image_token === 'string' ? processor.image_token : undefined,
    patchSize,
    numAdditionalImageTokens,
    featureSelectStrategy,
    imageTokensPerImage,
    eosTokenIds,
    contextLength,
    image,
    decoder,
  };
}
