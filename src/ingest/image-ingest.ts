import { createHash } from 'node:crypto';
import sharp, { type Metadata } from 'sharp';
import { GlimpseError } from '../errors.js';
import type { ImagePart } from '../messages.js';
import { pngDimensions, sniffImage } from './image-sniff.js';

export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
}

const formatToMediaType: Record<string, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
};

export const supportedImageTypes = Object.values(formatToMediaType);

/** The longer side over the shorter one: past it there is nothing a 1:1 vision tower can read. */
export const maxAspectRatio = 100;

const readable = 'PNG, JPEG, WebP or GIF';

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

function formatPixels(pixels: number): string {
  return pixels >= 1_000_000 ? `${+(pixels / 1_000_000).toFixed(1)} megapixels` : `${pixels} pixels`;
}

const invalid = (
  name: string,
  message: string,
  userMessage: string,
  details: Record<string, unknown>,
  cause?: unknown,
) =>
  new GlimpseError('glimpse_image_invalid', message, {
    userMessage,
    details: { name, ...details },
    ...(cause === undefined ? {} : { cause }),
  });

const damaged = (name: string, format: string) =>
  `"${name}" is damaged or incomplete (its ${format.toUpperCase()} data could not be read to the end); please upload it again.`;

function checkPixels(name: string, width: number, height: number, limits: ImageLimits): void {
  if (width * height > limits.maxPixels || width === 0 || height === 0) {
    throw new GlimpseError('glimpse_image_too_large', `image ${name} is ${width}×${height}`, {
      userMessage: `"${name}" has too many pixels (${width}×${height}; the limit is ${formatPixels(limits.maxPixels)}).`,
      details: { name, width, height, maxPixels: limits.maxPixels },
    });
  }
}

/**
 * Validates raw upload bytes once, at ingest, in the order that keeps it cheap and safe:
 *
 * 1. size, then the leading signature: only PNG, JPEG, WebP and GIF reach a decoder (an SVG, a
 *    PDF, a TIFF or a HEIC photo under an image name is refused by name, never rendered);
 * 2. the header: dimensions, pixel count and aspect ratio, so a decompression bomb (a tiny PNG
 *    whose header claims 100000×100000) is refused before one pixel is decoded;
 * 3. a full decode of the first frame into a thumbnail (bounded memory), so a truncated or damaged
 *    file is refused here, on every adapter and for every model, instead of mid-answer.
 *
 * The media type comes from the bytes, never from the file name or a client header. Throws coded
 * errors whose `userMessage` an adapter shows as is.
 */
export async function ingestImage(bytes: Uint8Array, name: string, limits: ImageLimits): Promise<ImagePart> {
  if (bytes.byteLength > limits.maxBytes) {
    throw new GlimpseError('glimpse_image_too_large', `image ${name} is ${bytes.byteLength} bytes`, {
      userMessage: `"${name}" is too large (${formatBytes(bytes.byteLength)}; the limit is ${formatBytes(limits.maxBytes)}).`,
      details: { name, bytes: bytes.byteLength, maxBytes: limits.maxBytes },
    });
  }
  if (bytes.byteLength === 0) {
    throw invalid(name, `image ${name} is empty`, `"${name}" is empty (0 bytes); please upload it again.`, {
      bytes: 0,
    });
  }
  const sniffed = sniffImage(bytes);
  if (sniffed && !sniffed.readable) {
    throw new GlimpseError('glimpse_image_unsupported_type', `image ${name} is ${sniffed.kind}`, {
      userMessage: `"${name}" is ${sniffed.kind}, which I can't read; send ${readable}.`,
      details: { name, format: sniffed.kind.replace(/^an? /, ''), bytes: bytes.byteLength },
    });
  }
  const notAnImage = `"${name}" is not an image I can read (${readable}).`;
  if (!sniffed) {
    throw invalid(name, `image ${name} has no known image signature`, notAnImage, {
      bytes: bytes.byteLength,
    });
  }
  // libpng refuses a width over a million before sharp could report it: IHDR is read here
  const claimed = sniffed.format === 'png' ? pngDimensions(bytes) : undefined;
  if (claimed) checkPixels(name, claimed.width, claimed.height, limits);
  let metadata: Metadata;
  try {
    // Only the header is read here; the pixel limit is checked below, so that an image over it
    // gets "too many pixels" rather than sharp's refusal to open it ("not an image I can read").
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    // the signature says PNG/JPEG/GIF/WebP; the header after it is cut off or broken
    const details = { format: sniffed.format, bytes: bytes.byteLength };
    throw invalid(
      name,
      `image ${name} has an unreadable header`,
      damaged(name, sniffed.format),
      details,
      error,
    );
  }
  const mediaType = metadata.format === sniffed.format ? formatToMediaType[metadata.format] : undefined;
  if (!mediaType) {
    const message = `image ${name} sniffed as ${sniffed.format}, read as ${metadata.format}`;
    throw invalid(name, message, notAnImage, { format: metadata.format });
  }
  // EXIF orientations 5–8 swap width and height.
  const swap = (metadata.orientation ?? 1) >= 5;
  const width = (swap ? metadata.height : metadata.width) ?? 0;
  const height = (swap ? metadata.width : metadata.height) ?? 0;
  checkPixels(name, width, height, limits);
  if (Math.max(width, height) > maxAspectRatio * Math.min(width, height)) {
    throw invalid(
      name,
      `image ${name} (${width}×${height}) is too long and thin`,
      `"${name}" is too long and thin to read (${width}×${height}); crop it to at most ${maxAspectRatio}:1.`,
      { width, height, maxAspectRatio },
    );
  }
  try {
    // the first frame, as the pipeline reads it (failOn 'error' also refuses truncated data),
    // shrunk while it streams through: memory stays small whatever the dimensions
    await sharp(bytes, { failOn: 'error', limitInputPixels: limits.maxPixels, pages: 1 })
      .resize(32, 32, { fit: 'inside', withoutEnlargement: true })
      .raw()
      .toBuffer();
  } catch (error) {
    throw invalid(
      name,
      `image ${name} could not be decoded to the end`,
      damaged(name, sniffed.format),
      { format: sniffed.format, bytes: bytes.byteLength, width, height },
      error,
    );
  }
  return {
    type: 'image',
    mediaType,
    bytes,
    width,
    height,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    name,
  };
}
