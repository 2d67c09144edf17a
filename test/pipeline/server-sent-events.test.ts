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

const encoder = new TextEncoder();

/** `bytes` cut into pieces of `size` bytes, whatever falls where */
function cut(bytes: Uint8Array, size: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += size) pieces.push(bytes.slice(start, start + size));
  return pieces;
}

describe('parseServerSentEvents', () => {
  const stream =
    ': keep-alive\r\n\r\n' +
    'data: {"text":"héllo 🌈"}\r\n\r\n' +
    'event: note\ndata: line one\ndata: line two\nid: 7\nretry: 100\n\n' +
    'data:no-space\r\r' +
    'data: [DONE]\n\n';
  const expected: ServerSentEvent[] = [
    { data: '{"text":"héllo 🌈"}' },
    { event: 'note', data: 'line one\nline two' },
    { data: 'no-space' },
    { data: '[DONE]' },
  ];

  it('reads events, skipping comments and id/retry fields, with any line ending', async () => {
    expect(await parse([encoder.encode(stream)])).toEqual(expected);
  });

  it('gives the same events whatever the chunk boundaries (inside CRLF and UTF-8 sequences)', async () => {
    const bytes = encoder.encode(stream);
    for (const size of [1, 2, 3, 5, 7, 13]) {
      expect(await parse(cut(bytes, size))).toEqual(expected);
    }
  });

  it('dispatches a last event that lacks its blank line', async () => {
    expect(await parse([encoder.encode('data: a\n\ndata: b')])).toEqual([{ data: 'a' }, { data: 'b' }]);
  });

  it('yields nothing for an empty body or comments only', async () => {
    expect(await parse([])).toEqual([]);
    expect(await parse([encoder.encode(': ping\n\n: ping\n\n')])).toEqual([]);
  });
});
