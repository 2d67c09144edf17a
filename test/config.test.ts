import { describe, expect, it } from 'vitest';
import { ConfigError, checkServeBinding, isLoopbackHost, loadConfig, secretValues } from '../src/config.js';

function issuesOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives working defaults for an empty environment: onnx on the embedded model, web on loopback', () => {
    const config = loadConfig({});
    expect(config.model).toMatchObject({
      provider: 'onnx',
      dir: 'models/tiny-shapes',
      device: 'cpu',
      imageMode: 'crop',
      kvCacheMb: 256,
      imageCacheMb: 64,
    });
    expect(config.web).toEqual({ enabled: true, host: '127.0.0.1', port: 8080 });
    expect(config.store).toEqual({ sqlitePath: './data/glimpse.sqlite', historyTtlSeconds: 7 * 86400 });
    expect(config.scheduler.concurrency).toBe(1);
    expect(config.discord).toBeUndefined();
    expect(config.slack).toBeUndefined();
  });

  it('sizes the reuse caches in MiB (0 turns one off) and refuses what is not a size', () => {
    expect(loadConfig({ GLIMPSE_KV_CACHE_MB: '0', GLIMPSE_IMAGE_CACHE_MB: '16' }).model).toMatchObject({
      kvCacheMb: 0,
      imageCacheMb: 16,
    });
    const error = issuesOf({ GLIMPSE_KV_CACHE_MB: 'lots', GLIMPSE_IMAGE_CACHE_MB: '-1' });
    expect(error.issues.map((issue) => issue.variable).sort()).toEqual([
      'GLIMPSE_IMAGE_CACHE_MB',
      'GLIMPSE_KV_CACHE_MB',
    ]);
  });

  it('reports every bad variable at once, naming each and what it expects', () => {
    const error = issuesOf({
      GLIMPSE_WEB_PORT: 'eighty',
      GLIMPSE_TEMPERATURE: '9',
      REDIS_URL: 'http://localhost:6379',
      GLIMPSE_DEVICE: 'tpu',
      SLACK_BOT_TOKEN: 'xoxp-user-token',
      GLIMPSE_HISTORY_TTL: 'a week',
    });
    const byVariable = Object.fromEntries(error.issues.map((issue) => [issue.variable, issue.message]));
    expect(Object.keys(byVariable).sort()).toEqual(
      [
        'GLIMPSE_DEVICE',
        'GLIMPSE_HISTORY_TTL',
        'GLIMPSE_TEMPERATURE',
        'GLIMPSE_WEB_PORT',
        'REDIS_URL',
        'SLACK_BOT_TOKEN',
        'SLACK_SIGNING_SECRET',
      ].sort(),
    );
    expect(byVariable.GLIMPSE_WEB_PORT).toMatch(/whole number/);
    expect(byVariable.GLIMPSE_TEMPERATURE).toMatch(/at most 5/);
    expect(byVariable.REDIS_URL).toMatch(/redis:\/\//);
    expect(byVariable.SLACK_BOT_TOKEN).toMatch(/xoxb-/);
    // one message lists them all
    for (const variable of Object.keys(byVariable)) expect(error.message).toContain(variable);
    expect(error.message).toMatch(/7 problems/);
    expect(error.code).toBe('glimpse_config_invalid');
  });

  it('requires the remote settings together and never echoes secret values in its message', () => {
    const error = issuesOf({ GLIMPSE_MODEL_PROVIDER: 'remote', GLIMPSE_REMOTE_API_KEY: 'sk-very-secret' });
    expect(error.issues.map((issue) => issue.variable).sort()).toEqual([
      'GLIMPSE_REMOTE_MODEL',
      'GLIMPSE_REMOTE_URL',
    ]);
    expect(error.message).not.toContain('sk-very-secret');
  });

  it('parses durations, booleans and numbers, and treats blank values as unset', () => {
    const config = loadConfig({
      GLIMPSE_HISTORY_TTL: '12h',
      GLIMPSE_WEB_ENABLED: 'off',
      GLIMPSE_WEB_PORT: '',
      GLIMPSE_MAX_IMAGES: '2',
      DISCORD_TOKEN: 'abc.def',
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_APP_TOKEN: 'xapp-1',
    });
    expect(config.store.historyTtlSeconds).toBe(12 * 3600);
    expect(config.web).toEqual({ enabled: false, host: '127.0.0.1', port: 8080 });
    expect(config.images.maxPerRequest).toBe(2);
    expect(config.discord).toMatchObject({ token: 'abc.def', apiUrl: 'https://discord.com/api', dms: true });
    expect(config.discord?.access.guilds).toEqual({ allow: [], deny: [] });
    expect(config.slack).toMatchObject({
      botToken: 'xoxb-1',
      signingSecret: '',
      appToken: 'xapp-1',
      port: 3000,
    });
    expect(config.slack?.apiUrl).toBe('https://slack.com/api/');
  });
});

