import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubRepoFile {
  path: string;
  bytes: Buffer;
  /** stored in LFS (served from the CDN host through a redirect, listed with its sha256) */
  lfs: boolean;
}

export interface RecordedHubRequest {
  host: 'hub' | 'cdn';
  method: string;
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

const gitBlobId = (bytes: Buffer) =>
  createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');

/**
 * A Hugging Face Hub on loopback, as `glimpse models pull` sees it: the tree API (paginated
 * with `Link: rel="next"` past `pageSize` entries), `resolve/<rev>/<path>` answering small files
 * itself and redirecting LFS files (302) to a second server, the CDN, which honours `Range`.
 * It records every request, can demand a token (401 without, 403 `GatedRepo` for a gated repo),
 * cut a file's body off once, or serve other bytes than it lists.
 */
export class FakeHub {
  readonly requests: RecordedHubRequest[] = [];
  readonly repos = new Map<string, HubRepoFile[]>();
  /** the token the hub accepts; set: requests without it get 401 */
  token: string | undefined;
  /** repos that answer 403 GatedRepo even with the token */
  readonly gated = new Set<string>();
  /** path → bytes after which its next CDN body is cut (once) */
  readonly cutOnce = new Map<string, number>();
  /** paths whose CDN body differs from the listing (a damaged download) */
  readonly corrupt = new Set<string>();
  pageSize = 1000;
  private hub: Server | undefined;
  private cdn: Server | undefined;
  hubUrl = '';
  cdnUrl = '';

  add(id: string, files: HubRepoFile[]): this {
    this.repos.set(id, files);
    return this;
  }

  async start(): Promise<this> {
    this.hub = await listen((request, response) => this.routeHub(request, response));
    this.cdn = await listen((request, response) => this.routeCdn(request, response));
    this.hubUrl = `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnUrl = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const server of [this.hub, this.cdn]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  private record(host: 'hub' | 'cdn', request: IncomingMessage): void {
    this.requests.push({
      host,
      method: request.method ?? '',
      path: request.url ?? '',
      authorization: request.headers.authorization,
      range: request.headers.range,
    });
  }

  /** null when allowed; else the refusal already sent */
  private refused(id: string, request: IncomingMessage, response: ServerResponse): boolean {
    const auth = request.headers.authorization;
    if (this.token && auth !== `Bearer ${this.token}`) {
      response.writeHead(401, { 'x-error-code': 'RepoNotFound', 'content-type': 'application/json' });
      // a careless hub repeating the header it got
      response.end(JSON.stringify({ error: `Invalid credentials in Authorization header ${auth ?? ''}` }));
      return true;
    }
    if (this.gated.has(id)) {
      response.writeHead(403, { 'x-error-code': 'GatedRepo', 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: `Access to model ${id} is restricted.` }));
      return true;
    }
    return false;
  }

  private routeHub(request: IncomingMessage, response: ServerResponse): void {
    this.record('hub', request);
    const url = new URL(request.url ?? '/', this.hubUrl);
    const tree = /^\/api\/models\/(.+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      const id = tree[1]!;
      const files = this.repos.get(id);
      if (!files)
        return void response
          .writeHead(404, { 'x-error-code': 'RepoNotFound' })
          .end('{"error":"Repository not found"}');
      if (this.refused(id, request, response)) return;
      const cursor = Number(url.searchParams.get('cursor') ?? 0);
      const entries = [
        { type: 'directory', oid: 'd0', size: 0, path: 'onnx' },
        ...files.map((file) => ({
          type: 'file',
          oid: file.lfs ? gitBlobId(Buffer.from(`version lfs pointer ${file.path}`)) : gitBlobId(file.bytes),
          size: file.bytes.length,
          path: file.path,
          ...(file.lfs
            ? {
                lfs: {
                  oid: createHash('sha256').update(file.bytes).digest('hex'),
                  size: file.bytes.length,
                  pointerSize: 134,
                },
              }
            : {}),
        })),
      ];
      const page = entries.slice(cursor, cursor + this.pageSize);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (cursor + this.pageSize < entries.length) {
        headers.link = `<${this.hubUrl}${url.pathname}?recursive=true&cursor=${cursor + this.pageSize}>; rel="next"`;
      }
      return void response.writeHead(200, headers).end(JSON.stringify(page));
    }
    const resolve = /^\/(.+?\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const id = resolve[1]!;
      const path = decodeURIComponent(resolve[3]!);
      const files = this.repos.get(id);
      if (!files) return void response.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end();
      if (this.refused(id, request, response)) return;
      const file = files.find((candidate) => candidate.path === path);
      if (!file) return void response.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
      if (file.lfs) {
        return void response
          .writeHead(302, {
            location: `${this.cdnUrl}/repos/${encodeURIComponent(id)}/${encodeURIComponent(path)}?sig=x`,
          })
          .end();
      }
      this.serveBytes(request, response, this.damaged(file));
      return;
    }
    response.writeHead(404).end();
  }

  private routeCdn(request: IncomingMessage, response: ServerResponse): void {
    this.record('cdn', request);
    const match = /^\/repos\/([^/]+)\/([^/?]+)/.exec(request.url ?? '');
    const id = decodeURIComponent(match?.[1] ?? '');
    const path = decodeURIComponent(match?.[2] ?? '');
    const file = this.repos.get(id)?.find((candidate) => candidate.path === path);
    if (!file) return void response.writeHead(404).end();
    const bytes = this.damaged(file);
    const cut = this.cutOnce.get(path);
    if (cut !== undefined) this.cutOnce.delete(path);
    this.serveBytes(request, response, bytes, cut);
  }

  /** the bytes served: the listed ones, or with the last byte flipped for a `corrupt` path */
  private damaged(file: HubRepoFile): Buffer {
    if (!this.corrupt.has(file.path)) return file.bytes;
    const bytes = Buffer.from(file.bytes);
    bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 0xff;
    return bytes;
  }

  private serveBytes(
    request: IncomingMessage,
    response: ServerResponse,
    bytes: Buffer,
    cutAt?: number,
  ): void {
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start >= bytes.length && bytes.length > 0) {
      return void response.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
    }
    const body = bytes.subarray(start);
    response.writeHead(range ? 206 : 200, {
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    if (cutAt === undefined) return void response.end(body);
    response.write(body.subarray(0, cutAt), () => setTimeout(() => response.socket?.destroy(), 5));
  }
}

async function listen(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
