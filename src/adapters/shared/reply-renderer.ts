import { type RenderedReply, type ReplyPart, ReplyRenderError } from '../../conversation/chat-event.js';
import type { Logger } from '../../logger.js';
import type { ChannelWriteBudget } from './channel-write-budget.js';
import { splitMessage } from './message-splitter.js';
import { PlatformWriteError } from './platform-write-error.js';

/** Where an answer is written: a platform's post and edit, implemented by each adapter. */
export interface ReplySurface {
  /** posts a new message of the reply (the first one answers the question); its platform id */
  post(text: string): Promise<string>;
  edit(messageId: string, text: string): Promise<void>;
}

/** What a platform allows, for the renderer. */
export interface RenderCapabilities {
  /** the longest message, in characters (Discord 2000) */
  maxMessageLength: number;
  /** shown at the end while the answer is still being written, removed at the end */
  writingMarker?: string;
  /** the first message, before any text arrives */
  placeholder?: string;
  /** tries per write before giving up (429s and 5xx are retried; default 6) */
  maxAttempts?: number;
}

export interface RenderReplyOptions {
  surface: ReplySurface;
  /** the channel's budget, shared with every other answer in the same channel */
  budget: ChannelWriteBudget;
  channelKey: string;
  capabilities: RenderCapabilities;
  logger: Logger;
  /** told each message id as soon as it is posted (so deleting it can cancel the turn) */
  onPosted?: (messageId: string) => void;
}

interface Composition {
  messages: string[];
  /** the model text these messages hold */
  answer: string;
}

/**
 * Renders a reply stream into platform messages: a placeholder first, then throttled edits at
 * the channel's budget (intermediate states coalesce), the "still writing" marker until the end,
 * continuation messages past the length limit (split by `splitMessage`), and always the final
 * edit. 429s wait out `retry_after` (the whole channel waits), 5xx and dropped connections back
 * off; after `maxAttempts`, or on a permanent refusal (the message was deleted), it stops and
 * throws a `ReplyRenderError` that says what was shown.
 */
export async function renderReply(
  parts: AsyncIterable<ReplyPart>,
  options: RenderReplyOptions,
): Promise<RenderedReply> {
  const { surface, budget, channelKey, capabilities, logger } = options;
  const marker = capabilities.writingMarker ?? ' ▌';
  const placeholder = capabilities.placeholder ?? '…';
  const maxAttempts = capabilities.maxAttempts ?? 6;
  const max = capabilities.maxMessageLength;

  let answer = '';
  const warnings: string[] = [];
  let errorLine: string | undefined;
  let interrupted = false;
  let ended = false;
  let stop = false;
  let wake: (() => void) | undefined;
  const changed = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  const consumer = (async () => {
    try {
      for await (const part of parts) {
        if (part.type === 'text-delta') answer += part.text;
        else if (part.type === 'warning') warnings.push(part.message);
        else if (part.type === 'error') errorLine = part.message;
        else interrupted = part.interrupted;
        changed();
        if (stop) break;
      }
    } catch (error) {
      logger.warn({ err: error }, 'reply stream failed');
      errorLine ??= 'Sorry, something went wrong while answering.';
    } finally {
      ended = true;
      changed();
    }
  })();

  const compose = (final: boolean): Composition => {
    const head = warnings.map((warning) => `⚠️ ${warning}`).join('\n');
    let body = [head, answer.trimEnd()].filter((piece) => piece !== '').join('\n\n');
    if (errorLine !== undefined) body = [body, `⚠️ ${errorLine}`].filter((piece) => piece !== '').join('\n\n');
    if (final && body === '') body = interrupted ? '(stopped)' : '(no answer)';
    if (final && interrupted && answer !== '' && errorLine === undefined) body += ' _(stopped)_';
    if (!final && body === '') return { messages: [placeholder], answer };
    // the same split while writing and at the end, so the final text never needs fewer messages
    const messages = splitMessage(body, max - marker.length);
    if (!final) messages[messages.length - 1] += marker;
    return { messages, answer };
  };

  const posted: { id: string; text: string }[] = [];
  let shownText = '';
  const rendered = (): RenderedReply => ({ shownText, messageIds: posted.map((message) => message.id) });

  /** the first write that brings the platform closer to `target`, if any */
  const nextWrite = (target: Composition): { index: number; text: string } | undefined => {
    for (let index = 0; index < target.messages.length; index++) {
      const text = target.messages[index]!;
      if (posted[index]?.text !== text) return { index, text };
    }
    return undefined;
  };

  /** one write; false when it failed in a way worth retrying (the channel then waits) */
  const attemptWrite = async (index: number, text: string, attempt: number): Promise<boolean> => {
    try {
      const existing = posted[index];
      if (existing) {
        await surface.edit(existing.id, text);
        existing.text = text;
      } else {
        const id = await surface.post(text);
        posted[index] = { id, text };
        options.onPosted?.(id);
      }
      return true;
    } catch (error) {
      const failure =
        error instanceof PlatformWriteError ? error : new PlatformWriteError(String(error), { cause: error });
      if (!failure.retryable || attempt >= maxAttempts) {
        throw new ReplyRenderError(`could not write the reply (${failure.message})`, rendered(), {
          cause: failure,
        });
      }
      const waitMs = failure.retryAfterMs ?? Math.min(30_000, 500 * 2 ** (attempt - 1));
      logger.warn(
        {
          code: 'glimpse_platform_retry',
          status: failure.status,
          retryAfterMs: waitMs,
          attempt,
          channel: channelKey,
        },
        'platform refused a write; retrying',
      );
      budget.penalize(channelKey, waitMs);
      return false;
    }
  };

  try {
    let attempt = 1;
    for (;;) {
      if (!nextWrite(compose(ended))) {
        if (ended) {
          shownText = answer;
          break;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (ended || nextWrite(compose(false))) changed();
        });
        continue;
      }
      // the slot first, then the newest text: what arrived while waiting goes out in this write
      await budget.acquire(channelKey);
      const target = compose(ended);
      const next = nextWrite(target);
      if (!next) continue;
      if (await attemptWrite(next.index, next.text, attempt)) {
        attempt = 1;
        if (!nextWrite(target)) shownText = target.answer;
      } else {
        attempt++;
      }
    }
    return rendered();
  } catch (error) {
    stop = true;
    throw error;
  } finally {
    if (!ended) {
      stop = true;
      // let the consumer close the stream on its next part; do not wait on a stuck model
      void consumer;
    } else {
      await consumer;
    }
  }
}
