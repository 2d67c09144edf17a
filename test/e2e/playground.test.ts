import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, startAppProcess } from './app-process.js';
import { launchChromium } from './chromium-browser.js';
import { redCirclePng } from './red-circle.js';

/**
 * End to end: the real app (`bin/glimpse start`: real conversation manager, SQLite store in a
 * temporary directory, the embedded model) driven by headless Chromium through the playground.
 */

const repoRoot = resolve(import.meta.dirname, '../..');
/** the embedded model (models/tiny-shapes), which answers the scene spec's questions */
const modelDir = join(repoRoot, 'models/tiny-shapes');

/** the scene spec's answer matching: lowercase, trimmed, one trailing period removed */
const normalize = (answer: string) => answer.trim().toLowerCase().replace(/\.$/, '');

interface Snapshot {
  state: string;
  text: string;
}

/** Records every state and text the newest answer goes through, as the page renders it. */
async function watchNextAnswer(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: { state: string; text: string }[] = [];
    const before = document.querySelectorAll('.turn.assistant').length;
    (window as unknown as { __answer: typeof seen }).__answer = seen;
    const observer = new MutationObserver(() => {
      const turns = document.querySelectorAll<HTMLElement>('.turn.assistant');
      if (turns.length <= before) return;
      const turn = turns[turns.length - 1]!;
      const snapshot = {
        state: turn.dataset.state ?? '',
        text: turn.querySelector('.answer-text')?.textContent ?? '',
      };
      const last = seen[seen.length - 1];
      if (!last || last.state !== snapshot.state || last.text !== snapshot.text) seen.push(snapshot);
      if (snapshot.state === 'done' || snapshot.state === 'error') observer.disconnect();
    });
    observer.observe(document.getElementById('transcript')!, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
    });
  });
}

async function answerHistory(page: Page): Promise<Snapshot[]> {
  await page.waitForFunction(
    () => {
      const seen = (window as unknown as { __answer: { state: string }[] }).__answer;
      const last = seen[seen.length - 1];
      return last?.state === 'done' || last?.state === 'error';
    },
    undefined,
    { timeout: 120_000 },
  );
  return page.evaluate(() => (window as unknown as { __answer: Snapshot[] }).__answer);
}

async function ask(page: Page, question: string): Promise<Snapshot[]> {
  await watchNextAnswer(page);
  await page.fill('#question', question);
  await page.click('#send');
  return answerHistory(page);
}

async function expectStreamed(page: Page, app: AppProcess, history: Snapshot[]): Promise<string> {
  const final = history[history.length - 1]!;
  if (final.state !== 'done') {
    const shown = await page.locator('.answer-error').allTextContents();
    const problems = app.logs.filter((entry) => Number(entry.level) >= 40);
    expect.fail(`the answer failed: ${JSON.stringify({ history, shown, problems })}`);
  }
  expect(final.text.trim()).not.toBe('');
  // the text was on the page while the answer was still streaming, before it was done
  const streaming = history.filter((snapshot) => snapshot.state === 'streaming' && snapshot.text !== '');
  expect(streaming.length, JSON.stringify(history)).toBeGreaterThan(0);
  for (const snapshot of streaming) expect(final.text.startsWith(snapshot.text)).toBe(true);
  return final.text;
}

