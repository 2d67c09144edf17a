import Keyv from 'keyv';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebAdapter, type WebAdapter } from '../../src/adapters/web/web-adapter.js';
import {
  type ConversationManager,
  createConversationManager,
} from '../../src/conversation/conversation-manager.js';
import type { ConversationTurn } from '../../src/conversation/conversation-store.js';
import { KeyvConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { GlimpseError } from '../../src/errors.js';
import type { ModelRequest } from '../../src/pipeline/vision-chat-model.js';
import { type BotHarness, startBot } from '../adapters/discord/discord-harness.js';
import { type SlackBot, startSlackBot } from '../adapters/slack/slack-harness.js';
import { SseTestClient } from '../adapters/web/sse-test-client.js';
import { managerConfig, recordingLogger, until } from '../conversation/helpers.js';
import type { Payload } from '../fakes/fake-discord/world.js';
import { type FakeSlack, startFakeSlack } from '../fakes/fake-slack/fake-slack.js';
import { type Script, ScriptedModel } from '../fakes/scripted-model.js';

/**
 * The model fails after writing part of its answer: the user sees what was written, then one short
 * error line; the conversation keeps working — the next turn is answered, with the interrupted
 * answer in its history. Through each adapter: web (SSE), Discord, Slack.
 */

const failure = 'The model failed while answering; please try again.';
const scripts = (): Script[] => [
  {
    deltas: ['The circle ', 'is '],
    delayMs: 30,
    error: new GlimpseError('glimpse_model_failed', 'decoder step failed: out of memory', {
      userMessage: failure,
    }),
  },
  { deltas: ['Red.'] },
];

const textOf = (turn: ConversationTurn | undefined) =>
  turn?.parts.map((part) => (part.type === 'text' ? part.text : '<image>')).join('');

/** the stored conversation: the cut answer marked interrupted, then the next exchange whole */
function expectHistory(turns: ConversationTurn[]): void {
  expect(turns.map((turn) => turn.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
  expect(textOf(turns[1])?.trim()).toBe('The circle is');
  expect(turns[1]?.interrupted).toBe(true);
  expect(textOf(turns[3])).toBe('Red.');
  expect(turns[3]?.interrupted).toBeUndefined();
}

/** the second request carried the first exchange, the interrupted answer included */
function expectSecondRequestSawTheCutAnswer(request: ModelRequest | undefined): void {
  const texts = request!.messages.map((message) =>
    message.content.map((part) => (part.type === 'text' ? part.text : '<image>')).join(' '),
  );
  expect(texts).toHaveLength(3);
  expect(texts[1]?.trim()).toBe('The circle is');
}

/** one short error line, once, at the end, under what was written */
function expectCutAnswerShown(text: string): void {
  expect(text.startsWith('The circle is')).toBe(true);
  expect(text.endsWith(`⚠️ ${failure}`)).toBe(true);
  expect(text.split('⚠️')).toHaveLength(2);
  expect(text).not.toContain('out of memory'); // the log's detail, not the user's
}

describe('the model fails mid-answer: web playground (SSE)', () => {
  let adapter: WebAdapter | undefined;
  let manager: ConversationManager | undefined;
  let events: SseTestClient | undefined;
  afterEach(async () => {
    events?.close();
    await adapter?.stop();
    await manager?.stop();
  });

  it('streams what was written, then one error event; the next message is answered with that history', async () => {
    const { logger, lines } = recordingLogger();
    const model = new ScriptedModel(scripts());
    const store = new KeyvConversationStore(new Keyv(), { historyTtlSeconds: 3600, logger });
    manager = createConversationManager({ model, store, logger, config: managerConfig() });
    adapter = createWebAdapter({
      host: '127.0.0.1',
      port: 0,
      images: { maxBytes: 200_000, maxPixels: 1_000_000, maxPerRequest: 2 },
      logger,
      title: 'scripted',
    });
    await adapter.start(manager);
    const url = adapter.url;
    const session = (await (await fetch(`${url}/api/sessions`, { method: 'POST' })).json()) as {
      sessionId: string;
      conversationId: string;
    };
    events = await SseTestClient.open(`${url}/api/sessions/${session.sessionId}/events`);
    await events.next('ready');
    const ask = async (text: string) => {
      const form = new FormData();
      form.set('text', text);
      const response = await fetch(`${url}/api/sessions/${session.sessionId}/messages`, {
        method: 'POST',
        body: form,
      });
      return ((await response.json()) as { messageId: string }).messageId;
    };

    const first = await ask('What colour is the circle?');
    await events.next('done', first);
    const seen = events.forMessage(first).map((event) => event.event);
    expect(seen.filter((name) => name === 'error')).toHaveLength(1);
    expect(seen.indexOf('error')).toBeGreaterThan(seen.lastIndexOf('delta'));
    const deltas = events
      .forMessage(first)
      .filter((event) => event.event === 'delta')
      .map((event) => (event.data as { text: string }).text)
      .join('');
    expect(deltas).toBe('The circle is ');
    expect((await events.next('error', first)).data).toMatchObject({ message: failure });
    expect(lines.some((line) => line.code === 'glimpse_model_failed')).toBe(true);

    const second = await ask('And its colour?');
    await events.next('done', second);
    expect(events.forMessage(second).some((event) => event.event === 'error')).toBe(false);
    expectSecondRequestSawTheCutAnswer(model.calls[1]?.request);
    await manager.idle();
    expectHistory(await store.load(session.conversationId));
  });
});

describe('the model fails mid-answer: Discord', () => {
  let bot: BotHarness | undefined;
  afterEach(async () => {
    await bot?.close();
    bot = undefined;
  });

  it('the reply shows what was written and one ⚠️ line; the next message in the thread is answered', async () => {
    bot = await startBot({ scripts: scripts() });
    const { fake } = bot;
    const thread = fake.threadId!;
    const first = fake.sendMessage({
      channelId: thread,
      author: fake.user,
      content: `<@${fake.bot.id}> what colour is the circle?`,
      mentions: [fake.bot],
    });
    const [cut] = await bot.answerTo(String(first.id));
    expectCutAnswerShown(String(cut!.content));
    const second = fake.sendMessage({ channelId: thread, author: fake.user, content: 'and its colour?' });
    const [answer] = await bot.answerTo(String(second.id));
    expect(answer!.content).toBe('Red.');
    expectSecondRequestSawTheCutAnswer(bot.model.calls[1]?.request);
    const link = await bot.store.findMessage(`discord:${first.id}`);
    expectHistory(await bot.store.load(link!.conversationId));
    // the cut answer is one message, edited in place: nothing posted twice
    expect(
      bot.botMessages(thread).filter((m) => (m.message_reference as Payload | undefined)?.message_id),
    ).toHaveLength(2);
  });
});

describe('the model fails mid-answer: Slack', () => {
  let fake: FakeSlack;
  let bot: SlackBot | undefined;
  afterEach(async () => {
    await bot?.close();
    bot = undefined;
    await fake.close();
  });

  for (const streaming of [true, false]) {
    it(`${streaming ? 'native stream' : 'post + chat.update'}: what was written and one ⚠️ line; the next reply in the thread is answered`, async () => {
      fake = await startFakeSlack();
      if (!streaming) fake.streamRefusal = 'unknown_method';
      bot = await startSlackBot(fake, { scripts: scripts() });
      const root = fake.nextTs();
      await fake.postSigned(
        bot.eventsUrl,
        fake.envelope({
          type: 'app_mention',
          user: 'U0ALICE',
          text: `<@${fake.botUserId}> what colour is the circle?`,
          ts: root,
          channel: 'C0GENERAL',
          team: fake.teamId,
        }),
      );
      await until(() => bot!.model.calls.length === 1, 'the first turn');
      await bot.manager.idle();
      const [cut] = fake.thread('C0GENERAL', root);
      expectCutAnswerShown(cut!.text);
      expect(cut!.streaming ?? false).toBe(false);
      await fake.postSigned(
        bot.eventsUrl,
        fake.envelope({
          type: 'message',
          channel: 'C0GENERAL',
          channel_type: 'channel',
          user: 'U0ALICE',
          text: 'and its colour?',
          ts: fake.nextTs(),
          thread_ts: root,
          team: fake.teamId,
        }),
      );
      await until(() => bot!.model.calls.length === 2, 'the second turn');
      await bot.manager.idle();
      expect(fake.thread('C0GENERAL', root).map((m) => m.text)).toEqual([cut!.text, 'Red.']);
      expectSecondRequestSawTheCutAnswer(bot.model.calls[1]?.request);
      expectHistory(await bot.store.load(`slack:${fake.teamId}:C0GENERAL:${root}`));
    });
  }
});
