import { afterEach, describe, expect, it } from 'vitest';
import { gate, until } from '../../conversation/helpers.js';
import type { Payload } from '../../fakes/fake-discord/world.js';
import { askedOf, type BotHarness, pngBytes, startBot } from './discord-harness.js';

let bot: BotHarness | undefined;
afterEach(async () => {
  await bot?.close();
  bot = undefined;
});

const mention = (h: BotHarness) => `<@${h.fake.bot.id}>`;
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

describe('Discord adapter: triggers and conversations (real discord.js against a fake Discord)', () => {
  it('answers a mention with an image in a reply, and a reply to its answer continues the chain', async () => {
    bot = await startBot();
    const { fake, model } = bot;
    const attachment = fake.hostAttachment({
      filename: 'red.png',
      contentType: 'image/png',
      body: await pngBytes(),
    });
    const question = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `${mention(bot)} what colour is it?`,
      mentions: [fake.bot],
      attachments: [attachment],
    });
    const [answer] = await bot.answerTo(String(question.id));
    expect(answer!.content).toBe('answer to what colour is it? <image>');
    expect(model.calls[0]!.request.messages.at(-1)!.content[1]).toMatchObject({
      type: 'image',
      width: 8,
      height: 8,
    });
    // the placeholder came first, then the edit
    expect(fake.restCalls('POST /channels/:channelId/messages')[0]!.body).toMatchObject({ content: '…' });

    const followUp = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: 'and its shape?',
      messageReference: String(answer!.id),
    });
    const [second] = await bot.answerTo(String(followUp.id));
    expect(second!.content).toBe('answer to and its shape?');
    expect(model.calls[1]!.request.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    const stored = await bot.store.load(`discord:${fake.guildId}:${fake.textChannelId}:${question.id}`);
    expect(stored).toHaveLength(4);
  });

  it('a reply to an earlier answer branches: each branch has its own history', async () => {
    bot = await startBot();
    const { fake, model } = bot;
    const root = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `${mention(bot)} one`,
      mentions: [fake.bot],
    });
    const [first] = await bot.answerTo(String(root.id));
    const a = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: 'two',
      messageReference: String(first!.id),
    });
    await bot.answerTo(String(a.id));
    const b = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: 'other',
      messageReference: String(first!.id),
    });
    await bot.answerTo(String(b.id));
    const texts = model.calls[2]!.request.messages.map((m) => askedOf({ messages: [m] }));
    expect(texts).toEqual(['one', 'answer to one', 'other']);
  });

  it('answers DMs without a mention, and ignores unaddressed messages, bots and @everyone', async () => {
    bot = await startBot();
    const { fake, model } = bot;
    const dm = fake.dmChannel(fake.user);
    const question = fake.sendMessage({ channelId: dm, author: fake.user, content: 'hello there' });
    const [answer] = await bot.answerTo(String(question.id));
    expect(answer!.content).toBe('answer to hello there');

    fake.sendMessage({ channelId: fake.textChannelId, author: fake.user, content: 'just chatting' });
    fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: '@everyone look',
      mentionEveryone: true,
    });
    const otherBot = { id: '999000111', username: 'OtherBot', bot: true };
    fake.sendMessage({
      channelId: fake.textChannelId,
      author: otherBot,
      content: `${mention(bot)} hi`,
      mentions: [fake.bot],
    });
    await settle();
    await bot.manager.idle();
    expect(model.calls).toHaveLength(1);
  });

  it('answers in a thread it created without a mention; in another thread only once mentioned there', async () => {
    bot = await startBot();
    const { fake, model } = bot;
    const own = fake.createThread({ parentId: fake.textChannelId, ownerId: fake.bot.id, name: 'glimpse' });
    const inOwn = fake.sendMessage({
      channelId: String(own.id),
      author: fake.user,
      content: 'no mention needed?',
    });
    await bot.answerTo(String(inOwn.id));

    const userThread = fake.threadId!;
    fake.sendMessage({ channelId: userThread, author: fake.user, content: 'ignored' });
    await settle();
    expect(model.calls).toHaveLength(1);
    const mentioned = fake.sendMessage({
      channelId: userThread,
      author: fake.user,
      content: `${mention(bot)} now?`,
      mentions: [fake.bot],
    });
    await bot.answerTo(String(mentioned.id));
    const after = fake.sendMessage({ channelId: userThread, author: fake.user, content: 'and this?' });
    await bot.answerTo(String(after.id));
    // one conversation per thread: the third call sees the second's exchange
    expect(model.calls[2]!.request.messages.map((m) => askedOf({ messages: [m] }))).toEqual([
      'now?',
      'answer to now?',
      'and this?',
    ]);
  });

  it('after a restart, a thread it answered in still needs no mention: the store knows it', async () => {
    bot = await startBot();
    const { fake, model } = bot;
    const thread = fake.threadId!;
    const first = fake.sendMessage({
      channelId: thread,
      author: fake.user,
      content: `${mention(bot)} one`,
      mentions: [fake.bot],
    });
    await bot.answerTo(String(first.id));
    await bot.restartAdapter();
    const next = fake.sendMessage({ channelId: thread, author: fake.user, content: 'two' });
    const [answer] = await bot.answerTo(String(next.id));
    expect(answer!.content).toBe('answer to two');
    expect(model.calls[1]!.request.messages).toHaveLength(3);
  });

  it('deleting the question cancels its answer; editing it answers the new text', async () => {
    const { promise: held, open: release } = gate();
    bot = await startBot({
      scripts: [
        { deltas: ['never ', 'shown'], gate: held },
        { deltas: ['edited ', 'too'], gate: held },
      ],
    });
    const { fake, model } = bot;
    const q1 = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `${mention(bot)} first`,
      mentions: [fake.bot],
    });
    await until(() => model.calls.length === 1, 'first running');
    fake.deleteMessage(String(q1.id));
    await until(() => model.calls[0]!.signal?.aborted === true, 'first aborted');

    const q2 = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `${mention(bot)} old text`,
      mentions: [fake.bot],
    });
    await until(() => model.calls.length === 2, 'second running');
    fake.editMessage({ id: String(q2.id), content: `${mention(bot)} new text` });
    await until(() => model.calls.length === 3, 'the edited question asked');
    release();
    expect(model.calls[1]!.signal?.aborted).toBe(true);
    expect(askedOf(model.calls[2]!.request)).toBe('new text');
    const replies = await bot.answerTo(String(q2.id));
    expect(replies.at(-1)!.content).toBe('answer to new text');
  });

  it('text commands: reset in a thread forgets it, help explains', async () => {
    bot = await startBot();
    const { fake } = bot;
    const thread = fake.createThread({ parentId: fake.textChannelId, ownerId: fake.bot.id });
    const q = fake.sendMessage({ channelId: String(thread.id), author: fake.user, content: 'remember me' });
    await bot.answerTo(String(q.id));
    const conversationId = `discord:${fake.guildId}:${fake.textChannelId}:${thread.id}`;
    expect(await bot.store.load(conversationId)).toHaveLength(2);
    const reset = fake.sendMessage({ channelId: String(thread.id), author: fake.user, content: 'reset' });
    const [done] = await bot.answerTo(String(reset.id));
    expect(done!.content).toMatch(/forgotten this conversation/);
    expect(await bot.store.load(conversationId)).toEqual([]);
    const help = fake.sendMessage({ channelId: String(thread.id), author: fake.user, content: '/help' });
    const [helpReply] = await bot.answerTo(String(help.id));
    expect(helpReply!.content).toMatch(/Commands:/);
  });

  it('access rules: a denied channel and a user outside the allow list get nothing', async () => {
    bot = await startBot({
      discord: {
        access: {
          guilds: { allow: [], deny: [] },
          channels: { allow: [], deny: [] },
          roles: { allow: [], deny: [] },
          users: { allow: ['424242'], deny: [] },
        },
        dms: false,
      },
    });
    const { fake, model } = bot;
    fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `${mention(bot)} hi`,
      mentions: [fake.bot],
    });
    const allowed = { id: '424242', username: 'allowed' };
    fake.sendMessage({ channelId: fake.dmChannel(allowed), author: allowed, content: 'dm' });
    await settle();
    expect(model.calls).toHaveLength(0);
    const q = fake.sendMessage({
      channelId: fake.textChannelId,
      author: allowed,
      content: `${mention(bot)} hi`,
      mentions: [fake.bot],
    });
    await bot.answerTo(String(q.id));
    expect(model.calls).toHaveLength(1);
  });

  it('denies a thread when its parent channel is denied', async () => {
    const harness = await startBot();
    const parent = harness.fake.textChannelId;
    await harness.close();
    bot = await startBot({
      discord: {
        access: {
          guilds: { allow: [], deny: [] },
          channels: { allow: [], deny: [parent] },
          roles: { allow: [], deny: [] },
          users: { allow: [], deny: [] },
        },
      },
      fake: { guilds: harness.fake.guilds },
    });
    const { fake, model } = bot;
    const thread = fake.createThread({ parentId: parent, ownerId: fake.bot.id });
    fake.sendMessage({ channelId: String(thread.id), author: fake.user, content: 'hello' });
    await settle();
    expect(model.calls).toHaveLength(0);
    expect(bot.botMessages() as Payload[]).toHaveLength(0);
  });
});
