import Keyv from 'keyv';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyvConversationStore } from '../../../src/conversation/keyv-conversation-store.js';
import { gate, recordingLogger, until } from '../../conversation/helpers.js';
import { type FakeSlack, startFakeSlack } from '../../fakes/fake-slack/fake-slack.js';
import { askedOf, type SlackBot, startSlackBot } from './slack-harness.js';

let fake: FakeSlack;
let bots: SlackBot[] = [];
beforeEach(async () => {
  fake = await startFakeSlack();
});
afterEach(async () => {
  for (const bot of bots) await bot.close();
  bots = [];
  await fake.close();
});

async function bot(options: Parameters<typeof startSlackBot>[1] = {}): Promise<SlackBot> {
  const started = await startSlackBot(fake, options);
  bots.push(started);
  return started;
}

const png = async () =>
  new Uint8Array(
    await sharp({ create: { width: 6, height: 4, channels: 3, background: '#00f' } })
      .png()
      .toBuffer(),
  );
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

/** the final text of the bot's messages in a thread, once the turn is stored */
async function threadAnswer(b: SlackBot, channel: string, threadTs: string): Promise<string[]> {
  await until(
    () => fake.thread(channel, threadTs).some((m) => !m.streaming && !m.text.endsWith('▌') && m.text !== '…'),
    'an answer in the thread',
  );
  await b.manager.idle();
  return fake.thread(channel, threadTs).map((m) => m.text);
}

const mention = (text: string, extra: Record<string, unknown> = {}) => ({
  type: 'app_mention',
  user: 'U0ALICE',
  text: `<@${fake.botUserId}> ${text}`,
  ts: fake.nextTs(),
  channel: 'C0GENERAL',
  team: fake.teamId,
  ...extra,
});

