import { downloadImage } from '../adapters/shared/attachment-downloader.js';
import { type ImageLimits, ingestImage } from '../ingest/image-ingest.js';
import type { ImagePart, TextPart } from '../messages.js';
import type { ModelMessage } from '../pipeline/vision-chat-model.js';
import type { ChatRequestMessage } from './chat-request.js';
import { badRequest, fromGlimpseError } from './openai-error.js';

export interface ImageSourcePolicy {
  limits: ImageLimits;
  /** images one request may hold; more is a 400 (as vLLM's `limit_mm_per_prompt`) */
  maxImages: number;
  /** https hosts `image_url`s may be downloaded from; empty: `data:` URLs only */
  remoteHosts: readonly string[];
}

const dataUrl = /^data:([^,;]*)((?:;[^,;]*)*),(.*)$/s;

function decodeDataUrl(url: string, param: string): Uint8Array {
  const match = dataUrl.exec(url);
  if (!match) throw badRequest('invalid_image_url', 'the image is not a valid data: URL', param);
  const [, , flags = '', payload = ''] = match;
  if (!flags.split(';').includes('base64')) {
    try {
      return new Uint8Array(Buffer.from(decodeURIComponent(payload), 'latin1'));
    } catch {
      throw badRequest('invalid_image_url', 'the image data: URL is not valid percent-encoding', param);
    }
  }
  const compact = payload.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) {
    throw badRequest('invalid_image_url', 'the image data: URL is not valid base64', param);
  }
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

/**
 * The request's messages as the model takes them: `developer` becomes `system`, string content a
 * text part, and every image — a `data:` URL, or an https URL on an allowed host — goes through
 * the same ingest checks as any upload (the bytes decide the type; bombs, damaged files, SVG,
 * TIFF… are refused). Throws an OpenAIError whose `param` points at the offending part.
 */
export async function toModelMessages(
  messages: readonly ChatRequestMessage[],
  policy: ImageSourcePolicy,
  signal?: AbortSignal,
): Promise<ModelMessage[]> {
  const imageCount = messages.reduce(
    (sum, message) =>
      sum +
      (Array.isArray(message.content) ? message.content.filter((p) => p.type === 'image_url').length : 0),
    0,
  );
  if (imageCount > policy.maxImages) {
    throw badRequest(
      'glimpse_too_many_images',
      `the request has ${imageCount} images; at most ${policy.maxImages} are allowed per request`,
      'messages',
    );
  }
  const out: ModelMessage[] = [];
  let imageNumber = 0;
  for (const [index, message] of messages.entries()) {
    const content: (TextPart | ImagePart)[] = [];
    const parts =
      typeof message.content === 'string'
        ? [{ type: 'text' as const, text: message.content }]
        : (message.content ?? []);
    for (const [partIndex, part] of parts.entries()) {
      if (part.type === 'text') {
        content.push({ type: 'text', text: part.text });
        continue;
      }
      const param = `messages.${index}.content.${partIndex}.image_url`;
      const name = `image-${++imageNumber}`;
      content.push(await resolveImage(part.image_url.url, name, param, policy, signal));
    }
    out.push({ role: message.role === 'developer' ? 'system' : message.role, content });
  }
  return out;
}

async function resolveImage(
  url: string,
  name: string,
  param: string,
  policy: ImageSourcePolicy,
  signal: AbortSignal | undefined,
): Promise<ImagePart> {
  try {
    if (url.startsWith('data:')) return await ingestImage(decodeDataUrl(url, param), name, policy.limits);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw badRequest('invalid_image_url', 'image_url.url must be a data: URL or an https URL', param);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw badRequest('invalid_image_url', 'image_url.url must be a data: URL or an https URL', param);
    }
    if (policy.remoteHosts.length === 0) {
      throw badRequest(
        'remote_image_urls_disabled',
        'image URLs are not fetched by this server: send the image inline as a data: URL (base64), or ask its operator to allow the host with GLIMPSE_SERVE_IMAGE_HOSTS',
        param,
      );
    }
    return await downloadImage(url, name, { hosts: policy.remoteHosts, limits: policy.limits }, signal);
  } catch (error) {
    throw fromGlimpseError(error, param);
  }
}
