import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AutoImageProcessor, env, RawImage } from '@huggingface/transformers';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  centerCrop,
  decodeRgb,
  preprocessImage,
  preprocessToRgb,
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
 * fall between samples fade or vanish (aliasing) — fatal for diagrams. Glimpse resizes with an
 * exact port of PIL's resampler, enlargements and reductions alike (sharp's `cubic` kernel is
 * levels off on both). References: PIL 9.4 outputs committed in test/fixtures/resize-reference
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
  it('downscale of a thin-line diagram (700×500 → 470×336): ours is PIL bit for bit, the affine resize is not', async () => {
    const source = await png('down-source.png');
    const pil = await png('down-pil-bicubic.png');
    const ours = resizeBicubic(source, pil.width, pil.height);
    const theirs = await transformersJsResize(source, pil.width, pil.height);
    expect(Buffer.compare(ours.data, pil.data)).toBe(0);
    expect(meanAbsDiff(theirs, pil.data)).toBeGreaterThan(1); // levels out of 255
  });

  it("a JPEG photo (1024×768) decoded, downscaled and centre-cropped as HF's CLIPImageProcessor: PIL's pixels exactly", async () => {
    // reference: PIL decodes the JPEG, resizes the short side to 336 (BICUBIC), crops 336×336
    const bytes = new Uint8Array(await readFile(join(referenceDir, 'photo-source.jpg')));
    const pil = await png('photo-pil-clip336.png');
    const ours = await preprocessToRgb(bytes, spec);
    expect(ours).toMatchObject({ width: 336, height: 336 });
    expect(Buffer.compare(ours.data, pil.data)).toBe(0);
  });

  it('a window of the resize is the same bits as the full resize cropped', () => {
    const source = thinLines(301, 203, 5);
    for (let i = 0; i < source.data.length; i++) source.data[i] = (source.data[i]! + i * 37) % 256;
    for (const [width, height] of [
      [120, 90],
      [301, 97],
      [80, 203],
      [640, 410],
    ] as const) {
      const full = resizeBicubic(source, width, height);
      const window = {
        left: Math.trunc(width / 5),
        top: Math.trunc(height / 3),
        width: Math.trunc(width / 2),
        height: Math.trunc(height / 2),
      };
      const part = resizeBicubic(source, width, height, window);
      const cropped = Buffer.alloc(window.width * window.height * 3);
      for (let y = 0; y < window.height; y++)
        full.data.copy(
          cropped,
          y * window.width * 3,
          ((y + window.top) * width + window.left) * 3,
          ((y + window.top) * width + window.left + window.width) * 3,
        );
      expect(Buffer.compare(part.data, cropped)).toBe(0);
    }
  });

  it('every thin line keeps its energy with ours; the affine resize drops some (aliasing)', async () => {
    const lines = thinLines(700, 40, 7);
    const ours = resizeBicubic(lines, 470, 27);
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
    expect(resizeBicubic(source, pil.width, pil.height)).toMatchObject({ width: 448, height: 336 });
    expect(Buffer.compare(resizeBicubic(source, 448, 336).data, pil.data)).toBe(0);
    expect(meanAbsDiff(pilBicubicResize(source.data, 120, 90, 448, 336), pil.data)).toBe(0);
    // sharp's cubic kernel, for comparison: levels off on both
    const viaSharp = await sharp(source.data, { raw: { width: 120, height: 90, channels: 3 } })
      .resize(448, 336, { kernel: 'cubic', fit: 'fill' })
      .raw()
      .toBuffer();
    expect(meanAbsDiff(viaSharp, pil.data)).toBeGreaterThan(1);
    const photo = await png('photo-pil-clip336.png');
    const decoded = await decodeRgb(new Uint8Array(await readFile(join(referenceDir, 'photo-source.jpg'))));
    const sharpDown = await sharp(decoded.data, { raw: { width: 1024, height: 768, channels: 3 } })
      .resize(448, 336, { kernel: 'cubic', fit: 'fill' })
      .extract({ left: 56, top: 0, width: 336, height: 336 })
      .raw()
      .toBuffer();
    expect(Buffer.compare(sharpDown, photo.data)).not.toBe(0);
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
    expect(ourError).toBe(0);
    expect(theirError).toBeGreaterThan(0.01);
  });
});
