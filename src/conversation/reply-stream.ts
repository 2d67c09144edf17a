import { type GlimpseError, toGlimpseError } from '../errors.js';
import type {
  FinishReason,
  ModelStreamPart,
  ModelTimings,
  ModelUsage,
} from '../pipeline/vision-chat-model.js';
import type { ReplyPart } from './chat-event.js';

/** What happened while a model stream was turned into reply parts. */
export interface StreamOutcome {
  /** cut off: aborted, failed, or ended without a finish part */
  interrupted: boolean;
  finishReason?: FinishReason;
  usage?: ModelUsage;
  error?: GlimpseError;
  /** every delta the model produced (what was shown may be less: `RenderedReply.shownText`) */
  text: string;
}

const zeroUsage: ModelUsage = { promptTokens: 0, imageTokens: 0, completionTokens: 0 };
const zeroTimings: ModelTimings = {
  preprocessMs: 0,
  visionMs: 0,
  prefillMs: 0,
  timeToFirstTokenMs: 0,
  decodeTokensPerSecond: 0,
  totalMs: 0,
};

const aborted = Symbol('aborted');

/**
 * Maps a model stream to `ReplyPart`s: `warnings` first, then the model's warnings and deltas,
 * then exactly one `finish` (interrupted when aborted or cut short) or `error` (its userMessage).
 * An abort of `signal` ends the reply at once, even when the model is slow to notice; the model's
 * iterator is then closed so it frees what it holds.
 */
export function toReplyParts(
  stream: AsyncIterable<ModelStreamPart>,
  options: { warnings: string[]; signal: AbortSignal; outcome: StreamOutcome },
): AsyncIterable<ReplyPart> {
  const { warnings, signal, outcome } = options;
  return (async function* replyParts(): AsyncGenerator<ReplyPart> {
    for (const message of warnings) yield { type: 'warning', message };
    let ended = false;
    let iterator: AsyncIterator<ModelStreamPart> | undefined;
    let onAbort: (() => void) | undefined;
    const abortPromise = new Promise<typeof aborted>((resolve) => {
      onAbort = () => resolve(aborted);
      if (signal.aborted) resolve(aborted);
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      iterator = stream[Symbol.asyncIterator]();
      while (!signal.aborted) {
        const next = await Promise.race([iterator.next(), abortPromise]);
        if (next === aborted || next.done) break;
        const part = next.value;
        if (part.type === 'warning') {
          yield { type: 'warning', message: part.message };
        } else if (part.type === 'text-delta') {
          outcome.text += part.text;
          yield { type: 'text-delta', text: part.text };
        } else if (part.type === 'finish') {
          ended = true;
          outcome.finishReason = part.finishReason;
          outcome.usage = part.usage;
          outcome.interrupted = part.finishReason === 'abort' || signal.aborted;
          yield {
            type: 'finish',
            usage: part.usage,
            timings: part.timings,
            interrupted: outcome.interrupted,
          };
          break;
        } else {
          ended = true;
          outcome.error = part.error;
          outcome.interrupted = true;
          yield { type: 'error', message: part.error.userMessage };
          break;
        }
      }
    } catch (error) {
      if (!signal.aborted) {
        ended = true;
        outcome.error = toGlimpseError(error);
        outcome.interrupted = true;
        yield { type: 'error', message: outcome.error.userMessage };
      }
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
      // close the model's stream (runs its `finally`); do not wait on a model stuck mid-step
      void Promise.resolve(iterator?.return?.()).catch(() => undefined);
    }
    if (!ended) {
      outcome.interrupted = true;
      yield { type: 'finish', usage: outcome.usage ?? zeroUsage, timings: zeroTimings, interrupted: true };
    }
  })();
}
