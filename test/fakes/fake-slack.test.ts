import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel } from '@slack/bolt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeSlack, startFakeSlack } from './fake-slack/fake-slack-server.js';
import { postSigned, slackSignature } from './fake-slack/signed-request.js';

const signingSecret = 'fake-signing-secret';
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);

/** sockets, servers and timers alive now (vitest's own are in the baseline) */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}
let baseline: Record<string, number>;
beforeAll(() => {
  baseline = handles();
});

/** no retries: a fault shows at once instead of the WebClient's 10 retries over 30 minutes */
const clientOptions = (fake: FakeSlack) => ({ slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } });

/** a bolt App with its HTTPReceiver on a free loopback port */
async function startHttpApp(
  fake: FakeSlack,
  setup: (app: App) => void,
  extra: { processBeforeResponse?: boolean } = {},
): Promise<{ app: App; eventsUrl: string }> {
  const app = new App({
    token: fake.botToken,
    signingSecret,
    clientOptions: clientOptions(fake),
    logLevel: LogLevel.ERROR,
    ...extra,
  });
  setup(app);
  const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
  const { port } = server.address() as AddressInfo;
  return { app, eventsUrl: `http://127.0.0.1:${port}/slack/events` };
}

describe('fake Slack: Web API through a WebClient', () => {
  let fake: FakeSlack;
  beforeAll(async () => {
    fake = await startFakeSlack({ updateLimit: { max: 2, windowMs: 60_000 } });
  });
  afterAll(async () => {
    await fake.close();
  });

  it('answers auth.test, posts, updates, deletes and records the calls without the token', async () => {
    const app = new App({ token: fake.botToken, signingSecret, clientOptions: clientOptions(fake) });
    const auth = await app.client.auth.test();
    expect(auth).toMatchObject({
      ok: true,
      user_id: fake.botUserId,
      bot_id: fake.botId,
      team_id: fake.teamId,
    });

    const first = await app.client.chat.postMessage({
      channel: fake.channelId,
      text: 'hello',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }],
    });
    const second = await app.client.chat.postMessage({
      channel: fake.channelId,
      text: 'reply',
      thread_ts: first.ts,
    });
    expect(first.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(second.ts)).toBeGreaterThan(Number(first.ts));
    expect(fake.botMessages(fake.channelId, first.ts)[0]).toMatchObject({
      text: 'reply',
      thread_ts: first.ts,
    });

    const post = fake.apiCalls('chat.postMessage')[0]!;
    expect(post).toMatchObject({ token: 'bot', authorized: true });
    expect(post.contentType).toContain('application/x-www-form-urlencoded');
    expect(post.body.blocks).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }]);
    expect(JSON.stringify(fake.calls)).not.toContain(fake.botToken);

    await app.client.chat.update({ channel: fake.channelId, ts: first.ts!, text: 'edited' });
    expect(fake.messages.get(fake.channelId, first.ts!)).toMatchObject({ text: 'edited', edits: 1 });
    await app.client.chat.delete({ channel: fake.channelId, ts: second.ts! });
    expect(fake.messages.get(fake.channelId, second.ts!)).toBeUndefined();

    const replies = await app.client.conversations.replies({ channel: fake.channelId, ts: first.ts! });
    expect(replies.messages?.map((message) => message.text)).toEqual(['edited']);
    expect((await app.client.users.info({ user: fake.userId })).user?.name).toBe('alice');
    expect((await app.client.conversations.info({ channel: fake.imChannelId })).channel?.is_im).toBe(true);
    await expect(app.client.apiCall('no.such.method')).rejects.toMatchObject({
      data: { ok: false, error: 'unknown_method' },
    });
    expect(fake.apiCalls('no.such.method')).toHaveLength(1);
  });

  it('rate-limits chat.update per channel and injects faults', async () => {
    const app = new App({
      token: fake.botToken,
      signingSecret,
      clientOptions: { ...clientOptions(fake), rejectRateLimitedCalls: true },
    });
    const { ts } = await app.client.chat.postMessage({ channel: 'C0LIMITED1', text: 'x' });
    await app.client.chat.update({ channel: 'C0LIMITED1', ts: ts!, text: '1' });
    await app.client.chat.update({ channel: 'C0LIMITED1', ts: ts!, text: '2' });
    await expect(app.client.chat.update({ channel: 'C0LIMITED1', ts: ts!, text: '3' })).rejects.toMatchObject(
      {
        code: 'slack_webapi_rate_limited_error',
      },
    );
    expect(fake.counters.updateLimitRateLimited).toBe(1);
    const limited = fake.apiCalls('chat.update').at(-1)!;
    expect(limited).toMatchObject({ status: 429, response: { ok: false, error: 'ratelimited' } });

    fake.failNext({ method: 'chat.postMessage', type: 'error', error: 'channel_not_found' });
    await expect(app.client.chat.postMessage({ channel: 'C0NOPE', text: 'x' })).rejects.toMatchObject({
      data: { error: 'channel_not_found' },
    });
    fake.failNext({ method: 'chat.postMessage', type: 'http', status: 500 });
    await expect(app.client.chat.postMessage({ channel: 'C0NOPE', text: 'x' })).rejects.toMatchObject({
      code: 'slack_webapi_http_error',
      statusCode: 500,
    });
    fake.failNext({ method: 'chat.postMessage', type: 'ratelimited', retryAfterSeconds: 7 });
    await expect(app.client.chat.postMessage({ channel: 'C0NOPE', text: 'x' })).rejects.toMatchObject({
      retryAfter: 7,
    });
    expect(fake.counters.faults).toBe(3);
    await app.client.chat.postMessage({ channel: 'C0NOPE', text: 'fine again' });
  });

  it('streams a message with chat.startStream / appendStream / stopStream and keeps its text', async () => {
    const app = new App({ token: fake.botToken, signingSecret, clientOptions: clientOptions(fake) });
    const parent = await app.client.chat.postMessage({ channel: fake.imChannelId, text: 'question' });
    const streamer = app.client.chatStream({
      channel: fake.imChannelId,
      thread_ts: parent.ts!,
      recipient_team_id: fake.teamId,
      recipient_user_id: fake.userId,
      buffer_size: 4,
    });
    await streamer.append({ markdown_text: 'Hello' });
    await streamer.append({ markdown_text: ', wor' });
    await streamer.append({ markdown_text: 'ld' });
    await streamer.stop({ markdown_text: '!' });
    expect(
      fake
        .apiCalls()
        .map((call) => call.method)
        .filter((method) => method.includes('Stream')),
    ).toEqual(['chat.startStream', 'chat.appendStream', 'chat.stopStream']);
    const start = fake.apiCalls('chat.startStream')[0]!;
    expect(start.body).toMatchObject({
      channel: fake.imChannelId,
      thread_ts: parent.ts,
      recipient_user_id: fake.userId,
      recipient_team_id: fake.teamId,
    });
    const streamed = fake.messages.get(fake.imChannelId, streamer.ts!)!;
    expect(streamed.text).toBe('Hello, world!');
    expect(streamed.stream).toMatchObject({ state: 'completed', appends: 1 });

    await app.client.assistant.threads.setStatus({
      channel_id: fake.imChannelId,
      thread_ts: parent.ts!,
      status: 'is looking…',
    });
    await app.client.assistant.threads.setTitle({
      channel_id: fake.imChannelId,
      thread_ts: parent.ts!,
      title: 'T',
    });
    expect(fake.assistantThreads.get(`${fake.imChannelId}:${parent.ts}`)).toMatchObject({
      statuses: [{ status: 'is looking…' }],
      title: 'T',
    });

    fake.setStreaming('unknown_method');
    await expect(
      app.client.chat.startStream({ channel: fake.imChannelId, thread_ts: parent.ts! }),
    ).rejects.toMatchObject({ data: { error: 'unknown_method' } });
    fake.setStreaming('available');
  });

  it('serves a file to the bot token and a login page to anyone else', async () => {
    const file = fake.hostFile({ name: 'cat.png', mimetype: 'image/png', body: PNG, width: 2, height: 3 });
    expect(file).toMatchObject({ filetype: 'png', size: PNG.byteLength, original_w: 2, original_h: 3 });
    expect(file.url_private.startsWith(`${fake.origin}/files-pri/${fake.teamId}-${file.id}/`)).toBe(true);

    const withToken = await fetch(file.url_private_download, {
      headers: { authorization: `Bearer ${fake.botToken}` },
    });
    expect(withToken.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await withToken.arrayBuffer())).toEqual(PNG);

    const without = await fetch(file.url_private);
    expect(without.status).toBe(200);
    expect(without.headers.get('content-type')).toContain('text/html');
    expect(await without.text()).toContain('<html');

    const app = new App({ token: fake.botToken, signingSecret, clientOptions: clientOptions(fake) });
    expect((await app.client.files.info({ file: file.id })).file?.name).toBe('cat.png');
    const downloads = fake.calls.filter((call) => call.kind === 'file');
    expect(downloads.map((call) => call.authorized)).toEqual([true, false]);
  });
});

