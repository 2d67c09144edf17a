import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import type { GlimpseError } from '../../errors.js';
import { RemoteAttemptFailure, withRetryAfter } from './remote-errors.js';

/**
 * How a request is asked again before its first token: a refused or reset connection, 408/429/5xx,
 * or an answer cut before it said anything. Exponential backoff from `minDelayMs` (×2 each time,
 * at most `maxDelayMs`); a server's `Retry-After` is waited out when it asks for longer, and one
 * asking for more than `maxRetryAfterMs` is not retried (the user hears "busy" at once).
 */
export interface RemoteRetryOptions {
  /** retries after the first attempt; 0 = never retry */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
  /** all retrying together stops after this long */
  maxRetryTimeMs: number;
}

export const defaultRemoteRetry: RemoteRetryOptions = {
  retries: 3,
  minDelayMs: 500,
  maxDelayMs: 8000,
  maxRetryAfterMs: 30_000,
  maxRetryTimeMs: 60_000,
};

export interface RetryNotice {
  /** the attempt that failed (1 = the first) */
  attempt: number;
  error: GlimpseError;
  /** how long until the next attempt */
  delayMs: number;
}

/**
 * Runs `attempt` until it succeeds, a failure is not retryable (anything but a retryable
 * `RemoteAttemptFailure`), the budget is spent, or `signal` aborts (then it rejects with the
 * abort reason). Rejects with the last `RemoteAttemptFailure` otherwise.
 */
export function withRemoteRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  options: { retry: RemoteRetryOptions; signal: AbortSignal; onRetry?: (notice: RetryNotice) => void },
): Promise<T> {
  const { retry, signal } = options;
  return pRetry(attempt, {
    retries: retry.retries,
    factor: 2,
    minTimeout: retry.minDelayMs,
    maxTimeout: retry.maxDelayMs,
    maxRetryTime: retry.maxRetryTimeMs,
    randomize: false,
    signal,
    shouldRetry: async ({ error, retriesConsumed, attemptNumber }) => {
      if (!(error instanceof RemoteAttemptFailure) || !error.retryable) return false;
      const backoff = Math.min(retry.minDelayMs * 2 ** retriesConsumed, retry.maxDelayMs);
      const asked = error.retryAfterMs;
      if (asked !== undefined && asked > retry.maxRetryAfterMs) {
        // thrown from here, p-retry rejects with it: the error says how long the server asked for
        throw new RemoteAttemptFailure(withRetryAfter(error.error, asked), false);
      }
      options.onRetry?.({
        attempt: attemptNumber,
        error: error.error,
        delayMs: Math.max(backoff, asked ?? 0),
      });
      // p-retry waits `backoff` after this; the rest of what the server asked is waited here
      if (asked !== undefined && asked > backoff) await sleep(asked - backoff, undefined, { signal });
      return true;
    },
  });
}
