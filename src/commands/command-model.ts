import { readFile } from 'node:fs/promises';
import type { Config } from '../config.js';
import { ingestImage } from '../ingest/image-ingest.js';
import type { ImagePart } from '../messages.js';
import { UsageError } from './command.js';

/**
 * What the model commands (`ask`, `caption`, `label`) share: `--model <dir>` over the configured
 * model directory, and image files read through the same ingest checks as uploads.
 */
export function withModelDir(config: Config, dir: string | undefined): Config {
  if (!dir) return config;
  if (config.model.provider !== 'onnx') throw new UsageError('--model needs GLIMPSE_MODEL_PROVIDER=onnx');
  return { ...config, model: { ...config.model, dir } };
}

export async function readImageFile(path: string, config: Config): Promise<ImagePart> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new UsageError(`cannot read image '${path}': ${(error as Error).message}`);
  }
  return ingestImage(new Uint8Array(bytes), path, config.images);
}
