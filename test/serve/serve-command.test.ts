import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { loadConfig } from '../../src/config.js';
import { captureIo } from '../fakes/captured-io.js';
import { testApiKey } from './serve-helpers.js';
import { circlePng, dataUrl } from './shape-images.js';

const root = resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** The environment without Glimpse's own variables (a developer's .env or shell must not leak in). */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(GLIMPSE_|DISCORD_|SLACK_|REDIS_URL$)/.test(key)) env[key] = value;
  }
  return env;
}

describe('glimpse serve (the command)', () => {
  it('refuses a non-loopback host without an API key, and bad flags, before loading anything', async () => {
    const io = captureIo(() => loadConfig({}));
    expect(await main(['serve', '--host', '0.0.0.0'], io)).toBe(2);
    expect(io.err()).toMatch(/GLIMPSE_SERVE_API_KEY: required when glimpse serve listens on 0\.0\.0\.0/);
    const env = captureIo(() => loadConfig({ GLIMPSE_SERVE_HOST: '10.0.0.5' }));
    expect(await main(['serve'], env)).toBe(2);
    expect(env.err()).toMatch(/GLIMPSE_SERVE_API_KEY/);
    const port = captureIo(() => loadConfig({}));
    expect(await main(['serve', '--port', 'eighty'], port)).toBe(2);
    expect(port.err()).toMatch(/--port expects a port number/);
    const remote = captureIo(() =>
      loadConfig({
        GLIMPSE_MODEL_PROVIDER: 'remote',
        GLIMPSE_REMOTE_URL: 'http://x:1',
        GLIMPSE_REMOTE_MODEL: 'm',
      }),
    );
    expect(await main(['serve'], remote)).toBe(2);
    expect(remote.err()).toMatch(/GLIMPSE_MODEL_PROVIDER=onnx/);
  });

  it('bin/glimpse serve answers the openai client, keeps the key out of its log, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [resolve(root, 'bin/glimpse'), 'serve', '--port', '0'], {
      cwd: root,
      env: { ...cleanEnv(), GLIMPSE_LOG_FORMAT: 'json', GLIMPSE_SERVE_API_KEY: testApiKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    let url: string | undefined;
    await expect
      .poll(
        () => {
          url = /serving tiny-shapes on (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(output)?.[1];
          return url;
        },
        { timeout: 30_000 },
      )
      .toBeDefined();
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: testApiKey, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'tiny-shapes',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: dataUrl(await circlePng('red')) } },
            { type: 'text', text: 'What colour is the circle?' },
          ],
        },
      ],
    });
    expect(completion.choices[0]?.message.content).toMatch(/red/i);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toMatch(/"msg":"stopped"/);
    expect(output).not.toContain(testApiKey);
  }, 60_000);
});
