import { once } from 'node:events';
import { Client, GatewayIntentBits, type Interaction, type Message, Partials } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeDiscord, startFakeDiscord } from './fake-discord/fake-discord.js';

const intents = [
  GatewayIntentBits.Guilds,
  GatewayIntentBits.GuildMessages,
  GatewayIntentBits.MessageContent,
  GatewayIntentBits.DirectMessages,
];

function makeClient(fake: FakeDiscord): Client {
  return new Client({
    intents,
    partials: [Partials.Channel],
    rest: { api: fake.apiUrl },
    waitGuildTimeout: 200,
  });
}

/** the next event `name` whose first argument matches */
function nextEvent<T>(
  client: Client,
  name: string,
  match: (value: T) => boolean,
  timeoutMs = 3_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (value: T) => {
      if (!match(value)) return;
      cleanup();
      resolve(value);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no ${name} within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      client.off(name, listener);
    };
    client.on(name, listener);
  });
}

const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);

describe('fake Discord with a real discord.js Client', () => {
  let fake: FakeDiscord;
  let client: Client;
  let loginMs = 0;

  beforeAll(async () => {
    fake = await startFakeDiscord({ editLimit: { max: 3, windowMs: 300 } });
    client = makeClient(fake);
    const ready = once(client, 'clientReady');
    const started = Date.now();
    await client.login(fake.token);
    await ready;
    loginMs = Date.now() - started;
  });

  afterAll(async () => {
    await client?.destroy();
    await fake?.close();
  });

  it('logs in: gateway/bot, IDENTIFY with token and intents, READY with the bot user, the guild cached', () => {
    expect(loginMs).toBeLessThan(2_000);
    expect(client.user?.id).toBe(fake.bot.id);
    expect(client.user?.bot).toBe(true);
    expect(client.application?.id).toBe(fake.applicationId);
    const gatewayCall = fake.restCalls('GET /gateway/bot')[0];
    expect(gatewayCall?.authorized).toBe(true);
    expect(gatewayCall?.authorizationScheme).toBe('Bot');
    expect(gatewayCall?.headers.authorization).toBeUndefined();
    expect(fake.gateway.identifies).toHaveLength(1);
    expect(fake.gateway.identifies[0]?.token).toBe(fake.token);
    expect(fake.gateway.identifies[0]?.intents).toBe((1 << 0) | (1 << 9) | (1 << 12) | (1 << 15));
    const guild = client.guilds.cache.get(fake.guildId);
    expect(guild?.available).toBe(true);
    const channel = client.channels.cache.get(fake.textChannelId);
    expect(channel?.isTextBased()).toBe(true);
    expect(channel && 'parentId' in channel ? channel.parentId : null).toBeTruthy();
    const thread = client.channels.cache.get(fake.threadId!);
    expect(thread?.isThread()).toBe(true);
    expect(thread?.isThread() ? thread.ownerId : null).toBe(fake.user.id);
    expect(fake.restCalls('unknown')).toEqual([]);
  });

  it('delivers a guild MESSAGE_CREATE with content, mentions and attachments', async () => {
    const attachment = fake.hostAttachment({
      filename: 'cat.png',
      contentType: 'image/png',
      body: png,
      width: 2,
      height: 2,
    });
    const received = nextEvent<Message>(client, 'messageCreate', (message) =>
      message.content.startsWith('<@'),
    );
    const sent = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `<@${fake.bot.id}> what is this?`,
      mentions: [fake.bot],
      attachments: [attachment],
    });
    const message = await received;
    expect(message.id).toBe(sent.id);
    expect(message.guildId).toBe(fake.guildId);
    expect(message.author.id).toBe(fake.user.id);
    expect(message.mentions.users.has(fake.bot.id)).toBe(true);
    expect(message.mentions.has(client.user!)).toBe(true);
    expect(message.member?.id).toBe(fake.user.id);
    const file = message.attachments.first();
    expect(file?.contentType).toBe('image/png');
    expect(file?.url.startsWith(fake.origin)).toBe(true);
    const bytes = new Uint8Array(await (await fetch(file!.url)).arrayBuffer());
    expect(bytes).toEqual(png);
  });

  it('delivers a message in a thread', async () => {
    const received = nextEvent<Message>(
      client,
      'messageCreate',
      (message) => message.channelId === fake.threadId,
    );
    fake.sendMessage({ channelId: fake.threadId!, author: fake.user, content: 'in the thread' });
    const message = await received;
    expect(message.channel.isThread()).toBe(true);
  });

  it('delivers a DM (Partials.Channel) as a DM-based channel', async () => {
    const received = nextEvent<Message>(
      client,
      'messageCreate',
      (message) => message.content === 'hello in private',
    );
    fake.sendMessage({
      channelId: fake.dmChannel(fake.user),
      author: fake.user,
      content: 'hello in private',
    });
    const message = await received;
    expect(message.channel.isDMBased()).toBe(true);
    expect(message.guildId).toBeNull();
    expect(message.inGuild()).toBe(false);
  });

  it("carries a reply's reference, and fetchReference reads the fake's log", async () => {
    const first = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: 'the original',
    });
    const received = nextEvent<Message>(
      client,
      'messageCreate',
      (message) => message.content === 'the reply',
    );
    fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: 'the reply',
      messageReference: String(first.id),
    });
    const reply = await received;
    expect(reply.reference?.messageId).toBe(first.id);
    client.channels.cache.get(fake.textChannelId);
    const referenced = await reply.fetchReference();
    expect(referenced.content).toBe('the original');
  });

  it('records message.reply and edit as REST calls, and echoes them over the gateway', async () => {
    const received = nextEvent<Message>(
      client,
      'messageCreate',
      (message) => message.content === 'reply to me',
    );
    fake.sendMessage({ channelId: fake.textChannelId, author: fake.user, content: 'reply to me' });
    const message = await received;
    const echoed = nextEvent<Message>(
      client,
      'messageCreate',
      (m) => m.author.id === fake.bot.id && m.content === 'x',
    );
    const sent = await message.reply('x');
    expect(sent.author.id).toBe(fake.bot.id);
    await echoed;
    await sent.edit('y');
    const post = fake.restCalls('POST /channels/:channelId/messages').at(-1);
    expect(post?.body).toMatchObject({ content: 'x', message_reference: { message_id: message.id } });
    expect(post?.authorized).toBe(true);
    const patch = fake.restCalls('PATCH /channels/:channelId/messages/:messageId').at(-1);
    expect(patch?.path).toBe(`/channels/${fake.textChannelId}/messages/${sent.id}`);
    expect(patch?.body).toMatchObject({ content: 'y' });
    expect(fake.messages.get(sent.id)?.content).toBe('y');
    if (!message.channel.isSendable()) throw new Error('expected a sendable channel');
    await message.channel.sendTyping();
    expect(fake.restCalls('POST /channels/:channelId/typing')).toHaveLength(1);
  });

  it('answers a slash command with an attachment option: deferReply, editReply, followUp', async () => {
    const attachment = fake.hostAttachment({ filename: 'dog.png', contentType: 'image/png', body: png });
    const received = nextEvent<Interaction>(client, 'interactionCreate', () => true);
    const { id, token } = fake.sendInteraction({
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
    const interaction = await received;
    if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');
    expect(interaction.id).toBe(id);
    expect(interaction.commandName).toBe('ask');
    expect(interaction.options.getString('question')).toBe('what is it?');
    expect(interaction.options.getAttachment('image')?.url).toBe(attachment.url);
    expect(interaction.channel?.id).toBe(fake.textChannelId);
    await interaction.deferReply();
    await interaction.editReply('thinking done');
    const followUp = await interaction.followUp('and one more');
    expect(followUp.content).toBe('and one more');
    const callback = fake.restCalls('POST /interactions/:interactionId/:token/callback')[0];
    expect(callback?.path).toBe(`/interactions/${id}/${token}/callback`);
    expect(callback?.body).toMatchObject({ type: 5 });
    const edit = fake.restCalls('PATCH /webhooks/:applicationId/:token/messages/:messageId')[0];
    expect(edit?.path).toBe(`/webhooks/${fake.applicationId}/${token}/messages/@original`);
    expect(edit?.body).toMatchObject({ content: 'thinking done' });
    expect(fake.restCalls('POST /webhooks/:applicationId/:token')[0]?.body).toMatchObject({
      content: 'and one more',
    });
    // a second acknowledgement is refused as Discord does
    await expect(interaction.reply('again')).rejects.toThrow();
  });

  it('delivers a message context-menu command with the resolved target message', async () => {
    const target = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: 'caption me',
    });
    const received = nextEvent<Interaction>(client, 'interactionCreate', () => true);
    fake.sendInteraction({
      type: 'message-context',
      commandName: 'Describe image',
      channelId: fake.textChannelId,
      user: fake.user,
      targetMessageId: String(target.id),
    });
    const interaction = await received;
    if (!interaction.isMessageContextMenuCommand()) throw new Error('expected a message context menu');
    expect(interaction.targetMessage.content).toBe('caption me');
    await interaction.reply({ content: 'a caption' });
    expect(fake.messages.all().some((message) => message.content === 'a caption')).toBe(true);
  });

  it('registers commands (PUT) and answers them with ids', async () => {
    const commands = await client.application!.commands.set([
      { name: 'ask', description: 'Ask about an image' },
    ]);
    expect(commands.first()?.id).toMatch(/^\d+$/);
    const guildCommands = await client.application!.commands.set(
      [{ name: 'reset', description: 'Forget' }],
      fake.guildId,
    );
    expect(guildCommands.first()?.name).toBe('reset');
  });

  it('answers 429 past the edit limit; discord.js waits and retries; the counter counts it', async () => {
    const channel = client.channels.cache.get(fake.textChannelId);
    if (!channel?.isSendable()) throw new Error('expected a sendable channel');
    const sent = await channel.send('edit me');
    const before = fake.counters.editLimitRateLimited;
    const started = Date.now();
    for (let i = 1; i <= 5; i++) await sent.edit(`edit ${i}`);
    expect(fake.counters.editLimitRateLimited).toBeGreaterThan(before);
    expect(fake.counters.rateLimited).toBeGreaterThanOrEqual(fake.counters.editLimitRateLimited);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(fake.messages.get(sent.id)?.content).toBe('edit 5');
    const limited = fake
      .restCalls('PATCH /channels/:channelId/messages/:messageId')
      .filter((c) => c.status === 429);
    expect(limited.length).toBe(fake.counters.editLimitRateLimited);
    expect(limited[0]?.response).toMatchObject({ global: false, message: 'You are being rate limited.' });
  });

  it('injects faults: a 500 and a 429 on the next calls of a route, which discord.js retries', async () => {
    fake.failNext({ route: 'POST /channels/:channelId/typing', status: 500 });
    fake.failNext({ route: /^POST \/channels\/\d+\/typing$/, status: 429, retryAfterSeconds: 0.05 });
    const channel = client.channels.cache.get(fake.textChannelId);
    if (!channel?.isSendable()) throw new Error('expected a sendable channel');
    const before = fake.restCalls('POST /channels/:channelId/typing').length;
    await channel.sendTyping();
    const statuses = fake
      .restCalls('POST /channels/:channelId/typing')
      .slice(before)
      .map((call) => call.status);
    expect(statuses).toEqual([500, 429, 204]);
  });

  it('records unknown routes as 404s', async () => {
    await expect(client.rest.get('/guilds/1/nothing-here')).rejects.toThrow();
    expect(fake.restCalls('unknown').at(-1)).toMatchObject({ status: 404, path: '/guilds/1/nothing-here' });
  });

  it('hosts attachments with the behaviours a downloader must survive', async () => {
    const redirect = fake.hostFile('r/a.png', {
      body: png,
      contentType: 'image/png',
      behaviour: { type: 'redirect', location: 'http://169.254.169.254/latest' },
    });
    const redirected = await fetch(redirect, { redirect: 'manual' });
    expect(redirected.status).toBe(302);
    expect(redirected.headers.get('location')).toBe('http://169.254.169.254/latest');
    const html = await fetch(
      fake.hostFile('h/a.png', { body: png, contentType: 'image/png', behaviour: { type: 'html' } }),
    );
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toContain('text/html');
    await html.arrayBuffer();
    const expired = await fetch(
      fake.hostFile('e/a.png', {
        body: png,
        contentType: 'image/png',
        behaviour: { type: 'status', status: 403 },
      }),
    );
    expect(expired.status).toBe(403);
    await expired.arrayBuffer();
    const lying = await fetch(
      fake.hostFile('l/a.png', {
        body: new Uint8Array(4096),
        contentType: 'image/png',
        behaviour: { type: 'more-than-announced', announcedBytes: 10 },
      }),
    );
    expect(lying.headers.get('content-length')).toBe('10');
    expect((await lying.arrayBuffer()).byteLength).toBe(10);
    const endless = await fetch(
      fake.hostFile('n/a.png', {
        body: new Uint8Array(1024),
        contentType: 'image/png',
        behaviour: { type: 'endless', repeat: 64 },
      }),
    );
    expect(endless.headers.get('content-length')).toBeNull();
    expect((await endless.arrayBuffer()).byteLength).toBe(64 * 1024);
    expect(fake.calls.filter((call) => call.kind === 'attachment').length).toBeGreaterThanOrEqual(5);
  });

  it('resumes after a dropped connection and replays what was dispatched meanwhile', async () => {
    const resumed = nextEvent<number>(client, 'shardResume', () => true, 5_000);
    fake.gateway.disconnect(4000);
    const missed = nextEvent<Message>(
      client,
      'messageCreate',
      (message) => message.content === 'while you were away',
      5_000,
    );
    fake.sendMessage({ channelId: fake.textChannelId, author: fake.user, content: 'while you were away' });
    await resumed;
    await missed;
    expect(fake.gateway.resumes.at(-1)?.accepted).toBe(true);
    expect(fake.gateway.identifies).toHaveLength(1);
  });

  it('waitFor resolves on a call to come and rejects after its timeout', async () => {
    const waiting = fake.waitFor((call) => call.route === 'GET /users/@me');
    await client.users.fetch('@me').catch(() => client.rest.get('/users/@me'));
    await expect(waiting).resolves.toMatchObject({ status: 200 });
    await expect(fake.waitFor((call) => call.path === '/never', 50)).rejects.toThrow(/no matching call/);
  });
});

