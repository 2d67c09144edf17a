import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import nock from 'nock';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GlimpseError } from '../../src/errors.js';
import type { ImagePart } from '../../src/messages.js';
import { OpenAICompatibleModel } from '../../src/pipeline/openai-compatible-model.js';
import type {
  ErrorPart,
  FinishPart,
  ModelRequest,
  ModelStreamPart,
} from '../../src/pipeline/vision-chat-model.js';

const origin = 'http://gpu.test:8000';
const apiKey = 'sk-test-SECRET-4f1c9a';
const png: ImagePart = {
  type: 'image',
  mediaType: 'image/png',
  bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]),
  width: 2,
  height: 2,
  sha256: '00',
  name: 'dot.png',
};
const request: ModelRequest = {
  messages: [
    { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
    {
      role: 'user',
      content: [png, { type: 'text', text: 'What colour is the circle?' }],
    },
  ],
  maxNewTokens: 32,
  temperature: 0,
  topK: 40,
  topP: 0.9,
  repetitionPenalty: 1.1,
  seed: 7,
  stop: ['</s>'],
};

function chunk(content: string | undefined, finishReason: string | null = null): string {
  return `data: ${JSON.stringify({
    id: 'c1',
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finishReason }],
  })}\n\n`;
}
const usageChunk = `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 600, completion_tokens: 3, total_tokens: 603 } })}\n\n`;
const done = 'data: [DONE]\n\n';

/** A body that sends `text` in pieces of `size` bytes, `delayMs` apart. */
function slowBody(text: string, size: number, delayMs = 1): Readable {
  const bytes = Buffer.from(text, 'utf8');
  const pieces: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += size) pieces.push(bytes.subarray(start, start + size));
  return Readable.from(
    (async function* () {
      for (const piece of pieces) {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        yield piece;
      }
    })(),
  );
}

async function collect(iterable: AsyncIterable<ModelStreamPart>): Promise<ModelStreamPart[]> {
  const parts: ModelStreamPart[] = [];
  for await (const part of iterable) parts.push(part);
  return parts;
}

function textOf(parts: ModelStreamPart[]): string {
  return parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
}

function model(options: Partial<ConstructorParameters<typeof OpenAICompatibleModel>[0]> = {}) {
  return new OpenAICompatibleModel({
    url: `${origin}/v1/`,
    model: 'llava-hf/llava-1.5-7b-hf',
    apiKey,
    ...options,
  });
}

function expectNoSecret(error: GlimpseError): void {
  const everything = JSON.stringify({
    message: error.message,
    userMessage: error.userMessage,
    details: error.details,
    stack: error.stack,
    cause: String(error.cause),
  });
  expect(everything).not.toContain(apiKey);
}

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterEach(() => {
  nock.cleanAll();
});
afterAll(() => {
  nock.enableNetConnect();
});

