import { readdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { GlimpseError } from '../errors.js';

/** A parsed JSON object from a model directory; fields are read and checked in `model-spec.ts`. */
export type JsonObject = Record<string, unknown>;

/** The three ONNX graphs of the standard LLaVA layout (design.md), at one precision. */
export interface OnnxGraphPaths {
  visionEncoder: string;
  embedTokens: string;
  decoder: string;
}

/** Everything read from a model directory, before interpretation. */
export interface ModelDirectory {
  dir: string;
  name: string;
  config: JsonObject;
  generationConfig: JsonObject | undefined;
  preprocessorConfig: JsonObject;
  processorConfig: JsonObject | undefined;
  tokenizerJson: JsonObject;
  tokenizerConfig: JsonObject;
  specialTokensMap: JsonObject | undefined;
  /** from `chat_template.jinja`, `chat_template.json`, or `tokenizer_config.json`, in that order */
  chatTemplate: string | undefined;
  onnx: OnnxGraphPaths;
  precision: string;
}

/**
 * File suffix per precision, as transformers.js names them (`decoder_model_merged_q4.onnx`).
 * `quantized` and `q8` both mean the `_quantized` files of the onnx-community exports.
 */
const precisionSuffix: Record<string, string> = {
  fp32: '',
  fp16: '_fp16',
  q4: '_q4',
  q4f16: '_q4f16',
  q8: '_quantized',
  quantized: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  bnb4: '_bnb4',
};

export const supportedPrecisions = Object.keys(precisionSuffix);

export function onnxFileName(graph: string, precision: string): string {
  const suffix = precisionSuffix[precision];
  if (suffix === undefined) {
    throw new GlimpseError(
      'glimpse_model_invalid',
      `unknown precision '${precision}' (expected one of ${supportedPrecisions.join(', ')})`,
    );
  }
  return `onnx/${graph}${suffix}.onnx`;
}

/** the JSON files a model directory must hold, and those read when present */
export const requiredJson = [
  'config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
];
export const optionalJson = ['generation_config.json', 'processor_config.json', 'special_tokens_map.json'];

async function listFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const sub of ['', 'onnx']) {
    try {
      const entries = await readdir(join(dir, sub), { withFileTypes: true });
      for (const entry of entries) if (entry.isFile()) found.push(sub ? `${sub}/${entry.name}` : entry.name);
    } catch {
      // a missing directory is reported through the missing files
    }
  }
  return found.sort();
}

async function readJson(dir: string, file: string): Promise<JsonObject> {
  const text = await readFile(join(dir, file), 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new GlimpseError(
      'glimpse_model_invalid',
      `${join(dir, file)} is not valid JSON: ${String(error)}`,
      {
        cause: error,
        userMessage: 'The model files are damaged.',
      },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GlimpseError('glimpse_model_invalid', `${join(dir, file)} must hold a JSON object`, {
      userMessage: 'The model files are damaged.',
    });
  }
  return value as JsonObject;
}

function chatTemplateFrom(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  // tokenizer_config may hold a list of named templates: use `default`, else the first
  if (Array.isArray(value)) {
    const named = value as { name?: unknown; template?: unknown }[];
    const chosen = named.find((item) => item.name === 'default') ?? named[0];
    return typeof chosen?.template === 'string' ? chosen.template : undefined;
  }
  return undefined;
}

/**
 * Reads a model directory in the standard LLaVA ONNX layout. Every missing file is reported in
 * one `glimpse_model_missing_file` error that also lists what the directory does hold.
 */
export async function readModelDirectory(dir: string, precision = 'fp32'): Promise<ModelDirectory> {
  const root = resolve(dir);
  const onnx: OnnxGraphPaths = {
    visionEncoder: onnxFileName('vision_encoder', precision),
    embedTokens: onnxFileName('embed_tokens', precision),
    decoder: onnxFileName('decoder_model_merged', precision),
  };
  const present = await listFiles(root);
  const missing = [...requiredJson, ...Object.values(onnx)].filter((file) => !present.includes(file));
  if (missing.length > 0) {
    const holds = present.length > 0 ? present.join(', ') : 'nothing (or it does not exist)';
    throw new GlimpseError(
      'glimpse_model_missing_file',
      `model directory ${root} is missing ${missing.join(', ')} (precision ${precision}); it holds: ${holds}`,
      {
        userMessage: 'The model is not installed correctly.',
        details: { dir: root, precision, missing, present },
      },
    );
  }
  const [config, preprocessorConfig, tokenizerJson, tokenizerConfig] = await Promise.all(
    requiredJson.map((file) => readJson(root, file)),
  );
  const [generationConfig, processorConfig, specialTokensMap] = await Promise.all(
    optionalJson.map((file) => (present.includes(file) ? readJson(root, file) : Promise.resolve(undefined))),
  );
  let chatTemplate: string | undefined;
  if (present.includes('chat_template.jinja')) {
    chatTemplate = await readFile(join(root, 'chat_template.jinja'), 'utf8');
  } else if (present.includes('chat_template.json')) {
    chatTemplate = chatTemplateFrom((await readJson(root, 'chat_template.json')).chat_template);
  }
  chatTemplate ??=
    chatTemplateFrom(tokenizerConfig!.chat_template) ?? chatTemplateFrom(processorConfig?.chat_template);
  return {
    dir: root,
    name: basename(root),
    config: config!,
    generationConfig,
    preprocessorConfig: preprocessorConfig!,
    processorConfig,
    tokenizerJson: tokenizerJson!,
    tokenizerConfig: tokenizerConfig!,
    specialTokensMap,
    chatTemplate,
    onnx: {
      visionEncoder: join(root, onnx.visionEncoder),
      embedTokens: join(root, onnx.embedTokens),
      decoder: join(root, onnx.decoder),
    },
    precision,
  };
}
