import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { captureIo } from '../fakes/captured-io.js';
import { singleShapePngFile } from '../fakes/single-shape-image.js';

const imageFile = () => singleShapePngFile({ kind: 'square', colour: 'blue', rgb: [40, 90, 220] });

describe('glimpse label', () => {
  it('is listed in the help; needs an --image and labels', async () => {
    const help = captureIo();
    expect(await main(['--help'], help)).toBe(0);
    expect(help.out()).toMatch(/label\s+rank your own labels/);
    const noImage = captureIo();
    expect(await main(['label', 'a red circle'], noImage)).toBe(2);
    expect(noImage.err()).toMatch(/give an --image/);
    const noLabels = captureIo();
    expect(await main(['label', '--image', 'x.png'], noLabels)).toBe(2);
    expect(noLabels.err()).toMatch(/at least one label/);
    const badTop = captureIo();
    expect(await main(['label', '--image', 'x.png', '--top', '0', 'a'], badTop)).toBe(2);
  });

  it('says so, with a code, when the model has no zero-shot support', async () => {
    const io = captureIo();
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
      const io = captureIo();
      expect(await main(['label', '--image', path, ...labels], io)).toBe(0);
      const lines = io.out().trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^\s*\d+\.\d%\s+a blue square$/);
      const json = captureIo();
      expect(await main(['label', '--image', path, '--json', '--top', '1', ...labels], json)).toBe(0);
      const parsed = JSON.parse(json.out());
      expect(parsed.image).toBe(path);
      expect(parsed.labels).toHaveLength(1);
      expect(parsed.labels[0]).toMatchObject({ label: 'a blue square', probability: expect.any(Number) });
    },
  );
});