describe('glimpse serve configuration', () => {
  it('defaults to 127.0.0.1:8000 (as vLLM), no key, one generation at a time, 64 waiting, no remote images', () => {
    expect(loadConfig({}).serve).toEqual({
      host: '127.0.0.1',
      port: 8000,
      concurrency: 1,
      queueMax: 64,
      imageHosts: [],
    });
    const config = loadConfig({
      GLIMPSE_SERVE_HOST: '0.0.0.0',
      GLIMPSE_SERVE_PORT: '9000',
      GLIMPSE_SERVE_API_KEY: 'sk-serve-secret-1',
      GLIMPSE_SERVE_CONCURRENCY: '4',
      GLIMPSE_SERVE_QUEUE_MAX: '8',
      GLIMPSE_SERVE_IMAGE_HOSTS: 'images.example.com, .cdn.example.org',
    });
    expect(config.serve).toEqual({
      host: '0.0.0.0',
      port: 9000,
      apiKey: 'sk-serve-secret-1',
      concurrency: 4,
      queueMax: 8,
      imageHosts: ['images.example.com', '.cdn.example.org'],
    });
    // the key is scrubbed from every log line
    expect(secretValues(config)).toContain('sk-serve-secret-1');
  });

  it('reports bad serve variables with the others', () => {
    const error = issuesOf({
      GLIMPSE_SERVE_PORT: '70000',
      GLIMPSE_SERVE_API_KEY: 'short',
      GLIMPSE_SERVE_CONCURRENCY: '0',
      GLIMPSE_SERVE_IMAGE_HOSTS: 'https://x.com/a',
    });
    expect(error.issues.map((issue) => issue.variable).sort()).toEqual([
      'GLIMPSE_SERVE_API_KEY',
      'GLIMPSE_SERVE_CONCURRENCY',
      'GLIMPSE_SERVE_IMAGE_HOSTS',
      'GLIMPSE_SERVE_PORT',
    ]);
  });

  it('needs an API key to listen anywhere but loopback', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]']) {
      expect(isLoopbackHost(host), host).toBe(true);
      expect(() => checkServeBinding({ host })).not.toThrow();
    }
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'gpu.internal', '128.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(false);
      expect(() => checkServeBinding({ host }), host).toThrow(ConfigError);
      expect(() => checkServeBinding({ host, apiKey: 'sk-serve-secret-1' })).not.toThrow();
    }
  });
});

describe('the Hub settings (glimpse models pull)', () => {
  it('HF_ENDPOINT defaults to huggingface.co, loses a trailing slash; HF_TOKEN is a secret to scrub', () => {
    expect(loadConfig({}).hub).toEqual({ endpoint: 'https://huggingface.co' });
    const config = loadConfig({ HF_ENDPOINT: 'http://mirror.local:8080/', HF_TOKEN: 'hf_abcdefgh12345678' });
    expect(config.hub).toEqual({ endpoint: 'http://mirror.local:8080', token: 'hf_abcdefgh12345678' });
    expect(secretValues(config)).toContain('hf_abcdefgh12345678');
    expect(() => loadConfig({ HF_ENDPOINT: 'ftp://x' })).toThrow(/HF_ENDPOINT/);
  });

  it('GLIMPSE_REMOTE_RETRIES: 3 by default, 0 to 10', () => {
    const remote = {
      GLIMPSE_MODEL_PROVIDER: 'remote',
      GLIMPSE_REMOTE_URL: 'http://gpu:8000',
      GLIMPSE_REMOTE_MODEL: 'm',
    };
    expect(loadConfig(remote).model).toMatchObject({ retries: 3 });
    expect(loadConfig({ ...remote, GLIMPSE_REMOTE_RETRIES: '0' }).model).toMatchObject({ retries: 0 });
    expect(() => loadConfig({ ...remote, GLIMPSE_REMOTE_RETRIES: '11' })).toThrow(/GLIMPSE_REMOTE_RETRIES/);
  });
});
