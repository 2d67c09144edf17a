import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImagePart } from '../../src/messages.js';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import type { FinishPart, ModelMessage, ModelStreamPart } from '../../src/pipeline/vision-chat-model.js';
import { fixtureDir, imagePart, shapesImage } from './helpers/fixture.js';

/**
 * Reuse across turns (issue #18): the image-feature cache and the decoder's KV prefix reuse must
 * not change a single greedy token. Each scenario runs the same conversation — the model's own
 * answers fed back as history, as the conversation layer does — on a model with both caches and
 * on one with both off, and compares every turn's token ids.
 */

type Turn = ModelMessage['content'];

interface TurnResult {
  tokenIds: number[];
  text: string;
  promptTokens: number;
}

async function answer(
  model: OnnxLlavaModel,
  messages: ModelMessage[],
  maxNewTokens = 8,
): Promise<TurnResult> {
  let text = '';
  let finish: FinishPart | undefined;
  const parts: ModelStreamPart[] = [];
  for await (const part of model.stream({ messages, temperature: 0, maxNewTokens })) {
    parts.push(part);
    if (part.type === 'text-delta') text += part.text;
    if (part.type === 'finish') finish = part;
    if (part.type === 'error') throw part.error;
  }
  if (!finish) throw new Error(`no finish part: ${JSON.stringify(parts)}`);
  return { tokenIds: finish.tokenIds ?? [], text, promptTokens: finish.usage.promptTokens };
}

/** Runs user turns one after the other, each answer going into the history. */
async function converse(
  model: OnnxLlavaModel,
  turns: Turn[],
  history: ModelMessage[] = [],
  maxNewTokens = 8,
): Promise<{ results: TurnResult[]; history: ModelMessage[] }> {
  const messages = [...history];
  const results: TurnResult[] = [];
  for (const turn of turns) {
    messages.push({ role: 'user', content: turn });
    const result = await answer(model, messages, maxNewTokens);
    results.push(result);
    messages.push({ role: 'assistant', content: [{ type: 'text', text: result.text }] });
  }
  return { results, history: messages };
}

const text = (value: string) => ({ type: 'text' as const, text: value });
const ids = (results: TurnResult[]) => results.map((result) => result.tokenIds);

