import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeSlack, startFakeSlack } from '../fakes/fake-slack/fake-slack.js';
import { type AppProcess, freePort, startAppProcess } from './app-process.js';
import { redCirclePng } from './red-circle.js';

const repoRoot = resolve(import.meta.dirname, '../..');
const normalize = (answer: string) => answer.trim().toLowerCase().replace(/\.$/, '');

describe('bin/glimpse start in Slack HTTP mode, on the embedded model, against a fake Slack', {
  timeout: 120_000,
}, () => {
  let fake: FakeSlack;
  let app: AppProcess;
  let workDir: string;
  let eventsUrl: string;

  beforeAll(async () => {
    fake = await startFakeSlack();
    workDir = mkdtempSync(join(tmpdir(), 'glimpse-slack-e2e-'));
    const port = await freePort();
    eventsUrl = `http://127.0.0.1:${port}/slack/events`;
    app = await startAppProcess({
      cwd: workDir,
      env: {
        GLIMPSE_MODEL_DIR: join(repoRoot, 'models/tiny-shapes'),
        GLIMPSE_STORE_PATH: join(workDir, 'data/glimpse.sqlite'),
        SLACK_BOT_TOKEN: fake.botToken,
        SLACK_SIGNING_SECRET: fake.signingSecret,
        SLACK_API_URL: fake.apiUrl,
        SLACK_HOST: '127.0.0.1',
        SLACK_PORT: String(port),
      },
    });
    await app.waitForLog((line) => /^adapter slack: bot /.test(String(line.msg)), 'slack started');
  }, 90_000);

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('answers a signed app_mention with an image in its thread; the same event redelivered gets no second answer', async () => {
    const ts = fake.nextTs();
    const envelope = fake.envelope({
      type: 'app_mention',
      user: 'U0ALICE',
      text: `<@${fake.botUserId}> What colour is the circle?`,
      ts,
      channel: 'C0GENERAL',
      team: fake.teamId,
      files: [fake.hostFile('red-circle.png', 'image/png', await redCirclePng())],
    });
    expect((await fake.postSigned(eventsUrl, envelope)).status).toBe(200);
    await app.waitForLog((line) => line.msg === 'turn done', 'the turn stored', 60_000);
    const answers = fake.thread('C0GENERAL', ts);
    expect(answers).toHaveLength(1);
    expect(normalize(answers[0]!.text)).toBe('red');

    expect((await fake.postSigned(eventsUrl, envelope, { retryNum: 1 })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(fake.thread('C0GENERAL', ts)).toHaveLength(1);
    expect(app.logs.filter((line) => line.msg === 'turn done')).toHaveLength(1);
    expect(app.logs.some((line) => line.code === 'glimpse_duplicate_event')).toBe(true);
    expect(JSON.stringify(app.logs)).not.toContain(fake.botToken);
  });
});
