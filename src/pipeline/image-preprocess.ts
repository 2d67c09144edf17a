import sharp from 'sharp';
import { GlimpseError } from '../errors.js';
import type { ImageProcessorSpec } from './model-spec.js';
import { pilBicubicResize, type ResizeWindow } from './pil-bicubic-resize.js';

/** `crop`: CLIP's shortest-edge resize + centre crop. `pad`: LLaVA-1.5's expand-to-square first. */
export type ImageMode = 'crop' | 'pad';

/** An 8-bit RGB image, row-major, interleaved. */
export interface RgbImage {
  data: Buffer;
  width: number;
  height: number;
}

function invalidImage(name: string, error: unknown): GlimpseError {
  return new GlimpseError('glimpse_image_invalid', `image ${name} could not be decoded: ${String(error)}`, {
    cause: error,
    userMessage: `"${name}" is not an image I can read (PNG, JPEG, WebP or GIF).`,
    details: { name },
  });
}

/**
 * Decodes to 8-bit RGB the way HF's `convert_rgb` sees it: EXIF orientation applied, alpha
 * composited over white, grey expanded to three channels.
 */
export async function decodeRgb(bytes: Uint8Array, name = 'image'): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: false, pages: 1 })
      .rotate()
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data, width: info.width, height: info.height };
  } catch (error) {
    throw invalidImage(name, error);
  }
}

/**
 * LLaVA-1.5's `expand2square`: the image centred on a square canvas filled with the mean colour
 * (`int(mean · 255)` per channel), the offset rounded down as PIL's paste does.
 */
export async function expandToSquare(image: RgbImage, mean: readonly number[]): Promise<RgbImage> {
  const side = Math.max(image.width, image.height);
  if (image.width === image.height) return image;
  const [r, g, b] = mean.map((value) => Math.trunc(value * 255)) as [number, number, number];
  const left = Math.floor((side - image.width) / 2);
  const top = Math.floor((side - image.height) / 2);
  const data = Buffer.alloc(side * side * 3);
  for (let i = 0; i < side * side; i++) {
    data[i * 3] = r;
    data[i * 3 + 1] = g;
    data[i * 3 + 2] = b;
  }
  for (let y = 0; y < image.height; y++) {
    image.data.copy(data, ((y + top) * side + left) * 3, y * image.width * 3, (y + 1) * image.width * 3);
  }
  return { data, width: side, height: side };
}

/**
 * PIL's BICUBIC resize (HF's default `resample=3`), bit for bit, in both directions: an exact
 * port of Pillow's resampler (`pil-bicubic-resize.ts`). sharp's `cubic` kernel is close on a
 * downscale but up to 8 levels off on photo-like scenes, enough to change a LLaVA's greedy answer
 * (design.md); `window` computes only part of the result (a centre crop's).
 */
export function resizeBicubic(
  image: RgbImage,
  width: number,
  height: number,
  window?: ResizeWindow,
): RgbImage {
  const full = !window || (window.width === width && window.height === height);
  if (image.width === width && image.height === height && full) return image;
  const data = pilBicubicResize(image.data, image.width, image.height, width, height, window);
  const out = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return window ? { data: out, width: window.width, height: window.height } : { data: out, width, height };
}

/** HF's `get_resize_output_image_size(default_to_square=False)`: the short side becomes `edge`. */
export function shortestEdgeSize(
  width: number,
  height: number,
  edge: number,
): { width: number; height: number } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.trunc((edge * long) / short);
  return width <= height ? { width: edge, height: newLong } : { width: newLong, height: edge };
}

/**
 * HF's `center_crop`: offsets `int((size - crop) / 2)`; where the image is smaller than the crop
 * the rest is zero-filled, as HF pads it.
 */
export function centerCrop(image: RgbImage, width: number, height: number): RgbImage {
  if (image.width === width && image.height === height) return image;
  const top = Math.trunc((image.height - height) / 2);
  const left = Math.trunc((image.width - width) / 2);
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= image.height) continue;
    for (let x = 0; x < width; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= image.width) continue;
      const from = (sy * image.width + sx) * 3;
      const to = (y * width + x) * 3;
      data[to] = image.data[from]!;
      data[to + 1] = image.data[from + 1]!;
      data[to + 2] = image.data[from + 2]!;
    }
  }
  return { data, width, height };
}

