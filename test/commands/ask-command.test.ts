import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { loadConfig } from '../../src/config.js';
import { ingestImage } from '../../src/ingest/image-ingest.js';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import type { ModelMessage } from '../../src/pipeline/vision-chat-model.js';
import { captureIo } from '../fakes/captured-io.js';
import { fixtureDir, shapesImage } from '../pipeline/helpers/fixture.js';

const run = promisify(execFile);

/** Whether the compiled pipeline or ask command is missing or older than its source. */
function distIsStale(root: string): boolean {
  const sources = [
    ...readdirSync(join(root, 'src/pipeline')).map((file) => `pipeline/${file}`),
    'commands/ask-command.ts',
    'cli.ts',
  ].filter((file) => file.endsWith('.ts'));
  return sources.some((file) => {
    const built = join(root, 'dist', file.replace(/\.ts$/, '.js'));
    return !existsSync(built) || statSync(built).mtimeMs < statSync(join(root, 'src', file)).mtimeMs;
  });
}

interface AskJson {
  text: string;
  tokenIds: number[];
  finishReason: string;
  usage: { promptTokens: number; imageTokens: number; completionTokens: number };
  timings: Record<string, number>;
}

/** The same question answered in-process, straight through OnnxLlavaModel. */
async function direct(messages: ModelMessage[], maxNewTokens: number): Promise<number[]> {
  const model = await OnnxLlavaModel.load({ dir: fixtureDir, threads: 1 });
  try {
    for await (const part of model.stream({ messages, temperature: 0, maxNewTokens })) {
      if (part.type === 'finish') return part.tokenIds ?? [];
      if (part.type === 'error') throw part.error;
    }
    return [];
  } finally {
    await model.close();
  }
}

describe('glimpse ask', () => {
  let dir: string;
  let png: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'glimpse-ask-'));
    png = join(dir, 'shapes.png');
    await writeFile(png, (await shapesImage(400, 300)).bytes);
  });
  /** the same greedy `--json` question, asked in-process and through ./bin/glimpse */
  const askJsonArgs = () => [
    'ask',
    '--model',
    fixtureDir,
    '--image',
    png,
    '--temperature',
    '0',
    '--max-tokens',
    '8',
    '--json',
    'q',
  ];
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints one JSON object {text, tokenIds, usage, timings} with --json', async () => {
    const io = captureIo(() => loadConfig({}));
    const code = await main(askJsonArgs(), io);
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(io.out()) as AskJson;
    expect(result.tokenIds).toHaveLength(8);
    expect(result.usage).toMatchObject({ imageTokens: 576, completionTokens: 8 });
    expect(Object.keys(result.timings).sort()).toEqual(
      [
        'decodeTokensPerSecond',
        'prefillMs',
        'preprocessMs',
        'timeToFirstTokenMs',
        'totalMs',
        'visionMs',
      ].sort(),
    );
    expect(typeof result.text).toBe('string');
  });

  it('streams plain text without --json, and takes earlier turns from --messages', async () => {
    const messages = join(dir, 'chat.json');
    await writeFile(
      messages,
      JSON.stringify([
        {
          role: 'user',
          content: [
            { type: 'image', path: 'shapes.png' },
            { type: 'text', text: 'What is it?' },
          ],
        },
        { role: 'assistant', content: [{ type: 'text', text: 'Shapes.' }] },
      ]),
    );
    const io = captureIo(() => loadConfig({}));
    const code = await main(
      ['ask', '--model', fixtureDir, '--messages', messages, '--max-tokens', '4', '--json', 'Which colour?'],
      io,
    );
    expect(code).toBe(0);
    expect((JSON.parse(io.out()) as AskJson).usage.imageTokens).toBe(576);
    const plain = captureIo(() => loadConfig({}));
    expect(await main(['ask', '--model', fixtureDir, '--max-tokens', '3', 'Hello'], plain)).toBe(0);
    expect(plain.out().endsWith('\n')).toBe(true);
  });

  it('a model directory with a missing file fails with its name and exit code 1', async () => {
    const io = captureIo(() => loadConfig({}));
    expect(await main(['ask', '--model', dir, 'hi'], io)).toBe(1);
    expect(io.err()).toMatch(/missing config\.json.*glimpse_model_missing_file/s);
  });

  it('needs a question or an image', async () => {
    const io = captureIo(() => loadConfig({}));
    expect(await main(['ask', '--model', fixtureDir], io)).toBe(2);
  });

  it('end to end: ./bin/glimpse ask on the fixture gives the token ids of a direct in-process run', async () => {
    const root = resolve('.');
    if (distIsStale(root)) {
      // npm test builds dist/ first; rebuild it when a test run starts from an older build
      await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root }).catch(() => undefined);
    }
    const { stdout } = await run(join(root, 'bin/glimpse'), askJsonArgs(), {
      cwd: root,
      env: { ...process.env, GLIMPSE_MODEL_PROVIDER: 'onnx', GLIMPSE_LOG_LEVEL: 'warn' },
    });
    const result = JSON.parse(stdout) as AskJson;
    expect(Object.keys(result).sort()).toEqual(['finishReason', 'text', 'timings', 'tokenIds', 'usage']);
    const image = await ingestImage((await shapesImage(400, 300)).bytes, png, loadConfig({}).images);
    const expected = await direct([{ role: 'user', content: [image, { type: 'text', text: 'q' }] }], 8);
    expect(result.tokenIds).toEqual(expected);
    expect(result.finishReason).toBe('length');
  });
});
