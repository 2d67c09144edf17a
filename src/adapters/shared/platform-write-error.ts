/**
 * A platform API call that failed, as an adapter reports it to the shared renderer: the HTTP
 * status when there was one (none: the connection failed) and the platform's `retry_after`.
 */
export class PlatformWriteError extends Error {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  /** the platform's own error code (`10008` Unknown Message, `message_not_found`, …) */
  readonly platformCode: string | undefined;

  constructor(
    message: string,
    options: { status?: number; retryAfterMs?: number; platformCode?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PlatformWriteError';
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.platformCode = options.platformCode;
  }

  /** worth trying again: rate limited, a server error, or no answer at all */
  get retryable(): boolean {
    return this.status === undefined || this.status === 429 || this.status >= 500;
  }
}
