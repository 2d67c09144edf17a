import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OpenAICompatibleModel } from '../../src/pipeline/openai-compatible-model.js';
import type { FinishPart, ModelRequest, ModelStreamPart } from '../../src/pipeline/vision-chat-model.js';
import { glimpseServe, llamaCpp, vllm } from './remote/server-fixtures.js';

const origin = 'http://gpu.test:8000';
const request: ModelRequest = {
  messages: [
    {
      role: 'user',
      content: [
        {
          type: 'image',
          mediaType: 'image/png',
          bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
          width: 1,
          height: 1,
          sha256: '00',
          name: 'x.png',
        },
        { type: 'text', text: 'What colour is the circle?' },
      ],
    },
  ],
};

async function collect(iterable: AsyncIterable<ModelStreamPart>): Promise<ModelStreamPart[]> {
  const parts: ModelStreamPart[] = [];
  for await (const part of iterable) parts.push(part);
  return parts;
}
const textOf = (parts: ModelStreamPart[]) =>
  parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

describe('vLLM (vllm serve llava-hf/llava-1.5-7b-hf)', () => {
  it('takes max_model_len from /v1/models and streams its chunks (empty contents, usage chunk)', async () => {
    const scope = nock(origin)
      .get('/v1/models')
      .reply(200, vllm.models)
      .post('/v1/chat/completions')
      .reply(200, vllm.stream, { 'content-type': 'text/event-stream' });
    const model = await OpenAICompatibleModel.connect({
      url: `${origin}/v1`,
      model: 'llava-hf/llava-1.5-7b-hf',
    });
    expect(model.info.contextLength).toBe(4096);
    const parts = await collect(model.stream(request));
    scope.done(); // /props was not asked: vLLM reported its context
    expect(textOf(parts)).toBe('The circle is red.');
    expect(parts.filter((part) => part.type === 'text-delta')).toHaveLength(2);
    expect((parts.at(-1) as FinishPart).usage).toEqual({
      promptTokens: 601,
      imageTokens: 576,
      completionTokens: 4,
    });
  });
});

describe('llama.cpp (llama-server --mmproj)', () => {
  it('takes n_ctx from GET /props, accepts its one model under another name, and reads its stream', async () => {
    const scope = nock(origin)
      .get('/v1/models')
      .reply(200, llamaCpp.models)
      .get('/props')
      .reply(200, llamaCpp.props)
      .post('/v1/chat/completions')
      .reply(200, llamaCpp.stream, { 'content-type': 'text/event-stream' });
    const model = await OpenAICompatibleModel.connect({ url: origin, model: 'llava' });
    expect(model.info.contextLength).toBe(2048);
    const parts = await collect(model.stream(request));
    scope.done();
    expect(textOf(parts)).toBe('A red circle.');
    const finish = parts.at(-1) as FinishPart;
    expect(finish).toMatchObject({ type: 'finish', finishReason: 'stop' });
    expect(finish.usage).toEqual({ promptTokens: 612, imageTokens: 576, completionTokens: 3 });
    // llama.cpp says how long the prompt took
    expect(finish.timings.prefillMs).toBe(182.4);
  });

  it('keeps a configured context length but still checks the vision projector', async () => {
    const scope = nock(origin)
      .get('/v1/models')
      .reply(200, llamaCpp.models)
      .get('/props')
      .reply(200, llamaCpp.props);
    const model = await OpenAICompatibleModel.connect({ url: origin, model: 'llava', contextLength: 1024 });
    scope.done();
    expect(model.info.contextLength).toBe(1024);
  });

  it('refuses a llama-server started without --mmproj, saying so', async () => {
    nock(origin)
      .get('/v1/models')
      .reply(200, llamaCpp.models)
      .get('/props')
      .reply(200, { ...llamaCpp.props, modalities: { vision: false, audio: false } });
    await expect(OpenAICompatibleModel.connect({ url: origin, model: 'llava' })).rejects.toMatchObject({
      code: 'glimpse_remote_failed',
      message: expect.stringContaining('--mmproj'),
    });
  });

  it('falls back to 4096 when /props cannot be read', async () => {
    nock(origin).get('/v1/models').reply(200, llamaCpp.models).get('/props').reply(500, 'oops');
    const model = await OpenAICompatibleModel.connect({ url: origin, model: 'llava' });
    expect(model.info.contextLength).toBe(4096);
  });

  it('asks /props of a server that lists no max_model_len, and does without when it has none', async () => {
    const scope = nock(origin)
      .get('/v1/models')
      .reply(200, { data: [{ id: 'm', object: 'model' }] })
      .get('/props')
      .reply(404, 'Not Found');
    const model = await OpenAICompatibleModel.connect({ url: origin, model: 'm' });
    scope.done();
    expect(model.info.contextLength).toBe(4096);
  });
});

describe('glimpse serve', () => {
  it('takes its max_model_len and streams its OpenAI chunks', async () => {
    const scope = nock(origin, { reqheaders: { authorization: 'Bearer sk-serve' } })
      .get('/v1/models')
      .reply(200, glimpseServe.models)
      .post('/v1/chat/completions')
      .reply(200, glimpseServe.stream, { 'content-type': 'text/event-stream' });
    const model = await OpenAICompatibleModel.connect({
      url: origin,
      model: 'tiny-shapes',
      apiKey: 'sk-serve',
    });
    expect(model.info.contextLength).toBe(512);
    const parts = await collect(model.stream(request));
    scope.done();
    expect(textOf(parts)).toBe('red circle');
    expect((parts.at(-1) as FinishPart).usage.completionTokens).toBe(2);
  });
});

describe('chunks that are not chat completion chunks', () => {
  it('reports a chunk whose choices are not a list as unreadable', async () => {
    nock(origin)
      .post('/v1/chat/completions')
      .reply(200, 'data: {"choices": "red"}\n\n', { 'content-type': 'text/event-stream' });
    const parts = await collect(new OpenAICompatibleModel({ url: origin, model: 'm' }).stream(request));
    expect(parts.at(-1)).toMatchObject({
      type: 'error',
      error: { code: 'glimpse_remote_failed', message: expect.stringContaining('choices') },
    });
  });
});
