import { GlimpseError } from '../../errors.js';
import { serverMessage } from './openai-schemas.js';

/**
 * Every failure of a remote model server as one `glimpse_remote_failed` error: a log message
 * with what the server said (the API key scrubbed out) and a short line a chat user may see.
 */

const statusUserMessages: [(status: number) => boolean, string][] = [
  [(status) => status === 401 || status === 403, 'The remote model server refused our credentials.'],
  [(status) => status === 404, 'The remote model is not available.'],
  [(status) => status === 413, 'That request is too large for the remote model server.'],
  [(status) => status === 429, 'The remote model server is busy; try again shortly.'],
  [
    (status) => status >= 500,
    'The model is unavailable right now (its server had a problem); please try again shortly.',
  ],
];

/** Statuses worth asking again: busy, and the server's own failures (not 501: it will not change). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501);
}

/**
 * `Retry-After` in milliseconds: delta-seconds (`120`) or an HTTP date; undefined when absent or
 * unreadable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // an IMF-fixdate names its weekday and month (`Date.parse('-5')` would read a year)
  const date = /[a-z]{3}/i.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * A failed attempt before the first token: the error to report, whether asking again may help,
 * and how long the server asked us to wait (`Retry-After`).
 */
export class RemoteAttemptFailure extends Error {
  constructor(
    readonly error: GlimpseError,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(error.message);
    this.name = 'RemoteAttemptFailure';
  }
}

export class RemoteErrors {
  constructor(
    private readonly source: string,
    private readonly apiKey: string | undefined,
    private readonly firstByteTimeoutMs: number,
  ) {}

  /** Removes the API key from text that came from elsewhere (a server echoing a header, say). */
  scrub(text: string): string {
    const scrubbed = this.apiKey ? text.split(this.apiKey).join('[redacted]') : text;
    return scrubbed.length > 300 ? `${scrubbed.slice(0, 300)}…` : scrubbed;
  }

  /** An HTTP error answer; reads (and so frees) its body for the server's own words. */
  async status(response: Response): Promise<GlimpseError> {
    let text = '';
    try {
      text = await response.text();
    } catch {
      // the body is only for the log line
    }
    let said: string | undefined;
    try {
      said = serverMessage(JSON.parse(text));
    } catch {
      said = text.trim() || undefined;
    }
    const userMessage =
      statusUserMessages.find(([matches]) => matches(response.status))?.[1] ??
      'The remote model server rejected the request.';
    return new GlimpseError(
      'glimpse_remote_failed',
      `remote model server answered HTTP ${response.status}${said ? `: ${this.scrub(said)}` : ''}`,
      { userMessage, details: { source: this.source, status: response.status } },
    );
  }

  /** A refused, reset or timed-out connection. */
  transport(error: unknown, timedOut: boolean): GlimpseError {
    if (timedOut || (error instanceof Error && error.name === 'TimeoutError')) {
      return new GlimpseError(
        'glimpse_remote_failed',
        `remote model server sent nothing within ${this.firstByteTimeoutMs} ms (${this.source})`,
        { userMessage: 'The remote model server took too long to answer.', details: { source: this.source } },
      );
    }
    const code = errnoOf(error);
    const what = error instanceof Error ? error.message : String(error);
    return new GlimpseError(
      'glimpse_remote_failed',
      `could not reach the remote model server ${this.source}: ${this.scrub(code ? `${code} (${what})` : what)}`,
      {
        userMessage:
          'The model is unavailable right now (its server cannot be reached); please try again shortly.',
        details: { source: this.source, ...(code ? { errno: code } : {}) },
      },
    );
  }

  malformed(what: string, cause?: unknown): GlimpseError {
    return new GlimpseError(
      'glimpse_remote_failed',
      `remote model server sent something unreadable: ${what}`,
      {
        userMessage: 'The remote model server sent an answer Glimpse could not read.',
        details: { source: this.source },
        ...(cause instanceof Error ? { cause: new Error(this.scrub(cause.message)) } : {}),
      },
    );
  }

  /** An error event inside the stream (`data: {"error": …}`). */
  midStream(chunk: unknown): GlimpseError {
    return new GlimpseError(
      'glimpse_remote_failed',
      `remote model server reported an error mid-stream: ${this.scrub(serverMessage(chunk) ?? 'unknown error')}`,
      {
        userMessage: 'The remote model server had a problem; try again later.',
        details: { source: this.source },
      },
    );
  }

  /** The body ended (or the connection dropped) before the answer's finish reason. */
  cutOff(afterTokens: boolean, cause?: unknown): GlimpseError {
    const code = errnoOf(cause);
    return new GlimpseError(
      'glimpse_remote_failed',
      `the remote answer ended before it was complete${afterTokens ? '' : ' (before its first token)'}${
        code ? `: ${code}` : ''
      }`,
      {
        userMessage: 'The remote model server stopped answering midway; try again.',
        details: { source: this.source, ...(code ? { errno: code } : {}) },
      },
    );
  }
}

/** The same error, saying how long the server asked to wait (`Retry-After`) beyond the retry budget. */
export function withRetryAfter(error: GlimpseError, retryAfterMs: number): GlimpseError {
  return new GlimpseError(
    'glimpse_remote_failed',
    `${error.message} (Retry-After ${Math.ceil(retryAfterMs / 1000)} s, longer than Glimpse waits)`,
    { userMessage: error.userMessage, details: { ...error.details, retryAfterMs } },
  );
}

/** `ECONNREFUSED`, `ECONNRESET`, `UND_ERR_SOCKET`…: from the error or its cause. */
export function errnoOf(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
