import type { Logger } from '../../logger.js';
import type { ChannelWriteBudget } from './channel-write-budget.js';
import { PlatformWriteError } from './platform-write-error.js';

/**
 * One platform write (a notice, a status line) at the channel's budget: a 429 waits out its
 * `retry_after` (the whole channel waits), a 5xx or a dropped connection backs off, up to
 * `maxAttempts`; a permanent refusal is thrown at once.
 */
export async function writeWithRetry<T>(
  write: () => Promise<T>,
  options: {
    budget: ChannelWriteBudget;
    channelKey: string;
    logger: Logger;
    toError: (error: unknown) => PlatformWriteError;
    maxAttempts?: number;
  },
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    await options.budget.acquire(options.channelKey);
    try {
      return await write();
    } catch (error) {
      const failure = error instanceof PlatformWriteError ? error : options.toError(error);
      if (!failure.retryable || attempt >= maxAttempts) throw failure;
      const waitMs = failure.retryAfterMs ?? Math.min(30_000, 500 * 2 ** (attempt - 1));
      options.logger.warn(
        {
          code: 'glimpse_platform_retry',
          status: failure.status,
          retryAfterMs: waitMs,
          attempt,
          channel: options.channelKey,
        },
        'platform refused a write; retrying',
      );
      options.budget.penalize(options.channelKey, waitMs);
    }
  }
}
