import Keyv from 'keyv';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ConversationManager,
  createConversationManager,
} from '../../src/conversation/conversation-manager.js';
import { KeyvConversationStore } from '../../src/conversation/keyv-conversation-store.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { OpenAICompatibleModel } from '../../src/pipeline/openai-compatible-model.js';
import { type BotHarness, startBot } from '../adapters/discord/discord-harness.js';
import { type SlackBot, startSlackBot } from '../adapters/slack/slack-harness.js';
import { chatMessage, handled, managerConfig, messageEvent, until } from '../conversation/helpers.js';
import { type FakeOpenAIHost, startFakeOpenAIHost } from '../fakes/fake-openai-host.js';
import { type FakeSlack, startFakeSlack } from '../fakes/fake-slack/fake-slack.js';
import { RecordingReplyChannel } from '../fakes/recording-reply-channel.js';

/**
 * Tokens, signing secrets, API keys and `authorization` headers never reach a log line — also not
 * in the error lines of failed HTTP calls (a remote model host answering 401/500 and echoing the
 * credentials back, Discord and Slack refusing writes, a refused token) nor of failed downloads
 * (Slack's private files carry the bot token). Everything the logger writes, at its most verbose,
 * and whatever libraries print to the console, is searched for each secret as is, base64- and
 * URL-encoded.
 */

const secrets = {
  discordToken: 'MTA5OTk5OTk5OTk5OTk5OTk5.GsEcRt.discord-token-SECRET-1',
  slackBotToken: 'xoxb-1111-2222-slack-bot-SECRET-2',
  slackAppToken: 'xapp-1-A111-slack-app-SECRET-3',
  slackSigningSecret: 'slack-signing-SECRET-4',
  wrongSlackToken: 'xoxb-9999-wrong-slack-SECRET-5',
  remoteApiKey: 'sk-remote-api-key-SECRET-6',
};

const forms = (secret: string) => [
  secret,
  Buffer.from(secret).toString('base64'),
  Buffer.from(secret).toString('base64url'),
  encodeURIComponent(secret),
  // a recognisable piece of it, in case something is cut short or re-wrapped
  secret.slice(-14),
];

/** every line the logger writes (trace and up), raw */
function capturingLogger(): { logger: Logger; text: () => string; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const logger = createLogger({
    level: 'trace',
    format: 'json',
    destination: { write: (line: string) => void raw.push(line) },
  });
  return {
    logger,
    text: () => raw.join(''),
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** what libraries print past the logger (console, stdout, stderr) while a test runs */
let printed: string[] = [];
beforeEach(() => {
  printed = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      printed.push(args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
    });
  }
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
      printed.push(String(chunk));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write);
  }
});
afterEach(() => {
  vi.restoreAllMocks();
});

it('the search finds a secret in each form it looks for (it can fail)', () => {
  for (const form of forms(secrets.slackBotToken)) {
    expect(() => expectNoSecrets(`{"msg":"x ${form} y"}`, 'a line')).toThrow(/leaked/);
  }
  expect(() => expectNoSecrets('{"headers":{"authorization":"Bearer abc"}}', 'a line')).toThrow();
});

function expectNoSecrets(text: string, where: string): void {
  for (const [name, secret] of Object.entries(secrets)) {
    for (const form of forms(secret)) {
      if (text.includes(form)) throw new Error(`${name} (${form}) leaked into ${where}`);
    }
  }
  expect(text.toLowerCase()).not.toMatch(/authorization"?\s*:\s*"?(bearer|bot)\s/);
}

