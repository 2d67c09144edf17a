import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { defaultOutDir } from '../../scripts/make-bad-images.mjs';

/** The limits every adapter under test gets (the Discord and Slack harnesses' own). */
export const testLimits = { maxBytes: 1 << 20, maxPixels: 1 << 24 };

export type Outcome =
  /** answered normally: the model got the image, typed from its bytes */
  | { answered: true; mediaType: string; width: number; height: number }
  /** refused before the model: one line matching `message`, a log line with `code` */
  | {
      answered: false;
      code: 'glimpse_image_invalid' | 'glimpse_image_too_large' | 'glimpse_image_unsupported_type';
      message: RegExp;
    };

export interface BadImageCase {
  /** the file name the user uploads (a fixture's, or one made at run time) */
  name: string;
  /** what the platform or the browser declares */
  contentType: string;
  bytes(): Promise<Uint8Array<ArrayBuffer>>;
  expected: Outcome;
}

const fixture = (name: string) => async () => new Uint8Array(await readFile(join(defaultOutDir, name)));

const refused = (code: Extract<Outcome, { answered: false }>['code'], message: RegExp): Outcome => ({
  answered: false,
  code,
  message,
});
const answered = (mediaType: string, width: number, height: number): Outcome => ({
  answered: true,
  mediaType,
  width,
  height,
});

/** a noise PNG just over `testLimits.maxBytes` (made here: over-cap files are not committed) */
async function overByteCap(): Promise<Uint8Array<ArrayBuffer>> {
  const side = 720;
  const raw = Buffer.alloc(side * side * 3);
  let state = 12345;
  for (let i = 0; i < raw.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    raw[i] = state >>> 24;
  }
  const png = await sharp(raw, { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 0, adaptiveFiltering: false })
    .toBuffer();
  if (png.byteLength <= testLimits.maxBytes) throw new Error('the over-cap PNG came out under the cap');
  return new Uint8Array(png);
}

/** a flat PNG of a few KB with more pixels than `testLimits.maxPixels` (4200² > 2²⁴) */
async function overPixelCap(): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(
    await sharp({ create: { width: 4200, height: 4200, channels: 3, background: '#808080' } })
      .png({ compressionLevel: 9 })
      .toBuffer(),
  );
}

/**
 * The bad-image set, one list for every adapter: what is uploaded, what the platform declares,
 * and what the user must get. The reasons are decided here, once (README, "Limits and failure
 * behaviour").
 */
export const badImageCases: BadImageCase[] = [
  {
    name: 'truncated.png',
    contentType: 'image/png',
    bytes: fixture('truncated.png'),
    expected: refused('glimpse_image_invalid', /"truncated\.png" is damaged or incomplete/),
  },
  {
    name: 'truncated.jpg',
    contentType: 'image/jpeg',
    bytes: fixture('truncated.jpg'),
    expected: refused('glimpse_image_invalid', /"truncated\.jpg" is damaged or incomplete/),
  },
  {
    name: 'truncated.gif',
    contentType: 'image/gif',
    bytes: fixture('truncated.gif'),
    expected: refused('glimpse_image_invalid', /"truncated\.gif" is damaged or incomplete/),
  },
  {
    name: 'truncated.webp',
    contentType: 'image/webp',
    bytes: fixture('truncated.webp'),
    expected: refused('glimpse_image_invalid', /"truncated\.webp" is damaged or incomplete/),
  },
  {
    name: 'empty.png',
    contentType: 'image/png',
    bytes: fixture('empty.png'),
    expected: refused('glimpse_image_invalid', /"empty\.png" is empty/),
  },
  {
    name: 'not-an-image.png',
    contentType: 'image/png',
    bytes: fixture('not-an-image.png'),
    expected: refused('glimpse_image_invalid', /"not-an-image\.png" is not an image I can read/),
  },
  {
    name: 'bomb-100000x100000.png',
    contentType: 'image/png',
    bytes: fixture('bomb-100000x100000.png'),
    expected: refused(
      'glimpse_image_too_large',
      /has too many pixels \(100000×100000; the limit is 16\.8 megapixels\)/,
    ),
  },
  {
    name: 'external-ref.svg',
    contentType: 'image/svg+xml',
    bytes: fixture('external-ref.svg'),
    expected: refused(
      'glimpse_image_unsupported_type',
      /"external-ref\.svg" is an SVG drawing, which I can't read/,
    ),
  },
  {
    name: 'tiff-bytes.png',
    contentType: 'image/png',
    bytes: fixture('tiff-bytes.png'),
    expected: refused(
      'glimpse_image_unsupported_type',
      /"tiff-bytes\.png" is a TIFF image, which I can't read/,
    ),
  },
  {
    name: 'pdf-bytes.png',
    contentType: 'image/png',
    bytes: fixture('pdf-bytes.png'),
    expected: refused(
      'glimpse_image_unsupported_type',
      /"pdf-bytes\.png" is a PDF document, which I can't read/,
    ),
  },
  {
    name: 'heic-bytes.jpg',
    contentType: 'image/heic',
    bytes: fixture('heic-bytes.jpg'),
    expected: refused(
      'glimpse_image_unsupported_type',
      /"heic-bytes\.jpg" is a HEIC image, which I can't read/,
    ),
  },
  {
    name: 'too-large.png',
    contentType: 'image/png',
    bytes: overByteCap,
    expected: refused('glimpse_image_too_large', /"too-large\.png" is too large/),
  },
  {
    name: 'too-many-pixels.png',
    contentType: 'image/png',
    bytes: overPixelCap,
    expected: refused('glimpse_image_too_large', /"too-many-pixels\.png" has too many pixels \(4200×4200;/),
  },
  {
    name: 'strip-10000x10.png',
    contentType: 'image/png',
    bytes: fixture('strip-10000x10.png'),
    expected: refused(
      'glimpse_image_invalid',
      /"strip-10000x10\.png" is too long and thin to read \(10000×10\)/,
    ),
  },
  {
    name: 'mislabelled.png',
    contentType: 'application/octet-stream',
    bytes: fixture('mislabelled.png'),
    expected: answered('image/png', 64, 64),
  },
  {
    name: 'jpeg-bytes.png',
    contentType: 'image/png',
    bytes: fixture('jpeg-bytes.png'),
    expected: answered('image/jpeg', 64, 64),
  },
  {
    name: 'animated.gif',
    contentType: 'image/gif',
    bytes: fixture('animated.gif'),
    expected: answered('image/gif', 24, 24),
  },
  {
    name: 'one-pixel.png',
    contentType: 'image/png',
    bytes: fixture('one-pixel.png'),
    expected: answered('image/png', 1, 1),
  },
  {
    name: 'cmyk.jpg',
    contentType: 'image/jpeg',
    bytes: fixture('cmyk.jpg'),
    expected: answered('image/jpeg', 64, 64),
  },
  {
    name: 'sixteen-bit.png',
    contentType: 'image/png',
    bytes: fixture('sixteen-bit.png'),
    expected: answered('image/png', 64, 64),
  },
  {
    name: 'alpha.png',
    contentType: 'image/png',
    bytes: fixture('alpha.png'),
    expected: answered('image/png', 64, 64),
  },
];

/** the status the playground answers a refusal with */
export const webStatus: Record<Extract<Outcome, { answered: false }>['code'], number> = {
  glimpse_image_invalid: 400,
  glimpse_image_too_large: 413,
  glimpse_image_unsupported_type: 415,
};
