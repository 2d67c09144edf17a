import { Writable } from 'node:stream';
import sharp from 'sharp';
import {
  createWebAdapter,
  type WebAdapter,
  type WebAdapterOptions,
} from '../../../src/adapters/web/web-adapter.js';
import { createLogger } from '../../../src/logger.js';
import { type Script, ScriptedModel } from '../../fakes/scripted-model.js';
import { FakeEventHandler } from './fake-event-handler.js';
import { SseTestClient } from './sse-test-client.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface Harness {
  adapter: WebAdapter;
  handler: FakeEventHandler;
  model: ScriptedModel;
  logs: LogLine[];
  url: string;
  createSession(): Promise<{ sessionId: string; conversationId: string; events: SseTestClient }>;
  ask(
    sessionId: string,
    text: string,
    image?: { bytes: Uint8Array<ArrayBuffer>; name: string; type?: string },
  ): Promise<Response>;
  close(): Promise<void>;
}

/** Starts the web adapter on a free loopback port with a fake conversation manager. */
export async function startHarness(
  options: { scripts?: Script[]; adapter?: Partial<WebAdapterOptions> } = {},
): Promise<Harness> {
  const logs: LogLine[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      callback();
    },
  });
  const logger = createLogger({ level: 'debug', format: 'json', destination });
  const model = new ScriptedModel(options.scripts ?? [], {
    fallback: () => ({ deltas: ['red'] }),
  });
  const handler = new FakeEventHandler(model);
  const adapter = createWebAdapter({
    host: '127.0.0.1',
    port: 0,
    images: { maxBytes: 200_000, maxPixels: 1_000_000, maxPerRequest: 2 },
    logger,
    title: 'scripted',
    heartbeatMs: 50,
    ...options.adapter,
  });
  await adapter.start(handler);
  const url = adapter.url;
  const clients: SseTestClient[] = [];
  return {
    adapter,
    handler,
    model,
    logs,
    url,
    async createSession() {
      const response = await fetch(`${url}/api/sessions`, { method: 'POST' });
      const body = (await response.json()) as { sessionId: string; conversationId: string };
      const events = await SseTestClient.open(`${url}/api/sessions/${body.sessionId}/events`);
      clients.push(events);
      await events.next('ready');
      return { ...body, events };
    },
    async ask(sessionId, text, image) {
      const form = new FormData();
      form.set('text', text);
      if (image) {
        form.append('image', new Blob([image.bytes], { type: image.type ?? 'image/png' }), image.name);
      }
      return fetch(`${url}/api/sessions/${sessionId}/messages`, { method: 'POST', body: form });
    },
    async close() {
      for (const client of clients) client.close();
      await adapter.stop();
    },
  };
}

/** A PNG of one shape on white, like the embedded model's training scenes. */
export async function shapePng(size = 128, colour = 'rgb(220,40,40)'): Promise<Uint8Array<ArrayBuffer>> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="white"/><circle cx="${size / 2}" cy="${size / 2}" r="${size / 5}" fill="${colour}"/></svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}
