import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  OpenAICompatibleModel,
  type OpenAICompatibleModelOptions,
} from '../../src/pipeline/openai-compatible-model.js';
import type { ModelRequest, ModelStreamPart } from '../../src/pipeline/vision-chat-model.js';
import { recordingLogger } from '../conversation/helpers.js';
import {
  answer,
  chunk,
  cutAfter,
  type ScriptedReply,
  ScriptedServer,
  status,
} from './remote/scripted-server.js';

const request: ModelRequest = { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] };

async function collect(iterable: AsyncIterable<ModelStreamPart>): Promise<ModelStreamPart[]> {
  const parts: ModelStreamPart[] = [];
  for await (const part of iterable) parts.push(part);
  return parts;
}

const textOf = (parts: ModelStreamPart[]) =>
  parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(...script: ScriptedReply[]): Promise<ScriptedServer> {
  server = await new ScriptedServer(script).start();
  return server;
}

function model(url: string, options: Partial<OpenAICompatibleModelOptions> = {}) {
  return new OpenAICompatibleModel({ url, model: 'm', retry: { retries: 3, minDelayMs: 5 }, ...options });
}

describe('OpenAICompatibleModel retries before the first token', () => {
  it('answers after a 503 within the retry budget, and says it retried in the log', async () => {
    const host = await serve(status(503), answer('Red', '.'));
    const { logger, lines } = recordingLogger();
    const parts = await collect(model(host.url, { logger }).stream(request));
    expect(textOf(parts)).toBe('Red.');
    expect(parts.filter((part) => part.type === 'error')).toEqual([]);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
    expect(host.requests).toBe(2);
    expect(lines.filter((line) => line.code === 'glimpse_remote_retry')).toMatchObject([
      { attempt: 1, delayMs: 5, reason: expect.stringContaining('HTTP 503') },
    ]);
  });

  it('backs off exponentially: 5, 10, 20 ms, then gives up with the last error', async () => {
    const host = await serve(status(502));
    const { logger, lines } = recordingLogger();
    const parts = await collect(model(host.url, { logger }).stream(request));
    expect(parts.at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'glimpse_remote_failed', details: { status: 502 } },
    });
    expect(host.requests).toBe(4);
    expect(lines.filter((line) => line.code === 'glimpse_remote_retry').map((line) => line.delayMs)).toEqual([
      5, 10, 20,
    ]);
  });

  it("waits out a 429's Retry-After when it asks for longer than the backoff", async () => {
    const host = await serve(status(429, { 'retry-after': '1' }), answer('ok'));
    const { logger, lines } = recordingLogger();
    const parts = await collect(model(host.url, { logger }).stream(request));
    expect(textOf(parts)).toBe('ok');
    expect(lines.find((line) => line.code === 'glimpse_remote_retry')).toMatchObject({ delayMs: 1000 });
    // not sooner than the server asked (a lower bound, not a speed)
    expect(host.arrivals[1]! - host.arrivals[0]!).toBeGreaterThanOrEqual(950);
  });

  it('does not retry when Retry-After asks for more than it waits: busy at once, saying so', async () => {
    const host = await serve(status(503, { 'retry-after': '120' }), answer('never'));
    const parts = await collect(model(host.url).stream(request));
    expect(host.requests).toBe(1);
    expect(parts.at(-1)).toMatchObject({
      type: 'error',
      error: {
        code: 'glimpse_remote_failed',
        message: expect.stringContaining('Retry-After 120 s'),
        userMessage: expect.stringMatching(/had a problem/),
        details: { status: 503, retryAfterMs: 120_000 },
      },
    });
  });

  for (const code of [400, 401, 404, 413]) {
    it(`does not retry HTTP ${code}`, async () => {
      const host = await serve(status(code), answer('never'));
      const parts = await collect(model(host.url).stream(request));
      expect(host.requests).toBe(1);
      expect(parts.at(-1)).toMatchObject({ type: 'error', error: { details: { status: code } } });
    });
  }

  it('retries a refused connection: the host coming up in between answers the same request', async () => {
    const host = await serve(answer('up'));
    // a port nothing listens on
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const tried: string[] = [];
    const flaky: typeof fetch = (input, init) => {
      const url = String(input);
      tried.push(url);
      // the first try goes to the dead port: a real ECONNREFUSED
      return fetch(tried.length === 1 ? url.replace(host.url, `http://127.0.0.1:${deadPort}`) : url, init);
    };
    const parts = await collect(model(host.url, { fetch: flaky }).stream(request));
    expect(textOf(parts)).toBe('up');
    expect(tried).toHaveLength(2);
    expect(host.requests).toBe(1);
  });

  it('retries an answer cut before its first token (only the role chunk came), without repeating text', async () => {
    const host = await serve(cutAfter(chunk(undefined)), answer('Blue', '.'));
    const parts = await collect(model(host.url).stream(request));
    expect(textOf(parts)).toBe('Blue.');
    expect(parts.filter((part) => part.type === 'error')).toEqual([]);
    expect(host.requests).toBe(2);
  });

  it('retries an empty 200 body (ended before anything was said)', async () => {
    const host = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(': keep-alive\n\n');
    }, answer('fine'));
    const parts = await collect(model(host.url).stream(request));
    expect(textOf(parts)).toBe('fine');
    expect(host.requests).toBe(2);
  });

  it('never retries once a token was shown: a cut after it is an error part, and one request', async () => {
    const host = await serve(cutAfter(chunk(undefined) + chunk('Gre')), answer('never'));
    const parts = await collect(model(host.url).stream(request));
    expect(textOf(parts)).toBe('Gre');
    expect(parts.at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'glimpse_remote_failed', userMessage: expect.stringMatching(/midway/) },
    });
    expect(host.requests).toBe(1);
  });

  it('does not retry an error event the server sends before any token', async () => {
    const host = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(`${chunk(undefined)}data: {"error": {"message": "image too large", "code": 400}}\n\n`);
    }, answer('never'));
    const parts = await collect(model(host.url).stream(request));
    expect(parts.at(-1)).toMatchObject({
      type: 'error',
      error: { message: expect.stringContaining('image too large') },
    });
    expect(host.requests).toBe(1);
  });

  it('does not retry a first-byte timeout (it already waited the whole time)', async () => {
    const host = await serve(() => {
      // never answers
    });
    const parts = await collect(model(host.url, { firstByteTimeoutMs: 50 }).stream(request));
    expect(parts.at(-1)).toMatchObject({
      type: 'error',
      error: { userMessage: expect.stringMatching(/too long/) },
    });
    expect(host.requests).toBe(1);
  });

  it('retries: 0 turns retrying off', async () => {
    const host = await serve(status(503), answer('never'));
    const parts = await collect(model(host.url, { retry: { retries: 0 } }).stream(request));
    expect(parts.at(-1)).toMatchObject({ type: 'error' });
    expect(host.requests).toBe(1);
  });

  it('an abort during the backoff ends the answer with abort at once, without another request', async () => {
    const host = await serve(status(503), answer('never'));
    const controller = new AbortController();
    const { logger } = recordingLogger();
    // a backoff of a minute: the test ends only because the abort cuts it short
    const remote = model(host.url, { retry: { retries: 3, minDelayMs: 60_000 }, logger });
    const parts: ModelStreamPart[] = [];
    const iterating = (async () => {
      for await (const part of remote.stream(request, controller.signal)) parts.push(part);
    })();
    while (host.requests === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await iterating;
    expect(parts).toEqual([expect.objectContaining({ type: 'finish', finishReason: 'abort' })]);
    expect(host.requests).toBe(1);
  });

  it('close() during the backoff ends the answer with abort', async () => {
    const host = await serve(status(503), answer('never'));
    const remote = model(host.url, { retry: { retries: 3, minDelayMs: 60_000 } });
    const iterating = collect(remote.stream(request));
    while (host.requests === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await remote.close();
    const parts = await iterating;
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'abort' });
    expect(host.requests).toBe(1);
  });
});
