import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { VisionChatModel } from '../../src/pipeline/vision-chat-model.js';
import { createServeServer, type ServeServer } from '../../src/serve/serve-server.js';

export const testApiKey = 'sk-glimpse-test-0123456789';

/** A logger whose JSON lines are kept (to check what reaches the log). */
export function recordingLogger() {
  const lines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    format: 'json',
    secrets: [testApiKey],
    destination: new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    }),
  });
  return { logger, lines };
}

/** `glimpse serve`'s server on `model`, on a free loopback port, configured through `env`. */
export async function startTestServer(
  model: VisionChatModel,
  env: Record<string, string> = {},
  options: { heartbeatMs?: number } = {},
): Promise<{ server: ServeServer; url: string; lines: string[] }> {
  const config = loadConfig({ GLIMPSE_SERVE_PORT: '0', GLIMPSE_SERVE_API_KEY: testApiKey, ...env });
  const { logger, lines } = recordingLogger();
  const server = createServeServer({
    model,
    serve: config.serve,
    images: config.images,
    defaultMaxTokens: config.generation.maxNewTokens,
    logger,
    ...options,
  });
  await server.start();
  return { server, url: server.url, lines };
}

/** Prometheus text → `name{labels}` → value. */
export function parsePrometheus(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const match = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (match?.[1] && match[2]) values.set(match[1], Number(match[2]));
  }
  return values;
}

export async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(`${url}/metrics`);
  return parsePrometheus(await response.text());
}

export const authHeaders = { authorization: `Bearer ${testApiKey}`, 'content-type': 'application/json' };
