import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitMessage, splitText } from '../../../src/adapters/shared/message-splitter.js';

/** whether every fence opened in `text` is closed in it */
const fencesBalanced = (text: string) => (text.match(/^ {0,3}```/gm) ?? []).length % 2 === 0;

const markdownish = fc
  .array(
    fc.oneof(
      fc.lorem({ maxCount: 30, mode: 'sentences' }),
      fc.constant('\n\n'),
      fc.constant('\n'),
      fc
        .tuple(fc.constantFrom('ts', 'python', ''), fc.array(fc.lorem({ maxCount: 8 }), { maxLength: 30 }))
        .map(([lang, lines]) => `\n\`\`\`${lang}\n${lines.join('\n')}\n\`\`\`\n`),
      fc.string({ unit: 'grapheme', maxLength: 300 }),
    ),
    { maxLength: 40 },
  )
  .map((pieces) => pieces.join(''));

describe('splitMessage', () => {
  it('keeps a message that fits as it is', () => {
    expect(splitMessage('a short answer', 2000)).toEqual(['a short answer']);
  });

  it('cuts at a paragraph before a line, and a sentence before a word', () => {
    const paragraph = `${'a'.repeat(60)}.\n\n${'b'.repeat(60)}`;
    expect(splitMessage(paragraph, 100)).toEqual([`${'a'.repeat(60)}.\n\n`, 'b'.repeat(60)]);
    const sentences = `${'word '.repeat(10)}end. ${'more '.repeat(20)}`;
    const parts = splitMessage(sentences, 80);
    expect(parts[0]).toMatch(/end\. $/);
  });

  it('closes a code fence at a cut and reopens it with its language', () => {
    const code = Array.from({ length: 40 }, (_, i) => `const line${i} = ${i};`).join('\n');
    const text = `Here is the code:\n\n\`\`\`ts\n${code}\n\`\`\`\nThat is all.`;
    const parts = splitMessage(text, 200);
    expect(parts.length).toBeGreaterThan(2);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(200);
      expect(fencesBalanced(part)).toBe(true);
    }
    expect(parts[1]!.startsWith('```ts\n')).toBe(true);
    expect(parts.at(-1)).toMatch(/That is all\.$/);
  });

  it('property: slices re-join to the input and respect the limit', () => {
    fc.assert(
      fc.property(markdownish, fc.integer({ min: 16, max: 400 }), (text, max) => {
        const slices = splitText(text, max);
        expect(slices.join('')).toBe(text);
        for (const slice of slices) expect(slice.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('property: every message fits, and none leaves a fence open or cuts a fence marker', () => {
    fc.assert(
      fc.property(markdownish, fc.integer({ min: 40, max: 400 }), (text, max) => {
        const messages = splitMessage(text, max);
        for (const message of messages) expect(message.length).toBeLessThanOrEqual(max);
        if (messages.length > 1 && fencesBalanced(text)) {
          for (const message of messages) expect(fencesBalanced(message)).toBe(true);
        }
        // the text content survives: removing the added fences gives the input back (modulo
        // the newline a closing fence takes the place of)
        const rejoined = messages.join('');
        expect(rejoined.replace(/```[a-z]*\n?/g, '').replace(/\s+/g, '')).toBe(
          text.replace(/```[a-z]*\n?/g, '').replace(/\s+/g, ''),
        );
      }),
      { numRuns: 300 },
    );
  });
});
