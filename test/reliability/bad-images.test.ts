import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Keyv from 'keyv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svgWithExternalImage } from '../../scripts/make-bad-images.mjs';
import { createWebAdapter, type WebAdapter } from '../../src/adapters/web/web-adapter.js';
import {
  type ConversationManager,
  createConversationManager,
} from '../../src/conversation/conversation-manager.js';
import { KeyvConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { imagesOf, textOf } from '../../src/messages.js';
import type { ModelRequest } from '../../src/pipeline/vision-chat-model.js';
import { type BotHarness, startBot } from '../adapters/discord/discord-harness.js';
import { type SlackBot, startSlackBot } from '../adapters/slack/slack-harness.js';
import { SseTestClient } from '../adapters/web/sse-test-client.js';
import { managerConfig, recordingLogger, until } from '../conversation/helpers.js';
import { type FakeSlack, startFakeSlack } from '../fakes/fake-slack/fake-slack.js';
import { type Script, ScriptedModel } from '../fakes/scripted-model.js';
import { type BadImageCase, badImageCases, testLimits, webStatus } from './bad-image-cases.js';

/**
 * The bad-image set (test/fixtures/bad-images, from scripts/make-bad-images.mjs, plus over-cap
 * files made at run time) through every adapter with its real library — the playground over
 * real HTTP, a real discord.js Client against the fake Discord, a real bolt App against the fake
 * Slack — and the real conversation manager, with a scripted model that says what it was shown.
 */

const slowQuestion = 'a normal question alongside';
const slowDeltas = ['the ', 'normal ', 'conversation ', 'is ', 'answered ', 'in ', 'full'];

/** the model says which images it got, as the request carried them; the slow question takes ~1 s */
function answerFrom(request: ModelRequest): Script {
  const last = request.messages.at(-1)!;
  if (textOf(last.content).includes(slowQuestion)) return { deltas: slowDeltas, delayMs: 150 };
  const seen = imagesOf(last.content).map((i) => `[${i.name} ${i.mediaType} ${i.width}x${i.height}]`);
  return { deltas: [`saw ${seen.join(' ') || 'no image'}`] };
}

interface Sent {
  /** everything the user was shown in reply, joined */
  text: string;
  /** the playground's HTTP status (202 when accepted) */
  status?: number;
}

interface Driver {
  lines: Record<string, unknown>[];
  model: ScriptedModel;
  /** posts `question` with the case's file as that platform would, and waits for the reply */
  send(c: BadImageCase, bytes: Uint8Array<ArrayBuffer>, question?: string): Promise<Sent>;
  /** a question without an image, answered in a conversation of its own */
  ask(question: string): Promise<Sent>;
  close(): Promise<void>;
}

/** the structured line for a refusal: its code, and the file named in it */
function refusalLine(lines: Record<string, unknown>[], c: BadImageCase, code: string) {
  return lines.find((line) => line.code === code && JSON.stringify(line).includes(`"${c.name}"`));
}

// ---- the three adapters ------------------------------------------------------------------------

async function webDriver(): Promise<Driver> {
  const { logger, lines } = recordingLogger();
  const model = new ScriptedModel([], { fallback: answerFrom });
  const store = new KeyvConversationStore(new Keyv(), { historyTtlSeconds: 3600, logger });
  const manager: ConversationManager = createConversationManager({
    model,
    store,
    logger,
    config: {
      ...managerConfig({ concurrency: 2, queueMax: 64 }),
      captions: { labels: [], perChannelPerMinute: 10 },
    },
  });
  const adapter: WebAdapter = createWebAdapter({
    host: '127.0.0.1',
    port: 0,
    images: { ...testLimits, maxPerRequest: 4 },
    logger,
    title: 'scripted',
    heartbeatMs: 1000,
    // every case opens a chat of its own: more than one person's 30 a minute
    sessionsPerMinute: 10_000,
  });
  await adapter.start(manager);
  const clients: SseTestClient[] = [];
  const post = async (
    question: string,
    file?: { bytes: Uint8Array<ArrayBuffer>; name: string; type: string },
  ) => {
    const session = (await (await fetch(`${adapter.url}/api/sessions`, { method: 'POST' })).json()) as {
      sessionId: string;
    };
    const events = await SseTestClient.open(`${adapter.url}/api/sessions/${session.sessionId}/events`);
    clients.push(events);
    await events.next('ready');
    const form = new FormData();
    form.set('text', question);
    if (file) form.append('image', new Blob([file.bytes], { type: file.type }), file.name);
    const response = await fetch(`${adapter.url}/api/sessions/${session.sessionId}/messages`, {
      method: 'POST',
      body: form,
    });
    const body = (await response.json()) as { messageId?: string; error?: { code: string; message: string } };
    if (response.status !== 202) return { status: response.status, text: body.error?.message ?? '' };
    await events.next('done', body.messageId, 30_000);
    const text = events
      .forMessage(body.messageId!)
      .filter((e) => ['delta', 'notice', 'error', 'warning'].includes(e.event))
      .map((e) => {
        const data = e.data as { text?: string; message?: string };
        return data.text ?? data.message ?? '';
      })
      .join('');
    return { status: response.status, text };
  };
  return {
    lines,
    model,
    send: (c, bytes, question = 'what is this?') =>
      post(question, { bytes, name: c.name, type: c.contentType }),
    ask: (question) => post(question),
    async close() {
      for (const client of clients) client.close();
      await adapter.stop();
      await manager.stop();
    },
  };
}

async function discordDriver(): Promise<Driver> {
  const bot: BotHarness = await startBot({ fallback: answerFrom, concurrency: 2 });
  const { fake } = bot;
  const post = async (question: string, attachments: Record<string, unknown>[]) => {
    const message = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `<@${fake.bot.id}> ${question}`,
      mentions: [fake.bot],
      attachments,
    });
    // answers here are one message each; answerTo also returns what followed in the channel
    const replies = (await bot.answerTo(String(message.id))).filter(
      (reply) => (reply.message_reference as { message_id?: string } | undefined)?.message_id === message.id,
    );
    return { text: replies.map((reply) => String(reply.content)).join('\n') };
  };
  return {
    lines: bot.lines,
    model: bot.model,
    send: (c, bytes, question = 'what is this?') =>
      post(question, [fake.hostAttachment({ filename: c.name, contentType: c.contentType, body: bytes })]),
    ask: (question) => post(question, []),
    close: () => bot.close(),
  };
}

