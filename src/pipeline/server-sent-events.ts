/** One event of a `text/event-stream` body: its `event:` name (if any) and its joined `data:` lines. */
export interface ServerSentEvent {
  event?: string;
  data: string;
}

/**
 * Parses a `text/event-stream` body as the WHATWG spec reads it, whatever the chunk boundaries:
 * a chunk may end inside a line, inside a `\r\n` pair or inside a multi-byte UTF-8 character.
 * Comment lines (`: keep-alive`) and `id:`/`retry:` fields are skipped; several `data:` lines
 * of one event are joined with `\n`; an event is dispatched at a blank line, or at the end of the
 * body when it was not followed by one.
 */
export async function* parseServerSentEvents(
  body: AsyncIterable<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let data: string[] = [];
  let event: string | undefined;
  // a chunk that ended with '\r' may be followed by the '\n' of the same line break
  let skipLeadingNewline = false;

  const takeLine = (line: string): ServerSentEvent | undefined => {
    if (line === '') {
      if (data.length === 0) {
        event = undefined;
        return undefined;
      }
      const dispatched: ServerSentEvent = { data: data.join('\n'), ...(event ? { event } : {}) };
      data = [];
      event = undefined;
      return dispatched;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    return undefined;
  };

  const drain = function* (): Generator<ServerSentEvent> {
    for (;;) {
      if (skipLeadingNewline && buffer.length > 0) {
        if (buffer.startsWith('\n')) buffer = buffer.slice(1);
        skipLeadingNewline = false;
      }
      const match = /\r\n|\r|\n/.exec(buffer);
      if (!match) return;
      // a lone '\r' at the very end may be half of a '\r\n' split across chunks
      if (match[0] === '\r' && match.index === buffer.length - 1) skipLeadingNewline = true;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      const dispatched = takeLine(line);
      if (dispatched) yield dispatched;
    }
  };

  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    yield* drain();
  }
  buffer += decoder.decode();
  yield* drain();
  if (buffer !== '') {
    const dispatched = takeLine(buffer);
    buffer = '';
    if (dispatched) yield dispatched;
  }
  if (data.length > 0) yield { data: data.join('\n'), ...(event ? { event } : {}) };
}