describe('reuse across turns on the tiny random fixture (336 px, 576 image tokens)', () => {
  let cached: OnnxLlavaModel;
  let plain: OnnxLlavaModel;
  let red: ImagePart;
  let blue: ImagePart;
  let green: ImagePart;
  beforeAll(async () => {
    cached = await OnnxLlavaModel.load({ dir: fixtureDir, threads: 1, maxImages: 4 });
    plain = await OnnxLlavaModel.load({
      dir: fixtureDir,
      threads: 1,
      maxImages: 4,
      kvCacheBytes: 0,
      imageCacheBytes: 0,
    });
    red = await shapesImage(400, 300, 'red.png', 0);
    blue = await shapesImage(300, 420, 'blue.png', 220);
    green = await shapesImage(336, 336, 'green.png', 120);
  });
  afterAll(async () => {
    await cached.close();
    await plain.close();
  });

  it('one image, four turns: identical tokens; later turns prefill only what is new', async () => {
    const turns: Turn[] = [
      [red, text('What colour is the circle?')],
      [text('And the square?')],
      [text('Where is the line?')],
      [text('Describe it again.')],
    ];
    const before = cached.cacheStats();
    const withCaches = await converse(cached, turns);
    const after = cached.cacheStats();
    const without = await converse(plain, turns);
    expect(ids(withCaches.results)).toEqual(ids(without.results));
    expect(withCaches.results.map((r) => r.text)).toEqual(without.results.map((r) => r.text));
    // turns 2–4 each found the previous turn's state: nearly the whole prompt was not prefilled
    expect(after.kv.hits - before.kv.hits).toBeGreaterThanOrEqual(3);
    const promptTokens = withCaches.results.slice(1).reduce((sum, r) => sum + r.promptTokens, 0);
    expect(after.kv.reusedTokens - before.kv.reusedTokens).toBeGreaterThan(0.9 * promptTokens);
    expect(plain.cacheStats().kv).toMatchObject({ hits: 0, entries: 0, bytes: 0 });
  });

  it('two images in one turn, then follow-ups', async () => {
    const turns: Turn[] = [
      [red, blue, text('Compare the two pictures.')],
      [text('Which is brighter?')],
      [text('Why?')],
    ];
    const withCaches = await converse(cached, turns);
    const without = await converse(plain, turns);
    expect(ids(withCaches.results)).toEqual(ids(without.results));
  });

  it('an image added in a later turn', async () => {
    const turns: Turn[] = [
      [green, text('What is this?')],
      [text('Any lines?')],
      [blue, text('And this one?')],
      [text('Which of the two has more shapes?')],
    ];
    const withCaches = await converse(cached, turns);
    const without = await converse(plain, turns);
    expect(ids(withCaches.results)).toEqual(ids(without.results));
  });

  it('the same tokens in place of an image with other pixels never reuse its state', async () => {
    // same ids everywhere (576 image tokens), only the image differs
    const first = await answer(cached, [
      { role: 'user', content: [red, text('What colour is the circle?')] },
    ]);
    const other = await answer(cached, [
      { role: 'user', content: [blue, text('What colour is the circle?')] },
    ]);
    const reference = await answer(plain, [
      { role: 'user', content: [blue, text('What colour is the circle?')] },
    ]);
    expect(other.tokenIds).toEqual(reference.tokenIds);
    expect(first.promptTokens).toBe(other.promptTokens);
  });

  it('a trimmed history (oldest exchange left out, its image replaced by a marker)', async () => {
    const { history, results } = await converse(cached, [
      [red, text('What colour is the circle?')],
      [text('And the square?')],
      [text('Where is the line?')],
    ]);
    // what the conversation layer sends once the context is full: the first exchange dropped
    const trimmed: ModelMessage[] = [
      { role: 'user', content: [text('[image not shown: red.png]'), blue, text('And now?')] },
      ...history.slice(2),
      { role: 'user', content: [text('Summarise.')] },
    ];
    const withCaches = await answer(cached, trimmed);
    const without = await answer(plain, trimmed);
    expect(withCaches.tokenIds).toEqual(without.tokenIds);
    // and the untrimmed history still gives what a cold model gives
    const plainRun = await converse(plain, [
      [red, text('What colour is the circle?')],
      [text('And the square?')],
      [text('Where is the line?')],
    ]);
    expect(ids(results)).toEqual(ids(plainRun.results));
  });

  it('a reset: the next conversation starts from nothing and answers as a cold model does', async () => {
    const turns: Turn[] = [[green, text('What is this?')], [text('More detail.')]];
    await converse(cached, turns);
    // after /reset the history is empty: the same first question, then a different follow-up
    const again = await converse(cached, [[green, text('What is this?')], [text('Something else.')]]);
    const cold = await converse(plain, [[green, text('What is this?')], [text('Something else.')]]);
    expect(ids(again.results)).toEqual(ids(cold.results));
  });

  it('an edited answer in the history (re-rendered differently) reuses only the common prefix', async () => {
    const { history } = await converse(cached, [[red, text('What colour is the circle?')]]);
    const edited: ModelMessage[] = [
      history[0]!,
      { role: 'assistant', content: [text('Red, I think.')] },
      { role: 'user', content: [text('Sure?')] },
    ];
    expect((await answer(cached, edited)).tokenIds).toEqual((await answer(plain, edited)).tokenIds);
  });

  it('concurrent conversations never see each other: interleaved streams give the sequential tokens', async () => {
    const a: Turn[] = [[red, text('What colour is the circle?')], [text('And the square?')]];
    const b: Turn[] = [[red, text('What colour is the square?')], [text('And the circle?')]];
    const [withA, withB] = await Promise.all([converse(cached, a), converse(cached, b)]);
    const plainA = await converse(plain, a);
    const plainB = await converse(plain, b);
    expect(ids(withA.results)).toEqual(ids(plainA.results));
    expect(ids(withB.results)).toEqual(ids(plainB.results));
  });

  it('both caches stay within their byte bounds, evicting the least recently used', async () => {
    // one state of ~600 tokens is ~300 KB here (2 layers × K,V × 2 heads × 16 × 4 B per token);
    // one image's features 576 × 64 × 4 B = 147 KB
    const kvCacheBytes = 700 * 1024;
    const imageCacheBytes = 200 * 1024;
    const small = await OnnxLlavaModel.load({ dir: fixtureDir, threads: 1, kvCacheBytes, imageCacheBytes });
    try {
      const conversations: Turn[][] = [red, blue, green, red].map((image) => [
        [image, text('What is this?')],
        [text('Tell me more.')],
      ]);
      for (const turns of conversations) {
        const bounded = await converse(small, turns);
        const cold = await converse(plain, turns);
        expect(ids(bounded.results)).toEqual(ids(cold.results));
        const stats = small.cacheStats();
        expect(stats.kv.bytes).toBeLessThanOrEqual(kvCacheBytes);
        expect(stats.images.bytes).toBeLessThanOrEqual(imageCacheBytes);
      }
      const stats = small.cacheStats();
      expect(stats.images.entries).toBe(1);
      expect(stats.images.evictions).toBeGreaterThanOrEqual(3);
      expect(stats.kv.evictions).toBeGreaterThan(0);
      expect(stats.kv.entries).toBeGreaterThan(0);
    } finally {
      await small.close();
    }
  });

  it('the image-feature cache skips preprocessing and the encoder for an image seen before', async () => {
    const model = await OnnxLlavaModel.load({ dir: fixtureDir, threads: 1, kvCacheBytes: 0 });
    try {
      const first = await answerWithTimings(model, [{ role: 'user', content: [red, text('Hi')] }]);
      // another conversation about the same bytes (another ImagePart object, another name)
      const copy: ImagePart = { ...red, name: 'copy.png', sha256: 'not-trusted' };
      const second = await answerWithTimings(model, [{ role: 'user', content: [copy, text('Hello')] }]);
      expect(first.timings.visionMs).toBeGreaterThan(0);
      expect(second.timings.visionMs).toBe(0);
      expect(model.cacheStats().images).toMatchObject({ hits: 1, misses: 1, entries: 1 });
      const cold = await answer(plain, [{ role: 'user', content: [copy, text('Hello')] }], 6);
      expect(second.tokenIds).toEqual(cold.tokenIds);
    } finally {
      await model.close();
    }
  });
});

