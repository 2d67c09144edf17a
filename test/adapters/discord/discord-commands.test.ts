import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { loadConfig } from '../../../src/config.js';
import { gate, until } from '../../conversation/helpers.js';
import { captureIo } from '../../fakes/captured-io.js';
import { startFakeDiscord } from '../../fakes/fake-discord/fake-discord.js';
import type { Payload } from '../../fakes/fake-discord/world.js';
import { askedOf, type BotHarness, pngBytes, startBot } from './discord-harness.js';

let bot: BotHarness | undefined;
afterEach(async () => {
  await bot?.close();
  bot = undefined;
});

/** the content of every write to an interaction's webhook (editReply / followUp), in order */
const webhookContents = (h: BotHarness, token: string) =>
  h.fake
    .restCalls()
    .filter((c) => c.path.includes(`/webhooks/${h.fake.applicationId}/${token}`))
    .map((c) => (c.body as Payload | undefined)?.content);

describe('Discord adapter: application commands', () => {
  it('"Describe image" asks the caption question about the target message; "Alt text" suggests alt text', async () => {
    bot = await startBot();
    const { fake, model } = bot;
    const target = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: 'my upload',
      attachments: [
        fake.hostAttachment({ filename: 'x.png', contentType: 'image/png', body: await pngBytes() }),
      ],
    });
    const describe = fake.sendInteraction({
      type: 'message-context',
      commandName: 'Describe image',
      channelId: fake.textChannelId,
      user: fake.user,
      targetMessageId: String(target.id),
    });
    await until(
      () => webhookContents(bot!, describe.token).includes('answer to Describe the image. <image>'),
      'the description',
    );
    expect(askedOf(model.calls[0]!.request)).toBe('Describe the image. <image>');

    const alt = fake.sendInteraction({
      type: 'message-context',
      commandName: 'Alt text',
      channelId: fake.textChannelId,
      user: fake.user,
      targetMessageId: String(target.id),
    });
    await until(
      () => webhookContents(bot!, alt.token).some((c) => String(c).startsWith('Suggested alt text: ')),
      'the alt text',
    );
    const noImage = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: 'text only',
    });
    const none = fake.sendInteraction({
      type: 'message-context',
      commandName: 'Describe image',
      channelId: fake.textChannelId,
      user: fake.user,
      targetMessageId: String(noImage.id),
    });
    await until(
      () => webhookContents(bot!, none.token).includes('That message has no image I can read.'),
      'the refusal',
    );
    expect(model.calls).toHaveLength(2);
  });

  it('/help and /status answer ephemerally; /reset in a channel explains where it works', async () => {
    bot = await startBot();
    const { fake } = bot;
    const help = fake.sendInteraction({
      type: 'chat-input',
      commandName: 'help',
      channelId: fake.textChannelId,
      user: fake.user,
    });
    const callback = await fake.waitFor(
      (c) => c.route === 'POST /interactions/:interactionId/:token/callback' && c.path.includes(help.id),
    );
    expect(callback.body).toMatchObject({ type: 5, data: { flags: 64 } });
    await until(() => webhookContents(bot!, help.token).some((c) => /Commands:/.test(String(c))), 'the help');
    const status = fake.sendInteraction({
      type: 'chat-input',
      commandName: 'status',
      channelId: fake.textChannelId,
      user: fake.user,
    });
    await until(
      () => webhookContents(bot!, status.token).some((c) => /^Model: scripted/.test(String(c))),
      'the status',
    );
    const reset = fake.sendInteraction({
      type: 'chat-input',
      commandName: 'reset',
      channelId: fake.textChannelId,
      user: fake.user,
    });
    await until(
      () => webhookContents(bot!, reset.token).some((c) => /works in threads and DMs/.test(String(c))),
      'the hint',
    );
  });

  it('shows the typing indicator while a turn waits, then its queue position once', async () => {
    const { promise: held, open: release } = gate();
    bot = await startBot({ scripts: [{ deltas: ['first'], gate: held }] });
    const { fake } = bot;
    const mention = `<@${fake.bot.id}>`;
    fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `${mention} one`,
      mentions: [fake.bot],
    });
    await until(() => bot!.model.calls.length === 1, 'first running');
    const other = fake.createThread({ parentId: fake.textChannelId, ownerId: fake.bot.id });
    const waiting = fake.sendMessage({ channelId: String(other.id), author: fake.user, content: 'two' });
    const second = fake.sendMessage({
      channelId: fake.textChannelId,
      author: fake.user,
      content: `${mention} three`,
      mentions: [fake.bot],
    });
    await fake.waitFor(
      (c) => c.route === 'POST /channels/:channelId/typing' && c.path.includes(String(other.id)),
    );
    release();
    await bot.answerTo(String(waiting.id));
    await bot.answerTo(String(second.id));
  });
});

describe('glimpse discord register', () => {
  it('puts the slash and message commands in place, globally or in one server', async () => {
    const fake = await startFakeDiscord();
    try {
      const env = {
        DISCORD_TOKEN: fake.token,
        DISCORD_APPLICATION_ID: fake.applicationId,
        DISCORD_API_URL: fake.apiUrl,
      };
      const io = { ...captureIo(), loadConfig: () => loadConfig(env) };
      expect(await main(['discord', 'register', '--guild', fake.guildId], io)).toBe(0);
      expect(io.out()).toMatch(/registered 7 commands in server/);
      const put = fake.restCalls('PUT /applications/:applicationId/guilds/:guildId/commands')[0]!;
      expect(put.authorized).toBe(true);
      const names = (put.body as Payload[]).map((c) => c.name);
      expect(names).toEqual(['ask', 'caption', 'reset', 'help', 'status', 'Describe image', 'Alt text']);
      const global = { ...captureIo(), loadConfig: () => loadConfig(env) };
      expect(await main(['discord', 'register'], global)).toBe(0);
      expect(fake.restCalls('PUT /applications/:applicationId/commands')).toHaveLength(1);
      const missing = { ...captureIo(), loadConfig: () => loadConfig({ DISCORD_TOKEN: 'x' }) };
      expect(await main(['discord', 'register'], missing)).toBe(2);
      expect(missing.err()).toMatch(/DISCORD_APPLICATION_ID/);
    } finally {
      await fake.close();
    }
  });
});
