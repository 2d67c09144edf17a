import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { isGlimpseError } from '../../src/errors.js';
import {
  centerCrop,
  decodeRgb,
  expandToSquare,
  preprocessImage,
  preprocessToRgb,
  type RgbImage,
  shortestEdgeSize,
  toChwFloat32,
} from '../../src/pipeline/image-preprocess.js';
import { readModelDirectory } from '../../src/pipeline/model-directory.js';
import { type ImageProcessorSpec, modelSpecOf } from '../../src/pipeline/model-spec.js';
import { fixtureDir } from './helpers/fixture.js';

let spec: ImageProcessorSpec;
beforeAll(async () => {
  spec = modelSpecOf(await readModelDirectory(fixtureDir)).image;
});

const solid = (
  width: number,
  height: number,
  rgb: [number, number, number],
  channels: 3 | 4 = 3,
  alpha = 1,
) => sharp({ create: { width, height, channels, background: { r: rgb[0], g: rgb[1], b: rgb[2], alpha } } });

describe('decodeRgb', () => {
  it('applies the EXIF orientation (6: rotate 90°) before anything else', async () => {
    const jpeg = await solid(40, 20, [10, 200, 30]).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const image = await decodeRgb(new Uint8Array(jpeg));
    expect([image.width, image.height]).toEqual([20, 40]);
  });

  it('composites transparency over white and expands grey to RGB, as HF convert_rgb', async () => {
    const transparent = await solid(4, 4, [0, 0, 0], 4, 0).png().toBuffer();
    const decoded = await decodeRgb(new Uint8Array(transparent));
    expect([...decoded.data.subarray(0, 3)]).toEqual([255, 255, 255]);
    const grey = await solid(4, 4, [90, 90, 90]).toColourspace('b-w').png().toBuffer();
    const greyDecoded = await decodeRgb(new Uint8Array(grey));
    expect(greyDecoded.data.length).toBe(4 * 4 * 3);
    expect([...greyDecoded.data.subarray(0, 3)]).toEqual([90, 90, 90]);
  });

  it('a corrupt image is a typed glimpse_image_invalid error', async () => {
    const error = await decodeRgb(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), 'broken.png').catch(
      (caught: unknown) => caught,
    );
    expect(isGlimpseError(error, 'glimpse_image_invalid')).toBe(true);
    expect((error as { userMessage: string }).userMessage).toContain('broken.png');
  });
});

describe('CLIP geometry', () => {
  it('shortest edge: the short side becomes the edge, the long one truncated as HF does', () => {
    expect(shortestEdgeSize(640, 480, 336)).toEqual({ width: 448, height: 336 });
    expect(shortestEdgeSize(300, 500, 336)).toEqual({ width: 336, height: 560 });
    expect(shortestEdgeSize(1000, 333, 336)).toEqual({ width: 1009, height: 336 });
  });

  it('centre crop takes int((size − crop) / 2) from each side', () => {
    const width = 10;
    const data = Buffer.alloc(width * 4 * 3);
    for (let x = 0; x < width; x++) for (let y = 0; y < 4; y++) data[(y * width + x) * 3] = x;
    const cropped = centerCrop({ data, width, height: 4 }, 5, 4);
    expect([0, 1, 2, 3, 4].map((x) => cropped.data[x * 3])).toEqual([2, 3, 4, 5, 6]);
  });

  it('pad mode: a square canvas in the mean colour, the image centred', async () => {
    const image: RgbImage = { data: Buffer.alloc(8 * 4 * 3, 255), width: 8, height: 4 };
    const square = await expandToSquare(image, spec.imageMean);
    expect([square.width, square.height]).toEqual([8, 8]);
    // int(0.48145466·255) = 122, int(0.4578275·255) = 116, int(0.40821073·255) = 104
    expect([...square.data.subarray(0, 3)]).toEqual([122, 116, 104]);
    expect([...square.data.subarray((2 * 8 + 3) * 3, (2 * 8 + 3) * 3 + 3)]).toEqual([255, 255, 255]);
    expect([...square.data.subarray((6 * 8 + 3) * 3, (6 * 8 + 3) * 3 + 3)]).toEqual([122, 116, 104]);
  });
});

describe('preprocessImage', () => {
  it('rescales and normalises into CHW float32', () => {
    const image: RgbImage = { data: Buffer.from([255, 0, 128]), width: 1, height: 1 };
    const values = toChwFloat32(image, spec);
    expect(values[0]).toBeCloseTo((1 - 0.48145466) / 0.26862954, 5);
    expect(values[1]).toBeCloseTo((0 - 0.4578275) / 0.26130258, 5);
    expect(values[2]).toBeCloseTo((128 / 255 - 0.40821073) / 0.27577711, 5);
  });

  it('makes pixel_values of the size the files give, whatever the input size', async () => {
    const wide = await solid(500, 200, [200, 30, 30]).png().toBuffer();
    const values = await preprocessImage(new Uint8Array(wide), spec);
    expect(values.length).toBe(3 * 336 * 336);
    const small = {
      ...spec,
      shortestEdge: 128,
      cropSize: { height: 128, width: 128 },
      outputSize: { height: 128, width: 128 },
    };
    expect((await preprocessImage(new Uint8Array(wide), small)).length).toBe(3 * 128 * 128);
  });

  it('refuses an image so thin that its shortest-edge resize would be enormous', async () => {
    const thin = await solid(1, 2000, [0, 0, 0]).png().toBuffer();
    const error = await preprocessImage(new Uint8Array(thin), spec, 'crop', 'thin.png').catch(
      (caught: unknown) => caught,
    );
    expect(isGlimpseError(error, 'glimpse_image_invalid')).toBe(true);
    // pad mode squares it first, so it works
    expect((await preprocessImage(new Uint8Array(thin), spec, 'pad')).length).toBe(3 * 336 * 336);
  });

  it('crop cuts the sides of a wide diagram; pad keeps them', async () => {
    // a wide image: white with black bars at the far left and right
    const bars = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="200"><rect width="600" height="200" fill="white"/><rect width="40" height="200" fill="black"/><rect x="560" width="40" height="200" fill="black"/></svg>`,
    );
    const png = new Uint8Array(await sharp(bars).png().toBuffer());
    const cropped = await preprocessToRgb(png, spec, 'crop');
    const padded = await preprocessToRgb(png, spec, 'pad');
    const darkAt = (image: RgbImage, x: number, y: number) => image.data[(y * image.width + x) * 3]! < 64;
    expect(darkAt(cropped, 2, 168)).toBe(false);
    expect(darkAt(padded, 2, 168)).toBe(true);
    expect(darkAt(padded, 333, 168)).toBe(true);
    // the pad above the image is the mean colour
    expect([...padded.data.subarray(0, 3)]).toEqual([122, 116, 104]);
  });
});
