import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { WebAdapter } from '../adapters/web/web-adapter.js';
import { loadConfig } from '../config.js';
import { GlimpseError } from '../errors.js';
import { createLogger } from '../logger.js';
import { startApp } from '../main.js';
import { parseServerSentEvents, type ServerSentEvent } from '../pipeline/server-sent-events.js';
import { percentile } from './bench-stats.js';

/**
 * `npm run bench -- soak`: the real app (`startApp`: the model, a SQLite store, the conversation
 * manager, the web playground on loopback) under a steady load for a while — clients asking about
 * images turn after turn, some answers stopped midway, some uploads refused, chats reset — sampling
 * memory as it goes. It fails (exit 1) when a turn is lost (accepted, never finished) or memory
 * keeps growing (RSS over the second half grows by more than `--max-growth-mb`).
 */
export interface SoakOptions {
  model: string;
  minutes: number;
  clients: number;
  turnsPerChat: number;
  maxNewTokens: number;
  maxGrowthMb: number;
}

export const soakUsage = `Usage: npm run bench -- soak [options]

  --model <dir>          model directory (default models/tiny-shapes)
  --minutes <n>          how long to run (default 10; decimals allowed)
  --clients <n>          chats asking at once (default 8)
  --turns <n>            turns per chat before it resets (default 6)
  --max-new-tokens <n>   tokens per answer (default 32)
  --max-growth-mb <n>    RSS growth allowed over the second half (default 64)`;

export function parseSoakOptions(argv: string[]): SoakOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      minutes: { type: 'string' },
      clients: { type: 'string' },
      turns: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      'max-growth-mb': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const number = (name: string, value: string | undefined, fallback: number, min: number) => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min) {
      throw new GlimpseError(
        'glimpse_usage',
        `--${name} expects a number of at least ${min}, not '${value}'`,
      );
    }
    return parsed;
  };
  return {
    model: values.model ?? 'models/tiny-shapes',
    minutes: number('minutes', values.minutes, 10, 0.05),
    clients: Math.round(number('clients', values.clients, 8, 1)),
    turnsPerChat: Math.round(number('turns', values.turns, 6, 1)),
    maxNewTokens: Math.round(number('max-new-tokens', values['max-new-tokens'], 32, 1)),
    maxGrowthMb: number('max-growth-mb', values['max-growth-mb'], 64, 0),
  };
}

interface Tally {
  answered: number;
  stopped: number;
  refused: number;
  errors: Map<string, number>;
  lost: number;
  latenciesMs: number[];
  firstDeltaMs: number[];
}