describe('fake Slack: a real bolt App over HTTP', () => {
  let fake: FakeSlack;
  let app: App | undefined;
  beforeAll(async () => {
    fake = await startFakeSlack();
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });
  afterAll(async () => {
    await fake.close();
  });

  it('delivers a signed app_mention; say() and client calls land in the fake; retries show in context', async () => {
    const seen: { text: string; retryNum?: number; retryReason?: string; botUserId?: string }[] = [];
    const started = await startHttpApp(fake, (bolt) => {
      bolt.event('app_mention', async ({ event, say, context, client }) => {
        seen.push({
          text: event.text,
          retryNum: context.retryNum,
          retryReason: context.retryReason,
          botUserId: context.botUserId,
        });
        await say({ text: `you said: ${event.text}`, thread_ts: event.ts });
        await client.reactions.add({ channel: event.channel, timestamp: event.ts, name: 'eyes' });
      });
    });
    app = started.app;
    const payload = fake.events.appMention({ text: `<@${fake.botUserId}> what is this?` });
    const event = payload.event as { ts: string };
    const response = await postSigned(started.eventsUrl, payload, { signingSecret });
    expect(response.status).toBe(200);
    const posted = await fake.waitForApi('chat.postMessage');
    expect(posted.body).toMatchObject({
      channel: fake.channelId,
      text: `you said: <@${fake.botUserId}> what is this?`,
      thread_ts: event.ts,
    });
    expect(posted.authorized).toBe(true);
    await fake.waitForApi('reactions.add');
    expect(fake.messages.get(fake.channelId, event.ts)?.reactions).toEqual(['eyes']);
    expect(fake.apiCalls('auth.test')).toHaveLength(1);

    const retried = await postSigned(started.eventsUrl, fake.events.appMention({ text: 'again' }), {
      signingSecret,
      retryNum: 1,
      retryReason: 'http_timeout',
    });
    expect(retried.status).toBe(200);
    await fake.waitFor((call) => call.method === 'chat.postMessage' && call.body.text === 'you said: again');
    expect(seen).toEqual([
      { text: `<@${fake.botUserId}> what is this?`, botUserId: fake.botUserId },
      { text: 'again', retryNum: 1, retryReason: 'http_timeout', botUserId: fake.botUserId },
    ]);
    await expect.poll(() => fake.apiCalls('reactions.add').length).toBe(2);
  });

  it('refuses a bad signature and a stale timestamp with 401 before any listener', async () => {
    let reached = 0;
    const started = await startHttpApp(fake, (bolt) => {
      bolt.event('app_mention', async () => {
        reached++;
      });
    });
    app = started.app;
    const bad = await postSigned(started.eventsUrl, fake.events.appMention({ text: 'x' }), {
      signingSecret,
      badSignature: true,
    });
    const stale = await postSigned(started.eventsUrl, fake.events.appMention({ text: 'x' }), {
      signingSecret,
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    expect([bad.status, stale.status]).toEqual([401, 401]);
    const good = await postSigned(started.eventsUrl, fake.events.appMention({ text: 'x' }), {
      signingSecret,
    });
    expect(good.status).toBe(200);
    await expect.poll(() => reached).toBe(1);
    expect(slackSignature('s', 1, 'b')).toMatch(/^v0=[0-9a-f]{64}$/);
  });

  it('acks a slash command and respond() reaches the response_url', async () => {
    const started = await startHttpApp(fake, (bolt) => {
      bolt.command('/glimpse', async ({ command, ack, respond }) => {
        await ack({ response_type: 'ephemeral', text: 'working on it' });
        await respond({ response_type: 'in_channel', text: `done: ${command.text}` });
      });
    });
    app = started.app;
    const fields = fake.events.slashCommand({ text: 'describe' });
    const response = await postSigned(started.eventsUrl, fields, { signingSecret, encoding: 'form' });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ response_type: 'ephemeral', text: 'working on it' });
    const responded = await fake.waitForResponse();
    expect(responded.url).toBe(fields.response_url);
    expect(responded.body).toMatchObject({ response_type: 'in_channel', text: 'done: describe' });
  });

  it('with processBeforeResponse the HTTP answer waits for the listener', async () => {
    let finished = 0;
    const started = await startHttpApp(
      fake,
      (bolt) => {
        bolt.message(async ({ message }) => {
          if ('text' in message) await new Promise((resolve) => setTimeout(resolve, 150));
          finished = Date.now();
        });
      },
      { processBeforeResponse: true },
    );
    app = started.app;
    const dm = fake.events.message({ channel: fake.imChannelId, text: 'hi in a DM' });
    expect((dm.event as { channel_type: string }).channel_type).toBe('im');
    const response = await postSigned(started.eventsUrl, dm, { signingSecret });
    expect(response.status).toBe(200);
    expect(finished).toBeGreaterThan(0);
    expect(response.elapsedMs).toBeGreaterThanOrEqual(140);
  });
});