describe('Slack adapter: a real bolt App against a fake Slack', () => {
  it('answers a signed app_mention with an image in its thread, streamed natively; a redelivery gets nothing', async () => {
    const b = await bot();
    const file = fake.hostFile('blue.png', 'image/png', await png());
    const event = mention('what colour?', { files: [file] });
    const envelope = fake.envelope(event);
    expect((await fake.postSigned(b.eventsUrl, envelope)).status).toBe(200);
    const [answer] = await threadAnswer(b, 'C0GENERAL', String(event.ts));
    expect(answer).toBe('answer to what colour? <image>');
    expect(fake.callsOf('chat.startStream')[0]!.body).toMatchObject({
      channel: 'C0GENERAL',
      thread_ts: event.ts,
      recipient_user_id: 'U0ALICE',
      recipient_team_id: fake.teamId,
    });
    expect(fake.calls.every((call) => call.authorized)).toBe(true);

    expect((await fake.postSigned(b.eventsUrl, envelope, { retryNum: 1 })).status).toBe(200);
    await settle();
    expect(b.model.calls).toHaveLength(1);
    expect(b.lines.some((line) => line.code === 'glimpse_duplicate_event')).toBe(true);
  });

  it('refuses a bad signature and a stale timestamp with 401, processing nothing', async () => {
    const b = await bot();
    const envelope = fake.envelope(mention('hi'));
    expect((await fake.postSigned(b.eventsUrl, envelope, { badSignature: true })).status).toBe(401);
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    expect((await fake.postSigned(b.eventsUrl, envelope, { timestamp: stale })).status).toBe(401);
    await settle();
    expect(b.model.calls).toHaveLength(0);
  });

  it('falls back to post + chat.update where streaming is refused, split past the limit', async () => {
    fake.streamRefusal = 'feature_not_enabled';
    const long = Array.from({ length: 300 }, (_, i) => `Sentence number ${i} of a long answer.`).join(' ');
    const b = await bot({
      scripts: [{ deltas: [long.slice(0, 5000), long.slice(5000)] }, { deltas: ['short'] }],
    });
    const event = mention('tell me everything');
    await fake.postSigned(b.eventsUrl, fake.envelope(event));
    const messages = await threadAnswer(b, 'C0GENERAL', String(event.ts));
    expect(messages.length).toBeGreaterThanOrEqual(3);
    for (const text of messages) expect(text.length).toBeLessThanOrEqual(3900);
    expect(messages.join(' ').replace(/\s+/g, ' ')).toBe(long);
    expect(b.lines.some((line) => line.code === 'glimpse_slack_stream_refused')).toBe(true);
    // the workspace is not asked to stream again
    const second = mention('again');
    await fake.postSigned(b.eventsUrl, fake.envelope(second));
    await threadAnswer(b, 'C0GENERAL', String(second.ts));
    expect(fake.callsOf('chat.startStream')).toHaveLength(1);
  });

  it('answers replies in a thread it answered in without a mention, and ignores other threads', async () => {
    const b = await bot();
    const root = mention('first');
    await fake.postSigned(b.eventsUrl, fake.envelope(root));
    await threadAnswer(b, 'C0GENERAL', String(root.ts));
    const reply = {
      type: 'message',
      channel: 'C0GENERAL',
      channel_type: 'channel',
      user: 'U0ALICE',
      text: 'and then?',
      ts: fake.nextTs(),
      thread_ts: root.ts,
      team: fake.teamId,
    };
    await fake.postSigned(b.eventsUrl, fake.envelope(reply));
    await until(() => b.model.calls.length === 2, 'the thread reply answered');
    expect(b.model.calls[1]!.request.messages.map((m) => askedOf({ messages: [m] }))).toEqual([
      'first',
      'answer to first',
      'and then?',
    ]);
    const elsewhere = { ...reply, ts: fake.nextTs(), thread_ts: '1699999999.000001', text: 'not for you' };
    await fake.postSigned(b.eventsUrl, fake.envelope(elsewhere));
    const plain = { ...reply, ts: fake.nextTs(), thread_ts: undefined, text: 'channel chatter' };
    await fake.postSigned(b.eventsUrl, fake.envelope(plain));
    await settle();
    await b.manager.idle();
    expect(b.model.calls).toHaveLength(2);
  });

  it('answers a DM, and tells the user when files:read is missing', async () => {
    const b = await bot();
    const dm = {
      type: 'message',
      channel: 'D0ALICE',
      channel_type: 'im',
      user: 'U0ALICE',
      text: 'hello',
      ts: fake.nextTs(),
      team: fake.teamId,
    };
    await fake.postSigned(b.eventsUrl, fake.envelope(dm));
    expect(await threadAnswer(b, 'D0ALICE', String(dm.ts))).toEqual(['answer to hello']);

    fake.filesReadable = false;
    const withFile = {
      ...dm,
      ts: fake.nextTs(),
      text: 'and this?',
      files: [fake.hostFile('x.png', 'image/png', await png())],
    };
    await fake.postSigned(b.eventsUrl, fake.envelope(withFile));
    const [notice] = await threadAnswer(b, 'D0ALICE', String(withFile.ts));
    expect(notice).toMatch(/files:read/);
    expect(b.model.calls).toHaveLength(1);
  });

  it('/glimpse is acknowledged at once, posts the question and answers in its thread', async () => {
    const b = await bot();
    const started = Date.now();
    const ack = await fake.postSigned(
      b.eventsUrl,
      fake.slashCommand({ text: 'what is a rhombus?', channel: 'C0GENERAL', user: 'U0ALICE' }),
    );
    expect(ack.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    await until(() => fake.callsOf('chat.postMessage').length > 0, 'the question posted');
    const root = fake.callsOf('chat.postMessage')[0]!;
    expect(root.body.text).toBe('<@U0ALICE> asked: what is a rhombus?');
    const rootTs = [...fake.messages.values()].find((m) => m.thread_ts === undefined)!.ts;
    expect(await threadAnswer(b, 'C0GENERAL', rootTs)).toEqual(['answer to what is a rhombus?']);
  });

  it('two App instances sharing one store answer a redelivered event once', async () => {
    const { logger } = recordingLogger();
    const shared = new KeyvConversationStore(new Keyv(), { historyTtlSeconds: 3600, logger });
    const one = await bot({ store: shared });
    const two = await bot({ store: shared });
    const event = mention('only once');
    const envelope = fake.envelope(event);
    await Promise.all([
      fake.postSigned(one.eventsUrl, envelope),
      fake.postSigned(two.eventsUrl, envelope, { retryNum: 1 }),
    ]);
    await threadAnswer(one, 'C0GENERAL', String(event.ts));
    await settle();
    await Promise.all([one.manager.idle(), two.manager.idle()]);
    expect(one.model.calls.length + two.model.calls.length).toBe(1);
  });

  it('Socket Mode: connects through apps.connections.open and answers an events_api envelope', async () => {
    const b = await bot({ socketMode: true });
    await until(() => fake.socketConnected, 'the socket');
    expect(fake.callsOf('apps.connections.open')[0]!.authorized).toBe(true);
    const event = mention('over the socket');
    const ack = await fake.sendEnvelope('events_api', fake.envelope(event));
    expect(ack.envelope_id).toBeDefined();
    expect(await threadAnswer(b, 'C0GENERAL', String(event.ts))).toEqual(['answer to over the socket']);
  });

  it('the assistant surface: suggested prompts when a thread starts, status and title while answering', async () => {
    const b = await bot();
    const threadTs = fake.nextTs();
    const started = {
      type: 'assistant_thread_started',
      assistant_thread: { user_id: 'U0ALICE', channel_id: 'D0ALICE', thread_ts: threadTs, context: {} },
      event_ts: fake.nextTs(),
    };
    await fake.postSigned(b.eventsUrl, fake.envelope(started));
    await until(() => fake.callsOf('assistant.threads.setSuggestedPrompts').length === 1, 'the prompts');
    const prompts = fake.callsOf('assistant.threads.setSuggestedPrompts')[0]!.body;
    expect(prompts).toMatchObject({ channel_id: 'D0ALICE', thread_ts: threadTs });
    expect(JSON.stringify(prompts.prompts)).toContain('Describe the image.');

    const message = {
      type: 'message',
      channel: 'D0ALICE',
      channel_type: 'im',
      user: 'U0ALICE',
      text: 'what shape is it?',
      ts: fake.nextTs(),
      thread_ts: threadTs,
      team: fake.teamId,
    };
    await fake.postSigned(b.eventsUrl, fake.envelope(message));
    expect(await threadAnswer(b, 'D0ALICE', threadTs)).toEqual(['answer to what shape is it?']);
    expect(fake.callsOf('assistant.threads.setStatus').map((call) => call.body.status)).toContain(
      'is looking at the image…',
    );
    expect(fake.callsOf('assistant.threads.setTitle')[0]!.body.title).toBe('what shape is it?');
  });

  it('auto-captions uploads in caption channels, in the upload thread; access lists keep it out elsewhere', async () => {
    const b = await bot({
      slack: {
        captionChannels: ['C0ART'],
        access: {
          teams: { allow: [], deny: [] },
          channels: { allow: [], deny: ['C0SECRET'] },
          users: { allow: [], deny: [] },
        },
      },
    });
    const upload = {
      type: 'message',
      subtype: 'file_share',
      channel: 'C0ART',
      channel_type: 'channel',
      user: 'U0ALICE',
      text: 'my drawing',
      ts: fake.nextTs(),
      team: fake.teamId,
      files: [fake.hostFile('art.png', 'image/png', await png())],
    };
    await fake.postSigned(b.eventsUrl, fake.envelope(upload));
    const [caption] = await threadAnswer(b, 'C0ART', String(upload.ts));
    expect(caption).toBe('Suggested alt text: answer to <image> Describe the image.');
    await fake.postSigned(b.eventsUrl, fake.envelope(mention('hello', { channel: 'C0SECRET' })));
    await settle();
    await b.manager.idle();
    expect(b.model.calls).toHaveLength(1);
  });

  it('a deleted question stops its answer', async () => {
    const { promise: held, open: release } = gate();
    const b = await bot({ scripts: [{ deltas: ['never'], gate: held }] });
    const event = mention('slow one');
    await fake.postSigned(b.eventsUrl, fake.envelope(event));
    await until(() => b.model.calls.length === 1, 'running');
    const deleted = {
      type: 'message',
      subtype: 'message_deleted',
      channel: 'C0GENERAL',
      deleted_ts: event.ts,
      ts: fake.nextTs(),
    };
    await fake.postSigned(b.eventsUrl, fake.envelope(deleted));
    await until(() => b.model.calls[0]!.signal?.aborted === true, 'aborted');
    release();
  });
});
