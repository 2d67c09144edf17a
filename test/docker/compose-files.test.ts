import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envSchema, loadConfig } from '../../src/config.js';

/**
 * The compose files, read as Docker Compose reads them (YAML with anchors and merge keys), checked
 * where no Docker engine is at hand: the services and how they reach each other, healthchecks,
 * the GPU reservation, read-only models, and that every GLIMPSE_* variable they set or
 * interpolate is one src/config.ts knows — each bot's environment is loaded by loadConfig.
 */

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; interval?: string; start_period?: string };
  deploy?: {
    replicas?: number | string;
    resources?: { reservations?: { devices?: { driver: string; count?: number; capabilities: string[] }[] } };
  };
}
interface ComposeFile {
  services: Record<string, Service>;
}

/**
 * `glimpse serve`'s settings (the serve branch adds them to src/config.ts). Until they are in the
 * schema they are taken as the contract; once any GLIMPSE_SERVE_* key is, all must be.
 */
const serveContract = ['GLIMPSE_SERVE_HOST', 'GLIMPSE_SERVE_PORT', 'GLIMPSE_SERVE_API_KEY'];
const schemaKeys = new Set(Object.keys(envSchema.shape));
const knownKeys = Object.keys(envSchema.shape).some((key) => key.startsWith('GLIMPSE_SERVE_'))
  ? schemaKeys
  : new Set([...schemaKeys, ...serveContract]);

function read(path: string): { text: string; compose: ComposeFile } {
  const text = readFileSync(path, 'utf8');
  return { text, compose: parse(text, { merge: true }) as ComposeFile };
}

