import OpenAI, { APIError, AuthenticationError, NotFoundError, RateLimitError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { GlimpseError } from '../../src/errors.js';
import { createServeServer, type ServeServer } from '../../src/serve/serve-server.js';
import { ScriptedModel } from '../fakes/scripted-model.js';
import { authHeaders, recordingLogger, scrape, startTestServer, testApiKey } from './serve-helpers.js';

const servers: ServeServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

async function serve(model: ScriptedModel, env: Record<string, string> = {}, heartbeatMs?: number) {
  const started = await startTestServer(model, env, heartbeatMs ? { heartbeatMs } : {});
  servers.push(started.server);
  const client = new OpenAI({ baseURL: `${started.url}/v1`, apiKey: testApiKey, maxRetries: 0 });
  return { ...started, client };
}

const question = [{ role: 'user' as const, content: 'What colour is the circle?' }];

function gate() {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('glimpse serve (scripted model)', () => {
  it('maps the sampling parameters onto the model request', async () => {
    const model = new ScriptedModel([{ deltas: ['a ', 'red ', 'circle'] }]);
    const { client } = await serve(model);
    const completion = await client.chat.completions.create({
      model: 'scripted',
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'What colour?' }] },
      ],
      temperature: 0.7,
      top_p: 0.9,
      max_completion_tokens: 12,
      stop: ['\n\n', 'END'],
      seed: 42,
      // vLLM's extras ride along as extra body fields
      ...({ top_k: 5, repetition_penalty: 1.2 } as object),
    });
    expect(completion.choices[0]?.message.content).toBe('a red circle');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    const request = model.calls[0]!.request;
    expect(request).toMatchObject({
      maxNewTokens: 12,
      temperature: 0.7,
      topP: 0.9,
      topK: 5,
      repetitionPenalty: 1.2,
      seed: 42,
      stop: ['\n\n', 'END'],
    });
    expect(request.messages.map((message) => message.role)).toEqual(['system', 'user']);
    // unset parameters stay unset: the model's configured defaults apply
    const second = new ScriptedModel();
    const { client: other } = await serve(second, { GLIMPSE_MAX_NEW_TOKENS: '33' });
    await other.chat.completions.create({ model: 'scripted', messages: question, max_tokens: null });
    expect(second.calls[0]!.request.temperature).toBeUndefined();
    expect(second.calls[0]!.request.topK).toBeUndefined();
    expect(second.calls[0]!.request.maxNewTokens).toBe(33);
  });

  it('reports a length finish and usage in both forms', async () => {
    const model = new ScriptedModel([
      { deltas: ['one ', 'two ', 'three'] },
      { deltas: ['one ', 'two ', 'three'] },
    ]);
    const { client } = await serve(model);
    const completion = await client.chat.completions.create({
      model: 'scripted',
      messages: question,
      max_tokens: 2,
    });
    expect(completion.choices[0]).toMatchObject({
      finish_reason: 'length',
      message: { content: 'one two ' },
    });
    expect(completion.usage).toMatchObject({ completion_tokens: 2 });
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + 2);

    const stream = await client.chat.completions.create({
      model: 'scripted',
      messages: question,
      max_tokens: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: 2 });
    expect(chunks.at(-2)!.choices[0]?.finish_reason).toBe('length');
    expect(chunks[0]!.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('one two ');
    // one id for every chunk of one answer
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
  });

  it('without include_usage, no usage chunk is sent', async () => {
    const { client } = await serve(new ScriptedModel([{ deltas: ['hi'] }]));
    const stream = await client.chat.completions.create({
      model: 'scripted',
      messages: question,
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((chunk) => chunk.usage === undefined && chunk.choices.length === 1)).toBe(true);
  });

  it('queues past the concurrency and answers 429 with Retry-After past the queue', async () => {
    const hold = gate();
    const model = new ScriptedModel([], { fallback: () => ({ deltas: ['ok'], gate: hold.promise }) });
    const { client, url } = await serve(model, {
      GLIMPSE_SERVE_CONCURRENCY: '1',
      GLIMPSE_SERVE_QUEUE_MAX: '1',
    });
    const first = client.chat.completions.create({ model: 'scripted', messages: question });
    const second = client.chat.completions.create({ model: 'scripted', messages: question, stream: true });
    await expect.poll(async () => (await scrape(url)).get('glimpse_serve_queue_depth')).toBe(1);
    expect((await scrape(url)).get('glimpse_serve_active_streams')).toBe(1);

    const refused = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: authHeaders,
      body: JSON.stringify({ model: 'scripted', messages: question, stream: true }),
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'glimpse_busy' } });
    await expect(
      client.chat.completions.create({ model: 'scripted', messages: question }),
    ).rejects.toBeInstanceOf(RateLimitError);

    hold.open();
    expect((await first).choices[0]?.message.content).toBe('ok');
    let streamed = '';
    for await (const chunk of await second) streamed += chunk.choices[0]?.delta.content ?? '';
    expect(streamed).toBe('ok');
    const metrics = await scrape(url);
    expect(metrics.get('glimpse_serve_requests_total{status="429",stream="true"}')).toBe(1);
    expect(metrics.get('glimpse_serve_requests_total{status="200",stream="true"}')).toBe(1);
    expect(metrics.get('glimpse_serve_queue_depth')).toBe(0);
  });

  it('a client that goes away stops its generation, streaming or waiting in the queue', async () => {
    const model = new ScriptedModel([], {
      fallback: () => ({ deltas: Array(200).fill('word '), delayMs: 20 }),
    });
    const { client, url } = await serve(model, { GLIMPSE_SERVE_CONCURRENCY: '1' });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'scripted', messages: question, stream: true },
      { signal: controller.signal },
    );
    // a second request waits behind the first, then its client gives up too
    const waiting = new AbortController();
    const queued = client.chat.completions.create(
      { model: 'scripted', messages: question },
      { signal: waiting.signal },
    );
    await expect.poll(async () => (await scrape(url)).get('glimpse_serve_queue_depth')).toBe(1);
    waiting.abort();
    await expect(queued).rejects.toThrow();
    await expect.poll(async () => (await scrape(url)).get('glimpse_serve_queue_depth')).toBe(0);
    let received = 0;
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) received++;
        if (received === 3) controller.abort();
      }
    } catch {
      // the client's own abort (the SDK may end the iteration quietly instead)
    }
    expect(received).toBe(3);
    await expect.poll(() => model.calls[0]?.cleanedUp).toBe(true);
    expect(model.calls[0]!.signal?.aborted).toBe(true);
    expect(model.calls[0]!.yielded.length).toBeLessThan(50);
    // the queued request never reached the model; the slot is free again
    expect(model.calls).toHaveLength(1);
    await expect.poll(async () => (await scrape(url)).get('glimpse_serve_active_streams')).toBe(0);
  });

  it('keeps a waiting stream alive with SSE comments', async () => {
    const hold = gate();
    const model = new ScriptedModel([{ deltas: ['first'], gate: hold.promise }, { deltas: ['second'] }]);
    const { url } = await serve(model, { GLIMPSE_SERVE_CONCURRENCY: '1' }, 30);
    const first = fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: authHeaders,
      body: JSON.stringify({ model: 'scripted', messages: question }),
    });
    await expect.poll(async () => (await scrape(url)).get('glimpse_serve_active_streams')).toBe(1);
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: authHeaders,
      body: JSON.stringify({ model: 'scripted', messages: question, stream: true }),
    });
    // the headers and a comment come before the slot does
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes(': keep-alive')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text.startsWith(': queued')).toBe(true);
    hold.open();
    expect((await first).status).toBe(200);
    for (;;) {
      const read = await reader.read();
      if (read.done) break;
      text += new TextDecoder().decode(read.value);
    }
    expect(text).toContain('"content":"second"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('a model error before the answer is a 500 in OpenAI shape; mid-stream, an error event', async () => {
    const failure = new GlimpseError('glimpse_model_failed', 'decoder blew up', {
      userMessage: 'The model failed.',
    });
    const model = new ScriptedModel([
      { deltas: [], error: failure },
      { deltas: ['half '], error: failure },
    ]);
    const { client } = await serve(model);
    const refused = client.chat.completions.create({ model: 'scripted', messages: question });
    await expect(refused).rejects.toBeInstanceOf(APIError);
    await expect(refused).rejects.toMatchObject({ status: 500, code: 'glimpse_model_failed' });
    const stream = await client.chat.completions.create({
      model: 'scripted',
      messages: question,
      stream: true,
    });
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })(),
    ).rejects.toThrow(/The model failed/);
    expect(text).toBe('half ');
  });

  it('refuses missing and wrong keys with 401 in OpenAI shape, and never logs the key', async () => {
    const { url, lines } = await serve(new ScriptedModel());
    for (const apiKey of ['wrong-key-0000000000', undefined]) {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: apiKey ?? 'placeholder', maxRetries: 0 });
      const call = apiKey
        ? client.chat.completions.create({ model: 'scripted', messages: question })
        : client.models.list({ headers: { authorization: null } });
      await expect(call).rejects.toBeInstanceOf(AuthenticationError);
      await expect(call).rejects.toMatchObject({
        status: 401,
        code: apiKey ? 'invalid_api_key' : 'missing_api_key',
        type: 'invalid_request_error',
      });
    }
    const raw = await fetch(`${url}/v1/models`, { headers: { authorization: 'Basic abc' } });
    expect(raw.status).toBe(401);
    expect(raw.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await raw.json()).toEqual({
      error: {
        message: expect.any(String),
        type: 'invalid_request_error',
        param: null,
        code: 'missing_api_key',
      },
    });
    // health, readiness and metrics answer without a key (as vLLM's)
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    expect(lines.join('')).not.toContain(testApiKey);
  });

  it('answers malformed requests with 400s naming the problem', async () => {
    const { url, client } = await serve(new ScriptedModel([], { info: { contextLength: 64 } }));
    const post = (body: string) =>
      fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: authHeaders, body });
    const bad = async (body: string) => {
      const response = await post(body);
      return { status: response.status, ...((await response.json()) as { error: Record<string, unknown> }) };
    };
    expect(await bad('{"model": "scripted", "messages": [')).toMatchObject({
      status: 400,
      error: { code: 'invalid_json', type: 'invalid_request_error' },
    });
    expect(await bad('[]')).toMatchObject({ status: 400, error: { code: 'invalid_request' } });
    expect(await bad(JSON.stringify({ model: 'scripted', messages: [] }))).toMatchObject({
      status: 400,
      error: { code: 'invalid_request', param: 'messages' },
    });
    expect(
      await bad(JSON.stringify({ model: 'scripted', messages: [{ role: 'robot', content: 'hi' }] })),
    ).toMatchObject({ status: 400, error: { param: 'messages.0.role' } });
    expect(
      await bad(
        JSON.stringify({
          model: 'scripted',
          messages: [{ role: 'user', content: [{ type: 'audio', data: 'x' }] }],
        }),
      ),
    ).toMatchObject({ status: 400, error: { param: 'messages.0.content' } });
    expect(
      await bad(JSON.stringify({ model: 'scripted', messages: question, temperature: -1 })),
    ).toMatchObject({
      status: 400,
      error: { param: 'temperature' },
    });
    expect(await bad(JSON.stringify({ model: 'scripted', messages: question, n: 2 }))).toMatchObject({
      status: 400,
      error: { param: 'n' },
    });
    // a prompt, or prompt + max_tokens, over the context (64 here) → 400 as vLLM
    expect(
      await bad(
        JSON.stringify({ model: 'scripted', messages: [{ role: 'user', content: 'word '.repeat(100) }] }),
      ),
    ).toMatchObject({ status: 400, error: { code: 'context_length_exceeded' } });
    expect(
      await bad(JSON.stringify({ model: 'scripted', messages: question, max_tokens: 100 })),
    ).toMatchObject({
      status: 400,
      error: {
        code: 'context_length_exceeded',
        message: expect.stringMatching(/maximum context length is 64/),
      },
    });
    // an unknown model → 404 as OpenAI and vLLM answer it
    await expect(
      client.chat.completions.create({ model: 'gpt-4o', messages: question }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      client.chat.completions.create({ model: 'gpt-4o', messages: question }),
    ).rejects.toMatchObject({
      code: 'model_not_found',
      param: 'model',
    });
    expect((await fetch(`${url}/v1/nothing`, { headers: authHeaders })).status).toBe(404);
    expect((await fetch(`${url}/v1/chat/completions`, { headers: authHeaders })).status).toBe(405);
    // over the body limit (4 images × 10 MiB base64 + 1 MiB) → 413
    const huge = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: authHeaders,
      body: JSON.stringify({
        model: 'scripted',
        messages: [{ role: 'user', content: 'x'.repeat(57 * 1024 * 1024) }],
      }),
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: 'request_too_large' } });
  });

  it('with GLIMPSE_SERVE_IMAGE_HOSTS, image URLs go through the shared downloader and its host rule', async () => {
    const model = new ScriptedModel();
    const { client } = await serve(model, { GLIMPSE_SERVE_IMAGE_HOSTS: 'images.example.com' });
    const ask = (url: string) =>
      client.chat.completions.create({
        model: 'scripted',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }],
      });
    // refused before any connection is made: not an allowed host, and plain http
    for (const url of ['https://elsewhere.example.net/cat.png', 'http://images.example.com/cat.png']) {
      await expect(ask(url)).rejects.toMatchObject({
        status: 400,
        code: 'glimpse_image_download_failed',
        param: 'messages.0.content.0.image_url',
      });
    }
    expect(model.calls).toHaveLength(0);
  });

  it('refuses to listen beyond loopback without an API key, with a config error', async () => {
    const config = loadConfig({ GLIMPSE_SERVE_HOST: '0.0.0.0' });
    const create = () =>
      createServeServer({
        model: new ScriptedModel(),
        serve: config.serve,
        images: config.images,
        defaultMaxTokens: 16,
        logger: recordingLogger().logger,
      });
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(/GLIMPSE_SERVE_API_KEY: required when glimpse serve listens on 0\.0\.0\.0/);
  });

  it('lists the model with max_model_len, and stops: not ready, connections closed', async () => {
    const { client, url, server } = await serve(new ScriptedModel([], { info: { contextLength: 3000 } }));
    const models = await client.models.list();
    expect(models.data).toEqual([
      expect.objectContaining({ id: 'scripted', object: 'model', max_model_len: 3000 }),
    ]);
    expect(await client.models.retrieve('scripted')).toMatchObject({ id: 'scripted' });
    await expect(client.models.retrieve('other')).rejects.toBeInstanceOf(NotFoundError);
    expect(await (await fetch(`${url}/readyz`)).json()).toMatchObject({ status: 'ready', model: 'scripted' });
    await server.stop();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
