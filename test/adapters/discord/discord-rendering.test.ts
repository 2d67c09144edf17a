import { afterEach, describe, expect, it } from 'vitest';
import { createDiscordAdapter } from '../../../src/adapters/discord/discord-adapter.js';
import { eventually, gate, recordingLogger, until } from '../../conversation/helpers.js';
import { startFakeDiscord } from '../../fakes/fake-discord/fake-discord.js';
import type { Payload } from '../../fakes/fake-discord/world.js';
import { ScriptedModel } from '../../fakes/scripted-model.js';
import { FakeEventHandler } from '../web/fake-event-handler.js';
import { askedOf, type BotHarness, pngBytes, startBot } from './discord-harness.js';

let bot: BotHarness | undefined;
afterEach(async () => {
  await bot?.close();
  bot = undefined;
});

const mention = (h: BotHarness) => `<@${h.fake.bot.id}>`;
const fenceCount = (text: string) => (text.match(/^```/gm) ?? []).length;

describe('Discord adapter: rendering, images, commands', () => {
  it('ten concurrent answers in one channel stay under 5 edits per 5 s: no 429 reached, every answer complete', async () => {
    bot = await startBot({
      fake: { editLimit: { max: 5, windowMs: 5000 } },
      editIntervalMs: 1000, // the default budget: one write a second per channel
      concurrency: 10,
      fallback: (request) => ({ deltas: ['answer ', 'to ', `${askedOf(request)}.`], delayMs: 1200 }),
    });
    const { fake } = bot;
    const questions = Array.from({ length: 10 }, (_, i) =>
      fake.sendMessage({
        channelId: fake.textChannelId,
        author: fake.user,
        content: `${mention(bot!)} q${i}`,
        mentions: [fake.bot],
      }),
    );
    const finalOf = (id: string) =>
      bot!.botMessages().find((m) => (m.message_reference as Payload | undefined)?.message_id === id)
        ?.content;
    await eventually(
      () => questions.every((q) => finalOf(String(q.id)) === `answer to q${questions.indexOf(q)}.`),
      'ten complete answers',
      { timeoutMs: 50_000, intervalMs: 20 },
    );
    expect(fake.counters.editLimitRateLimited).toBe(0);
    expect(fake.counters.rateLimited).toBe(0);
    // every write to the channel went at least ~a second after the one before
    const writes = fake.calls.filter(
      (c) => c.kind === 'rest' && /\/channels\/[^/]+\/messages/.test(c.path) && c.method !== 'GET',
    );
    // (times are arrivals at the fake: on a loaded machine one request can arrive a little late and
    // the next on time, so the typical gap is held to the budget and the shortest loosely)
    const gaps = writes
      .slice(1)
      .map((c, i) => c.at - writes[i]!.at)
      .sort((a, b) => a - b);
    expect(gaps[Math.floor(gaps.length / 2)]).toBeGreaterThanOrEqual(990);
    expect(gaps[0]).toBeGreaterThanOrEqual(500);
    // placeholders were edited: the budget was shared by answers still streaming
    expect(writes.filter((c) => c.method === 'PATCH').length).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('honours a 429 from Discord on an edit and still completes the answer', async () => {
    bot = await startBot({ fallback: () => ({ deltas: ['slow ', 'and ', 'steady'], delayMs: 30 }) });
    const { fake } = bot;
    fake.failNext({
      route: 'PATCH /channels/:channelId/messages/:messageId',
      status: 429,
      times: 1,
      retryAfterSeconds: 0.2,
    });
    const q = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `${mention(bot)} go`,
      mentions: [fake.bot],
    });
    const [answer] = await bot.answerTo(String(q.id));
    expect(answer!.content).toBe('slow and steady');
    expect(bot.lines.some((line) => line.code === 'glimpse_platform_retry')).toBe(true);
  });

  it('splits a long answer with a code block across messages, never cutting the fence', async () => {
    const code = Array.from({ length: 120 }, (_, i) => `print("line ${i} of a long listing")`).join('\n');
    const long = `Here is the program:\n\n\`\`\`python\n${code}\n\`\`\`\n\nThat prints every line.`;
    bot = await startBot({ scripts: [{ deltas: [long] }] });
    const { fake } = bot;
    const q = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `${mention(bot)} code please`,
      mentions: [fake.bot],
    });
    const messages = (await bot.answerTo(String(q.id))).map((m) => String(m.content));
    expect(messages.length).toBeGreaterThanOrEqual(3);
    for (const text of messages) {
      expect(text.length).toBeLessThanOrEqual(2000);
      expect(fenceCount(text) % 2).toBe(0);
    }
    expect(messages[1]!.startsWith('```python\n')).toBe(true);
    expect(messages.at(-1)).toMatch(/That prints every line\.$/);
    expect(messages.join('\n').match(/line \d+ of/g)).toHaveLength(120);
  });

  it('image downloads: a foreign host, a redirect off-host, an oversize stream, HTML and an expired link are refused with a reason', async () => {
    bot = await startBot();
    const { fake, model } = bot;
    const body = await pngBytes();
    const cases: [Payload, RegExp][] = [
      [
        {
          ...fake.hostAttachment({ filename: 'a.png', contentType: 'image/png', body }),
          url: 'https://evil.example/a.png',
          proxy_url: 'https://evil.example/a.png',
        },
        /only fetch images from the platform's own file hosts/,
      ],
      [
        fake.hostAttachment({
          filename: 'b.png',
          contentType: 'image/png',
          body,
          behaviour: { type: 'redirect', location: 'https://evil.example/b.png' },
        }),
        /platform's own file hosts/,
      ],
      [
        fake.hostAttachment({
          filename: 'c.png',
          contentType: 'image/png',
          body,
          behaviour: { type: 'endless', repeat: 200_000 },
          size: 100,
        }),
        /too large/,
      ],
      [
        fake.hostAttachment({
          filename: 'd.png',
          contentType: 'image/png',
          body,
          behaviour: { type: 'html' },
        }),
        /web page, not an image/,
      ],
      [
        fake.hostAttachment({
          filename: 'e.png',
          contentType: 'image/png',
          body,
          behaviour: { type: 'status', status: 404 },
        }),
        /expired/,
      ],
    ];
    for (const [attachment, reason] of cases) {
      const q = fake.sendMessage({
        channelId: fake.textChannelId,
        author: fake.user,
        content: `${mention(bot)} look`,
        mentions: [fake.bot],
        attachments: [attachment],
      });
      const [reply] = await bot.answerTo(String(q.id));
      expect(String(reply!.content)).toMatch(reason);
    }
    expect(model.calls).toHaveLength(0);
    expect(bot.lines.filter((line) => line.msg === 'image refused')).toHaveLength(cases.length);
  });

  it('/ask defers within 3 s while the model is slow, then edits the deferred reply with the answer', async () => {
    const { promise: held, open: release } = gate();
    bot = await startBot({ scripts: [{ deltas: ['a red square'], gate: held }] });
    const { fake, model } = bot;
    const attachment = fake.hostAttachment({
      filename: 'sq.png',
      contentType: 'image/png',
      body: await pngBytes(),
    });
    const sent = Date.now();
    const { id } = fake.sendInteraction({
      type: 'chat-input',
      commandName: 'ask',
      channelId: fake.textChannelId,
      user: fake.user,
      options: [
        { name: 'question', type: 3, value: 'what is it?' },
        { name: 'image', type: 11, value: attachment.id },
      ],
      attachments: [attachment],
    });
    const callback = await fake.waitFor(
      (c) => c.route === 'POST /interactions/:interactionId/:token/callback' && c.path.includes(id),
    );
    expect((callback.body as Payload).type).toBe(5);
    expect(callback.at - sent).toBeLessThan(3000);
    await until(() => model.calls.length === 1, 'the model asked');
    expect(askedOf(model.calls[0]!.request)).toBe('what is it? <image>');
    release();
    const edit = await fake.waitFor(
      (c) =>
        c.method === 'PATCH' &&
        c.path.includes('@original') &&
        (c.body as Payload)?.content === 'a red square',
    );
    expect(edit.status).toBe(200);
  });

  it('auto-captions uploads without alt text in caption channels, with zero-shot labels', async () => {
    const labeler = {
      rank: async (_image: unknown, labels: readonly string[]) =>
        labels.map((label, i) => ({ label, probability: i === 0 ? 0.8 : 0.2, similarity: 0.3 })),
      close: async () => undefined,
    };
    const harness = await startBot();
    const channel = harness.fake.textChannelId;
    const guilds = harness.fake.guilds;
    await harness.close();
    bot = await startBot({ discord: { captionChannels: [channel] }, labeler, fake: { guilds } });
    const { fake, model } = bot;
    const upload = fake.sendMessage({
      channelId: channel,
      author: fake.user,
      content: 'look at my drawing',
      attachments: [
        fake.hostAttachment({ filename: 'art.png', contentType: 'image/png', body: await pngBytes() }),
      ],
    });
    const [caption] = await bot.answerTo(String(upload.id));
    expect(caption!.content).toBe(
      'Suggested alt text: answer to <image> Describe the image.\nLabels: a red square (80%), a blue circle (20%)',
    );
    const described = {
      ...fake.hostAttachment({ filename: 'b.png', contentType: 'image/png', body: await pngBytes() }),
      description: 'my cat',
    };
    fake.sendMessage({ channelId: channel, author: fake.user, content: '', attachments: [described] });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await bot.manager.idle();
    expect(model.calls).toHaveLength(1);
  });

  it('a 4014 refusal is one log line naming the intent; the adapter stays off without throwing', async () => {
    const fake = await startFakeDiscord({ refuseIdentify: { code: 4014, reason: 'Disallowed intent(s).' } });
    const { logger, lines } = recordingLogger();
    const adapter = createDiscordAdapter({
      config: {
        token: fake.token,
        applicationId: fake.applicationId,
        apiUrl: fake.apiUrl,
        captionChannels: [],
        dms: true,
        access: {
          guilds: { allow: [], deny: [] },
          channels: { allow: [], deny: [] },
          roles: { allow: [], deny: [] },
          users: { allow: [], deny: [] },
        },
      },
      images: { maxBytes: 1 << 20, maxPixels: 1 << 24 },
      editIntervalMs: 20,
      logger,
    });
    await adapter.start(new FakeEventHandler(new ScriptedModel()));
    const refusal = lines.filter((line) => line.code === 'glimpse_discord_refused');
    expect(refusal).toHaveLength(1);
    expect(String(refusal[0]!.msg)).toMatch(/Message Content Intent.*4014|4014.*Message Content/);
    expect(adapter.describe()).toMatch(/^off: /);
    await adapter.stop();
    await fake.close();
  });
});
