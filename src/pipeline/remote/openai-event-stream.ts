import { EventSourceParserStream } from 'eventsource-parser/stream';
import { type ChatCompletionChunk, chatCompletionChunkSchema } from './openai-schemas.js';

/** One event of a streamed chat completion: a parsed chunk, or the closing `data: [DONE]`. */
export type ChatStreamEvent = { type: 'chunk'; chunk: ChatCompletionChunk } | { type: 'done' };

/** An event the server sent that is not a chat completion chunk (not JSON, or the wrong shape). */
export class MalformedEventError extends Error {
  constructor(
    readonly what: string,
    options?: { cause?: unknown },
  ) {
    super(what, options);
    this.name = 'MalformedEventError';
  }
}

/** the longest event accepted (a line without its end is buffered up to this) */
const maxEventBytes = 8 * 1024 * 1024;

/**
 * The events of a `text/event-stream` body, parsed by eventsource-parser (line ends, comments,
 * multi-line data, chunks cut anywhere, UTF-8 split across chunks) and each `data` checked
 * against the chunk schema. `onFirstByte` runs at the first byte of the body (a keep-alive
 * comment counts). A transport failure is thrown as it came; a bad event as
 * `MalformedEventError`. Returning early (or `return()`) cancels the body, which hangs up.
 */
export async function* chatStreamEvents(
  body: ReadableStream<Uint8Array>,
  onFirstByte: () => void,
): AsyncGenerator<ChatStreamEvent, void, undefined> {
  let seenByte = false;
  const reader = body
    .pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(bytes, controller) {
          if (!seenByte && bytes.byteLength > 0) {
            seenByte = true;
            onFirstByte();
          }
          controller.enqueue(bytes);
        },
      }),
    )
    .pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>)
    .pipeThrough(new EventSourceParserStream({ maxBufferSize: maxEventBytes }))
    .getReader();
  try {
    for (;;) {
      const read = await reader.read();
      if (read.done) return;
      const data = read.value.data.trim();
      if (data === '') continue;
      if (data === '[DONE]') {
        yield { type: 'done' };
        continue;
      }
      let json: unknown;
      try {
        json = JSON.parse(data);
      } catch (error) {
        throw new MalformedEventError('a stream event is not JSON', { cause: error });
      }
      const parsed = chatCompletionChunkSchema.safeParse(json);
      if (!parsed.success) {
        throw new MalformedEventError(
          `a stream event is not a chat completion chunk (${parsed.error.issues[0]?.path.join('.') || 'not an object'})`,
        );
      }
      yield { type: 'chunk', chunk: parsed.data };
    }
  } finally {
    // hangs up when the consumer stopped early; a no-op on a finished body
    await reader.cancel().catch(() => undefined);
  }
}
