import { request } from 'node:http';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, shapePng, startHarness } from './web-test-harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function refusal(response: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return { status: response.status, ...body.error };
}

/** The structured warning the adapter logs for a refused request. */
function refusalLog(h: Harness, code: string) {
  return h.logs.find((line) => line.code === code && line.level === 40);
}

describe('web adapter: bad input gets a clear reply and a log line, never a message event', () => {
  it('refuses an image over the byte limit with 413 and the limit in the message', async () => {
    harness = await startHarness({
      adapter: { images: { maxBytes: 2048, maxPixels: 1_000_000, maxPerRequest: 2 } },
    });
    const { sessionId } = await harness.createSession();
    const noisy = await sharp({
      create: {
        width: 64,
        height: 64,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 60 },
      },
    })
      .png()
      .toBuffer();
    const response = await harness.ask(sessionId, 'what is it?', {
      bytes: new Uint8Array(noisy),
      name: 'noise.png',
    });
    expect(await refusal(response)).toEqual({
      status: 413,
      code: 'glimpse_image_too_large',
      message: expect.stringMatching(/"noise\.png" is too large \(.*; the limit is 2 KB\)/),
    });
    expect(refusalLog(harness, 'glimpse_image_too_large')).toMatchObject({ status: 413, name: 'noise.png' });
    expect(harness.handler.events).toEqual([]);
  });

  it('refuses a body far over the limit with 413 before reading it all', async () => {
    harness = await startHarness({
      adapter: { images: { maxBytes: 2048, maxPixels: 1_000_000, maxPerRequest: 1 } },
    });
    const { sessionId } = await harness.createSession();
    const huge = new Uint8Array(5 * 1024 * 1024);
    const response = await harness.ask(sessionId, 'what is it?', { bytes: huge, name: 'huge.png' });
    expect(await refusal(response)).toMatchObject({ status: 413, code: 'glimpse_image_too_large' });
    expect(harness.handler.events).toEqual([]);
    expect((await fetch(`${harness.url}/healthz`)).status).toBe(200);
  });

  it('refuses an image with too many pixels with 413', async () => {
    harness = await startHarness({
      adapter: { images: { maxBytes: 200_000, maxPixels: 100 * 100, maxPerRequest: 2 } },
    });
    const { sessionId } = await harness.createSession();
    const response = await harness.ask(sessionId, 'what is it?', {
      bytes: await shapePng(256),
      name: 'big.png',
    });
    expect(await refusal(response)).toMatchObject({ status: 413, code: 'glimpse_image_too_large' });
    expect(harness.handler.events).toEqual([]);
  });

  it('refuses a corrupt image (a truncated PNG) with 400, saying it is damaged', async () => {
    harness = await startHarness();
    const { sessionId } = await harness.createSession();
    const png = await shapePng();
    const response = await harness.ask(sessionId, 'what is it?', {
      bytes: png.slice(0, 40),
      name: 'broken.png',
    });
    expect(await refusal(response)).toEqual({
      status: 400,
      code: 'glimpse_image_invalid',
      message:
        '"broken.png" is damaged or incomplete (its PNG data could not be read to the end); please upload it again.',
    });
    expect(refusalLog(harness, 'glimpse_image_invalid')).toBeDefined();
    expect(harness.handler.events).toEqual([]);
  });

  it('refuses a text file posing as an image with 400, whatever its declared type', async () => {
    harness = await startHarness();
    const { sessionId } = await harness.createSession();
    const bytes = new TextEncoder().encode('hello, not an image');
    const response = await harness.ask(sessionId, 'what is it?', {
      bytes,
      name: 'notes.png',
      type: 'image/png',
    });
    expect(await refusal(response)).toMatchObject({ status: 400, code: 'glimpse_image_invalid' });
  });

  it('refuses a decodable format it does not take (SVG) with 415', async () => {
    harness = await startHarness();
    const { sessionId } = await harness.createSession();
    const svg = new TextEncoder().encode(
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    );
    const response = await harness.ask(sessionId, 'what is it?', {
      bytes: svg,
      name: 'x.svg',
      type: 'image/svg+xml',
    });
    expect(await refusal(response)).toMatchObject({ status: 415, code: 'glimpse_image_unsupported_type' });
  });

  it('accepts JPEG and WebP, typing them from their bytes', async () => {
    harness = await startHarness();
    const { sessionId, events } = await harness.createSession();
    const png = await shapePng();
    for (const [format, mediaType] of [
      ['jpeg', 'image/jpeg'],
      ['webp', 'image/webp'],
    ] as const) {
      const bytes = new Uint8Array(await sharp(png).toFormat(format).toBuffer());
      const response = await harness.ask(sessionId, 'colour?', {
        bytes,
        name: 'x.bin',
        type: 'application/octet-stream',
      });
      expect(response.status).toBe(202);
      const body = (await response.json()) as { messageId: string; images: { mediaType: string }[] };
      expect(body.images[0]?.mediaType).toBe(mediaType);
      await events.next('done', body.messageId);
    }
  });

  it('asks for a question when the text is missing', async () => {
    harness = await startHarness();
    const { sessionId } = await harness.createSession();
    expect(
      await refusal(await harness.ask(sessionId, '   ', { bytes: await shapePng(), name: 'c.png' })),
    ).toEqual({
      status: 400,
      code: 'web_text_missing',
      message: 'Ask a question about the image.',
    });
    expect(await refusal(await harness.ask(sessionId, ''))).toMatchObject({
      message: 'Type a question first.',
    });
    expect(harness.handler.events).toEqual([]);
  });

  it('refuses an over-long question with 413', async () => {
    harness = await startHarness({ adapter: { maxTextChars: 50 } });
    const { sessionId } = await harness.createSession();
    expect(await refusal(await harness.ask(sessionId, 'x'.repeat(51)))).toEqual({
      status: 413,
      code: 'web_text_too_long',
      message: 'Your message is too long (51 characters; the limit is 50).',
    });
  });

  it('refuses more images than one message may carry', async () => {
    harness = await startHarness();
    const { sessionId } = await harness.createSession();
    const png = await shapePng();
    const form = new FormData();
    form.set('text', 'compare');
    for (let index = 0; index < 3; index++)
      form.append('image', new Blob([png], { type: 'image/png' }), `${index}.png`);
    const response = await fetch(`${harness.url}/api/sessions/${sessionId}/messages`, {
      method: 'POST',
      body: form,
    });
    expect(await refusal(response)).toMatchObject({ status: 400, code: 'glimpse_too_many_images' });
  });

  it('refuses a body that is not a form with 415, and a malformed multipart body with 400', async () => {
    harness = await startHarness();
    const { sessionId } = await harness.createSession();
    const url = `${harness.url}/api/sessions/${sessionId}/messages`;
    const json = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"text":"hi"}',
    });
    expect(await refusal(json)).toMatchObject({ status: 415, code: 'web_unsupported_media_type' });
    const malformed = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi (no closing boundary)',
    });
    expect(await refusal(malformed)).toMatchObject({ status: 400, code: 'web_upload_malformed' });
    expect(harness.handler.events).toEqual([]);
  });

  it('survives a client that hangs up mid-upload', async () => {
    harness = await startHarness();
    const { sessionId } = await harness.createSession();
    const { port } = new URL(harness.url);
    await new Promise<void>((resolve) => {
      const partial = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `/api/sessions/${sessionId}/messages`,
        headers: { 'content-type': 'multipart/form-data; boundary=xyz', 'content-length': '100000' },
      });
      partial.on('error', () => resolve());
      partial.write('--xyz\r\nContent-Disposition: form-data; name="text"\r\n\r\nhel');
      setTimeout(() => {
        partial.destroy();
        resolve();
      }, 50);
    });
    expect((await fetch(`${harness.url}/healthz`)).status).toBe(200);
    expect(harness.handler.events).toEqual([]);
    await expect.poll(() => harness?.logs.some((line) => line.code === 'web_upload_aborted')).toBe(true);
    expect(harness.logs.filter((line) => line.level >= 50)).toEqual([]);
  });

  it('answers unknown paths with 404 and wrong methods with 405, as JSON', async () => {
    harness = await startHarness();
    expect(await refusal(await fetch(`${harness.url}/nope`))).toMatchObject({
      status: 404,
      code: 'web_not_found',
    });
    expect(await refusal(await fetch(`${harness.url}/api/sessions`))).toMatchObject({
      status: 405,
      code: 'web_method_not_allowed',
    });
    expect(await refusal(await fetch(`${harness.url}/`, { method: 'DELETE' }))).toMatchObject({
      status: 405,
    });
  });
});
