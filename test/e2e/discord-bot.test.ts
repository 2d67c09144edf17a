import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeDiscord, startFakeDiscord } from '../fakes/fake-discord/fake-discord.js';
import type { Payload } from '../fakes/fake-discord/world.js';
import { type AppProcess, startAppProcess } from './app-process.js';
import { redCirclePng } from './red-circle.js';

const repoRoot = resolve(import.meta.dirname, '../..');
const modelDir = join(repoRoot, 'models/tiny-shapes');
const normalize = (answer: string) => answer.trim().toLowerCase().replace(/\.$/, '');

describe('bin/glimpse start with DISCORD_TOKEN, on the embedded model, against a fake Discord', {
  timeout: 120_000,
}, () => {
  let fake: FakeDiscord;
  let app: AppProcess;
  let workDir: string;

  /** the bot's reply to `id`, once its final edit is in */
  async function finalReply(id: string): Promise<string> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const reply = fake.messages
        .all()
        .find(
          (m) =>
            (m.author as Payload).id === fake.bot.id &&
            (m.message_reference as Payload | undefined)?.message_id === id,
        );
      const content = reply ? String(reply.content) : undefined;
      if (content && content !== '…' && !content.endsWith(' ▌')) return content;
      if (Date.now() > deadline) throw new Error(`no final reply to ${id}: ${JSON.stringify(reply)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    fake = await startFakeDiscord();
    workDir = mkdtempSync(join(tmpdir(), 'glimpse-discord-e2e-'));
    app = await startAppProcess({
      cwd: workDir,
      env: {
        GLIMPSE_MODEL_DIR: modelDir,
        GLIMPSE_STORE_PATH: join(workDir, 'data/glimpse.sqlite'),
        DISCORD_TOKEN: fake.token,
        DISCORD_APPLICATION_ID: fake.applicationId,
        DISCORD_API_URL: fake.apiUrl,
      },
    });
    await app.waitForLog((line) => /^adapter discord: bot /.test(String(line.msg)), 'discord started');
  }, 90_000);

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('answers a mention with an image in a thread, then a follow-up there without a mention', async () => {
    const thread = fake.threadId!;
    const attachment = fake.hostAttachment({
      filename: 'red-circle.png',
      contentType: 'image/png',
      body: await redCirclePng(),
    });
    const question = fake.sendMessage({
      channelId: thread,
      author: fake.user,
      content: `<@${fake.bot.id}> What colour is the circle?`,
      mentions: [fake.bot],
      attachments: [attachment],
    });
    expect(normalize(await finalReply(String(question.id)))).toBe('red');
    const followUp = fake.sendMessage({
      channelId: thread,
      author: fake.user,
      content: 'How many circles are there?',
    });
    expect(normalize(await finalReply(String(followUp.id)))).toBe('one');
    // the token went to Discord, never into a log line
    expect(fake.gateway.identifies[0]).toBeDefined();
    expect(JSON.stringify(app.logs)).not.toContain(fake.token);
    expect(app.logs.some((line) => line.msg === 'turn done')).toBe(true);
  });
});
