import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './web-test-harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** A request with a Host header fetch would not let us set. */
function rawGet(url: string, headers: Record<string, string>): Promise<number> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('web adapter: the page and its guards', () => {
  it('serves the page, its script and styles, with a strict content security policy', async () => {
    harness = await startHarness();
    const page = await fetch(`${harness.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<meta name="viewport" content="width=device-width');
    for (const path of ['/playground.js', '/playground.css', '/favicon.svg']) {
      expect(html).toContain(path);
      const asset = await fetch(`${harness.url}${path}`);
      expect(asset.status, path).toBe(200);
    }
  });

  it('references nothing outside the playground (no CDN, no external fonts)', async () => {
    harness = await startHarness();
    for (const path of ['/', '/playground.js', '/playground.css']) {
      const text = await (await fetch(`${harness.url}${path}`)).text();
      expect(text.match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi) ?? [], path).toEqual([]);
    }
  });

  it('tells the page its limits and title when a session starts', async () => {
    harness = await startHarness({ adapter: { maxTextChars: 123 } });
    const body = await (await fetch(`${harness.url}/api/sessions`, { method: 'POST' })).json();
    expect(body).toMatchObject({
      title: 'scripted',
      limits: {
        maxImageBytes: 200_000,
        maxImagePixels: 1_000_000,
        maxImagesPerMessage: 2,
        maxTextChars: 123,
      },
    });
  });

  it('refuses posts from another origin (another web site cannot drive the playground)', async () => {
    harness = await startHarness();
    const response = await fetch(`${harness.url}/api/sessions`, {
      method: 'POST',
      headers: { origin: 'https://evil.example' },
    });
    expect(response.status).toBe(403);
    const same = await fetch(`${harness.url}/api/sessions`, {
      method: 'POST',
      headers: { origin: harness.url },
    });
    expect(same.status).toBe(201);
    expect(
      harness.logs.some((line) => line.code === 'web_forbidden' && line.reason === 'origin-mismatch'),
    ).toBe(true);
  });

  it('refuses a non-loopback Host while listening on loopback (DNS rebinding)', async () => {
    harness = await startHarness();
    const { port } = new URL(harness.url);
    expect(await rawGet(harness.url, { host: `attacker.example:${port}` })).toBe(403);
    expect(await rawGet(harness.url, { host: `localhost:${port}` })).toBe(200);
    expect(await rawGet(harness.url, { host: `127.0.0.1:${port}` })).toBe(200);
  });

  it('caps the number of sessions, making room by forgetting idle ones', async () => {
    harness = await startHarness({ adapter: { maxSessions: 2 } });
    const first = await harness.createSession();
    await harness.createSession();
    const refused = await fetch(`${harness.url}/api/sessions`, { method: 'POST' });
    expect(refused.status).toBe(503);
    first.events.close();
    const deadline = Date.now() + 20_000;
    let status = 0;
    while (status !== 201 && Date.now() < deadline) {
      status = (await fetch(`${harness.url}/api/sessions`, { method: 'POST' })).status;
      if (status !== 201) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(201);
    expect((await fetch(`${harness.url}/api/sessions/${first.sessionId}/events`)).status).toBe(404);
  });
});
