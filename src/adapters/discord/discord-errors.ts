import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';
import { PlatformWriteError } from '../shared/platform-write-error.js';

/** discord.js's REST errors, as the shared renderer understands them (status, retry_after). */
export function toPlatformWriteError(error: unknown): PlatformWriteError {
  if (error instanceof RateLimitError) {
    return new PlatformWriteError(`discord rate limit on ${error.route}`, {
      status: 429,
      retryAfterMs: Math.max(0, error.retryAfter),
      cause: error,
    });
  }
  if (error instanceof DiscordAPIError) {
    return new PlatformWriteError(`discord ${error.status} (${error.code}): ${error.message}`, {
      status: error.status,
      platformCode: String(error.code),
      cause: error,
    });
  }
  if (error instanceof HTTPError) {
    return new PlatformWriteError(`discord ${error.status}`, { status: error.status, cause: error });
  }
  return new PlatformWriteError(error instanceof Error ? error.message : String(error), { cause: error });
}

/** Discord's "Unknown Message": the message was deleted */
export const isUnknownMessage = (error: unknown) =>
  error instanceof PlatformWriteError && (error.platformCode === '10008' || error.status === 404);