describe('reuse across turns with a float16 graph (float16 cache)', () => {
  it('gives the same tokens as the same fp16 graph without the caches', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glimpse-fp16-'));
    try {
      await cp(fixtureDir, dir, { recursive: true });
      await cp('test/fixtures/tiny-llava-random-fp16/onnx', join(dir, 'onnx'), { recursive: true });
      const cached = await OnnxLlavaModel.load({ dir, precision: 'fp16', threads: 1 });
      const plain = await OnnxLlavaModel.load({
        dir,
        precision: 'fp16',
        threads: 1,
        kvCacheBytes: 0,
        imageCacheBytes: 0,
      });
      try {
        const image = await shapesImage(360, 300, 'half.png', 40);
        const turns: Turn[] = [
          [image, text('What colour is the circle?')],
          [text('And the square?')],
          [text('Sure?')],
        ];
        const withCaches = await converse(cached, turns);
        expect(ids(withCaches.results)).toEqual(ids((await converse(plain, turns)).results));
        expect(cached.cacheStats().kv.hits).toBeGreaterThanOrEqual(2);
      } finally {
        await cached.close();
        await plain.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function answerWithTimings(model: OnnxLlavaModel, messages: ModelMessage[]): Promise<FinishPart> {
  let finish: FinishPart | undefined;
  for await (const part of model.stream({ messages, temperature: 0, maxNewTokens: 6 })) {
    if (part.type === 'finish') finish = part;
    if (part.type === 'error') throw part.error;
  }
  return finish!;
}

describe('reuse across turns on the embedded models/tiny-shapes (a trained model, EOS-terminated answers)', () => {
  const dir = resolve('models/tiny-shapes');
  let cached: OnnxLlavaModel;
  let plain: OnnxLlavaModel;
  beforeAll(async () => {
    cached = await OnnxLlavaModel.load({ dir, threads: 1 });
    plain = await OnnxLlavaModel.load({ dir, threads: 1, kvCacheBytes: 0, imageCacheBytes: 0 });
  });
  afterAll(async () => {
    await cached.close();
    await plain.close();
  });

  it('a follow-up dialogue and a second scene give the same answers with and without the caches', async () => {
    const scene = (name: string) =>
      imagePart(new Uint8Array(readFileSync(join(dir, 'reference', name))), 128, 128, name);
    const turns: Turn[] = [
      [scene('scene-0.png'), text('Describe the image.')],
      [text('What colour is the circle?')],
      [text('How many shapes are there?')],
      [scene('scene-1.png'), text('Describe the image.')],
      [text('Is there a star?')],
    ];
    const withCaches = await converse(cached, turns, [], 32);
    const without = await converse(plain, turns, [], 32);
    expect(withCaches.results.map((r) => r.text)).toEqual(without.results.map((r) => r.text));
    expect(ids(withCaches.results)).toEqual(ids(without.results));
    expect(cached.cacheStats().kv.hits).toBeGreaterThanOrEqual(4);
  });
});
