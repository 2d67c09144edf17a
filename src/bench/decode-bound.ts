import { existsSync, statSync } from 'node:fs';
import { readModelDirectory } from '../pipeline/model-directory.js';
import { modelSpecOf } from '../pipeline/model-spec.js';

/**
 * What limits decoding on this machine: every generated token reads all the decoder's weights
 * (and the KV cache) from memory once, so tokens/s cannot exceed bandwidth ÷ bytes per token.
 */
export interface DecodeBound {
  /** the decoder graph's bytes (its weights, plus a few KB of graph) */
  weightBytes: number;
  /** the KV cache read per token at the mean context of the timed first turn */
  kvBytes: number;
  /** measured: the best of several 256 MiB copies, bytes read + written per second */
  bandwidthBytesPerSecond: number;
  /** bandwidth ÷ weight bytes */
  tokensPerSecond: number;
}

/** Copy bandwidth: `Uint8Array.set` of 256 MiB is a memcpy; reads + writes over the best time. */
export function measureBandwidth(mebibytes = 256, tries = 5): number {
  const size = mebibytes * 1024 * 1024;
  const from = new Uint8Array(size).fill(1);
  const to = new Uint8Array(size);
  to.set(from); // fault the pages in before timing
  let best = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < tries; attempt++) {
    const started = performance.now();
    to.set(from);
    best = Math.min(best, performance.now() - started);
  }
  return (2 * size) / (best / 1000);
}

/** The decoder's bytes per token for `dir` at `precision`, and the bound at `bandwidth`. */
export async function decodeBound(
  dir: string,
  precision: string,
  context: number,
  bandwidthBytesPerSecond: number,
): Promise<DecodeBound> {
  const files = await readModelDirectory(dir, precision);
  const path = files.onnx.decoder;
  const external = [`${path}_data`, `${path}.data`].filter((file) => existsSync(file));
  const weightBytes = statSync(path).size + external.reduce((sum, file) => sum + statSync(file).size, 0);
  const { decoder } = modelSpecOf(files);
  const element = /fp16|f16/.test(precision) ? 2 : 4;
  const kvBytes = 2 * decoder.numLayers * decoder.numKeyValueHeads * decoder.headDim * element * context;
  return {
    weightBytes,
    kvBytes,
    bandwidthBytesPerSecond,
    tokensPerSecond: bandwidthBytesPerSecond / weightBytes,
  };
}