describe('fake Slack: a real bolt App in Socket Mode', () => {
  let fake: FakeSlack;
  beforeAll(async () => {
    fake = await startFakeSlack();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('connects over apps.connections.open + ws, receives an events_api envelope and acks it', async () => {
    const seen: { text: string; retryNum?: number }[] = [];
    const app = new App({
      token: fake.botToken,
      appToken: fake.appToken,
      socketMode: true,
      clientOptions: clientOptions(fake),
      logLevel: LogLevel.ERROR,
    });
    app.event('app_mention', async ({ event, context, client }) => {
      seen.push({ text: event.text, retryNum: context.retryNum });
      await client.chat.postMessage({ channel: event.channel, thread_ts: event.ts, text: 'over the socket' });
    });
    app.command('/glimpse', async ({ ack }) => {
      await ack({ text: 'ok' });
    });
    await app.start();
    try {
      const open = fake.apiCalls('apps.connections.open')[0]!;
      expect(open).toMatchObject({ token: 'app', authorized: true, status: 200 });
      await fake.socket.waitForConnection();

      const envelopeId = fake.socket.sendEnvelope({
        type: 'events_api',
        payload: fake.events.appMention({ text: `<@${fake.botUserId}> hi` }),
        retry_attempt: 2,
        retry_reason: 'timeout',
      });
      const ack = await fake.socket.waitForAck(envelopeId);
      expect(ack.envelope_id).toBe(envelopeId);
      await fake.waitFor(
        (call) => call.method === 'chat.postMessage' && call.body.text === 'over the socket',
      );
      expect(seen).toEqual([{ text: `<@${fake.botUserId}> hi`, retryNum: 2 }]);

      const commandEnvelope = fake.socket.sendEnvelope({
        type: 'slash_commands',
        payload: fake.events.slashCommand({ text: 'x' }),
      });
      const commandAck = await fake.socket.waitForAck(commandEnvelope);
      expect(commandAck.payload).toEqual({ text: 'ok' });
    } finally {
      await app.stop();
    }
    await expect.poll(() => fake.socket.openCount).toBe(0);
  });
});

it('leaves no sockets, servers or timers once the apps are stopped and the fakes closed', async () => {
  await expect
    .poll(() => {
      const now = handles();
      return ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'].filter(
        (name) => (now[name] ?? 0) > (baseline[name] ?? 0),
      );
    })
    .toEqual([]);
});
