import nock from 'nock';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createModel } from '../../src/pipeline/create-model.js';
import { OpenAICompatibleModel } from '../../src/pipeline/openai-compatible-model.js';

const origin = 'http://gpu.test:8000';
const config = loadConfig({
  GLIMPSE_MODEL_PROVIDER: 'remote',
  GLIMPSE_REMOTE_URL: `${origin}/v1`,
  GLIMPSE_REMOTE_MODEL: 'llava-hf/llava-1.5-7b-hf',
  GLIMPSE_REMOTE_API_KEY: 'sk-create-model-secret',
  GLIMPSE_MAX_IMAGES: '2',
});
const logger = pino({ level: 'silent' });

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

describe('createModel with GLIMPSE_MODEL_PROVIDER=remote', () => {
  it('returns an OpenAICompatibleModel once the server says it serves the model', async () => {
    const scope = nock(origin, { reqheaders: { authorization: 'Bearer sk-create-model-secret' } })
      .get('/v1/models')
      .reply(200, { data: [{ id: 'llava-hf/llava-1.5-7b-hf', max_model_len: 4096 }] });
    const model = await createModel(config, logger);
    scope.done();
    expect(model).toBeInstanceOf(OpenAICompatibleModel);
    expect(model.info).toMatchObject({
      id: 'llava-hf/llava-1.5-7b-hf',
      source: `${origin}/v1`,
      contextLength: 4096,
      maxImagesPerRequest: 2,
    });
  });

  it('fails at start with one clear error when the model is not served', async () => {
    nock(origin)
      .get('/v1/models')
      .reply(200, { data: [{ id: 'other' }] });
    await expect(createModel(config, logger)).rejects.toMatchObject({
      code: 'glimpse_remote_failed',
      message: expect.stringContaining("model 'llava-hf/llava-1.5-7b-hf' is not served"),
    });
  });
});

describe('GLIMPSE_REMOTE_CONTEXT_LENGTH and GLIMPSE_REMOTE_IMAGE_TOKENS', () => {
  it('override what the server reports and the LLaVA-1.5 default', async () => {
    nock(origin)
      .get('/v1/models')
      .reply(200, { data: [{ id: 'm', max_model_len: 32768 }] });
    const model = await createModel(
      loadConfig({
        GLIMPSE_MODEL_PROVIDER: 'remote',
        GLIMPSE_REMOTE_URL: origin,
        GLIMPSE_REMOTE_MODEL: 'm',
        GLIMPSE_REMOTE_CONTEXT_LENGTH: '8192',
        GLIMPSE_REMOTE_IMAGE_TOKENS: '2880',
      }),
      logger,
    );
    expect(model.info).toMatchObject({ contextLength: 8192, imageTokens: 2880 });
  });

  it('GLIMPSE_REMOTE_RETRIES=0 turns retrying off: a 503 is the answer', async () => {
    const scope = nock(origin)
      .get('/v1/models')
      .reply(200, { data: [{ id: 'm' }] })
      .post('/v1/chat/completions')
      .reply(503, { error: { message: 'loading' } });
    const model = await createModel(
      loadConfig({
        GLIMPSE_MODEL_PROVIDER: 'remote',
        GLIMPSE_REMOTE_URL: origin,
        GLIMPSE_REMOTE_MODEL: 'm',
        GLIMPSE_REMOTE_CONTEXT_LENGTH: '4096',
        GLIMPSE_REMOTE_RETRIES: '0',
      }),
      logger,
    );
    const parts = [];
    for await (const part of model.stream({
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    }))
      parts.push(part);
    scope.done(); // one chat request; a retry would find no reply and fail differently
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { details: { status: 503 } } });
  });

  it('rejects a context length that is not a number', () => {
    expect(() =>
      loadConfig({
        GLIMPSE_MODEL_PROVIDER: 'remote',
        GLIMPSE_REMOTE_URL: origin,
        GLIMPSE_REMOTE_MODEL: 'm',
        GLIMPSE_REMOTE_CONTEXT_LENGTH: 'lots',
      }),
    ).toThrow(/GLIMPSE_REMOTE_CONTEXT_LENGTH/);
  });
});
