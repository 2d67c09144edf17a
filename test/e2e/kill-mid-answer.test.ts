import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConversationTurn } from '../../src/conversation/conversation-store.js';
import { createConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { eventually, recordingLogger } from '../conversation/helpers.js';
import { type FakeDiscord, startFakeDiscord } from '../fakes/fake-discord/fake-discord.js';
import type { Payload } from '../fakes/fake-discord/world.js';
import { type FakeOpenAIHost, startFakeOpenAIHost } from '../fakes/fake-openai-host.js';
import { type FakeSlack, startFakeSlack } from '../fakes/fake-slack/fake-slack.js';
import { type AppProcess, freePort, startAppProcess } from './app-process.js';

/**
 * kill -9 while an answer streams: the real `bin/glimpse start` (remote model on a loopback
 * OpenAI-compatible host that stalls after two deltas) is killed with SIGKILL mid-answer, then
 * started again on the same SQLite file. The process could store nothing as it died; what it had
 * saved while streaming (the in-flight turn) becomes the question and the answer so far, marked
 * interrupted, and the conversation goes on: the next message in the thread is answered with that
 * history. Needs `npm run build` (dist/).
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const waitFor = (check: () => boolean, what: string, timeoutMs = 30_000) =>
  eventually(check, what, { timeoutMs, intervalMs: 25 });

async function killNow(app: AppProcess): Promise<void> {
  const exited = new Promise((resolve) => app.child.once('exit', (_code, signal) => resolve(signal)));
  app.child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
}

const textOf = (turn: ConversationTurn | undefined) =>
  turn?.parts.map((part) => (part.type === 'text' ? part.text : '<image>')).join('');

/** the history after the restart: the cut exchange (interrupted), then the next one whole */
function expectRecovered(turns: ConversationTurn[], question: string, followUp: string): void {
  expect(turns.map((turn) => turn.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
  expect(textOf(turns[0])).toBe(question);
  expect(textOf(turns[1])?.trim()).toBe('The circle is');
  expect(turns[1]?.interrupted).toBe(true);
  expect(textOf(turns[2])).toBe(followUp);
  expect(textOf(turns[3])).toBe('Red.');
  expect(turns[3]?.interrupted).toBeUndefined();
}

/** the model request after the restart carried the cut answer */
function expectSentHistory(host: FakeOpenAIHost, question: string): void {
  const sent = host.chats
    .at(-1)!
    .body!.messages.map((message) =>
      typeof message.content === 'string'
        ? message.content
        : message.content.map((part) => part.text ?? `<${part.type}>`).join(' '),
    );
  expect(sent.slice(0, 2).map((text) => text.trim())).toEqual([question, 'The circle is']);
}

describe('kill -9 during a streamed answer, then a restart', { timeout: 120_000 }, () => {
  let host: FakeOpenAIHost | undefined;
  let apps: AppProcess[] = [];
  let workDir: string | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const app of apps)
      if (app.child.exitCode === null && app.child.signalCode === null) await app.stop();
    apps = [];
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await host?.stop();
    host = undefined;
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    workDir = undefined;
  });

  async function setup(name: string): Promise<{ storePath: string; env: Record<string, string> }> {
    host = await startFakeOpenAIHost();
    host.behaviour = { kind: 'stall', deltas: ['The circle ', 'is '] };
    workDir = mkdtempSync(join(tmpdir(), `glimpse-kill-${name}-`));
    const storePath = join(workDir, 'data/glimpse.sqlite');
    return {
      storePath,
      env: {
        GLIMPSE_MODEL_PROVIDER: 'remote',
        GLIMPSE_REMOTE_URL: host.url,
        GLIMPSE_REMOTE_MODEL: host.model,
        GLIMPSE_STORE_PATH: storePath,
      },
    };
  }

  async function start(env: Record<string, string>, adapter: 'discord' | 'slack'): Promise<AppProcess> {
    const app = await startAppProcess({ cwd: workDir!, env });
    apps.push(app);
    await app.waitForLog((line) => new RegExp(`^adapter ${adapter}: bot `).test(String(line.msg)), adapter);
    return app;
  }

  async function historyOf(storePath: string, conversationOf: (store: Store) => Promise<string>) {
    const store = await createConversationStore(
      { sqlitePath: storePath, historyTtlSeconds: 3600 },
      recordingLogger().logger,
    );
    try {
      return await store.load(await conversationOf(store));
    } finally {
      await store.close();
    }
  }
  type Store = Awaited<ReturnType<typeof createConversationStore>>;

  it('Discord: the cut answer is in the history marked interrupted, and the thread goes on', async () => {
    const { storePath, env } = await setup('discord');
    const fake: FakeDiscord = await startFakeDiscord();
    cleanups.push(() => fake.close());
    const discordEnv = {
      ...env,
      DISCORD_TOKEN: fake.token,
      DISCORD_APPLICATION_ID: fake.applicationId,
      DISCORD_API_URL: fake.apiUrl,
    };
    const first = await start(discordEnv, 'discord');
    const thread = fake.threadId!;
    const question = 'What colour is the circle?';
    const asked = fake.sendMessage({
      channelId: thread,
      author: fake.user,
      content: `<@${fake.bot.id}> ${question}`,
      mentions: [fake.bot],
    });
    const replyTo = (id: string) =>
      fake.messages
        .all()
        .find(
          (m) =>
            (m.author as Payload).id === fake.bot.id &&
            (m.message_reference as Payload | undefined)?.message_id === id,
        );
    await waitFor(
      () => String(replyTo(String(asked.id))?.content ?? '').startsWith('The circle is'),
      'the answer so far on Discord',
    );
    expect(String(replyTo(String(asked.id))!.content)).toMatch(/▌$/); // still writing
    await sleep(1000); // the in-flight record follows the text within 250 ms
    await killNow(first);

    host!.behaviour = { kind: 'answer', answer: () => ['Red', '.'] };
    await start(discordEnv, 'discord');
    const followUp = 'And now?';
    const next = fake.sendMessage({ channelId: thread, author: fake.user, content: followUp });
    await waitFor(() => replyTo(String(next.id))?.content === 'Red.', 'the answer after the restart');
    expectSentHistory(host!, question);
    await apps.at(-1)!.stop();
    const turns = await historyOf(
      storePath,
      async (store) => (await store.findMessage(`discord:${next.id}`))!.conversationId,
    );
    expectRecovered(turns, question, followUp);
  });

  it('Slack: the cut answer is in the history marked interrupted, and the thread goes on', async () => {
    const { storePath, env } = await setup('slack');
    const fake: FakeSlack = await startFakeSlack();
    cleanups.push(() => fake.close());
    const port = await freePort();
    const eventsUrl = `http://127.0.0.1:${port}/slack/events`;
    const slackEnv = {
      ...env,
      SLACK_BOT_TOKEN: fake.botToken,
      SLACK_SIGNING_SECRET: fake.signingSecret,
      SLACK_API_URL: fake.apiUrl,
      SLACK_HOST: '127.0.0.1',
      SLACK_PORT: String(port),
    };
    const first = await start(slackEnv, 'slack');
    const question = 'What colour is the circle?';
    const root = fake.nextTs();
    await fake.postSigned(
      eventsUrl,
      fake.envelope({
        type: 'app_mention',
        user: 'U0ALICE',
        text: `<@${fake.botUserId}> ${question}`,
        ts: root,
        channel: 'C0GENERAL',
        team: fake.teamId,
      }),
    );
    await waitFor(
      () => fake.thread('C0GENERAL', root).some((m) => m.streaming && m.text.startsWith('The circle')),
      'the answer so far streaming on Slack',
    );
    await sleep(1000);
    await killNow(first);

    host!.behaviour = { kind: 'answer', answer: () => ['Red', '.'] };
    await start(slackEnv, 'slack');
    const followUp = 'And now?';
    await fake.postSigned(
      eventsUrl,
      fake.envelope({
        type: 'message',
        channel: 'C0GENERAL',
        channel_type: 'channel',
        user: 'U0ALICE',
        text: followUp,
        ts: fake.nextTs(),
        thread_ts: root,
        team: fake.teamId,
      }),
    );
    await waitFor(
      () => fake.thread('C0GENERAL', root).some((m) => !m.streaming && m.text === 'Red.'),
      'the answer after the restart',
    );
    expectSentHistory(host!, question);
    await apps.at(-1)!.stop();
    const turns = await historyOf(storePath, async () => `slack:${fake.teamId}:C0GENERAL:${root}`);
    expectRecovered(turns, question, followUp);
  });
});
