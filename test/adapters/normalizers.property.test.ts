import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { questionTextOf } from '../../src/adapters/discord/discord-message.js';
import {
  slackChatMessage,
  slackConversationId,
  slackImages,
  slackMessageId,
  slackQuestionText,
} from '../../src/adapters/slack/slack-message.js';
import { parseUpload } from '../../src/adapters/web/parse-upload.js';

/** Properties of the functions that turn platform events into `ChatMessage`s. */

const snowflake = fc.bigInt({ min: 10n ** 16n, max: 10n ** 19n }).map(String);
const slackId = (prefix: string) => fc.stringMatching(/^[A-Z0-9]{8,11}$/).map((id) => prefix + id);
const slackTs = fc
  .tuple(fc.integer({ min: 1_000_000_000, max: 2_000_000_000 }), fc.integer({ min: 0, max: 999_999 }))
  .map(([seconds, micros]) => `${seconds}.${String(micros).padStart(6, '0')}`);

describe('Discord question text', () => {
  it('never leaves a mention of the bot, even one formed by removing another; text without one is kept', () => {
    fc.assert(
      fc.property(
        snowflake,
        snowflake,
        fc.array(fc.constantFrom('<@', '<@!', '>', 'bot', ' ', 'é\n', 'other'), { maxLength: 16 }),
        fc.array(
          fc.record({
            name: fc.string({ minLength: 1, maxLength: 10 }),
            description: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
          }),
          { maxLength: 3 },
        ),
        (botId, otherId, tokens, sources) => {
          fc.pre(botId !== otherId);
          const content = tokens
            .map((token) => (token === 'bot' ? botId : token === 'other' ? otherId : token))
            .join('');
          const withAlts = sources.map((source) => ({
            url: 'https://cdn.discordapp.com/x.png',
            name: source.name,
            ...(source.description ? { description: source.description } : {}),
          }));
          const text = questionTextOf(content, botId, []);
          expect(text).not.toMatch(new RegExp(`<@!?${botId}>`));
          if (!new RegExp(`<@!?${botId}>`).test(content)) expect(text).toBe(content.trim());
          // each alt text follows the question, once, in order
          const described = questionTextOf(content, botId, withAlts);
          const lines = withAlts
            .filter((source) => source.description)
            .map(
              (source) => `(The image "${source.name}" is described by its poster as: ${source.description})`,
            );
          expect(described).toBe([text, ...lines].filter((piece) => piece !== '').join('\n'));
        },
      ),
      {
        numRuns: 500,
        examples: [['1111111111111111111', '2222222222222222222', ['<@', '<@', 'bot', '>', 'bot', '>'], []]],
      },
    );
  });
});

describe('Slack messages', () => {
  it('question text: never leaves a mention of the bot (with or without a label); other mentions kept', () => {
    fc.assert(
      fc.property(
        slackId('U'),
        slackId('U'),
        fc.array(fc.constantFrom('<@', '|', 'label', '>', ' ', 'a', 'é', 'bot'), { maxLength: 16 }),
        (botId, otherId, tokens) => {
          fc.pre(botId !== otherId);
          const content = tokens.map((token) => (token === 'bot' ? botId : token)).join('');
          const question = slackQuestionText(`${content} <@${otherId}>`, botId);
          expect(question).not.toMatch(new RegExp(`<@${botId}(\\|[^<>]*)?>`));
          expect(question.endsWith(`<@${otherId}>`)).toBe(true);
          expect(question).toBe(question.trim());
          if (!content.includes(`<@${botId}`)) expect(question).toBe(`${content} <@${otherId}>`.trim());
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a message is addressed by team, channel and thread; ids and times come from the event', () => {
    fc.assert(
      fc.property(
        slackId('T'),
        slackId('C'),
        slackTs,
        slackTs,
        slackId('U'),
        fc.string({ maxLength: 40 }),
        (team, channel, threadTs, ts, user, text) => {
          const message = slackChatMessage({ team, channel, threadTs, ts, user, text });
          expect(message.conversationId).toBe(slackConversationId(team, channel, threadTs));
          expect(message.conversationId.split(':')).toEqual(['slack', team, channel, threadTs]);
          expect(message.messageId).toBe(slackMessageId(channel, ts));
          expect(message.createdAt!.getTime()).toBe(Math.floor(Number.parseFloat(ts) * 1000));
          expect(message.parts).toEqual(text === '' ? [] : [{ type: 'text', text }]);
          expect(message.author).toEqual({ id: user, name: user, isBot: false });
        },
      ),
    );
  });

  it('files: every downloadable file meant as an image (declared image/*, or an image name), in order', () => {
    const file = fc.record({
      id: slackId('F'),
      name: fc.option(
        fc.oneof(
          fc.string({ minLength: 1, maxLength: 12 }),
          fc.constantFrom('a.png', 'b.JPG', 'c.heic', 'd.pdf', 'e.svg', 'f.txt'),
        ),
        { nil: undefined },
      ),
      mimetype: fc.constantFrom(
        'image/png',
        'image/jpeg',
        'image/jpg',
        'image/webp',
        'image/gif',
        'image/svg+xml',
        'application/pdf',
        'text/html',
      ),
      url_private_download: fc.option(fc.constant('https://files.slack.com/f'), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(file, { maxLength: 8 }), (files) => {
        const clean = files.map((f) =>
          Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)),
        ) as typeof files;
        const images = slackImages(clean as never, {
          hosts: ['files.slack.com'],
          origins: [],
          limits: { maxBytes: 1, maxPixels: 1 },
          timeoutMs: 1,
        });
        // the bytes decide later: an SVG or a PDF named .png gets a refusal that names it
        const expected = clean.filter(
          (f) =>
            (f.mimetype.startsWith('image/') ||
              /\.(png|jpe?g|jfif|webp|gif|svgz?|tiff?|heic|heif|avif|bmp|jxl)$/i.test(f.name ?? '')) &&
            f.url_private_download !== undefined,
        );
        expect(images.map((image) => image.name)).toEqual(expected.map((f) => f.name ?? `${f.id}.png`));
      }),
    );
  });
});

describe('web playground form', () => {
  it('the question arrives as typed (trimmed, line breaks as typed), with its files byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).filter((text) => text.trim() !== ''),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 2 }),
        async (text, files) => {
          const form = new FormData();
          form.set('text', text);
          for (const [index, bytes] of files.entries())
            form.append('image', new Blob([bytes]), `f${index}.png`);
          const request = new Request('http://x.invalid/', { method: 'POST', body: form });
          const body = new Uint8Array(await request.arrayBuffer());
          const parsed = await parseUpload(request.headers.get('content-type') ?? undefined, body, {
            maxTextChars: 1000,
            maxFiles: 4,
          });
          expect(parsed.text).toBe(text.trim());
          expect(parsed.files.map((file) => [...file.bytes])).toEqual(files.map((bytes) => [...bytes]));
        },
      ),
      { numRuns: 200 },
    );
  });
});
