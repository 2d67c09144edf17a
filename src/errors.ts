/**
 * Coded errors, in the style of bolt-js: every error Glimpse raises on purpose carries a stable
 * `code` and a short `userMessage` that an adapter may show to the person who triggered it.
 */
export type GlimpseErrorCode =
  | 'glimpse_config_invalid'
  | 'glimpse_usage'
  | 'glimpse_model_missing_file'
  | 'glimpse_model_invalid'
  | 'glimpse_model_device_unavailable'
  | 'glimpse_model_failed'
  | 'glimpse_zero_shot_unsupported'
  | 'glimpse_image_invalid'
  | 'glimpse_image_too_large'
  | 'glimpse_image_unsupported_type'
  | 'glimpse_image_download_failed'
  | 'glimpse_too_many_images'
  | 'glimpse_context_overflow'
  | 'glimpse_busy'
  | 'glimpse_rate_limited'
  | 'glimpse_aborted'
  | 'glimpse_store_failed'
  | 'glimpse_remote_failed'
  | 'glimpse_hub_unreachable'
  | 'glimpse_hub_not_found'
  | 'glimpse_hub_unauthorized'
  | 'glimpse_hub_failed'
  | 'glimpse_precision_unavailable'
  | 'glimpse_download_corrupt'
  | 'glimpse_not_implemented';

export interface GlimpseErrorOptions {
  /** A short sentence fit to show to a chat user. Defaults to a generic apology. */
  userMessage?: string;
  cause?: unknown;
  /** Structured, secret-free details for the log line. */
  details?: Record<string, unknown>;
}

export class GlimpseError extends Error {
  readonly code: GlimpseErrorCode;
  readonly userMessage: string;
  readonly details: Record<string, unknown>;

  constructor(code: GlimpseErrorCode, message: string, options: GlimpseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GlimpseError';
    this.code = code;
    this.userMessage = options.userMessage ?? 'Sorry, something went wrong while answering.';
    this.details = options.details ?? {};
  }
}

export function isGlimpseError(value: unknown, code?: GlimpseErrorCode): value is GlimpseError {
  return value instanceof GlimpseError && (code === undefined || value.code === code);
}

/** Wraps anything thrown into a GlimpseError, keeping coded errors as they are. */
export function toGlimpseError(
  value: unknown,
  fallback: GlimpseErrorCode = 'glimpse_model_failed',
): GlimpseError {
  if (value instanceof GlimpseError) return value;
  if (value instanceof Error && value.name === 'AbortError') {
    return new GlimpseError('glimpse_aborted', 'The operation was aborted.', {
      cause: value,
      userMessage: 'Stopped.',
    });
  }
  const message = value instanceof Error ? value.message : String(value);
  return new GlimpseError(fallback, message, { cause: value });
}
