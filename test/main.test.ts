import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebAdapter } from '../src/adapters/web/web-adapter.js';
import { loadConfig } from '../src/config.js';
import { isGlimpseError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { startApp } from '../src/main.js';
import { SseTestClient } from './adapters/web/sse-test-client.js';
import { startFakeDiscord } from './fakes/fake-discord/fake-discord.js';
import { startFakeSlack } from './fakes/fake-slack/fake-slack.js';
import { ScriptedModel } from './fakes/scripted-model.js';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function setup(env: Record<string, string> = {}) {
  const directory = mkdtempSync(join(tmpdir(), 'glimpse-main-'));
  directories.push(directory);
  const messages: string[] = [];
  const logger = createLogger({
    level: 'info',
    format: 'json',
    destination: new Writable({
      write(chunk, _encoding, callback) {
        for (const line of String(chunk).split('\n')) if (line.trim()) messages.push(JSON.parse(line).msg);
        callback();
      },
    }),
  });
  const config = loadConfig({
    GLIMPSE_STORE_PATH: join(directory, 'glimpse.sqlite'),
    GLIMPSE_WEB_PORT: '0',
    ...env,
  });
  return { config, logger, messages };
}

describe('startApp (the composition root)', () => {
  it('wires model → store → manager → web adapter, answers through them, and stops everything', async () => {
    const { config, logger, messages } = setup();
    const model = new ScriptedModel([{ deltas: ['a ', 'red ', 'circle'] }]);
    const app = await startApp(config, logger, { model });
    const web = app.adapters[0] as WebAdapter;
    expect(app.adapters.map((adapter) => adapter.platform)).toEqual(['web']);
    expect(messages).toContain(`adapter web: ${web.describe()}`);
    expect(messages).toContainEqual(expect.stringMatching(/^model: scripted from memory/));
    expect(messages).toContainEqual(expect.stringMatching(/^adapter discord: off: no credentials/));
    expect(messages).toContainEqual(expect.stringMatching(/^adapter slack: off: no credentials/));
    expect(messages).toContainEqual(expect.stringContaining('GLIMPSE_MODEL_DIR=/path/to/llava-onnx'));

    const session = (await (await fetch(`${web.url}/api/sessions`, { method: 'POST' })).json()) as {
      sessionId: string;
      conversationId: string;
    };
    const events = await SseTestClient.open(`${web.url}/api/sessions/${session.sessionId}/events`);
    const form = new FormData();
    form.set('text', 'What colour is the circle?');
    const { messageId } = (await (
      await fetch(`${web.url}/api/sessions/${session.sessionId}/messages`, { method: 'POST', body: form })
    ).json()) as { messageId: string };
    await events.next('done', messageId);
    const text = events
      .forMessage(messageId)
      .filter((event) => event.event === 'delta')
      .map((event) => (event.data as { text: string }).text)
      .join('');
    expect(text).toBe('a red circle');
    // the manager stores the turn once rendering is done
    await expect
      .poll(async () => (await app.store.load(session.conversationId)).map((turn) => turn.role))
      .toEqual(['user', 'assistant']);

    await app.stop();
    await app.stop();
    expect(model.closed).toBe(true);
    await events.until((client) => client.ended, 'the stream to close');
    await expect(fetch(`${web.url}/healthz`)).rejects.toThrow();
    expect(messages.filter((message) => message === 'stopped')).toHaveLength(1);
  });

  it('refuses to run with nothing to run, and closes what it opened', async () => {
    const { config, logger } = setup({ GLIMPSE_WEB_ENABLED: 'false' });
    const model = new ScriptedModel();
    const error = await startApp(config, logger, { model }).catch((caught: unknown) => caught);
    expect(isGlimpseError(error, 'glimpse_config_invalid')).toBe(true);
    expect((error as Error).message).toContain('GLIMPSE_WEB_ENABLED');
    expect(model.closed).toBe(true);
  });

  it('runs the Discord bot beside the playground when DISCORD_TOKEN is set, and never logs the token', async () => {
    const fake = await startFakeDiscord();
    const slack = await startFakeSlack();
    const { config, logger, messages } = setup({
      DISCORD_TOKEN: fake.token,
      DISCORD_APPLICATION_ID: fake.applicationId,
      DISCORD_API_URL: fake.apiUrl,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_APP_TOKEN: slack.appToken,
      SLACK_API_URL: slack.apiUrl,
    });
    const app = await startApp(config, logger, { model: new ScriptedModel() });
    try {
      expect(messages).toContainEqual(expect.stringMatching(/^adapter discord: bot Glimpse/));
      expect(messages).toContainEqual(
        expect.stringMatching(/^adapter slack: bot <@U0GLIMPSE> in team T0FAKE \(Socket Mode\)/),
      );
      expect(app.adapters.map((adapter) => adapter.platform)).toEqual(['web', 'discord', 'slack']);
      const all = messages.join('\n');
      for (const secret of [fake.token, slack.botToken, slack.appToken]) expect(all).not.toContain(secret);
    } finally {
      await app.stop();
      await fake.close();
      await slack.close();
    }
  });

  it('keeps running when Slack refuses the token: one line says why', async () => {
    const slack = await startFakeSlack({ botToken: 'xoxb-the-right-one' });
    const { config, logger, messages } = setup({
      SLACK_BOT_TOKEN: 'xoxb-a-wrong-one',
      SLACK_SIGNING_SECRET: 'secret',
      SLACK_PORT: '0',
      SLACK_API_URL: slack.apiUrl,
    });
    const app = await startApp(config, logger, { model: new ScriptedModel() });
    try {
      expect(messages).toContainEqual(
        expect.stringMatching(/^adapter slack: off: Slack refused SLACK_BOT_TOKEN \(invalid_auth\)/),
      );
      expect(messages.join('\n')).not.toContain('xoxb-a-wrong-one');
    } finally {
      await app.stop();
      await slack.close();
    }
  });
});