describe('secrets never reach the logs', () => {
  describe('a remote model host refusing, failing and gone', () => {
    let host: FakeOpenAIHost | undefined;
    let manager: ConversationManager | undefined;
    afterEach(async () => {
      await manager?.stop();
      await host?.stop();
    });

    it('401 and 500 answers that echo the key, a refused key at start, a refused connection', async () => {
      const { logger, text, lines } = capturingLogger();
      host = await startFakeOpenAIHost();
      // the start-up probe refused: the error (as the CLI and the log show it) has no key
      host.modelsStatus = 401;
      const refused = await OpenAICompatibleModel.connect({
        url: host.url,
        model: host.model,
        apiKey: secrets.remoteApiKey,
        logger,
      }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(Error);
      logger.error({ err: refused }, 'start failed');
      expectNoSecrets(`${String((refused as Error).message)} ${JSON.stringify(refused)}`, 'the error');
      host.modelsStatus = undefined;

      const model = await OpenAICompatibleModel.connect({
        url: host.url,
        model: host.model,
        apiKey: secrets.remoteApiKey,
        logger,
      });
      const store = new KeyvConversationStore(new Keyv(), { historyTtlSeconds: 3600, logger });
      manager = createConversationManager({ model, store, logger, config: managerConfig() });
      const ask = async (id: string) => {
        const reply = new RecordingReplyChannel();
        await handled(manager!, messageEvent(chatMessage('web:local:s', id, 'hi'), reply));
        return reply;
      };
      host.behaviour = { kind: 'status', status: 401 };
      await ask('m1');
      host.behaviour = { kind: 'status', status: 500 };
      await ask('m2');
      await host.stop();
      const gone = await ask('m3');
      expect(gone.renders[0]?.parts.some((part) => part.type === 'error')).toBe(true);
      // the failures were logged, the key went to the host
      expect(lines().filter((line) => line.code === 'glimpse_remote_failed').length).toBeGreaterThanOrEqual(
        3,
      );
      expect(
        host.requests.some((request) => request.authorization === `Bearer ${secrets.remoteApiKey}`),
      ).toBe(true);
      expect(text()).toContain('HTTP 401');
      expectNoSecrets(text(), 'the log');
      expectNoSecrets(printed.join('\n'), 'the console');
    });
  });

  describe('Discord refusing writes', () => {
    let bot: BotHarness | undefined;
    afterEach(async () => {
      await bot?.close();
      bot = undefined;
    });

    it('403 on the reply and on an edit, a run of 500s, a 401: error lines, no token', async () => {
      bot = await startBot({
        fake: { token: secrets.discordToken },
        fallback: () => ({ deltas: ['one ', 'two ', 'three'], delayMs: 30 }),
      });
      const { fake } = bot;
      const ask = (text: string) =>
        fake.sendMessage({
          channelId: fake.textChannelId,
          author: fake.user,
          content: `<@${fake.bot.id}> ${text}`,
          mentions: [fake.bot],
        });
      const failures = () => bot!.lines.filter((line) => line.code === 'glimpse_render_failed').length;
      fake.failNext({ route: 'POST /channels/:channelId/messages', status: 403 });
      ask('first');
      await until(() => failures() === 1, 'the 403 on the reply logged');
      await bot.manager.idle();
      fake.failNext({ route: 'PATCH /channels/:channelId/messages/:messageId', status: 403 });
      ask('second');
      await until(() => failures() === 2, 'the 403 on an edit logged');
      await bot.manager.idle();
      fake.failNext({ route: 'POST /channels/:channelId/messages', status: 500, times: 5 });
      const third = ask('third');
      await bot.answerTo(String(third.id));
      expect(bot.lines.some((line) => line.code === 'glimpse_platform_retry' && line.status === 500)).toBe(
        true,
      );
      // last: a 401 (discord.js forgets the token after one, as Discord means it: the token is dead)
      fake.failNext({ route: 'POST /channels/:channelId/messages', status: 401 });
      ask('fourth');
      await until(() => failures() === 3, 'the 401 logged');
      await bot.manager.idle();
      // the token was sent to Discord
      expect(fake.gateway.identifies[0]).toBeDefined();
      expectNoSecrets(JSON.stringify(bot.lines), 'the log');
      expectNoSecrets(printed.join('\n'), 'the console');
    });
  });

  describe('Slack refusing, and private downloads failing', () => {
    let fake: FakeSlack;
    let bots: SlackBot[] = [];
    beforeEach(async () => {
      fake = await startFakeSlack({
        botToken: secrets.slackBotToken,
        appToken: secrets.slackAppToken,
        signingSecret: secrets.slackSigningSecret,
      });
    });
    afterEach(async () => {
      for (const bot of bots) await bot.close();
      bots = [];
      await fake.close();
    });

    const mention = (text: string, extra: Record<string, unknown> = {}) => ({
      type: 'app_mention',
      user: 'U0ALICE',
      text: `<@${fake.botUserId}> ${text}`,
      ts: fake.nextTs(),
      channel: 'C0GENERAL',
      team: fake.teamId,
      ...extra,
    });

    it('invalid_auth and 500s on writes, a download answering 500 and one answering the login page', async () => {
      const bot = await startSlackBot(fake, {
        fallback: () => ({ deltas: ['one ', 'two'], delayMs: 30 }),
      });
      bots.push(bot);
      const png = new Uint8Array(
        await sharp({ create: { width: 4, height: 4, channels: 3, background: '#f00' } })
          .png()
          .toBuffer(),
      );
      let turns = 0;
      const ask = async (event: Record<string, unknown>) => {
        await fake.postSigned(bot.eventsUrl, fake.envelope(event));
        turns++;
        await until(
          () =>
            bot.lines.filter(
              (line) =>
                line.msg === 'turn done' ||
                line.code === 'glimpse_render_failed' ||
                line.code === 'glimpse_image_download_failed',
            ).length >= turns,
          'the turn over',
        );
        await bot.manager.idle();
      };
      fake.failNext('chat.startStream', 'invalid_auth');
      await ask(mention('first'));
      fake.failNext('chat.appendStream', 'http_500', 3);
      fake.failNext('chat.stopStream', 'not_authed');
      await ask(mention('second'));
      fake.fileFailure = 500;
      await ask(mention('a file', { files: [fake.hostFile('red.png', 'image/png', png)] }));
      fake.fileFailure = undefined;
      fake.filesReadable = false;
      await ask(mention('another file', { files: [fake.hostFile('red.png', 'image/png', png)] }));
      expect(bot.lines.filter((line) => line.code === 'glimpse_image_download_failed').length).toBe(2);
      expect(bot.lines.some((line) => line.code === 'glimpse_render_failed')).toBe(true);
      expectNoSecrets(JSON.stringify(bot.lines), 'the log');
      expectNoSecrets(printed.join('\n'), 'the console');
    }, 30_000);

    it("a dropped connection on a write: the client library's own error, logged whole, has no token", async () => {
      const bot = await startSlackBot(fake);
      bots.push(bot);
      // web-api tries 3 times; all three connections are cut
      fake.failNext('chat.postMessage', 'drop', 3);
      const ack = await fake.postSigned(
        bot.eventsUrl,
        fake.slashCommand({ text: 'what is a rhombus?', channel: 'C0GENERAL', user: 'U0ALICE' }),
      );
      expect(ack.status).toBe(200);
      await until(() => bot.lines.some((line) => line.code === 'glimpse_slack_error'), 'the failure logged');
      const line = bot.lines.find((candidate) => candidate.code === 'glimpse_slack_error')!;
      expect(JSON.stringify(line.err)).toContain('slack_webapi_request_error');
      expectNoSecrets(JSON.stringify(bot.lines), 'the log');
      expectNoSecrets(printed.join('\n'), 'the console');
    });

    it('a refused bot token at start (HTTP mode) and in Socket Mode: one line, no token', async () => {
      const refused = await startSlackBot(fake, { slack: { botToken: secrets.wrongSlackToken } });
      bots.push(refused);
      expect(refused.lines.some((line) => line.code === 'glimpse_slack_refused')).toBe(true);
      const socket = await startSlackBot(fake, { socketMode: true });
      bots.push(socket);
      await until(() => fake.socketConnected, 'Socket Mode connected');
      expectNoSecrets(JSON.stringify([...refused.lines, ...socket.lines]), 'the log');
      expectNoSecrets(printed.join('\n'), 'the console');
    });
  });
});
