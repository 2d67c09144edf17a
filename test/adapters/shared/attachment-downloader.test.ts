import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DownloadPolicy, downloadImage } from '../../../src/adapters/shared/attachment-downloader.js';
import { GlimpseError } from '../../../src/errors.js';

let server: Server;
let origin: string;
let png: Buffer;
const seenAuth: (string | undefined)[] = [];

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  '/ok.png': (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(png),
  '/auth.png': (req, res) => {
    seenAuth.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'image/png' }).end(png);
  },
  '/html': (_req, res) =>
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><html>login</html>'),
  '/html-as-png': (_req, res) =>
    res.writeHead(200, { 'content-type': 'image/png' }).end('<html><body>sign in</body></html>'),
  '/png-as-html': (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(png),
  '/html-with-svg': (_req, res) =>
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><html><body><svg width="16" height="16"></svg>Sign in</body></html>'),
  '/gone': (_req, res) => res.writeHead(404).end(),
  '/redirect-off': (_req, res) => res.writeHead(302, { location: 'https://evil.example/x.png' }).end(),
  '/redirect-on': (_req, res) => res.writeHead(302, { location: '/auth.png' }).end(),
  '/huge': (_req, res) => {
    // no content-length: the cap must hold while streaming
    res.writeHead(200, { 'content-type': 'image/png' });
    let sent = 0;
    const push = () => {
      if (sent > 4 << 20 || res.destroyed) return res.end();
      sent += 64 * 1024;
      res.write(Buffer.alloc(64 * 1024, 1), push);
    };
    push();
  },
  '/declared-huge': (_req, res) => res.writeHead(200, { 'content-length': String(50 << 20) }).end(),
  '/slow': () => undefined,
  '/not-image': (_req, res) =>
    res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.from('GIF8garbage')),
};

const policy = (extra: Partial<DownloadPolicy> = {}): DownloadPolicy => ({
  hosts: ['cdn.discordapp.com', '.discordapp.net'],
  origins: [origin],
  limits: { maxBytes: 1 << 20, maxPixels: 1 << 24 },
  timeoutMs: 2000,
  ...extra,
});

async function refusal(promise: Promise<unknown>): Promise<GlimpseError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GlimpseError);
  return error as GlimpseError;
}

beforeAll(async () => {
  png = await sharp({ create: { width: 4, height: 3, channels: 3, background: '#f00' } })
    .png()
    .toBuffer();
  server = createServer((req, res) =>
    (routes[new URL(req.url!, 'http://x').pathname] ?? routes['/gone']!)(req, res),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('downloadImage', () => {
  it('downloads and validates an image from an allowed origin', async () => {
    const image = await downloadImage(`${origin}/ok.png?ex=1&sig=secret`, 'ok.png', policy());
    expect(image).toMatchObject({ mediaType: 'image/png', width: 4, height: 3, name: 'ok.png' });
  });

  it('refuses other hosts and plain http before any request, without the query in its details', async () => {
    const foreign = await refusal(downloadImage('https://evil.example/a.png?token=abc', 'a.png', policy()));
    expect(foreign.userMessage).toMatch(/only fetch images from the platform's own file hosts/);
    expect(JSON.stringify(foreign.details)).not.toContain('token=abc');
    const http = await refusal(downloadImage('http://cdn.discordapp.com/a.png', 'a.png', policy()));
    expect(http.code).toBe('glimpse_image_download_failed');
  });

  it('follows a redirect on the allowed origin, refuses one off it', async () => {
    seenAuth.length = 0;
    const image = await downloadImage(
      `${origin}/redirect-on`,
      'r.png',
      policy({ headers: { authorization: 'Bearer xoxb-1' } }),
    );
    expect(image.width).toBe(4);
    expect(seenAuth).toEqual(['Bearer xoxb-1']);
    const off = await refusal(downloadImage(`${origin}/redirect-off`, 'r.png', policy()));
    expect(off.message).toMatch(/redirect to a host not allowed/);
  });

  it('caps the size while streaming and from a declared length', async () => {
    const streamed = await refusal(downloadImage(`${origin}/huge`, 'big.png', policy()));
    expect(streamed.code).toBe('glimpse_image_too_large');
    const declared = await refusal(downloadImage(`${origin}/declared-huge`, 'big.png', policy()));
    expect(declared.code).toBe('glimpse_image_too_large');
  });

  it('says why when a web page comes back instead of an image', async () => {
    for (const path of ['/html', '/html-as-png']) {
      const error = await refusal(
        downloadImage(`${origin}${path}`, 'p.png', policy({ htmlMessage: 'Missing files:read.' })),
      );
      expect(error.userMessage).toBe('Missing files:read.');
    }
    const plain = await refusal(downloadImage(`${origin}/html`, 'p.png', policy()));
    expect(plain.userMessage).toMatch(/gave me a web page, not an image/);
  });

  it('the bytes decide over the declared type: a PNG sent as text/html is read; a page with an inline <svg> is a page', async () => {
    const image = await downloadImage(`${origin}/png-as-html`, 'p.png', policy());
    expect(image).toMatchObject({ mediaType: 'image/png', width: 4, height: 3 });
    const page = await refusal(
      downloadImage(`${origin}/html-with-svg`, 'p.png', policy({ htmlMessage: 'Missing files:read.' })),
    );
    expect(page).toMatchObject({ code: 'glimpse_image_download_failed', userMessage: 'Missing files:read.' });
  });

  it('tells an expired link, a timeout and bytes that are no image apart', async () => {
    expect((await refusal(downloadImage(`${origin}/gone`, 'g.png', policy()))).userMessage).toMatch(
      /expired/,
    );
    const slow = await refusal(downloadImage(`${origin}/slow`, 's.png', policy({ timeoutMs: 100 })));
    expect(slow.userMessage).toMatch(/in time/);
    expect((await refusal(downloadImage(`${origin}/not-image`, 'n.png', policy()))).code).toBe(
      'glimpse_image_invalid',
    );
  });
});