/** one chat's event stream, read with the pipeline's SSE parser; waits by message id */
class ChatEvents {
  private readonly events: { name: string; data: Record<string, unknown> }[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly controller = new AbortController();

  static async open(url: string): Promise<ChatEvents> {
    const chat = new ChatEvents();
    const response = await fetch(url, { signal: chat.controller.signal });
    if (!response.ok || !response.body) throw new Error(`event stream refused: ${response.status}`);
    void chat.read(response.body as unknown as AsyncIterable<Uint8Array>);
    return chat;
  }

  private async read(body: AsyncIterable<Uint8Array>): Promise<void> {
    try {
      for await (const event of parseServerSentEvents(body)) this.take(event);
    } catch {
      // closed
    }
  }

  private take(event: ServerSentEvent): void {
    this.events.push({
      name: event.event ?? 'message',
      data: JSON.parse(event.data) as Record<string, unknown>,
    });
    for (const wake of this.waiters) wake();
  }

  /** the first event `name` of message `messageId`, or undefined after `timeoutMs` */
  async wait(name: string, messageId: string, timeoutMs: number): Promise<{ at: number } | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((event) => event.name === name && event.data.messageId === messageId);
      if (found) return { at: Date.now() };
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        const waiters = this.waiters;
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  errorsOf(messageId: string): string[] {
    return this.events
      .filter((event) => event.name === 'error' && event.data.messageId === messageId)
      .map((event) => String(event.data.message));
  }

  /** forgets what was read (a chat that was reset) */
  clear(): void {
    this.events.length = 0;
  }

  close(): void {
    this.controller.abort();
  }
}

const colours = ['red', 'blue', 'green', 'orange', 'purple'];
const shapes = ['circle', 'square'];

async function sceneImage(index: number): Promise<Uint8Array<ArrayBuffer>> {
  const colour = colours[index % colours.length]!;
  const shape =
    shapes[index % shapes.length] === 'circle'
      ? `<circle cx="64" cy="64" r="28" fill="${colour}"/>`
      : `<rect x="36" y="36" width="56" height="56" fill="${colour}"/>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128"><rect width="128" height="128" fill="white"/>${shape}</svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}

const questions = [
  'What colour is the circle?',
  'How many shapes are there?',
  'Describe the image.',
  'Is there a square?',
];

async function runClient(
  base: string,
  client: number,
  deadline: number,
  options: SoakOptions,
  tally: Tally,
): Promise<void> {
  const created = await fetch(`${base}/api/sessions`, { method: 'POST' });
  if (created.status !== 201) throw new Error(`could not open a chat: ${created.status}`);
  const { sessionId } = (await created.json()) as { sessionId: string };
  const events = await ChatEvents.open(`${base}/api/sessions/${sessionId}/events`);
  const image = await sceneImage(client);
  let turn = 0;
  try {
    while (Date.now() < deadline) {
      const serial = client * 1_000_000 + turn;
      const form = new FormData();
      form.set('text', questions[turn % questions.length]!);
      const bad = serial % 13 === 7;
      if (bad)
        form.append('image', new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])]), 'broken.png');
      else if (turn % options.turnsPerChat === 0) form.append('image', new Blob([image]), 'scene.png');
      const started = Date.now();
      const response = await fetch(`${base}/api/sessions/${sessionId}/messages`, {
        method: 'POST',
        body: form,
      });
      if (bad) {
        if (response.status >= 400 && response.status < 500) tally.refused++;
        else tally.errors.set(`broken upload answered ${response.status}`, 1);
        await response.body?.cancel();
      } else if (response.status !== 202) {
        const body = (await response.json().catch(() => ({}))) as { error?: { code?: string } };
        const code = body.error?.code ?? String(response.status);
        tally.errors.set(code, (tally.errors.get(code) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 200));
      } else {
        const { messageId } = (await response.json()) as { messageId: string };
        const stop = serial % 10 === 3;
        const first = await events.wait('delta', messageId, 60_000);
        if (first) tally.firstDeltaMs.push(first.at - started);
        if (stop)
          await fetch(`${base}/api/sessions/${sessionId}/messages/${messageId}/cancel`, { method: 'POST' });
        const done = await events.wait('done', messageId, 120_000);
        if (!done) tally.lost++;
        else {
          tally.latenciesMs.push(done.at - started);
          for (const message of events.errorsOf(messageId)) {
            tally.errors.set(message, (tally.errors.get(message) ?? 0) + 1);
          }
          if (stop) tally.stopped++;
          else tally.answered++;
        }
      }
      turn++;
      if (turn % options.turnsPerChat === 0) {
        await fetch(`${base}/api/sessions/${sessionId}/reset`, { method: 'POST' });
        events.clear();
      }
    }
  } finally {
    events.close();
  }
}

const mb = (bytes: number) => bytes / 1024 / 1024;

export async function runSoak(argv: string[]): Promise<number> {
  const options = parseSoakOptions(argv);
  if (!options) {
    process.stdout.write(`${soakUsage}\n`);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-soak-'));
  const logger = createLogger({ level: 'warn', format: 'json', destination: process.stderr });
  const config = loadConfig({
    GLIMPSE_MODEL_DIR: options.model,
    GLIMPSE_STORE_PATH: join(dir, 'glimpse.sqlite'),
    GLIMPSE_WEB_PORT: '0',
    GLIMPSE_RATE_LIMIT_PER_MINUTE: '0',
    GLIMPSE_MAX_NEW_TOKENS: String(options.maxNewTokens),
    GLIMPSE_QUEUE_MAX: String(options.clients * 2),
    GLIMPSE_LOG_LEVEL: 'warn',
  });
  const app = await startApp(config, logger);
  const samples: { at: number; rss: number; heap: number }[] = [];
  const sample = () => {
    const usage = process.memoryUsage();
    samples.push({ at: Date.now(), rss: usage.rss, heap: usage.heapUsed });
  };
  const sampler = setInterval(sample, 2000);
  const tally: Tally = {
    answered: 0,
    stopped: 0,
    refused: 0,
    errors: new Map(),
    lost: 0,
    latenciesMs: [],
    firstDeltaMs: [],
  };
  const started = Date.now();
  try {
    const web = app.adapters.find((adapter) => adapter.platform === 'web') as WebAdapter | undefined;
    if (!web) throw new Error('the web playground did not start');
    sample();
    process.stderr.write(
      `soak: ${options.clients} chats on ${app.model.info.id} for ${options.minutes} min at ${web.url}\n`,
    );
    const deadline = started + options.minutes * 60_000;
    const progress = setInterval(() => {
      process.stderr.write(
        `  ${((Date.now() - started) / 60_000).toFixed(1)} min: ${tally.answered} answered, ${tally.stopped} stopped, ${tally.refused} refused, rss ${mb(process.memoryUsage().rss).toFixed(0)} MB\n`,
      );
    }, 30_000);
    try {
      await Promise.all(
        Array.from({ length: options.clients }, (_, client) =>
          runClient(web.url, client, deadline, options, tally),
        ),
      );
    } finally {
      clearInterval(progress);
    }
    await app.manager.idle();
    sample();
  } finally {
    clearInterval(sampler);
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const minutes = (Date.now() - started) / 60_000;
  const half = samples.filter((s) => s.at >= started + ((samples.at(-1)?.at ?? started) - started) / 2);
  const growth = half.length > 1 ? mb(half.at(-1)!.rss - half[0]!.rss) : 0;
  const turns = tally.answered + tally.stopped;
  const lines = [
    `soak: ${options.clients} chats × ${minutes.toFixed(1)} min on ${options.model}, ${options.maxNewTokens} new tokens`,
    `  turns finished        ${turns} (${(turns / minutes).toFixed(0)}/min): ${tally.answered} answered, ${tally.stopped} stopped midway`,
    `  uploads refused       ${tally.refused} (broken images, each a 4xx with a reason)`,
    `  turns lost            ${tally.lost}`,
    `  other errors          ${tally.errors.size === 0 ? 'none' : [...tally.errors].map(([code, n]) => `${code} ×${n}`).join(', ')}`,
    `  turn latency          p50 ${percentile(tally.latenciesMs, 50).toFixed(0)} ms, p90 ${percentile(tally.latenciesMs, 90).toFixed(0)} ms, p99 ${percentile(tally.latenciesMs, 99).toFixed(0)} ms`,
    `  first delta           p50 ${percentile(tally.firstDeltaMs, 50).toFixed(0)} ms, p99 ${percentile(tally.firstDeltaMs, 99).toFixed(0)} ms`,
    `  RSS (MB)              start ${mb(samples[0]?.rss ?? 0).toFixed(0)}, peak ${mb(Math.max(...samples.map((s) => s.rss))).toFixed(0)}, end ${mb(samples.at(-1)?.rss ?? 0).toFixed(0)}; over the second half ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} (allowed ${options.maxGrowthMb})`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const failed = tally.lost > 0 || growth > options.maxGrowthMb || turns === 0;
  if (failed) process.stdout.write('soak: FAILED\n');
  return failed ? 1 : 0;
}