async function slackDriver(): Promise<Driver> {
  const fake: FakeSlack = await startFakeSlack();
  const bot: SlackBot = await startSlackBot(fake, { fallback: answerFrom });
  const post = async (question: string, files: Record<string, unknown>[]) => {
    const ts = fake.nextTs();
    const event = {
      type: 'app_mention',
      user: 'U0ALICE',
      text: `<@${fake.botUserId}> ${question}`,
      ts,
      channel: 'C0GENERAL',
      team: fake.teamId,
      ...(files.length > 0 ? { files } : {}),
    };
    expect((await fake.postSigned(bot.eventsUrl, fake.envelope(event))).status).toBe(200);
    await until(
      () => fake.thread('C0GENERAL', ts).some((m) => !m.streaming && !m.text.endsWith('▌') && m.text !== '…'),
      `a reply in thread ${ts}`,
    );
    await bot.manager.idle();
    return {
      text: fake
        .thread('C0GENERAL', ts)
        .map((m) => m.text)
        .join('\n'),
    };
  };
  return {
    lines: bot.lines,
    model: bot.model,
    send: (c, bytes, question = 'what is this?') =>
      post(question, [fake.hostFile(c.name, c.contentType, bytes)]),
    ask: (question) => post(question, []),
    async close() {
      await bot.close();
      await fake.close();
    },
  };
}

const adapters: [string, () => Promise<Driver>][] = [
  ['web playground (HTTP)', webDriver],
  ['Discord (discord.js)', discordDriver],
  ['Slack (bolt)', slackDriver],
];

const cases = new Map<string, Uint8Array<ArrayBuffer>>();
beforeAll(async () => {
  for (const c of badImageCases) cases.set(c.name, await c.bytes());
});

