import { GlimpseError } from '../../errors.js';
import { type ImageLimits, ingestImage } from '../../ingest/image-ingest.js';
import { sniffImage } from '../../ingest/image-sniff.js';
import type { ImagePart } from '../../messages.js';

/**
 * Where an adapter may download attachments from, and how much. The one downloader every platform
 * uses: https only, from the platform's file hosts (plus the origin of the configured API base,
 * for proxies and tests), redirects followed only to allowed hosts, the size cap enforced while
 * the bytes stream in, a timeout, the content sniffed, then the image validation every upload gets.
 */
export interface DownloadPolicy {
  /** host names allowed over https: exact (`files.slack.com`) or a suffix (`.discordapp.net`) */
  hosts: readonly string[];
  /** whole origins allowed as they are, any scheme (`http://127.0.0.1:8931`): the API base's */
  origins?: readonly string[];
  limits: ImageLimits;
  /** for the whole download, redirects included (default 15 s) */
  timeoutMs?: number;
  maxRedirects?: number;
  /** sent to allowed hosts only, never logged (Slack's bot token) */
  headers?: Record<string, string>;
  /** what to tell the user when a page of HTML came back instead of an image */
  htmlMessage?: string;
}

const downloadFailed = (
  message: string,
  userMessage: string,
  details: Record<string, unknown>,
  cause?: unknown,
) =>
  new GlimpseError('glimpse_image_download_failed', message, {
    userMessage,
    details,
    ...(cause === undefined ? {} : { cause }),
  });

/** the URL without its query (signed CDN links carry their signature there): for logs */
export function redactUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function allowed(url: URL, policy: DownloadPolicy): boolean {
  if (policy.origins?.includes(url.origin)) return true;
  if (url.protocol !== 'https:') return false;
  const host = url.hostname.toLowerCase();
  return policy.hosts.some((entry) => (entry.startsWith('.') ? host.endsWith(entry) : host === entry));
}

/** HTML, XML or JSON where an image should be: a login page, an error page, an API error */
function looksLikeText(head: Uint8Array): 'html' | 'text' | undefined {
  const text = Buffer.from(head.subarray(0, 512)).toString('utf8').trimStart().toLowerCase();
  if (text.startsWith('<!doctype html') || text.startsWith('<html') || text.startsWith('<head'))
    return 'html';
  if (text.startsWith('{') || text.startsWith('<?xml')) return 'text';
  return undefined;
}

async function readCapped(
  response: Response,
  maxBytes: number,
  name: string,
  shown: string,
): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  const tooLarge = (bytes: number) =>
    new GlimpseError('glimpse_image_too_large', `download of ${shown} exceeds ${maxBytes} bytes`, {
      userMessage: `"${name}" is too large (the limit is ${Math.floor(maxBytes / 1024 / 1024)} MB).`,
      details: { name, url: shown, bytes, maxBytes },
    });
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge(declared);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(total);
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

/**
 * Downloads `url` as an image named `name` under `policy`. Throws coded errors whose userMessage
 * says what went wrong in one line (`glimpse_image_download_failed`, `glimpse_image_too_large`,
 * `glimpse_image_invalid`, …); their details name the URL without its query string.
 */
export async function downloadImage(
  url: string,
  name: string,
  policy: DownloadPolicy,
  signal?: AbortSignal,
): Promise<ImagePart> {
  let current: URL;
  let first: string;
  try {
    current = new URL(url);
    first = current.origin;
  } catch (error) {
    throw downloadFailed(
      'attachment URL is not a URL',
      `I couldn't fetch "${name}": its link is malformed.`,
      { name },
      error,
    );
  }
  const timeoutMs = policy.timeoutMs ?? 15_000;
  const signals = [AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])];
  const combined = AbortSignal.any(signals);
  const maxRedirects = policy.maxRedirects ?? 3;
  try {
    for (let hop = 0; ; hop++) {
      const shown = redactUrl(current);
      if (!allowed(current, policy)) {
        throw downloadFailed(
          hop === 0 ? `attachment host not allowed: ${shown}` : `redirect to a host not allowed: ${shown}`,
          `I only fetch images from the platform's own file hosts, so I skipped "${name}".`,
          { name, url: shown, hop },
        );
      }
      const response = await fetch(current, {
        redirect: 'manual',
        signal: combined,
        // credentials go to the link's own origin only, never to where it redirects
        headers: { accept: 'image/*', ...(current.origin === first ? policy.headers : {}) },
      });
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel().catch(() => undefined);
        const location = response.headers.get('location');
        if (!location || hop >= maxRedirects) {
          throw downloadFailed(
            `too many redirects at ${shown}`,
            `I couldn't fetch "${name}" (it kept redirecting).`,
            {
              name,
              url: shown,
            },
          );
        }
        current = new URL(location, current);
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        const expired = response.status === 403 || response.status === 404 || response.status === 410;
        throw downloadFailed(
          `attachment download answered ${response.status}`,
          expired
            ? `I couldn't fetch "${name}": the link has expired or is gone — please upload it again.`
            : `I couldn't fetch "${name}" (the file host answered ${response.status}).`,
          { name, url: shown, status: response.status },
        );
      }
      const bytes = await readCapped(response, policy.limits.maxBytes, name, shown);
      const contentType = (response.headers.get('content-type') ?? '').toLowerCase();
      // the bytes decide: an image (or a format ingest refuses by name, such as SVG) goes on to
      // ingest whatever type the host declared; only bytes that are neither are judged as a page
      const image = sniffImage(bytes);
      const sniffed = image ? undefined : looksLikeText(bytes);
      if (sniffed === 'html' || (!image && contentType.startsWith('text/html'))) {
        throw downloadFailed(
          `attachment download returned HTML (${contentType || 'no content type'})`,
          policy.htmlMessage ?? `I couldn't fetch "${name}": the link gave me a web page, not an image.`,
          { name, url: shown, contentType },
        );
      }
      if (sniffed === 'text') {
        throw downloadFailed(
          `attachment download returned text (${contentType || 'no content type'})`,
          `I couldn't fetch "${name}": the link did not give me an image.`,
          { name, url: shown, contentType },
        );
      }
      return await ingestImage(bytes, name, policy.limits);
    }
  } catch (error) {
    if (error instanceof GlimpseError) throw error;
    if (signal?.aborted) throw error;
    const timedOut = combined.aborted;
    throw downloadFailed(
      timedOut ? `attachment download timed out after ${timeoutMs} ms` : 'attachment download failed',
      timedOut
        ? `I couldn't fetch "${name}" in time — please try again.`
        : `I couldn't fetch "${name}" — please try again.`,
      { name, url: redactUrl(current) },
      error,
    );
  }
}
