import { afterEach, describe, expect, it } from 'vitest';
import { type BotHarness, startBot } from '../adapters/discord/discord-harness.js';
import { type SlackBot, startSlackBot } from '../adapters/slack/slack-harness.js';
import { until } from '../conversation/helpers.js';
import type { Payload } from '../fakes/fake-discord/world.js';
import { type FakeSlack, startFakeSlack } from '../fakes/fake-slack/fake-slack.js';

/**
 * The platform refuses writes (429 with Retry-After, 5xx) on the first post and on later edits:
 * the answer is retried and completes, exactly once. Real discord.js and bolt against the loopback
 * fakes. discord.js retries a 5xx 3 times itself and @slack/web-api twice, so the faults below come
 * in runs longer than that: Glimpse's own retries are what carries the answer through.
 */

const slowAnswer = { deltas: ['The ', 'circle ', 'is ', 'red.'], delayMs: 40 };

describe('platform faults on Discord: the answer completes, once', () => {
  let bot: BotHarness | undefined;
  afterEach(async () => {
    await bot?.close();
    bot = undefined;
  });

  const ask = (h: BotHarness) =>
    h.fake.sendMessage({
      channelId: h.fake.textChannelId,
      author: h.fake.user,
      content: `<@${h.fake.bot.id}> what colour?`,
      mentions: [h.fake.bot],
    });

  const repliesTo = (h: BotHarness, id: string) =>
    h.botMessages().filter((m) => (m.message_reference as Payload | undefined)?.message_id === id);

  for (const fault of [
    { what: 'a 429 with Retry-After on the first post', route: 'POST', status: 429, times: 2 },
    { what: 'a run of 500s on the first post', route: 'POST', status: 500, times: 5 },
    { what: 'a 429 with Retry-After on an edit', route: 'PATCH', status: 429, times: 2 },
    { what: 'a run of 502s on the edits', route: 'PATCH', status: 502, times: 5 },
  ] as const) {
    it(`${fault.what}: retried, and the answer completes`, async () => {
      bot = await startBot({ fallback: () => slowAnswer });
      const { fake } = bot;
      fake.failNext({
        route:
          fault.route === 'POST'
            ? 'POST /channels/:channelId/messages'
            : 'PATCH /channels/:channelId/messages/:messageId',
        status: fault.status,
        times: fault.times,
        retryAfterSeconds: 0.2,
      });
      const question = ask(bot);
      const answer = await bot.answerTo(String(question.id));
      expect(answer.map((m) => m.content)).toEqual(['The circle is red.']);
      expect(repliesTo(bot, String(question.id))).toHaveLength(1); // never answered twice
      expect(fake.counters.faults).toBe(fault.times);
      expect(bot.lines.some((line) => line.code === 'glimpse_platform_retry')).toBe(true);
      expect(bot.lines.some((line) => line.code === 'glimpse_render_failed')).toBe(false);
      const [user, assistant] = await bot.store.load(
        String((await bot.store.findMessage(`discord:${question.id}`))?.conversationId),
      );
      expect(user?.messageId).toBe(String(question.id));
      expect(assistant).toMatchObject({ parts: [{ type: 'text', text: 'The circle is red.' }] });
      expect(assistant?.interrupted).toBeUndefined();
    });
  }
});

describe('platform faults on Slack: the answer completes, once', () => {
  let fake: FakeSlack;
  let bot: SlackBot | undefined;
  afterEach(async () => {
    await bot?.close();
    bot = undefined;
    await fake.close();
  });

  async function askAndWait(
    options: { streaming: boolean; faults: [method: string, error: string, times: number][] },
    check: (texts: string[]) => void,
  ): Promise<void> {
    fake = await startFakeSlack();
    if (!options.streaming) fake.streamRefusal = 'unknown_method';
    bot = await startSlackBot(fake, { fallback: () => slowAnswer });
    for (const [method, error, times] of options.faults) fake.failNext(method, error, times, 1);
    const event = {
      type: 'app_mention',
      user: 'U0ALICE',
      text: `<@${fake.botUserId}> what colour?`,
      ts: fake.nextTs(),
      channel: 'C0GENERAL',
      team: fake.teamId,
    };
    expect((await fake.postSigned(bot.eventsUrl, fake.envelope(event))).status).toBe(200);
    await until(() => bot!.model.calls.length === 1, 'the turn started');
    await bot.manager.idle();
    const thread = fake.thread('C0GENERAL', event.ts);
    check(thread.map((m) => m.text));
    expect(thread.every((m) => !m.streaming)).toBe(true);
    // every injected fault was met, and retried past
    for (const [method, , times] of options.faults) {
      expect(fake.callsOf(method).length).toBeGreaterThan(times);
    }
    expect(bot.lines.some((line) => line.code === 'glimpse_render_failed')).toBe(false);
    const history = await bot.store.load(`slack:${fake.teamId}:C0GENERAL:${event.ts}`);
    expect(history[1]).toMatchObject({
      role: 'assistant',
      parts: [{ type: 'text', text: 'The circle is red.' }],
    });
    expect(history[1]?.interrupted).toBeUndefined();
  }

  const once = (texts: string[]) => expect(texts).toEqual(['The circle is red.']);

  it('chat.postMessage: 429 with Retry-After, then 500s (past the client’s own retries)', async () => {
    await askAndWait(
      {
        streaming: false,
        faults: [
          ['chat.postMessage', 'ratelimited', 1],
          ['chat.postMessage', 'http_500', 4],
        ],
      },
      once,
    );
  }, 20_000);

  it('chat.update: 429 with Retry-After, then 500s', async () => {
    await askAndWait(
      {
        streaming: false,
        faults: [
          ['chat.update', 'ratelimited', 1],
          ['chat.update', 'http_500', 4],
        ],
      },
      once,
    );
  }, 20_000);

  it('native streaming: chat.startStream and chat.appendStream answer 429 and 500s', async () => {
    await askAndWait(
      {
        streaming: true,
        faults: [
          ['chat.startStream', 'ratelimited', 1],
          ['chat.appendStream', 'ratelimited', 1],
          ['chat.appendStream', 'http_500', 4],
        ],
      },
      once,
    );
    expect(fake.callsOf('chat.postMessage')).toHaveLength(0); // it stayed a native stream
  }, 20_000);

  it('native streaming: chat.stopStream answers 500s', async () => {
    await askAndWait({ streaming: true, faults: [['chat.stopStream', 'http_500', 4]] }, once);
  }, 20_000);
});
