import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebAdapter } from '../../src/adapters/web/web-adapter.js';
import { loadConfig } from '../../src/config.js';
import { type App, startApp } from '../../src/main.js';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import type { ServeServer } from '../../src/serve/serve-server.js';
import { SseTestClient } from '../adapters/web/sse-test-client.js';
import { recordingLogger, scrape, startTestServer, testApiKey } from './serve-helpers.js';
import { circlePng } from './shape-images.js';

const modelDir = resolve(import.meta.dirname, '../../models/tiny-shapes');
let model: OnnxLlavaModel;
let server: ServeServer;
let directory: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'glimpse-serve-remote-'));
  model = await OnnxLlavaModel.load({ dir: modelDir, threads: 1 });
  ({ server } = await startTestServer(model));
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await model?.close();
  rmSync(directory, { recursive: true, force: true });
});

const remoteConfig = (env: Record<string, string> = {}) =>
  loadConfig({
    GLIMPSE_MODEL_PROVIDER: 'remote',
    GLIMPSE_REMOTE_URL: server.url,
    GLIMPSE_REMOTE_MODEL: 'tiny-shapes',
    GLIMPSE_REMOTE_API_KEY: testApiKey,
    GLIMPSE_REMOTE_IMAGE_TOKENS: '64',
    GLIMPSE_STORE_PATH: join(directory, 'glimpse.sqlite'),
    GLIMPSE_WEB_PORT: '0',
    GLIMPSE_RATE_LIMIT_PER_MINUTE: '0',
    ...env,
  });

/** Posts a question (and an image) to the playground and collects the answer's text. */
async function askPlayground(
  web: WebAdapter,
  sessionId: string,
  events: SseTestClient,
  text: string,
  png?: Buffer,
) {
  const form = new FormData();
  form.set('text', text);
  if (png) form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'circle.png');
  const response = await fetch(`${web.url}/api/sessions/${sessionId}/messages`, {
    method: 'POST',
    body: form,
  });
  expect(response.status).toBe(202);
  const { messageId } = (await response.json()) as { messageId: string };
  await events.next('done', messageId, 60_000);
  const forMessage = events.forMessage(messageId);
  expect(forMessage.filter((event) => event.event === 'error')).toEqual([]);
  return forMessage
    .filter((event) => event.event === 'delta')
    .map((event) => (event.data as { text: string }).text)
    .join('');
}

describe('the bots on a remote model: GLIMPSE_MODEL_PROVIDER=remote against glimpse serve', () => {
  it('the web playground answers through OpenAICompatibleModel and the served embedded model', async () => {
    const { logger } = recordingLogger();
    const app: App = await startApp(remoteConfig(), logger);
    try {
      // the context length came from /v1/models' max_model_len
      expect(app.model.info).toMatchObject({ id: 'tiny-shapes', contextLength: 2048 });
      const web = app.adapters[0] as WebAdapter;
      const session = (await (await fetch(`${web.url}/api/sessions`, { method: 'POST' })).json()) as {
        sessionId: string;
        conversationId: string;
      };
      const events = await SseTestClient.open(`${web.url}/api/sessions/${session.sessionId}/events`);
      const before = await scrape(server.url);
      const first = await askPlayground(
        web,
        session.sessionId,
        events,
        'What colour is the circle?',
        await circlePng('red'),
      );
      expect(first.toLowerCase()).toContain('red');
      // the second turn sends the whole conversation again, image included: the server's KV cache reuses the first
      const second = await askPlayground(web, session.sessionId, events, 'What colour is the circle?');
      expect(second.toLowerCase()).toContain('red');
      events.close();
      const after = await scrape(server.url);
      const moved = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
      expect(moved('glimpse_serve_requests_total{status="200",stream="true"}')).toBe(2);
      expect(moved('glimpse_serve_kv_cache_hits_total')).toBeGreaterThanOrEqual(1);
      await expect
        .poll(async () => (await app.store.load(session.conversationId)).map((turn) => turn.role))
        .toEqual(['user', 'assistant', 'user', 'assistant']);
    } finally {
      await app.stop();
    }
  }, 120_000);

  it('a wrong key fails at start with one clear error', async () => {
    const { logger } = recordingLogger();
    await expect(
      startApp(remoteConfig({ GLIMPSE_REMOTE_API_KEY: 'not-the-key-123' }), logger),
    ).rejects.toMatchObject({
      code: 'glimpse_remote_failed',
      message: expect.stringMatching(/HTTP 401/),
    });
  });
});
