import { type GlimpseError, isGlimpseError } from '../../errors.js';

/** A request the playground refuses: an HTTP status, a stable code, and a sentence to show. */
export class WebRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly userMessage: string,
    readonly details: Record<string, unknown> = {},
    /** sent as `Retry-After` (429, 503) */
    readonly retryAfterSeconds?: number,
  ) {
    super(userMessage);
    this.name = 'WebRequestError';
  }
}

const statusByCode: Partial<Record<GlimpseError['code'], number>> = {
  glimpse_image_too_large: 413,
  glimpse_image_unsupported_type: 415,
  glimpse_image_invalid: 400,
  glimpse_too_many_images: 400,
  glimpse_usage: 400,
  glimpse_busy: 503,
  glimpse_rate_limited: 429,
};

/** The refusal to send for anything thrown while handling a request. */
export function toWebRequestError(error: unknown): WebRequestError {
  if (error instanceof WebRequestError) return error;
  if (isGlimpseError(error)) {
    return new WebRequestError(statusByCode[error.code] ?? 500, error.code, error.userMessage, error.details);
  }
  return new WebRequestError(500, 'web_internal_error', 'Sorry, something went wrong on the server.');
}
