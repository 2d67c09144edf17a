import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AutoImageProcessor, env, RawImage } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  centerCrop,
  decodeRgb,
  preprocessImage,
  type RgbImage,
  resizeBicubic,
  toChwFloat32,
} from '../../src/pipeline/image-preprocess.js';
import { readModelDirectory } from '../../src/pipeline/model-directory.js';
import { type ImageProcessorSpec, modelSpecOf } from '../../src/pipeline/model-spec.js';
import { pilBicubicResize } from '../../src/pipeline/pil-bicubic-resize.js';
import { fixtureDir } from './helpers/fixture.js';

/**
 * Where Glimpse deliberately differs from transformers.js: the resize. HF's CLIPImageProcessor
 * resizes with PIL's BICUBIC, a convolution whose kernel widens with the downscale factor (a
 * low-pass). transformers.js 4.3.1 maps `resample: 3` to sharp's `affine` with a bicubic
 * interpolator, which samples the source at each output point without widening: thin lines that
 * fall between samples fade or vanish (aliasing) — fatal for diagrams. Glimpse uses sharp's
 * `resize(kernel: 'cubic')` for downscales (PIL's kernel) and an exact port of PIL's resampler for
 * enlargements. References: PIL 9.4 outputs committed in test/fixtures/resize-reference
 * (make_reference.py regenerates them; the tests need no Python).
 */
const referenceDir = 'test/fixtures/resize-reference';

async function png(name: string): Promise<RgbImage> {
  return decodeRgb(new Uint8Array(await readFile(join(referenceDir, name))));
}

async function transformersJsResize(image: RgbImage, width: number, height: number): Promise<Uint8Array> {
  const raw = new RawImage(new Uint8ClampedArray(image.data), image.width, image.height, 3);
  const resized = await raw.resize(width, height, { resample: 3 }); // 3 = PIL BICUBIC, HF's default
  return new Uint8Array(resized.data);
}

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/** White, 1 px black vertical lines every `every` px: a worst case for aliasing. */
function thinLines(width: number, height: number, every: number): RgbImage {
  const data = Buffer.alloc(width * height * 3, 255);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x += every) data.fill(0, (y * width + x) * 3, (y * width + x) * 3 + 3);
  return { data, width, height };
}

/** Darkness of each source line after a resize by `scale`: summed over ±3 output columns on row 10. */
function lineEnergies(data: ArrayLike<number>, width: number, sourceWidth: number, every: number): number[] {
  const scale = width / sourceWidth;
  const energies: number[] = [];
  for (let x = every; x < sourceWidth - every; x += every) {
    const center = Math.round((x + 0.5) * scale - 0.5);
    let energy = 0;
    for (let dx = -3; dx <= 3; dx++) energy += 255 - data[(10 * width + center + dx) * 3]!;
    energies.push(energy);
  }
  return energies;
}

let spec: ImageProcessorSpec;
beforeAll(async () => {
  env.allowRemoteModels = false;
  spec = modelSpecOf(await readModelDirectory(fixtureDir)).image;
});

describe('resize kernel: ours vs transformers.js, against PIL', () => {
  it('downscale of a thin-line diagram (700×500 → 470×336): ours is close to PIL, the affine resize is not', async () => {
    const source = await png('down-source.png');
    const pil = await png('down-pil-bicubic.png');
    const ours = await resizeBicubic(source, pil.width, pil.height);
    const theirs = await transformersJsResize(source, pil.width, pil.height);
    const ourError = meanAbsDiff(ours.data, pil.data);
    const theirError = meanAbsDiff(theirs, pil.data);
    expect(ourError).toBeLessThan(0.5); // levels out of 255
    expect(theirError).toBeGreaterThan(10 * ourError);
  });

  it('every thin line keeps its energy with ours; the affine resize drops some (aliasing)', async () => {
    const lines = thinLines(700, 40, 7);
    const ours = await resizeBicubic(lines, 470, 27);
    const theirs = await transformersJsResize(lines, 470, 27);
    const spread = (energies: number[]) => Math.min(...energies) / Math.max(...energies);
    const ourEnergies = lineEnergies(ours.data, 470, 700, 7);
    const theirEnergies = lineEnergies(theirs, 470, 700, 7);
    // a low-pass spreads each line over neighbouring columns but keeps its total
    expect(spread(ourEnergies)).toBeGreaterThan(0.8);
    expect(spread(theirEnergies)).toBeLessThan(spread(ourEnergies));
    // and the total ink is conserved (≈ 255 · scale per line) with ours
    const expected = 255 * (470 / 700);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(Math.abs(mean(ourEnergies) - expected) / expected).toBeLessThan(0.1);
  });

  it('enlargement (120×90 → 448×336): our PIL port is bit-exact where sharp cubic is not', async () => {
    const source = await png('up-source.png');
    const pil = await png('up-pil-bicubic.png');
    expect(await resizeBicubic(source, pil.width, pil.height)).toMatchObject({ width: 448, height: 336 });
    expect(Buffer.compare((await resizeBicubic(source, 448, 336)).data, pil.data)).toBe(0);
    // the port is exact on the downscale too; sharp is used there for speed (a fraction of a level)
    const down = await png('down-source.png');
    const downPil = await png('down-pil-bicubic.png');
    expect(meanAbsDiff(pilBicubicResize(down.data, 700, 500, 470, 336), downPil.data)).toBe(0);
  });

  it("whole preprocessing: our pixel_values are closer than transformers.js's CLIPImageProcessor to HF's", async () => {
    const bytes = new Uint8Array(await readFile(join(referenceDir, 'down-source.png')));
    // HF: PIL bicubic (the committed reference), centre crop, rescale, normalise
    const hf = toChwFloat32(centerCrop(await png('down-pil-bicubic.png'), 336, 336), spec);
    const ours = await preprocessImage(bytes, spec);
    const processor = await AutoImageProcessor.from_pretrained(fixtureDir, { local_files_only: true });
    const { pixel_values } = await processor(await RawImage.fromBlob(new Blob([bytes])));
    const theirs = pixel_values.data as Float32Array;
    expect(theirs.length).toBe(ours.length);
    const ourError = meanAbsDiff(ours, hf);
    const theirError = meanAbsDiff(theirs, hf);
    expect(ourError).toBeLessThan(0.01);
    expect(theirError).toBeGreaterThan(10 * ourError);
  });
});