describe('OpenAICompatibleModel request', () => {
  it('posts the OpenAI body (image as a data URL, vLLM extras) with the bearer key', async () => {
    let body: Record<string, unknown> = {};
    const scope = nock(origin, { reqheaders: { authorization: `Bearer ${apiKey}` } })
      .post('/v1/chat/completions', (sent) => {
        body = sent;
        return true;
      })
      .reply(200, chunk('ok', 'stop') + done, { 'content-type': 'text/event-stream' });
    await collect(model().stream(request));
    scope.done();
    expect(body).toEqual({
      model: 'llava-hf/llava-1.5-7b-hf',
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            {
              type: 'image_url',
              image_url: { url: `data:image/png;base64,${Buffer.from(png.bytes).toString('base64')}` },
            },
            { type: 'text', text: 'What colour is the circle?' },
          ],
        },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 32,
      temperature: 0,
      top_p: 0.9,
      top_k: 40,
      repetition_penalty: 1.1,
      seed: 7,
      stop: ['</s>'],
    });
  });

  it('sends no authorization header without a key, and takes unset options from the defaults', async () => {
    let body: Record<string, unknown> = {};
    const scope = nock(origin, { badheaders: ['authorization'] })
      .post('/v1/chat/completions', (sent) => {
        body = sent;
        return true;
      })
      .reply(200, chunk('ok', 'stop') + done);
    const plain = new OpenAICompatibleModel({
      url: origin,
      model: 'm',
      defaults: { maxNewTokens: 256, temperature: 0.7, topP: 1, topK: 0, repetitionPenalty: 1 },
    });
    await collect(plain.stream({ messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }));
    scope.done();
    expect(body).toMatchObject({ max_tokens: 256, temperature: 0.7 });
    expect(body).not.toHaveProperty('top_p');
    expect(body).not.toHaveProperty('top_k');
    expect(body).not.toHaveProperty('repetition_penalty');
    expect(body).not.toHaveProperty('seed');
  });

  it('keeps the newest images within the limit, warns about the rest, and asks about a bare image', async () => {
    let body: { messages?: { role: string; content: unknown }[] } = {};
    nock(origin)
      .post('/v1/chat/completions', (sent) => {
        body = sent;
        return true;
      })
      .reply(200, chunk('ok', 'stop') + done);
    const older: ImagePart = { ...png, bytes: new Uint8Array([1]), name: 'old.png' };
    const parts = await collect(
      model({ maxImagesPerRequest: 1 }).stream({
        messages: [
          { role: 'user', content: [older, { type: 'text', text: 'first' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'a dot' }] },
          { role: 'user', content: [png] },
        ],
      }),
    );
    expect(parts[0]).toMatchObject({ type: 'warning', code: 'glimpse_too_many_images' });
    expect(body.messages).toEqual([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'a dot' },
      {
        role: 'user',
        content: [
          {
            type: 'image_url',
            image_url: { url: `data:image/png;base64,${Buffer.from(png.bytes).toString('base64')}` },
          },
          { type: 'text', text: 'Describe this image.' },
        ],
      },
    ]);
    expect((parts.at(-1) as FinishPart).usage.imageTokens).toBe(576);
  });

  it('describes itself without credentials', () => {
    const remote = new OpenAICompatibleModel({
      url: 'https://user:pw@gpu.test:8000/v1?x=1',
      model: 'm',
      apiKey,
    });
    expect(remote.info).toEqual({
      id: 'm',
      source: 'https://gpu.test:8000/v1',
      contextLength: 4096,
      imageTokens: 576,
      maxImagesPerRequest: 4,
    });
  });
});

