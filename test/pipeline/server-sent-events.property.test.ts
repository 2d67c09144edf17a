import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseServerSentEvents, type ServerSentEvent } from '../../src/pipeline/server-sent-events.js';

async function* chunks(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}

async function parse(parts: Uint8Array[]): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  for await (const event of parseServerSentEvents(chunks(parts))) events.push(event);
  return events;
}

/** text with no line break: what one `data:` or `event:` line can hold */
const lineText = fc.string({ unit: 'grapheme', maxLength: 30 }).map((text) => text.replace(/[\r\n]/g, ''));
const lineBreak = fc.constantFrom('\n', '\r\n', '\r');
const event = fc.record(
  {
    event: lineText.filter((name) => name !== '' && !name.startsWith(' ')),
    // several data lines join with '\n'; at least one line, so the event is dispatched
    lines: fc.array(lineText, { minLength: 1, maxLength: 4 }),
    comment: fc.option(lineText, { nil: undefined }),
    id: fc.option(fc.nat(), { nil: undefined }),
  },
  { requiredKeys: ['lines'] },
);

/** the bytes cut at arbitrary offsets: inside lines, CRLF pairs and multi-byte characters */
const cutAt = (bytes: Uint8Array, offsets: number[]) => {
  const points = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(bytes.slice(start, point));
    start = point;
  }
  pieces.push(bytes.slice(start));
  return pieces;
};

describe('parseServerSentEvents (properties)', () => {
  it('gives back every event as written, whatever the line breaks and chunk boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(event, lineBreak, lineBreak), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (written, offsets) => {
          let body = '';
          for (const [item, eol, blank] of written) {
            if (item.comment !== undefined) body += `:${item.comment}${eol}`;
            if (item.event !== undefined) body += `event: ${item.event}${eol}`;
            if (item.id !== undefined) body += `id: ${item.id}${eol}`;
            for (const line of item.lines) body += `data: ${line}${eol}`;
            // a '\r' line break followed by a '\n' blank line would read as one CRLF break
            body += eol === '\r' && blank === '\n' ? '\r' : blank;
          }
          const parsed = await parse(cutAt(new TextEncoder().encode(body), offsets));
          expect(parsed).toEqual(
            written.map(([item]) => ({
              data: item.lines.join('\n'),
              ...(item.event !== undefined ? { event: item.event } : {}),
            })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws and never invents data on arbitrary bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (bytes, offsets) => {
          const parsed = await parse(cutAt(bytes, offsets));
          const text = new TextDecoder().decode(bytes);
          for (const item of parsed) {
            for (const line of item.data.split('\n')) expect(text).toContain(line);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