/** the largest RSS growth seen while `work` runs, sampled every 5 ms */
async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss) - before;
}

describe.each(adapters)('bad images through the %s adapter', (_label, start) => {
  let driver: Driver;
  beforeAll(async () => {
    driver = await start();
  }, 30_000);
  afterAll(async () => {
    await driver?.close();
  });

  it.each(badImageCases.map((c) => [c.name, c] as const))(
    '%s: the expected answer or a one-line reason, and a coded log line',
    async (_name, c) => {
      const callsBefore = driver.model.calls.length;
      const sent = await driver.send(c, cases.get(c.name)!);
      if (c.expected.answered) {
        const { mediaType, width, height } = c.expected;
        expect(sent.text).toBe(`saw [${c.name} ${mediaType} ${width}x${height}]`);
        if (sent.status !== undefined) expect(sent.status).toBe(202);
        expect(driver.model.calls.length).toBe(callsBefore + 1);
      } else {
        expect(sent.text).toMatch(c.expected.message);
        expect(sent.text.trim().split('\n')).toHaveLength(1);
        if (sent.status !== undefined) expect(sent.status).toBe(webStatus[c.expected.code]);
        expect(driver.model.calls.length, 'the model never sees a refused image').toBe(callsBefore);
        const line = refusalLine(driver.lines, c, c.expected.code);
        expect(line, `a log line with code ${c.expected.code} naming ${c.name}`).toBeDefined();
        expect(line!.level).toBe(40);
      }
    },
    30_000,
  );

  it('a normal conversation alongside the whole bad set gets its full answer; memory stays bounded', async () => {
    // warm up once, so that what is measured is growth, not first use of the decoders
    await Promise.all(badImageCases.map((c) => driver.send(c, cases.get(c.name)!)));
    let normal: Sent | undefined;
    const growth = await peakRssGrowth(async () => {
      const alongside = driver.ask(slowQuestion).then((sent) => {
        normal = sent;
      });
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all(badImageCases.map((c) => driver.send(c, cases.get(c.name)!)));
        results.forEach((sent, index) => {
          const c = badImageCases[index]!;
          if (c.expected.answered) expect(sent.text).toMatch(/^saw \[/);
          else expect(sent.text).toMatch(c.expected.message);
        });
      }
      await alongside;
    });
    expect(normal?.text.replace(/\n/g, '')).toBe(slowDeltas.join(''));
    // the bomb alone would be 30 GB decoded, the over-pixel PNG 53 MB per decode, 19 files × 4 rounds
    expect(growth).toBeLessThan(256 * 1024 * 1024);
  }, 120_000);
});

describe('an SVG with an external <image href> is refused without a fetch', () => {
  it('on every adapter, the referenced URL is never requested', async () => {
    const hits: string[] = [];
    const tracker = createServer((request, response) => {
      hits.push(request.url ?? '');
      response.writeHead(200, { 'content-type': 'image/png' }).end();
    });
    await new Promise<void>((resolve) => tracker.listen(0, '127.0.0.1', resolve));
    const href = `http://127.0.0.1:${(tracker.address() as AddressInfo).port}/tracker.png`;
    const svg = new Uint8Array(svgWithExternalImage(href));
    const svgCase: BadImageCase = {
      name: 'tracker.svg',
      contentType: 'image/svg+xml',
      bytes: async () => svg,
      expected: { answered: false, code: 'glimpse_image_unsupported_type', message: /SVG drawing/ },
    };
    try {
      for (const [, start] of adapters) {
        const driver = await start();
        try {
          const sent = await driver.send(svgCase, svg);
          expect(sent.text).toMatch(/"tracker\.svg" is an SVG drawing, which I can't read/);
          expect(refusalLine(driver.lines, svgCase, 'glimpse_image_unsupported_type')).toBeDefined();
        } finally {
          await driver.close();
        }
      }
      // a renderer would have fetched by now; give a late one a moment
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(hits).toEqual([]);
    } finally {
      tracker.closeAllConnections();
      await new Promise((resolve) => tracker.close(resolve));
    }
  }, 60_000);
});
