import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { captureIo } from '../fakes/captured-io.js';
import { singleShapePngFile } from '../fakes/single-shape-image.js';

const fixture = 'test/fixtures/tiny-llava-random';

const imageFile = () => singleShapePngFile({ kind: 'circle', colour: 'red', rgb: [220, 40, 40] });

describe('glimpse caption', () => {
  it('is listed in the help and needs an image', async () => {
    const help = captureIo();
    expect(await main(['--help'], help)).toBe(0);
    expect(help.out()).toMatch(/caption\s+caption images/);
    const io = captureIo();
    expect(await main(['caption'], io)).toBe(2);
    expect(io.err()).toMatch(/give an image file to caption/);
    const bad = captureIo();
    expect(await main(['caption', '--max-tokens', 'x', 'a.png'], bad)).toBe(2);
    const missing = captureIo();
    expect(await main(['caption', 'does-not-exist.png'], missing)).toBe(2);
    expect(missing.err()).toMatch(/cannot read image 'does-not-exist.png'/);
  });

  it('captions through the same model loading as ask (createModel), as text or JSON', async () => {
    const path = await imageFile();
    const io = captureIo();
    expect(await main(['caption', '--model', fixture, '--max-tokens', '5', path], io)).toBe(0);
    expect(io.out().trim().length).toBeGreaterThan(0); // the fixture's weights are random: any text
    expect(io.out().trim().split('\n')).toHaveLength(1);
    const json = captureIo();
    expect(await main(['caption', '--model', fixture, '--max-tokens', '5', '--json', path, path], json)).toBe(
      0,
    );
    const lines = json
      .out()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ image: path, finishReason: 'length', usage: { completionTokens: 5 } });
    expect(lines[0].caption).toBe(lines[1].caption); // greedy: the same image, the same caption
  });

  it('reports a missing model directory with its code', async () => {
    const path = await imageFile();
    const io = captureIo();
    expect(await main(['caption', '--model', 'no/such/model', path], io), io.err()).toBe(1);
    expect(io.err()).toMatch(/glimpse_model_missing_file/);
  });
});
