import { type GlimpseError, toGlimpseError } from '../errors.js';

/** The `type` of an OpenAI error body, as OpenAI's API and the official clients know them. */
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error';

/**
 * An answer the server gives as `{error: {message, type, param, code}}`: an HTTP status, a
 * stable `code` clients can branch on, and a short message. `headers` go out with it
 * (`Retry-After` on 429, `WWW-Authenticate` on 401).
 */
export class OpenAIError extends Error {
  constructor(
    readonly status: number,
    readonly type: OpenAIErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'OpenAIError';
  }

  toJSON(): { error: { message: string; type: OpenAIErrorType; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (code: string, message: string, param: string | null = null) =>
  new OpenAIError(400, 'invalid_request_error', code, message, param);

/**
 * A coded Glimpse error as the API reports it: what the client sent is wrong (an image that is
 * not one, too many images, a prompt over the context) → 400 with the Glimpse code; the model
 * failing → 500. The message is the user-facing one: it never holds internals or secrets.
 */
export function fromGlimpseError(value: unknown, param: string | null = null): OpenAIError {
  if (value instanceof OpenAIError) return value;
  const error: GlimpseError = toGlimpseError(value);
  switch (error.code) {
    case 'glimpse_image_invalid':
    case 'glimpse_image_too_large':
    case 'glimpse_image_unsupported_type':
    case 'glimpse_image_download_failed':
    case 'glimpse_too_many_images':
      return badRequest(error.code, error.userMessage, param);
    case 'glimpse_context_overflow':
      return badRequest('context_length_exceeded', error.message, param);
    case 'glimpse_busy':
      return new OpenAIError(429, 'rate_limit_error', error.code, error.userMessage);
    default:
      return new OpenAIError(500, 'server_error', error.code, error.userMessage);
  }
}
