import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { ImagePart } from '../messages.js';

/** bench/images: the timed picture, the phone photo, and PIL's preprocessing of each. */
export const benchImagesDir = fileURLToPath(new URL('../../bench/images/', import.meta.url));
/** the timed picture: the SVG below rendered once at 672×504 by sharp, committed so PIL can read it */
export const picturePath = join(benchImagesDir, 'picture-672x504.png');
/** a photo-like 12-megapixel JPEG, as phones upload them */
export const phonePhotoPath = join(benchImagesDir, 'phone-4032x3024.jpg');

/**
 * The benchmark's fixed picture: a red circle and a blue square on cream, 672×504, so both sides
 * downscale it.
 */
const picture = (
  width: number,
  height: number,
) => `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"
  viewBox="0 0 672 504" preserveAspectRatio="none">
  <rect width="672" height="504" fill="#f4f1e8"/>
  <circle cx="250" cy="250" r="120" fill="#d22"/>
  <rect x="420" y="150" width="160" height="200" fill="#25c"/>
</svg>`;

const mediaTypes: Record<string, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
};

/**
 * The model's input size from its `preprocessor_config.json` (the crop, else the resize target;
 * 336×336 for CLIP-336): the built-in picture at this size is resized by neither side, so both
 * must feed identical pixels and the token ids can be compared exactly.
 */
export async function paritySizeOf(dir: string): Promise<[number, number]> {
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(await readFile(join(dir, 'preprocessor_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
  } catch {
    // the default below
  }
  const pick = (value: unknown): [number, number] | undefined => {
    if (typeof value === 'number') return [value, value];
    if (typeof value !== 'object' || value === null) return undefined;
    const size = value as Record<string, unknown>;
    if (typeof size.width === 'number' && typeof size.height === 'number') return [size.width, size.height];
    if (typeof size.shortest_edge === 'number') return [size.shortest_edge, size.shortest_edge];
    return undefined;
  };
  return (
    (config.do_center_crop !== false ? pick(config.crop_size) : undefined) ?? pick(config.size) ?? [336, 336]
  );
}

/**
 * The image both sides get, as Glimpse's ImagePart: a file, or the built-in picture at `size`
 * (default 672×504: the committed picture-672x504.png).
 */
export async function benchImage(path?: string, size: [number, number] = [672, 504]): Promise<ImagePart> {
  const file = path ?? (size[0] === 672 && size[1] === 504 ? picturePath : undefined);
  const bytes = file
    ? new Uint8Array(await readFile(file))
    : new Uint8Array(
        await sharp(Buffer.from(picture(...size)))
          .png()
          .toBuffer(),
      );
  const metadata = await sharp(bytes).metadata();
  return {
    type: 'image',
    mediaType: mediaTypes[metadata.format ?? ''] ?? 'application/octet-stream',
    bytes,
    width: metadata.width ?? 0,
    height: metadata.height ?? 0,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    name: file ? basename(file) : 'bench.png',
  };
}
