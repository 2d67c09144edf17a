import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Keyv from 'keyv';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebAdapter, type WebAdapter } from '../../src/adapters/web/web-adapter.js';
import {
  type ConversationManager,
  createConversationManager,
} from '../../src/conversation/conversation-manager.js';
import { KeyvConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { type BotHarness, startBot } from '../adapters/discord/discord-harness.js';
import { type SlackBot, startSlackBot } from '../adapters/slack/slack-harness.js';
import { SseTestClient } from '../adapters/web/sse-test-client.js';
import { eventually, managerConfig, recordingLogger } from '../conversation/helpers.js';
import type { Payload } from '../fakes/fake-discord/world.js';
import { type FakeSlack, startFakeSlack } from '../fakes/fake-slack/fake-slack.js';
import { echoed, historyEchoModel } from '../fakes/history-echo-model.js';

/**
 * Load through each adapter, with the scripted model: 200 conversations × 3 turns, the three
 * questions of a conversation sent back to back (before any is answered). Every turn is answered
 * exactly once, in order within its conversation (each answer saw every earlier turn), and memory
 * stays bounded: the heap after a forced GC grows by less than a bound no per-turn leak would fit in.
 */
const CONVERSATIONS = 200;
const TURNS = 3;
/** what the heap (after GC) may grow by over a whole run: histories, platform caches */
const HEAP_GROWTH_BOUND = 64 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
function heapAfterGc(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

/** polls every 100 ms (the checks scan every message) for up to 5 minutes */
const until = (check: () => boolean, what: string | (() => string)) =>
  eventually(check, what, { timeoutMs: 300_000, intervalMs: 100 });

const partition = <T>(items: T[], test: (item: T) => boolean): [T[], T[]] => [
  items.filter(test),
  items.filter((item) => !test(item)),
];

const questionOf = (conversation: number, turn: number) => `c${conversation} q${turn}`;
const expectedHistory = (conversation: number) =>
  Array.from({ length: TURNS }, (_, turn) => [
    questionOf(conversation, turn),
    echoed(turn, questionOf(conversation, turn)),
  ]).flat();
const textsOf = (turns: { parts: { type: string; text?: string }[] }[]) =>
  turns.map((turn) => turn.parts.map((part) => part.text ?? '').join(''));

describe('load: 200 conversations × 3 turns through each adapter', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('web playground: every turn answered once, in order; memory bounded', async () => {
    const before = heapAfterGc();
    const { logger } = recordingLogger();
    const model = historyEchoModel();
    const store = new KeyvConversationStore(new Keyv(), { historyTtlSeconds: 3600, logger });
    const manager: ConversationManager = createConversationManager({
      model,
      store,
      logger,
      config: managerConfig({ concurrency: 4, queueMax: CONVERSATIONS * TURNS }),
    });
    const adapter: WebAdapter = createWebAdapter({
      host: '127.0.0.1',
      port: 0,
      images: { maxBytes: 1 << 20, maxPixels: 1 << 24, maxPerRequest: 2 },
      logger,
      sessionsPerMinute: CONVERSATIONS,
      maxSessions: CONVERSATIONS,
      maxStreams: CONVERSATIONS,
      heartbeatMs: 5000,
    });
    await adapter.start(manager);
    const streams: SseTestClient[] = [];
    cleanups.push(async () => {
      for (const stream of streams) stream.close();
      await adapter.stop();
      await manager.stop();
    });

    const chats = await Promise.all(
      Array.from({ length: CONVERSATIONS }, async () => {
        const response = await fetch(`${adapter.url}/api/sessions`, { method: 'POST' });
        expect(response.status).toBe(201);
        const chat = (await response.json()) as { sessionId: string; conversationId: string };
        const events = await SseTestClient.open(`${adapter.url}/api/sessions/${chat.sessionId}/events`);
        streams.push(events);
        await events.next('ready');
        return { ...chat, events };
      }),
    );
    const asked = await Promise.all(
      chats.map(async (chat, index) => {
        const ids: string[] = [];
        for (let turn = 0; turn < TURNS; turn++) {
          const form = new FormData();
          form.set('text', questionOf(index, turn));
          const response = await fetch(`${adapter.url}/api/sessions/${chat.sessionId}/messages`, {
            method: 'POST',
            body: form,
          });
          expect(response.status).toBe(202);
          ids.push(((await response.json()) as { messageId: string }).messageId);
        }
        return ids;
      }),
    );
    await until(
      () =>
        chats.every((chat, index) =>
          asked[index]!.every((id) => chat.events.forMessage(id).some((e) => e.event === 'done')),
        ),
      'every answer done',
    );
    await manager.idle();
    expect(model.calls).toHaveLength(CONVERSATIONS * TURNS);
    for (const [index, chat] of chats.entries()) {
      const answers = asked[index]!.map((id) => {
        const events = chat.events.forMessage(id);
        expect(events.filter((event) => event.event === 'done')).toHaveLength(1);
        return events
          .filter((event) => event.event === 'delta')
          .map((event) => (event.data as { text: string }).text)
          .join('');
      });
      expect(answers).toEqual(expectedHistory(index).filter((_, i) => i % 2 === 1));
      expect(textsOf(await store.load(chat.conversationId))).toEqual(expectedHistory(index));
    }
    expect(heapAfterGc() - before).toBeLessThan(HEAP_GROWTH_BOUND);
  }, 420_000);

  it('Discord (real discord.js against the fake): every turn answered once, in order; memory bounded', async () => {
    const before = heapAfterGc();
    const bot: BotHarness = await startBot({
      model: historyEchoModel(),
      concurrency: 4,
      queueMax: CONVERSATIONS * TURNS,
    });
    cleanups.push(() => bot.close());
    const { fake } = bot;
    // threads Glimpse started: no mention needed, one conversation each
    const threads = Array.from({ length: CONVERSATIONS }, (_, index) =>
      String(fake.createThread({ parentId: fake.textChannelId, ownerId: fake.bot.id, name: `t${index}` }).id),
    );
    const questions = threads.map((channelId, index) =>
      Array.from({ length: TURNS }, (_, turn) =>
        String(fake.sendMessage({ channelId, author: fake.user, content: questionOf(index, turn) }).id),
      ),
    );
    const repliesTo = (id: string) =>
      bot
        .botMessages()
        .filter((message) => (message.message_reference as Payload | undefined)?.message_id === id);
    const settled = (id: string) => {
      const replies = repliesTo(id);
      return (
        replies.length > 0 && replies.every((m) => !String(m.content).endsWith(' ▌') && m.content !== '…')
      );
    };
    await until(() => bot.model.calls.length === CONVERSATIONS * TURNS, 'every turn to reach the model');
    await bot.manager.idle();
    await until(
      () => questions.flat().every(settled),
      () => {
        const unsettled = questions.flat().filter((id) => !settled(id));
        const asked = bot.model.calls.map((call) => JSON.stringify(call.request.messages.at(-1)?.content));
        const twice = asked.filter((text, i) => asked.indexOf(text) !== i);
        const question = fake.messages.all().find((m) => String(m.id) === unsettled[0]);
        const codes = bot.lines
          .filter((line) => (line.level as number) >= 40)
          .slice(0, 4)
          .map((line) => JSON.stringify(line).slice(0, 700));
        return `every answer in its thread (${unsettled.length} not final, e.g. ${JSON.stringify({ question: question?.content, replies: repliesTo(unsettled[0] ?? '').map((m) => m.content), askedTwice: twice.slice(0, 3), warnings: codes.slice(0, 8), gateway: fake.counters })})`;
      },
    );
    expect(bot.model.calls).toHaveLength(CONVERSATIONS * TURNS);
    for (const [index, channelId] of threads.entries()) {
      const answers = questions[index]!.map((id) => {
        // a question that waited long may also get one "⏳ Waiting my turn" notice
        const [waiting, replies] = partition(repliesTo(id), (m) => String(m.content).startsWith('⏳'));
        expect(waiting.length).toBeLessThanOrEqual(1);
        // on failure, say what the thread holds and what the log warned about
        const details = () =>
          JSON.stringify({
            question: id,
            thread: bot
              .botMessages(channelId)
              .map((m) => [m.content, (m.message_reference as Payload | undefined)?.message_id]),
            warnings: bot.lines.filter((line) => (line.level as number) >= 40).slice(0, 5),
          });
        expect(replies, replies.length === 1 ? '' : details()).toHaveLength(1);
        return String(replies[0]!.content);
      });
      expect(answers).toEqual(expectedHistory(index).filter((_, i) => i % 2 === 1));
      const conversationId = `discord:${fake.guildId}:${fake.textChannelId}:${channelId}`;
      expect(textsOf(await bot.store.load(conversationId))).toEqual(expectedHistory(index));
    }
    expect(heapAfterGc() - before).toBeLessThan(HEAP_GROWTH_BOUND);
  }, 420_000);

  it('Slack (real bolt against the fake): every turn answered once, in order; memory bounded', async () => {
    const before = heapAfterGc();
    const fake: FakeSlack = await startFakeSlack();
    const bot: SlackBot = await startSlackBot(fake, {
      model: historyEchoModel(),
      concurrency: 4,
      queueMax: CONVERSATIONS * TURNS,
    });
    cleanups.push(async () => {
      await bot.close();
      await fake.close();
    });
    const channel = 'C0GENERAL';
    const mention = (text: string, threadTs?: string) => ({
      type: 'app_mention',
      user: 'U0ALICE',
      text: `<@${fake.botUserId}> ${text}`,
      ts: fake.nextTs(),
      channel,
      team: fake.teamId,
      ...(threadTs ? { thread_ts: threadTs } : {}),
    });
    const roots: string[] = [];
    await Promise.all(
      Array.from({ length: CONVERSATIONS }, async (_, index) => {
        const root = mention(questionOf(index, 0));
        roots[index] = root.ts;
        // the three mentions of a thread go in order, each acknowledged before the next is sent
        expect((await fake.postSigned(bot.eventsUrl, fake.envelope(root))).status).toBe(200);
        for (let turn = 1; turn < TURNS; turn++) {
          const next = mention(questionOf(index, turn), root.ts);
          expect((await fake.postSigned(bot.eventsUrl, fake.envelope(next))).status).toBe(200);
        }
      }),
    );
    const botTexts = (threadTs: string) =>
      fake
        .thread(channel, threadTs)
        .filter((message) => message.ts !== threadTs && !message.text.startsWith(`<@${fake.botUserId}>`));
    await until(() => bot.model.calls.length === CONVERSATIONS * TURNS, 'every turn to reach the model');
    await bot.manager.idle();
    await until(
      () =>
        roots.every((ts) => {
          const answers = botTexts(ts);
          return answers.length === TURNS && answers.every((m) => !m.streaming && !m.text.endsWith('▌'));
        }),
      'every answer in its thread',
    );
    await bot.manager.idle();
    expect(bot.model.calls).toHaveLength(CONVERSATIONS * TURNS);
    for (const [index, ts] of roots.entries()) {
      expect(botTexts(ts).map((message) => message.text)).toEqual(
        expectedHistory(index).filter((_, i) => i % 2 === 1),
      );
      const conversationId = `slack:${fake.teamId}:${channel}:${ts}`;
      expect(textsOf(await bot.store.load(conversationId))).toEqual(expectedHistory(index));
    }
    expect(heapAfterGc() - before).toBeLessThan(HEAP_GROWTH_BOUND);
  }, 420_000);
});