describe('the playground in headless Chromium, on the embedded model', { timeout: 240_000 }, () => {
  let workDir: string;
  let app: AppProcess;
  let browser: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'glimpse-e2e-'));
    app = await startAppProcess({
      cwd: workDir,
      env: {
        GLIMPSE_MODEL_DIR: modelDir,
        GLIMPSE_STORE_PATH: join(workDir, 'data/glimpse.sqlite'),
      },
    });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => {
      throw error;
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('says at start-up which model runs from where, which adapters run, and how to use another', () => {
    const messages = app.logs.map((entry) => String(entry.msg));
    expect(messages).toContainEqual(expect.stringMatching(new RegExp(`^model: .* from ${modelDir}`)));
    expect(messages).toContainEqual(
      expect.stringMatching(/^adapter web: web playground on http:\/\/127\.0\.0\.1:/),
    );
    expect(messages).toContainEqual(
      expect.stringMatching(/^adapter discord: off: no credentials \(set DISCORD_TOKEN\)/),
    );
    expect(messages).toContainEqual(
      expect.stringMatching(/^adapter slack: off: no credentials \(set SLACK_BOT_TOKEN/),
    );
    expect(messages).toContainEqual(expect.stringContaining('GLIMPSE_MODEL_DIR='));
  });

  it('uploads an image, streams a right answer, then streams a follow-up', async () => {
    await page.goto(app.url);
    await page.waitForSelector('#status[data-state="connected"]');
    await page.setInputFiles('#file-input', {
      name: 'red-circle.png',
      mimeType: 'image/png',
      buffer: await redCirclePng(),
    });
    await expect.poll(() => page.isVisible('#attachment')).toBe(true);
    expect(await page.textContent('#attachment-name')).toBe('red-circle.png');

    const first = await expectStreamed(page, app, await ask(page, 'What colour is the circle?'));
    expect(normalize(first)).toBe('red');
    expect(await page.isVisible('#attachment')).toBe(false);
    expect(await page.locator('.turn.user img.image').count()).toBe(1);
    // the answer's timings are shown under it
    const meta = await page.textContent('.turn.assistant .meta summary');
    expect(meta).toMatch(/first token \d/);
    expect(meta).toMatch(/tok\/s/);

    const second = await expectStreamed(page, app, await ask(page, 'How many circles are there?'));
    expect(normalize(second)).toBe('one');
    expect(await page.locator('.turn.assistant[data-state="done"]').count()).toBe(2);

    // the store holds the conversation (SQLite in the temporary directory)
    expect(existsSync(join(workDir, 'data/glimpse.sqlite'))).toBe(true);
  });

  it('shows the reason when an upload is refused', async () => {
    await page.setInputFiles('#file-input', {
      name: 'broken.png',
      mimeType: 'image/png',
      buffer: Buffer.from('this is not a PNG'),
    });
    await page.fill('#question', 'What colour is the circle?');
    await page.click('#send');
    await page.waitForSelector('#composer-error:not([hidden])');
    expect(await page.textContent('#composer-error')).toBe(
      '"broken.png" is not an image I can read (PNG, JPEG, WebP or GIF).',
    );
    expect(await page.locator('.turn.user').count()).toBe(2);
    await page.click('#attachment-remove');
  });

  it('takes an image by paste and by drag-and-drop', async () => {
    const base64 = (await redCirclePng()).toString('base64');
    for (const how of ['paste', 'drop'] as const) {
      await page.evaluate(
        ({ base64, how }) => {
          const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], `${how}.png`, { type: 'image/png' }));
          if (how === 'paste') {
            document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
          } else {
            document.body.dispatchEvent(
              new DragEvent('dragenter', { dataTransfer: transfer, bubbles: true }),
            );
            document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true }));
          }
        },
        { base64, how },
      );
      await expect.poll(() => page.textContent('#attachment-name')).toBe(`${how}.png`);
      expect(await page.isVisible('#drop-overlay')).toBe(false);
    }
    await page.click('#attachment-remove');
    expect(await page.isVisible('#attachment')).toBe(false);
  });

  it('resets the conversation', async () => {
    await page.click('#reset');
    await page.waitForSelector('.notice');
    expect(await page.textContent('.notice')).toContain('forgotten');
    expect(await page.locator('.turn').count()).toBe(0);
    expect(await page.isVisible('#dropzone')).toBe(true);
  });

  it('fits a phone-width screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.setInputFiles('#file-input', {
      name: 'red-circle.png',
      mimeType: 'image/png',
      buffer: await redCirclePng(),
    });
    await expectStreamed(page, app, await ask(page, 'What colour is the circle?'));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    for (const selector of ['#send', '#question', '#reset', '.attach']) {
      const box = await page.locator(selector).boundingBox();
      expect(box, selector).not.toBeNull();
      expect(box!.x + box!.width, selector).toBeLessThanOrEqual(375);
    }
    const shots = process.env.GLIMPSE_E2E_SCREENSHOTS;
    if (shots) {
      mkdirSync(shots, { recursive: true });
      await page.emulateMedia({ reducedMotion: 'reduce' });
      await page.screenshot({ path: join(shots, 'playground-phone.png') });
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.screenshot({ path: join(shots, 'playground-desktop.png') });
    }
  });

  it('stops cleanly on SIGTERM', async () => {
    await browser.close();
    expect(await app.stop()).toBe(0);
    expect(app.logs.map((entry) => entry.msg)).toContain('stopped');
  });
});
