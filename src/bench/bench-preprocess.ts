import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ImagePart } from '../messages.js';
import { decodeRgb } from '../pipeline/image-preprocess.js';
import { readModelDirectory } from '../pipeline/model-directory.js';
import type { ImageProcessorSpec } from '../pipeline/model-spec.js';
import { modelSpecOf } from '../pipeline/model-spec.js';
import type { BenchSide, PreprocessResult } from './bench-result.js';

/**
 * The preprocessing part of the bench: each side turns the same image bytes into pixel values,
 * timed, and the values are turned back into 8-bit levels (`(v · std + mean) / rescale`) and
 * compared with what PIL gives (HF's reference): the committed `<image>.pil-clip<N>.png` beside
 * each bench image (bench/images/make_images.py), for CLIP-style geometries (short side N, N×N
 * crop). Other geometries get the time only.
 */
export async function imageSpecOf(dir: string): Promise<ImageProcessorSpec> {
  return modelSpecOf(await readModelDirectory(dir)).image;
}

/** The PIL reference for `path` under `spec`, when one was made. */
export async function pilReference(path: string, spec: ImageProcessorSpec): Promise<Uint8Array | undefined> {
  const edge = spec.shortestEdge;
  const square = spec.outputSize.width === spec.outputSize.height ? spec.outputSize.width : undefined;
  if (!edge || edge !== square || !spec.doCenterCrop) return undefined;
  const reference = join(
    path.slice(0, path.length - basename(path).length),
    `${basename(path).replace(/\.[^.]+$/, '')}.pil-clip${edge}.png`,
  );
  if (!existsSync(reference)) return undefined;
  return (await decodeRgb(new Uint8Array(await readFile(reference)))).data;
}

/** |values turned back into levels − reference| over every value: mean and max. */
export function levelError(
  chw: Float32Array,
  reference: Uint8Array,
  spec: ImageProcessorSpec,
): { mean: number; max: number } {
  const plane = chw.length / 3;
  const scale = spec.doRescale ? spec.rescaleFactor : 1;
  let sum = 0;
  let max = 0;
  for (let c = 0; c < 3; c++) {
    const mean = spec.doNormalize ? spec.imageMean[c]! : 0;
    const std = spec.doNormalize ? spec.imageStd[c]! : 1;
    for (let i = 0; i < plane; i++) {
      const level = (chw[c * plane + i]! * std + mean) / scale;
      const error = Math.abs(level - reference[i * 3 + c]!);
      // float round trips leave ~1e-4 of a level: count it as the level it stands for
      const rounded = error < 1e-3 ? 0 : error;
      sum += rounded;
      if (rounded > max) max = rounded;
    }
  }
  return { mean: sum / chw.length, max };
}

/** `runs` timed preprocessings of each image on one side, and the error against PIL. */
export async function measurePreprocessing(
  side: BenchSide,
  images: { path: string; image: ImagePart }[],
  spec: ImageProcessorSpec,
  runs: number,
): Promise<PreprocessResult[]> {
  const results: PreprocessResult[] = [];
  for (const { path, image } of images) {
    const ms: number[] = [];
    let values: Float32Array = new Float32Array(0);
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      values = await side.preprocess(image);
      ms.push(performance.now() - started);
    }
    const reference = await pilReference(path, spec);
    const error =
      reference && reference.length === values.length ? levelError(values, reference, spec) : undefined;
    results.push({
      image: `${basename(path)} (${image.width}×${image.height} ${image.mediaType.replace('image/', '').toUpperCase()})`,
      ms,
      ...(error ? { meanAbsError: error.mean, maxAbsError: error.max } : {}),
    });
  }
  return results;
}
