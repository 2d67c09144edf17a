import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import OpenAI, { BadRequestError } from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxLlavaModel } from '../../src/pipeline/onnx-llava-model.js';
import type { ServeServer } from '../../src/serve/serve-server.js';
import { scrape, startTestServer, testApiKey } from './serve-helpers.js';
import { circlePng, dataUrl, type ShapeColour } from './shape-images.js';

const modelDir = resolve(import.meta.dirname, '../../models/tiny-shapes');
const badImages = resolve(import.meta.dirname, '../fixtures/bad-images');

let model: OnnxLlavaModel;
let server: ServeServer;
let url: string;
let client: OpenAI;
const images = new Map<ShapeColour, string>();

beforeAll(async () => {
  model = await OnnxLlavaModel.load({ dir: modelDir, threads: 1 });
  ({ server, url } = await startTestServer(model, { GLIMPSE_SERVE_CONCURRENCY: '4' }));
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: testApiKey, maxRetries: 0 });
  for (const colour of ['red', 'blue', 'green'] as const)
    images.set(colour, dataUrl(await circlePng(colour)));
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await model?.close();
});

const ask = (colour: ShapeColour, question = 'What colour is the circle?'): ChatCompletionMessageParam[] => [
  {
    role: 'user',
    content: [
      { type: 'image_url', image_url: { url: images.get(colour)! } },
      { type: 'text', text: question },
    ],
  },
];

describe('glimpse serve on the embedded model, through the official openai client', () => {
  it('answers about an image, not streaming', async () => {
    const completion = await client.chat.completions.create({ model: 'tiny-shapes', messages: ask('red') });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('tiny-shapes');
    expect(completion.choices[0]?.message.content).toMatch(/red/i);
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    // the prompt holds the image's 64 tokens
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(64);
  });

  it('streams an answer with a final usage chunk, and the metrics move', async () => {
    const before = await scrape(url);
    const stream = await client.chat.completions.create({
      model: 'tiny-shapes',
      messages: ask('blue'),
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toMatch(/blue/i);
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    const after = await scrape(url);
    const moved = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(moved('glimpse_serve_requests_total{status="200",stream="true"}')).toBe(1);
    expect(moved('glimpse_serve_completion_tokens_total')).toBe(usage!.completion_tokens);
    expect(moved('glimpse_serve_prompt_tokens_total')).toBe(usage!.prompt_tokens);
    expect(moved('glimpse_serve_time_to_first_token_seconds_count')).toBe(1);
    expect(moved('glimpse_serve_image_cache_misses_total')).toBe(1);
    expect(after.get('glimpse_serve_execution_provider_info{provider="cpu"}')).toBe(1);
    expect(after.get('glimpse_serve_queue_depth')).toBe(0);

    // the same question again: the KV prefix cache holds its prompt (the image's tokens included)
    await client.chat.completions.create({ model: 'tiny-shapes', messages: ask('blue') });
    const again = await scrape(url);
    const movedSince = (name: string) => (again.get(name) ?? 0) - (after.get(name) ?? 0);
    expect(movedSince('glimpse_serve_kv_cache_hits_total')).toBe(1);
    expect(again.get('glimpse_serve_kv_cache_hit_ratio')).toBeGreaterThan(0);
    // the image behind a new first message: the prefix parts before it, its features come from the image cache
    await client.chat.completions.create({
      model: 'tiny-shapes',
      messages: [{ role: 'system', content: 'Answer in one word.' }, ...ask('blue')],
    });
    const third = await scrape(url);
    expect(
      (third.get('glimpse_serve_image_cache_hits_total') ?? 0) -
        (again.get('glimpse_serve_image_cache_hits_total') ?? 0),
    ).toBe(1);
    expect(third.get('glimpse_serve_image_cache_hit_ratio')).toBeGreaterThan(0);
  });

  it('answers 32 concurrent streams, each about its own image', async () => {
    const colours: ShapeColour[] = Array.from(
      { length: 32 },
      (_, i) => (['red', 'blue', 'green'] as const)[i % 3]!,
    );
    const answers = await Promise.all(
      colours.map(async (colour) => {
        const stream = await client.chat.completions.create({
          model: 'tiny-shapes',
          messages: ask(colour),
          stream: true,
          stream_options: { include_usage: true },
        });
        let text = '';
        let finish: string | null | undefined;
        let sawUsage = false;
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? '';
          finish ??= chunk.choices[0]?.finish_reason;
          if (chunk.usage) sawUsage = true;
        }
        return { colour, text, finish, sawUsage };
      }),
    );
    for (const answer of answers) {
      expect(answer.text.toLowerCase(), `the ${answer.colour} circle`).toContain(answer.colour);
      expect(answer.finish).toBe('stop');
      expect(answer.sawUsage).toBe(true);
    }
    const metrics = await scrape(url);
    expect(metrics.get('glimpse_serve_active_streams')).toBe(0);
    expect(metrics.get('glimpse_serve_queue_depth')).toBe(0);
  }, 120_000);

  it('refuses images that are not images, too many images and remote URLs with 400s', async () => {
    const png = (name: string) => readFile(join(badImages, name));
    const refuse = async (messages: ChatCompletionMessageParam[]) => {
      const error = await client.chat.completions.create({ model: 'tiny-shapes', messages }).catch((e) => e);
      expect(error).toBeInstanceOf(BadRequestError);
      return error as BadRequestError;
    };
    const withImage = (imageUrl: string): ChatCompletionMessageParam[] => [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: imageUrl } },
          { type: 'text', text: 'What is it?' },
        ],
      },
    ];
    const notAnImage = await refuse(
      withImage(`data:image/png;base64,${(await png('not-an-image.png')).toString('base64')}`),
    );
    expect(notAnImage).toMatchObject({
      code: 'glimpse_image_invalid',
      param: 'messages.0.content.0.image_url',
    });
    expect(notAnImage.message).toMatch(/not an image I can read/);
    const tiff = await refuse(
      withImage(`data:image/png;base64,${(await png('tiff-bytes.png')).toString('base64')}`),
    );
    expect(tiff.code).toBe('glimpse_image_unsupported_type');
    const bomb = await refuse(
      withImage(`data:image/png;base64,${(await png('bomb-100000x100000.png')).toString('base64')}`),
    );
    expect(bomb.code).toBe('glimpse_image_too_large');
    expect((await refuse(withImage('data:image/png;base64,@@@not base64@@@'))).code).toBe(
      'invalid_image_url',
    );
    const remote = await refuse(withImage('https://example.com/cat.png'));
    expect(remote.code).toBe('remote_image_urls_disabled');
    expect(remote.message).toMatch(/data: URL/);
    const five = Array.from({ length: 5 }, () => ({
      type: 'image_url' as const,
      image_url: { url: images.get('red')! },
    }));
    const tooMany = await refuse([{ role: 'user', content: [...five, { type: 'text', text: 'Which?' }] }]);
    expect(tooMany.code).toBe('glimpse_too_many_images');
    // a prompt over the model's 2048-token context
    const long = await refuse([{ role: 'user', content: 'circle '.repeat(3000) }]);
    expect(long.code).toBe('context_length_exceeded');
  });
});
