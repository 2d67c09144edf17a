import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { loadConfig } from '../../src/config.js';
import { renderScenePng } from '../../src/eval/scene-renderer.js';

function capture() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => {
    out += chunk;
  });
  stderr.on('data', (chunk) => {
    err += chunk;
  });
  return {
    stdout,
    stderr,
    out: () => out,
    err: () => err,
    loadConfig: () => loadConfig({ GLIMPSE_LOG_LEVEL: 'silent' }),
  };
}

async function imageFile(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'glimpse-label-'));
  const path = join(dir, 'blue-square.png');
  const png = await renderScenePng(
    {
      index: 0,
      imageSize: 128,
      background: 'white',
      backgroundRgb: [255, 255, 255],
      shapes: [
        { kind: 'square', colour: 'blue', rgb: [40, 90, 220], size: 36, cx: 64, cy: 64, outlined: false },
      ],
      arrows: [],
    },
    { outlineWidth: 3, labelColour: [60, 60, 60], arrowColour: [90, 90, 90] },
  );
  await writeFile(path, png);
  return path;
}

describe('glimpse label', () => {
  it('is listed in the help; needs an --image and labels', async () => {
    const help = capture();
    expect(await main(['--help'], help)).toBe(0);
    expect(help.out()).toMatch(/label\s+rank your own labels/);
    const noImage = capture();
    expect(await main(['label', 'a red circle'], noImage)).toBe(2);
    expect(noImage.err()).toMatch(/give an --image/);
    const noLabels = capture();
    expect(await main(['label', '--image', 'x.png'], noLabels)).toBe(2);
    expect(noLabels.err()).toMatch(/at least one label/);
    const badTop = capture();
    expect(await main(['label', '--image', 'x.png', '--top', '0', 'a'], badTop)).toBe(2);
  });

  it('says so, with a code, when the model has no zero-shot support', async () => {
    const io = capture();
    const code = await main(
      ['label', '--model', 'test/fixtures/tiny-llava-random', '--image', await imageFile(), 'a'],
      io,
    );
    expect(code, io.err()).toBe(1);
    expect(io.err()).toMatch(/no zero-shot label support.*\[glimpse_zero_shot_unsupported\]/s);
  });

  it.skipIf(!existsSync('models/tiny-shapes/config.json'))(
    'ranks labels on the embedded model, as text or JSON',
    async () => {
      const path = await imageFile();
      const labels = ['a red circle', 'a blue square', 'a green star'];
      const io = capture();
      expect(await main(['label', '--image', path, ...labels], io)).toBe(0);
      const lines = io.out().trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^\s*\d+\.\d%\s+a blue square$/);
      const json = capture();
      expect(await main(['label', '--image', path, '--json', '--top', '1', ...labels], json)).toBe(0);
      const parsed = JSON.parse(json.out());
      expect(parsed.image).toBe(path);
      expect(parsed.labels).toHaveLength(1);
      expect(parsed.labels[0]).toMatchObject({ label: 'a blue square', probability: expect.any(Number) });
    },
  );
});
