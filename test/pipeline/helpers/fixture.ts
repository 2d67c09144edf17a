import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { ImagePart } from '../../../src/messages.js';

export const fixtureDir = resolve('test/fixtures/tiny-llava-random');

export interface FixtureReference {
  prompt: string;
  input_ids_before_image_expansion: number[];
  image_tokens: number;
  greedy_new_tokens: number[];
  greedy_text: string;
}

export function fixtureReference(): FixtureReference {
  return JSON.parse(readFileSync(join(fixtureDir, 'reference.json'), 'utf8')) as FixtureReference;
}

/** reference.json's pixel_values: `((7x + 3y + 11c) mod 17) / 8 − 1`, shape [1, 3, size, size] */
export function referencePixels(size: number): Float32Array {
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        out[c * size * size + y * size + x] = ((7 * x + 3 * y + 11 * c) % 17) / 8 - 1;
  return out;
}

/** A PNG with a few shapes and thin lines (a stand-in for a diagram), as an ImagePart. */
export async function shapesImage(
  width: number,
  height: number,
  name = 'shapes.png',
  hue = 0,
): Promise<ImagePart> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="white"/>
    <circle cx="${width * 0.3}" cy="${height * 0.4}" r="${Math.min(width, height) * 0.2}" fill="hsl(${hue},80%,50%)"/>
    <rect x="${width * 0.55}" y="${height * 0.5}" width="${width * 0.3}" height="${height * 0.3}" fill="hsl(${hue + 120},70%,40%)"/>
    <line x1="0" y1="${height * 0.15}" x2="${width}" y2="${height * 0.9}" stroke="black" stroke-width="1"/>
  </svg>`;
  const bytes = new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
  return imagePart(bytes, width, height, name);
}

export function imagePart(bytes: Uint8Array, width: number, height: number, name: string): ImagePart {
  return { type: 'image', mediaType: 'image/png', bytes, width, height, sha256: name, name };
}
