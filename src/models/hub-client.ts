import { z } from 'zod';
import { GlimpseError } from '../errors.js';
import { type HubErrorContext, hubStatusError, hubUnreachable } from './hub-errors.js';

/** One file of a Hub repository, as its tree listing describes it. */
export interface HubFile {
  path: string;
  size: number;
  /** LFS files: the sha256 of the content */
  sha256?: string;
  /** other files: the git blob id (sha1 of `blob <size>\0<content>`) */
  gitOid?: string;
}

const treeSchema = z.array(
  z.object({
    type: z.string(),
    path: z.string(),
    size: z.number().nonnegative().optional(),
    oid: z.string().optional(),
    lfs: z.object({ oid: z.string(), size: z.number().nonnegative() }).nullish(),
  }),
);

export interface HubClientOptions {
  /** `https://huggingface.co`, or a mirror (`HF_ENDPOINT`) */
  endpoint: string;
  /** sent as `Authorization: Bearer` to the endpoint (never to the CDN it redirects to); never logged */
  token?: string;
  fetch?: typeof fetch;
}

/** An open download: the body from `offset` (206), or the whole file again (200). */
export interface HubDownload {
  body: ReadableStream<Uint8Array>;
  /** where the body starts in the file */
  offset: number;
}

/**
 * The two Hub requests `glimpse models pull` needs: the recursive tree listing
 * (`GET /api/models/<id>/tree/<revision>?recursive=true`, followed through its `Link: rel="next"`
 * pages) and a file (`GET /<id>/resolve/<revision>/<path>`, redirects followed — LFS files live
 * on a CDN host, which fetch reaches without the Authorization header).
 */
export class HubClient {
  readonly endpoint: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(options: HubClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.token = options.token;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
  }

  private context(id: string, revision: string, path?: string): HubErrorContext {
    return {
      endpoint: this.endpoint,
      id,
      revision,
      hasToken: Boolean(this.token),
      ...(path ? { path } : {}),
    };
  }

  private async get(
    url: string,
    context: HubErrorContext,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Response> {
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        headers: { ...headers, ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        redirect: 'follow',
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw hubUnreachable(context, error);
    }
    return response;
  }

  async listFiles(id: string, revision = 'main', signal?: AbortSignal): Promise<HubFile[]> {
    const context = this.context(id, revision);
    const files: HubFile[] = [];
    let url: string | undefined =
      `${this.endpoint}/api/models/${id}/tree/${encodeURIComponent(revision)}?recursive=true`;
    for (let page = 0; url && page < 100; page++) {
      const response = await this.get(url, context, { accept: 'application/json' }, signal);
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        throw hubStatusError(context, response);
      }
      let parsed: z.output<typeof treeSchema>;
      try {
        parsed = treeSchema.parse(await response.json());
      } catch (error) {
        throw new GlimpseError(
          'glimpse_hub_failed',
          `${this.endpoint} sent a file list Glimpse cannot read`,
          {
            cause: error,
            userMessage: 'The model hub had a problem; try again.',
          },
        );
      }
      for (const entry of parsed) {
        if (entry.type !== 'file') continue;
        files.push({
          path: entry.path,
          size: entry.lfs?.size ?? entry.size ?? 0,
          ...(entry.lfs ? { sha256: entry.lfs.oid } : entry.oid ? { gitOid: entry.oid } : {}),
        });
      }
      url = nextPage(response.headers.get('link'), url);
    }
    return files;
  }

  /** Opens `path` from byte `offset` on (a Range request when offset > 0). */
  async download(
    id: string,
    revision: string,
    path: string,
    offset: number,
    signal?: AbortSignal,
  ): Promise<HubDownload> {
    const context = this.context(id, revision, path);
    const url = `${this.endpoint}/${id}/resolve/${encodeURIComponent(revision)}/${path.split('/').map(encodeURIComponent).join('/')}`;
    const response = await this.get(url, context, offset > 0 ? { range: `bytes=${offset}-` } : {}, signal);
    if (response.status === 416 && offset > 0) {
      // the part on disk is not a prefix the server knows: start again
      await response.body?.cancel().catch(() => undefined);
      return this.download(id, revision, path, 0, signal);
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      throw hubStatusError(context, response);
    }
    if (response.status === 206) {
      const start = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
      if (start !== undefined && Number(start) === offset) return { body: response.body, offset };
      await response.body.cancel().catch(() => undefined);
      return this.download(id, revision, path, 0, signal);
    }
    return { body: response.body, offset: 0 };
  }
}

/** The `rel="next"` URL of a `Link` header, resolved against the current page. */
function nextPage(link: string | null, current: string): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (match?.[1]) return new URL(match[1], current).toString();
  }
  return undefined;
}
