import { resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestImage } from '../../src/ingest/image-ingest.js';
import type { ImagePart } from '../../src/messages.js';
import { preprocessToRgb, type RgbImage } from '../../src/pipeline/image-preprocess.js';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import type { ModelStreamPart } from '../../src/pipeline/vision-chat-model.js';
import { badImageCases, testLimits } from './bad-image-cases.js';

/**
 * The odd-but-valid images that ingest accepts reach the real pipeline: sharp preprocessing and
 * the embedded model (`models/tiny-shapes`, 128 px, 64 image tokens), in both image modes.
 */

const modelDir = resolve('models/tiny-shapes');
const accepted = badImageCases.filter((c) => c.expected.answered);

async function ingest(name: string): Promise<ImagePart> {
  const c = badImageCases.find((item) => item.name === name)!;
  return ingestImage(await c.bytes(), c.name, testLimits);
}

const pixel = (image: RgbImage, x: number, y: number) => {
  const at = (y * image.width + x) * 3;
  return [image.data[at]!, image.data[at + 1]!, image.data[at + 2]!];
};

async function answer(model: OnnxLlavaModel, image: ImagePart, question: string) {
  const parts: ModelStreamPart[] = [];
  for await (const part of model.stream({
    messages: [{ role: 'user', content: [image, { type: 'text', text: question }] }],
    maxNewTokens: 12,
    temperature: 0,
  })) {
    parts.push(part);
  }
  return parts;
}

describe.each(['crop', 'pad'] as const)('odd-but-valid images through OnnxLlavaModel (%s mode)', (mode) => {
  let model: OnnxLlavaModel;
  beforeAll(async () => {
    model = await OnnxLlavaModel.load({ dir: modelDir, threads: 1, imageMode: mode });
  });
  afterAll(async () => {
    await model?.close();
  });

  it.each(accepted.map((c) => [c.name]))('%s: preprocessed to the model size and answered', async (name) => {
    const image = await ingest(name);
    const rgb = await preprocessToRgb(image.bytes, model.spec.image, mode, name);
    expect([rgb.width, rgb.height, rgb.data.length]).toEqual([128, 128, 128 * 128 * 3]);
    const parts = await answer(model, image, 'What colour is the circle?');
    expect(parts.filter((part) => part.type === 'error')).toEqual([]);
    const finish = parts.at(-1);
    expect(finish).toMatchObject({ type: 'finish', usage: { imageTokens: 64 } });
    const text = parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
    expect(text.trim()).not.toBe('');
  });

  it('the same red circle as 8-bit PNG, JPEG, CMYK JPEG, 16-bit PNG and PNG with alpha: the same pixels, the same answer', async () => {
    const reference = await ingest('mislabelled.png');
    const referenceRgb = await preprocessToRgb(reference.bytes, model.spec.image, mode);
    const referenceAnswer = await answer(model, reference, 'What colour is the circle?');
    const textOf = (parts: ModelStreamPart[]) =>
      parts.map((part) => (part.type === 'text-delta' ? part.text : '')).join('');
    // what the picture is: a red circle in the middle, white around it
    expect(pixel(referenceRgb, 64, 64)).toEqual([220, 40, 40]);
    expect(pixel(referenceRgb, 2, 2)).toEqual([255, 255, 255]);
    for (const name of ['jpeg-bytes.png', 'cmyk.jpg', 'sixteen-bit.png', 'alpha.png']) {
      const image = await ingest(name);
      const rgb = await preprocessToRgb(image.bytes, model.spec.image, mode, name);
      let worst = 0;
      let sum = 0;
      for (let i = 0; i < rgb.data.length; i++) {
        const delta = Math.abs(rgb.data[i]! - referenceRgb.data[i]!);
        worst = Math.max(worst, delta);
        sum += delta;
      }
      // lossless encodings are exact away from the anti-aliased edge; JPEG (and its CMYK round
      // trip) is close on average
      expect(sum / rgb.data.length, name).toBeLessThan(
        name === 'cmyk.jpg' ? 10 : name === 'jpeg-bytes.png' ? 3 : 0.5,
      );
      if (name === 'sixteen-bit.png') expect(worst, name).toBeLessThanOrEqual(1);
      expect(textOf(await answer(model, image, 'What colour is the circle?')), name).toBe(
        textOf(referenceAnswer),
      );
    }
  });

  it('an animated GIF is read from its first frame; a 1×1 image fills the whole input', async () => {
    const gif = await preprocessToRgb((await ingest('animated.gif')).bytes, model.spec.image, mode);
    expect(pixel(gif, 64, 64)).toEqual([255, 0, 0]);
    expect(pixel(gif, 0, 0)).toEqual([255, 0, 0]);
    const dot = await preprocessToRgb((await ingest('one-pixel.png')).bytes, model.spec.image, mode);
    for (const [x, y] of [
      [0, 0],
      [64, 64],
      [127, 127],
    ] as const) {
      expect(pixel(dot, x, y)).toEqual([220, 40, 40]);
    }
  });
});

describe('pad mode keeps memory bounded on a long panorama', () => {
  it('a 12000×1200 panorama is shrunk before its square canvas', async () => {
    const strip = new Uint8Array(
      await sharp({ create: { width: 12_000, height: 1200, channels: 3, background: '#dc2828' } })
        .png()
        .toBuffer(),
    );
    const image = await ingestImage(strip, 'panorama.png', { maxBytes: 1 << 20, maxPixels: 40_000_000 });
    const model = await OnnxLlavaModel.load({ dir: modelDir, threads: 1, imageMode: 'pad' });
    try {
      const before = process.memoryUsage().rss;
      let peak = before;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 2);
      const rgb = await preprocessToRgb(image.bytes, model.spec.image, 'pad', 'panorama.png').finally(() =>
        clearInterval(timer),
      );
      // 12000² RGB would be 432 MB; shrunk to 4096² first it is 50 MB
      expect(Math.max(peak, process.memoryUsage().rss) - before).toBeLessThan(200 * 1024 * 1024);
      expect([rgb.width, rgb.height]).toEqual([128, 128]);
      // the strip lies across the middle; above and below is the mean colour, as LLaVA pads
      expect(pixel(rgb, 64, 64)).toEqual([220, 40, 40]);
      expect(pixel(rgb, 64, 5)).toEqual([122, 116, 104]);
      const parts = await answer(model, image, 'Describe the image.');
      expect(parts.at(-1)).toMatchObject({ type: 'finish' });
    } finally {
      await model.close();
    }
  }, 60_000);
});
