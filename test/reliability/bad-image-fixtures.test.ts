import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { defaultOutDir, makeBadImages, pngBomb } from '../../scripts/make-bad-images.mjs';
import { GlimpseError } from '../../src/errors.js';
import { ingestImage } from '../../src/ingest/image-ingest.js';
import { sniffImage } from '../../src/ingest/image-sniff.js';
import { badImageCases, testLimits } from './bad-image-cases.js';

describe('bad-image fixtures (scripts/make-bad-images.mjs)', () => {
  it('the committed folder is exactly what the script makes, and small', async () => {
    const made = await makeBadImages();
    const committed = (await readdir(defaultOutDir)).sort();
    expect(committed, 'rerun `node scripts/make-bad-images.mjs`').toEqual([...made.keys()].sort());
    let total = 0;
    for (const [name, bytes] of made) {
      const onDisk = await readFile(join(defaultOutDir, name));
      expect(onDisk.equals(bytes), `${name} differs: rerun node scripts/make-bad-images.mjs`).toBe(true);
      total += onDisk.byteLength;
    }
    expect(total).toBeLessThan(64 * 1024);
  });

  it('each fixture is what its name says', async () => {
    const files = await makeBadImages();
    const meta = (name: string) => sharp(files.get(name)!, { limitInputPixels: false }).metadata();
    expect(await meta('bomb-100000x100000.png')).toMatchObject({
      format: 'png',
      width: 100_000,
      height: 100_000,
    });
    expect(files.get('bomb-100000x100000.png')!.byteLength).toBeLessThan(100);
    expect(await meta('animated.gif')).toMatchObject({ format: 'gif', pages: 3, width: 24, height: 24 });
    expect(await meta('cmyk.jpg')).toMatchObject({ format: 'jpeg', space: 'cmyk', channels: 4 });
    expect(await meta('sixteen-bit.png')).toMatchObject({ format: 'png', depth: 'ushort' });
    expect(await meta('alpha.png')).toMatchObject({ format: 'png', hasAlpha: true });
    expect(await meta('tiff-bytes.png')).toMatchObject({ format: 'tiff' });
    expect(await meta('jpeg-bytes.png')).toMatchObject({ format: 'jpeg' });
    expect(await meta('strip-10000x10.png')).toMatchObject({ width: 10_000, height: 10 });
    expect(await meta('truncated.png')).toMatchObject({ format: 'png', width: 48, height: 48 });
    expect(await meta('truncated.jpg')).toMatchObject({ format: 'jpeg', width: 48, height: 48 });
    expect(files.get('empty.png')!.byteLength).toBe(0);
    expect(files.get('pdf-bytes.png')!.subarray(0, 5).toString()).toBe('%PDF-');
    expect(files.get('heic-bytes.jpg')!.subarray(4, 12).toString()).toBe('ftypheic');
    expect(files.get('external-ref.svg')!.toString()).toContain('<image href="http://');
  });
});

describe('ingestImage over the bad set (what every adapter calls)', () => {
  it.each(badImageCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const bytes = await c.bytes();
    const result = await ingestImage(bytes, c.name, testLimits).then(
      (image) => ({ image }),
      (error: unknown) => ({ error }),
    );
    if (c.expected.answered) {
      expect('image' in result ? result.image : result.error).toMatchObject({
        type: 'image',
        mediaType: c.expected.mediaType,
        width: c.expected.width,
        height: c.expected.height,
        name: c.name,
      });
    } else {
      expect('error' in result, 'refused').toBe(true);
      const error = (result as { error: unknown }).error;
      expect(error).toBeInstanceOf(GlimpseError);
      expect((error as GlimpseError).code).toBe(c.expected.code);
      expect((error as GlimpseError).userMessage).toMatch(c.expected.message);
      expect((error as GlimpseError).userMessage).not.toContain('\n');
      expect((error as GlimpseError).details).toMatchObject({ name: c.name });
    }
  });

  it('refuses the bomb from its header: at any claimed size, in a few ms, without allocating its pixels', async () => {
    for (const [width, height] of [
      [100_000, 100_000],
      [2_000_000_000, 2],
      [65_535, 65_535],
    ] as const) {
      const before = process.memoryUsage().rss;
      const error = await ingestImage(new Uint8Array(pngBomb(width, height)), 'b.png', testLimits).catch(
        (e: unknown) => e as GlimpseError,
      );
      expect(error).toMatchObject({ code: 'glimpse_image_too_large', details: { width, height } });
      expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
    }
  });

  it('a bomb within the byte cap but a claimed size under the pixel limit is decoded and found incomplete', async () => {
    // 3000×3000 RGB claimed, but the IDAT holds only a few rows: the full decode notices
    const error = await ingestImage(new Uint8Array(pngBomb(3000, 3000)), 'short.png', testLimits).catch(
      (e: unknown) => e as GlimpseError,
    );
    expect(error).toMatchObject({ code: 'glimpse_image_invalid' });
    expect((error as GlimpseError).userMessage).toMatch(/damaged or incomplete/);
  });

  it('sniffs signatures only: an HTML page with an inline <svg> icon is not an SVG, an SVG with a prolog is', () => {
    const text = (s: string) => new Uint8Array(Buffer.from(s));
    expect(
      sniffImage(text('<!doctype html><html><body><svg width="1"></svg></body></html>')),
    ).toBeUndefined();
    expect(
      sniffImage(
        text('\uFEFF<?xml version="1.0"?>\n<!-- drawn by hand -->\n<!DOCTYPE svg PUBLIC "x" "y">\n<svg/>'),
      ),
    ).toEqual({ readable: false, kind: 'an SVG drawing' });
    expect(sniffImage(text('GIF89a....'))).toEqual({ readable: true, format: 'gif' });
    expect(sniffImage(text('GIF8garbage'))).toBeUndefined();
    expect(sniffImage(text('RIFF\0\0\0\0WEBPVP8 '))).toEqual({ readable: true, format: 'webp' });
    const avif = Buffer.concat([Buffer.from([0, 0, 0, 0x1c]), Buffer.from('ftypavif\0\0\0\0avifmif1miaf')]);
    expect(sniffImage(new Uint8Array(avif))).toEqual({ readable: false, kind: 'an AVIF image' });
    expect(sniffImage(new Uint8Array())).toBeUndefined();
  });
});