describe('an IDENTIFY refused with 4014 (disallowed intents)', () => {
  it('makes client.login() reject', async () => {
    const fake = await startFakeDiscord({ refuseIdentify: { code: 4014, reason: 'Disallowed intent(s).' } });
    const client = makeClient(fake);
    const events: string[] = [];
    client.on('shardDisconnect', (event, id) => events.push(`shardDisconnect ${event.code} ${id}`));
    client.on('shardError', (error, id) => events.push(`shardError ${error.message} ${id}`));
    client.on('error', (error) => events.push(`error ${error.message}`));
    const started = Date.now();
    const error = await client.login(fake.token).then(
      () => null,
      (caught: unknown) => caught as Error & { code?: unknown },
    );
    const elapsed = Date.now() - started;
    // discord.js 14.28: a plain Error from @discordjs/ws, no `code`; shardDisconnect then shardError
    expect(error?.constructor).toBe(Error);
    expect(error?.message).toBe('Used disallowed intents');
    expect(error?.code).toBeUndefined();
    expect(events).toEqual(['shardDisconnect 4014 0', 'shardError Used disallowed intents 0']);
    expect(elapsed).toBeLessThan(2_000);
    expect(client.isReady()).toBe(false);
    expect(error).toBeInstanceOf(Error);
    expect(fake.gateway.identifies).toHaveLength(1);
    await client.destroy();
    await fake.close();
  });
});

describe('handles', () => {
  it('leaves no sockets or servers once client.destroy() and close() are done', async () => {
    const fake = await startFakeDiscord();
    const client = makeClient(fake);
    await client.login(fake.token);
    await client.destroy();
    await fake.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const resources = process.getActiveResourcesInfo();
    expect(resources.filter((name) => name === 'TCPSocketWrap' || name === 'TCPServerWrap')).toEqual([]);
  });
});