describe('OpenAICompatibleModel streaming', () => {
  const stream =
    ': keep-alive\n\n' +
    chunk(undefined) +
    chunk('A red ') +
    chunk('círcle 🌈') +
    chunk('.', 'stop') +
    usageChunk +
    done;

  for (const size of [1, 3, 7, 64]) {
    it(`yields the deltas and a finish with the server's usage (body cut every ${size} bytes)`, async () => {
      nock(origin)
        .post('/v1/chat/completions')
        .reply(200, () => slowBody(stream, size, 0), { 'content-type': 'text/event-stream' });
      const parts = await collect(model().stream(request));
      expect(textOf(parts)).toBe('A red círcle 🌈.');
      expect(parts.filter((part) => part.type === 'text-delta')).toHaveLength(3);
      const finish = parts.at(-1) as FinishPart;
      expect(finish.type).toBe('finish');
      expect(finish.finishReason).toBe('stop');
      expect(finish.usage).toEqual({ promptTokens: 600, imageTokens: 576, completionTokens: 3 });
      expect(finish.timings.timeToFirstTokenMs).toBeGreaterThan(0);
      expect(finish.timings.totalMs).toBeGreaterThanOrEqual(finish.timings.timeToFirstTokenMs);
      expect(finish.timings.decodeTokensPerSecond).toBeGreaterThanOrEqual(0);
    });
  }

  it("reports 'length' when the server stopped at max_tokens", async () => {
    nock(origin)
      .post('/v1/chat/completions')
      .reply(200, chunk('a') + chunk('b', 'length') + done);
    const parts = await collect(model().stream(request));
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'length' });
  });

  it('estimates usage when the server sends none', async () => {
    nock(origin)
      .post('/v1/chat/completions')
      .reply(200, chunk('a') + chunk('b') + chunk('c', 'stop') + done);
    const remote = model();
    const parts = await collect(remote.stream(request));
    const measured = await remote.measure(request.messages);
    expect((parts.at(-1) as FinishPart).usage).toEqual({
      promptTokens: measured.promptTokens,
      imageTokens: 576,
      completionTokens: 3,
    });
  });

  it('counts image tokens per image: info.imageTokens each', async () => {
    nock(origin)
      .post('/v1/chat/completions')
      .reply(200, chunk('x', 'stop') + usageChunk + done);
    const twoImages: ModelRequest = {
      messages: [{ role: 'user', content: [png, png, { type: 'text', text: 'compare' }] }],
    };
    const parts = await collect(model({ imageTokens: 100 }).stream(twoImages));
    expect((parts.at(-1) as FinishPart).usage.imageTokens).toBe(200);
  });

  /** a local server that sends `first` as an endless event stream and records when the client hangs up */
  async function endlessServer(
    first: string,
  ): Promise<{ url: string; hungUp: Promise<void>; close: () => Promise<void> }> {
    let hangUp: () => void = () => undefined;
    const hungUp = new Promise<void>((resolve) => {
      hangUp = resolve;
    });
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(first);
      response.on('close', hangUp);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      hungUp,
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  it('stops on abort mid-stream with finish reason abort and hangs up', async () => {
    const server = await endlessServer(chunk('one ') + chunk('two '));
    try {
      const controller = new AbortController();
      const parts: ModelStreamPart[] = [];
      for await (const part of model({ url: server.url }).stream(request, controller.signal)) {
        parts.push(part);
        if (part.type === 'text-delta' && part.text === 'two ') controller.abort();
      }
      expect(textOf(parts)).toBe('one two ');
      expect(parts.at(-1)).toMatchObject({
        type: 'finish',
        finishReason: 'abort',
        usage: { completionTokens: 2 },
      });
      await server.hungUp;
    } finally {
      await server.close();
    }
  });

  it('finishes with abort when the signal aborts before the headers come', async () => {
    const server = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const parts = await collect(
        model({ url: `http://127.0.0.1:${port}` }).stream(request, AbortSignal.timeout(30)),
      );
      expect(parts).toHaveLength(1);
      expect(parts[0]).toMatchObject({
        type: 'finish',
        finishReason: 'abort',
        usage: { completionTokens: 0 },
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('close() hangs up the answers in flight, which finish with abort', async () => {
    const server = await endlessServer(chunk('one '));
    try {
      const remote = model({ url: server.url });
      const parts: ModelStreamPart[] = [];
      for await (const part of remote.stream(request)) {
        parts.push(part);
        if (part.type === 'text-delta') await remote.close();
      }
      expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'abort' });
      await server.hungUp;
    } finally {
      await server.close();
    }
  });

  it('ends soon after [DONE] even when the server keeps the connection open', async () => {
    const server = await endlessServer(chunk('ok', 'stop') + usageChunk + done);
    try {
      const parts = await collect(model({ url: server.url }).stream(request));
      expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
      await server.hungUp;
    } finally {
      await server.close();
    }
  });

  it('finishes with abort at once when the signal is already aborted', async () => {
    const parts = await collect(model().stream(request, AbortSignal.abort()));
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatchObject({ type: 'finish', finishReason: 'abort' });
  });

  it('hangs up when the consumer stops iterating early', async () => {
    const server = await endlessServer(chunk('one '));
    try {
      for await (const part of model({ url: server.url }).stream(request)) {
        if (part.type === 'text-delta') break;
      }
      await server.hungUp;
    } finally {
      await server.close();
    }
  });

  it('is lazy: nothing is sent until iteration starts', async () => {
    const scope = nock(origin).post('/v1/chat/completions').reply(200, done);
    model().stream(request);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(scope.isDone()).toBe(false);
  });
});

describe('OpenAICompatibleModel errors', () => {
  async function errorOf(parts: ModelStreamPart[]): Promise<GlimpseError> {
    const last = parts.at(-1) as ErrorPart;
    expect(last.type).toBe('error');
    expect(last.error.code).toBe('glimpse_remote_failed');
    expectNoSecret(last.error);
    return last.error;
  }

  const cases: [number, unknown, RegExp][] = [
    [401, { error: { message: `Invalid API key ${apiKey}`, type: 'invalid_request_error' } }, /credentials/],
    [
      404,
      { object: 'error', message: 'The model `nope` does not exist.', type: 'NotFoundError', code: 404 },
      /not available/,
    ],
    [429, { error: { message: 'rate limited' } }, /busy/],
    [500, 'Internal Server Error', /problem/],
    [503, { error: 'overloaded' }, /problem/],
  ];
  for (const [status, body, userMessage] of cases) {
    // 429 and 5xx are asked again (here twice, 1 ms apart) before the error; 401 and 404 are not
    const attempts = status === 429 || status >= 500 ? 3 : 1;
    it(`turns HTTP ${status} into glimpse_remote_failed with a short user message and no key (${attempts} attempt${attempts > 1 ? 's' : ''})`, async () => {
      const scope = nock(origin)
        .post('/v1/chat/completions')
        .times(attempts)
        .reply(status, body as nock.Body);
      const error = await errorOf(
        await collect(model({ retry: { retries: 2, minDelayMs: 1 } }).stream(request)),
      );
      scope.done();
      expect(nock.pendingMocks()).toEqual([]);
      expect(error.userMessage).toMatch(userMessage);
      expect(error.message).toContain(String(status));
      expect(error.details).toMatchObject({ status });
    });
  }

  it('says the server’s own words in the log message (e.g. the missing model)', async () => {
    nock(origin)
      .post('/v1/chat/completions')
      .reply(404, { object: 'error', message: 'The model `nope` does not exist.' });
    const error = await errorOf(await collect(model().stream(request)));
    expect(error.message).toContain('The model `nope` does not exist.');
  });

  it('reports a refused connection', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const remote = new OpenAICompatibleModel({
      url: `http://127.0.0.1:${port}`,
      model: 'm',
      apiKey,
      retry: { minDelayMs: 1 },
    });
    const error = await errorOf(await collect(remote.stream(request)));
    expect(error.userMessage).toMatch(/unavailable .*cannot be reached/);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('reports an event that is not JSON', async () => {
    nock(origin)
      .post('/v1/chat/completions')
      .reply(200, `${chunk('a')}data: {"choices": [oops\n\n${done}`);
    const parts = await collect(model().stream(request));
    expect(textOf(parts)).toBe('a');
    const error = await errorOf(parts);
    expect(error.userMessage).toMatch(/could not read/);
  });

  it('reports an error the server sends inside the stream', async () => {
    nock(origin)
      .post('/v1/chat/completions')
      .reply(200, `${chunk('a')}data: {"error": {"message": "CUDA out of memory", "code": 500}}\n\n`);
    const error = await errorOf(await collect(model().stream(request)));
    expect(error.message).toContain('CUDA out of memory');
  });

  it('reports a stream cut off before its end', async () => {
    nock(origin)
      .post('/v1/chat/completions')
      .reply(200, chunk('a') + chunk('b'));
    const parts = await collect(model().stream(request));
    expect(textOf(parts)).toBe('ab');
    const error = await errorOf(parts);
    expect(error.userMessage).toMatch(/midway/);
  });

  it('times out when the first byte does not come', async () => {
    nock(origin)
      .post('/v1/chat/completions')
      .reply(200, () => new Readable({ read() {} }));
    const error = await errorOf(await collect(model({ firstByteTimeoutMs: 50 }).stream(request)));
    expect(error.userMessage).toMatch(/too long/);
  });

  it('times out when the response headers do not come', async () => {
    const server = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const remote = new OpenAICompatibleModel({
        url: `http://127.0.0.1:${port}`,
        model: 'm',
        apiKey,
        firstByteTimeoutMs: 50,
      });
      const error = await errorOf(await collect(remote.stream(request)));
      expect(error.userMessage).toMatch(/too long/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keeps the key out of the log lines, even at trace level', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(data, _encoding, callback) {
        lines.push(String(data));
        callback();
      },
    });
    const logger = pino({ level: 'trace' }, destination);
    nock(origin)
      .post('/v1/chat/completions')
      .reply(401, { error: { message: `bad key ${apiKey}` } });
    const parts = await collect(model({ logger }).stream(request));
    const error = (parts.at(-1) as ErrorPart).error;
    logger.error({ err: error }, 'remote failed');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toContain(apiKey);
  });
});