/** Compose interpolation with an empty shell: `${X:-default}` → default, `${X:?msg}` → a stand-in. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}/g, (_match, _name, kind, rest) =>
    kind === '-' ? rest : kind === '?' ? 'stand-in-secret-value' : '',
  );
}

const files = [
  { path: 'docker-compose.yml', server: 'serve', port: 8000 },
  { path: 'docker-compose.vllm.yml', server: 'vllm', port: 8000 },
];

for (const { path, server, port } of files) {
  describe(path, () => {
    const { text, compose } = read(path);
    const services = compose.services;
    const bots = ['discord', 'slack'];

    it('has Redis, the model server on the GPU, and the bots', () => {
      expect(Object.keys(services).sort()).toEqual(['discord', 'redis', server, 'slack'].sort());
      const gpu = services[server]!.deploy?.resources?.reservations?.devices ?? [];
      expect(gpu).toEqual([
        expect.objectContaining({ driver: 'nvidia', capabilities: expect.arrayContaining(['gpu']) }),
      ]);
      for (const bot of bots) expect(services[bot]!.deploy?.resources).toBeUndefined();
    });

    it('every service has a healthcheck, and the bots wait for Redis and the model server to be healthy', () => {
      for (const [name, service] of Object.entries(services)) {
        expect(service.healthcheck?.test?.[0], name).toBe('CMD');
      }
      for (const bot of bots) {
        expect(services[bot]!.depends_on).toEqual({
          redis: { condition: 'service_healthy' },
          [server]: { condition: 'service_healthy' },
        });
        // the playground's health route, on the port the bot's config gives it
        const health = services[bot]!.healthcheck!.test.join(' ');
        expect(health).toContain(`127.0.0.1:${services[bot]!.environment!.GLIMPSE_WEB_PORT}/healthz`);
      }
    });

    it("the bots use the remote model at the server's service name and port, with its key, and one Redis", () => {
      for (const bot of bots) {
        const env = services[bot]!.environment!;
        expect(env.GLIMPSE_MODEL_PROVIDER).toBe('remote');
        expect(env.GLIMPSE_REMOTE_URL).toBe(`http://${server}:${port}`);
        expect(env.REDIS_URL).toBe('redis://redis:6379');
        expect(env.GLIMPSE_REMOTE_API_KEY).toMatch(/^\$\{GLIMPSE_SERVE_API_KEY:\?/);
      }
      // Discord: one replica per token; Slack: several
      expect(services.discord!.deploy?.replicas).toBeUndefined();
      expect(String(services.slack!.deploy?.replicas)).toMatch(/^\$\{SLACK_REPLICAS:-\d+\}$/);
      // each bot runs only its own platform
      expect(services.discord!.environment).toMatchObject({ SLACK_BOT_TOKEN: '', SLACK_APP_TOKEN: '' });
      expect(services.slack!.environment).toMatchObject({ DISCORD_TOKEN: '' });
    });

    it("each bot's environment is a valid Glimpse configuration", () => {
      for (const bot of bots) {
        const env = Object.fromEntries(
          Object.entries(services[bot]!.environment!).map(([key, value]) => [
            key,
            interpolate(String(value)),
          ]),
        );
        const config = loadConfig(env);
        expect(config.model).toMatchObject({ provider: 'remote', url: `http://${server}:${port}` });
        expect(config.store.redisUrl).toBe('redis://redis:6379');
        expect(config.web).toMatchObject({ enabled: true, host: '0.0.0.0', port: 8080 });
      }
    });

    it('every GLIMPSE_* variable it sets or interpolates exists in src/config.ts', () => {
      const used = new Set<string>();
      for (const service of Object.values(services)) {
        for (const key of Object.keys(service.environment ?? {}))
          if (key.startsWith('GLIMPSE_')) used.add(key);
      }
      for (const match of text.matchAll(/\$\{(GLIMPSE_[A-Z0-9_]+)/g)) used.add(match[1]!);
      expect(used.size).toBeGreaterThan(3);
      expect([...used].filter((key) => !knownKeys.has(key))).toEqual([]);
    });
  });
}

describe('docker-compose.yml: glimpse serve on the GPU', () => {
  const serve = read('docker-compose.yml').compose.services.serve!;

  it('is the CUDA image running `serve`, beyond loopback with an API key, on cuda', () => {
    expect(serve.build).toEqual({ context: '.', dockerfile: 'Dockerfile.cuda' });
    expect(serve.command).toEqual(['serve']);
    expect(serve.environment).toMatchObject({
      GLIMPSE_SERVE_HOST: '0.0.0.0',
      GLIMPSE_SERVE_PORT: '8000',
      GLIMPSE_DEVICE: 'cuda',
    });
    expect(serve.environment!.GLIMPSE_SERVE_API_KEY).toMatch(/^\$\{GLIMPSE_SERVE_API_KEY:\?/);
    expect(serve.healthcheck!.test.join(' ')).toContain('127.0.0.1:8000/readyz');
  });

  it('mounts the models read-only and loads one from there', () => {
    expect(serve.volumes).toEqual(['./models:/models:ro']);
    expect(serve.environment!.GLIMPSE_MODEL_DIR).toMatch(/^\/models\//);
    expect(['fp32', 'fp16', 'q4']).toContain(interpolate(serve.environment!.GLIMPSE_PRECISION!));
  });
});

describe('docker-compose.vllm.yml: vLLM serving llava-1.5', () => {
  const vllm = read('docker-compose.vllm.yml').compose.services.vllm!;
  it('runs vllm/vllm-openai with llava-hf/llava-1.5-7b-hf and the shared key', () => {
    expect(interpolate(vllm.image!)).toMatch(/^vllm\/vllm-openai:/);
    expect(vllm.command).toEqual(
      expect.arrayContaining(['--model', 'llava-hf/llava-1.5-7b-hf', '--port', '8000']),
    );
    expect(vllm.environment!.VLLM_API_KEY).toMatch(/^\$\{GLIMPSE_SERVE_API_KEY:\?/);
    expect(vllm.healthcheck!.test.join(' ')).toContain('127.0.0.1:8000/health');
  });
});

describe('Dockerfiles', () => {
  const cpu = readFileSync('Dockerfile', 'utf8');
  const cuda = readFileSync('Dockerfile.cuda', 'utf8');
  const lastStage = (text: string) => text.slice(text.lastIndexOf('\nFROM '));

  it('run as a non-root user, with a HEALTHCHECK, production dependencies only', () => {
    for (const text of [cpu, cuda]) {
      const runtime = lastStage(text);
      expect(runtime).toMatch(/^USER (?!root)\w+$/m);
      expect(runtime).toMatch(/^HEALTHCHECK .*\n.*\/healthz/m);
      expect(text).toContain('npm prune --omit=dev');
    }
  });

  it('the CUDA image: CUDA 12 + cuDNN runtime base, the CUDA build of onnxruntime-node, GLIMPSE_DEVICE=cuda', () => {
    expect(lastStage(cuda)).toMatch(/^FROM nvidia\/cuda:12\.[\d.]+-cudnn-runtime-ubuntu[\d.]+$/m);
    expect(cuda).toMatch(/^ENV ONNXRUNTIME_NODE_INSTALL=cuda12$/m);
    expect(cuda).toContain('libonnxruntime_providers_cuda.so');
    expect(lastStage(cuda)).toMatch(/GLIMPSE_DEVICE=cuda/);
    expect(lastStage(cuda)).toMatch(/^CMD \["serve"\]$/m);
  });

  it('every GLIMPSE_* variable they set exists in src/config.ts', () => {
    const used = new Set(
      [...`${cpu}\n${cuda}`.matchAll(/\b(GLIMPSE_[A-Z0-9_]+)=/g)].map((match) => match[1]!),
    );
    expect(used.size).toBeGreaterThan(2);
    expect([...used].filter((key) => !knownKeys.has(key))).toEqual([]);
  });

  it('npm test lints them (lint:docker, dockerfile-utils)', () => {
    const scripts = JSON.parse(readFileSync('package.json', 'utf8')).scripts as Record<string, string>;
    expect(scripts['lint:docker']).toContain('Dockerfile.cuda');
    expect(scripts.test).toContain('npm run lint:docker');
  });
});
