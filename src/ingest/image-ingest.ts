import { createHash } from 'node:crypto';
import sharp, { type Metadata } from 'sharp';
import { GlimpseError } from '../errors.js';
import type { ImagePart } from '../messages.js';

export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
}

const formatToMediaType: Record<string, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  heif: 'image/heif',
  tiff: 'image/tiff',
};

export const supportedImageTypes = Object.values(formatToMediaType);

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/**
 * Validates raw upload bytes once, at ingest: size, a decodable image format, pixel count.
 * The media type comes from the bytes, never from the file name or a client header.
 * Throws coded errors whose `userMessage` an adapter shows as is.
 */
export async function ingestImage(bytes: Uint8Array, name: string, limits: ImageLimits): Promise<ImagePart> {
  if (bytes.byteLength > limits.maxBytes) {
    throw new GlimpseError('glimpse_image_too_large', `image ${name} is ${bytes.byteLength} bytes`, {
      userMessage: `"${name}" is too large (${formatBytes(bytes.byteLength)}; the limit is ${formatBytes(limits.maxBytes)}).`,
      details: { name, bytes: bytes.byteLength, maxBytes: limits.maxBytes },
    });
  }
  let metadata: Metadata;
  try {
    // Only the header is read here; the pixel limit is checked below, so that an image over it
    // gets "too many pixels" rather than sharp's refusal to open it ("not an image I can read").
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new GlimpseError('glimpse_image_invalid', `image ${name} could not be decoded`, {
      cause: error,
      userMessage: `"${name}" is not an image I can read (PNG, JPEG, WebP or GIF).`,
      details: { name, bytes: bytes.byteLength },
    });
  }
  const mediaType = metadata.format ? formatToMediaType[metadata.format] : undefined;
  if (!mediaType) {
    throw new GlimpseError('glimpse_image_unsupported_type', `image ${name} has format ${metadata.format}`, {
      userMessage: `"${name}" is in a format I don't read (${metadata.format ?? 'unknown'}); use PNG, JPEG, WebP or GIF.`,
      details: { name, format: metadata.format },
    });
  }
  // EXIF orientations 5–8 swap width and height.
  const swap = (metadata.orientation ?? 1) >= 5;
  const width = (swap ? metadata.height : metadata.width) ?? 0;
  const height = (swap ? metadata.width : metadata.height) ?? 0;
  if (width * height > limits.maxPixels || width === 0 || height === 0) {
    throw new GlimpseError('glimpse_image_too_large', `image ${name} is ${width}×${height}`, {
      userMessage: `"${name}" has too many pixels (${width}×${height}).`,
      details: { name, width, height, maxPixels: limits.maxPixels },
    });
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