describe('OpenAICompatibleModel.connect', () => {
  it('checks the model exists and takes the context length the server reports', async () => {
    nock(origin, { reqheaders: { authorization: `Bearer ${apiKey}` } })
      .get('/v1/models')
      .reply(200, { object: 'list', data: [{ id: 'llava-hf/llava-1.5-7b-hf', max_model_len: 8192 }] });
    const remote = await OpenAICompatibleModel.connect({
      url: origin,
      model: 'llava-hf/llava-1.5-7b-hf',
      apiKey,
    });
    expect(remote.info.contextLength).toBe(8192);
  });

  it('keeps a configured context length', async () => {
    nock(origin)
      .get('/v1/models')
      .reply(200, { data: [{ id: 'm', max_model_len: 8192 }] });
    const remote = await OpenAICompatibleModel.connect({ url: origin, model: 'm', contextLength: 2048 });
    expect(remote.info.contextLength).toBe(2048);
  });

  it('throws one clear error when the server does not serve the model', async () => {
    nock(origin)
      .get('/v1/models')
      .reply(200, { data: [{ id: 'other-model' }] });
    const failure = OpenAICompatibleModel.connect({ url: origin, model: 'llava', apiKey });
    await expect(failure).rejects.toMatchObject({
      code: 'glimpse_remote_failed',
      message: expect.stringContaining(
        "model 'llava' is not served by http://gpu.test:8000 (it serves: other-model)",
      ),
    });
  });

  it('accepts a server without /v1/models', async () => {
    nock(origin).get('/v1/models').reply(404, 'Not Found');
    const remote = await OpenAICompatibleModel.connect({ url: origin, model: 'm' });
    expect(remote.info.id).toBe('m');
  });

  it('throws on a refused key, without the key', async () => {
    nock(origin)
      .get('/v1/models')
      .reply(401, { error: { message: 'Invalid API key' } });
    const error = await OpenAICompatibleModel.connect({ url: origin, model: 'm', apiKey }).catch(
      (caught) => caught,
    );
    expect(error).toMatchObject({
      code: 'glimpse_remote_failed',
      userMessage: expect.stringMatching(/credentials/),
    });
    expectNoSecret(error);
  });
});

describe('OpenAICompatibleModel.measure', () => {
  it('estimates text at one token per 3 bytes plus template overhead and image tokens', async () => {
    const measured = await model({ imageTokens: 10 }).measure([
      { role: 'user', content: [png, { type: 'text', text: 'abcdef' }] },
    ]);
    // 2 (BOS, assistant prefix) + 4 (message) + 10 (image) + 2 (6 bytes / 3)
    expect(measured).toEqual({ promptTokens: 18, imageTokens: 10 });
  });
});