/**
 * The float32 value of each 8-bit level in one channel, with HF's arithmetic: `rescale` multiplies
 * in float64 and casts to float32; `normalize` subtracts and divides in float32 (mean and std cast
 * to float32 first). Computing `(v · rescale − mean) / std` in float64 and rounding once is up to
 * one float32 step off on some levels.
 */
function channelTable(spec: ImageProcessorSpec, channel: number): Float32Array {
  const f = Math.fround;
  const table = new Float32Array(256);
  const mean = f(spec.imageMean[channel]!);
  const std = f(spec.imageStd[channel]!);
  for (let level = 0; level < 256; level++) {
    // float32 ∘ float64 op of float32 operands is the correctly rounded float32 op
    let value = spec.doRescale ? f(level * spec.rescaleFactor) : level;
    if (spec.doNormalize) value = f(f(value - mean) / std);
    table[level] = value;
  }
  return table;
}

/** Rescale and normalise into CHW float32: `(v · rescale − mean) / std` per channel, as HF computes it. */
export function toChwFloat32(image: RgbImage, spec: ImageProcessorSpec): Float32Array {
  const plane = image.width * image.height;
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const table = channelTable(spec, c);
    for (let i = 0; i < plane; i++) out[c * plane + i] = table[image.data[i * 3 + c]!]!;
  }
  return out;
}

/** A shortest-edge resize of a very thin image would be enormous (1×1000 → 336×336000): refused. */
const maxResizedPixels = 32_000_000;

/**
 * `pad` puts the image on a square canvas of its longer side: a 40-megapixel panorama would need a
 * canvas of gigabytes. Above this side it is shrunk first (a downscale before a downscale).
 */
export const maxPadSide = 4096;

/** The 8-bit image just before rescale/normalise (what the vision tower sees), for tests and tools. */
export async function preprocessToRgb(
  bytes: Uint8Array,
  spec: ImageProcessorSpec,
  mode: ImageMode = 'crop',
  name = 'image',
): Promise<RgbImage> {
  let image = await decodeRgb(bytes, name);
  if (mode === 'pad') {
    const side = Math.max(image.width, image.height);
    if (side > maxPadSide) {
      const scale = maxPadSide / side;
      image = await resizeBicubic(
        image,
        Math.max(1, Math.round(image.width * scale)),
        Math.max(1, Math.round(image.height * scale)),
      );
    }
    image = await expandToSquare(image, spec.imageMean);
  }
  if (spec.doResize) {
    const target = spec.shortestEdge
      ? shortestEdgeSize(image.width, image.height, spec.shortestEdge)
      : spec.resizeTo!;
    if (target.width * target.height > maxResizedPixels) {
      throw new GlimpseError(
        'glimpse_image_invalid',
        `image ${name} (${image.width}×${image.height}) is too thin`,
        {
          userMessage: `"${name}" is too long and thin to read (${image.width}×${image.height}); crop it or use a wider image.`,
          details: { name, width: image.width, height: image.height },
        },
      );
    }
    const crop = spec.doCenterCrop ? spec.cropSize : undefined;
    if (crop && crop.width <= target.width && crop.height <= target.height) {
      // resize and centre crop in one: only the kept pixels are computed (the same bits)
      const window = {
        left: Math.trunc((target.width - crop.width) / 2),
        top: Math.trunc((target.height - crop.height) / 2),
        width: crop.width,
        height: crop.height,
      };
      image = resizeBicubic(image, target.width, target.height, window);
    } else {
      image = resizeBicubic(image, target.width, target.height);
      if (crop) image = centerCrop(image, crop.width, crop.height);
    }
  } else if (spec.doCenterCrop) {
    image = centerCrop(image, spec.cropSize.width, spec.cropSize.height);
  }
  if (image.width !== spec.outputSize.width || image.height !== spec.outputSize.height) {
    image = resizeBicubic(image, spec.outputSize.width, spec.outputSize.height);
  }
  return image;
}

/**
 * CLIPImageProcessor in sharp: EXIF orientation, RGB, shortest-edge bicubic resize, centre crop,
 * rescale, normalise → `pixel_values` for one image, CHW float32 (`3 × H × W`).
 */
export async function preprocessImage(
  bytes: Uint8Array,
  spec: ImageProcessorSpec,
  mode: ImageMode = 'crop',
  name = 'image',
): Promise<Float32Array> {
  return toChwFloat32(await preprocessToRgb(bytes, spec, mode, name), spec);
}
