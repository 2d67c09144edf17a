import { PlatformWriteError } from '../shared/platform-write-error.js';

interface SlackErrorShape {
  code?: string;
  data?: { error?: string };
  retryAfter?: number;
  statusCode?: number;
  message?: string;
}

/** Slack's answers that mean "no native streaming here": fall back to post + update */
export const streamRefusals = new Set([
  'unknown_method',
  'feature_not_enabled',
  'message_not_in_streaming_state',
  'not_allowed_token_type',
]);

/** the platform's error code (`ratelimited`, `not_in_channel`, …) of a Web API failure */
export function slackErrorCode(error: unknown): string | undefined {
  const shape = error as SlackErrorShape;
  if (shape?.code === 'slack_webapi_rate_limited_error') return 'ratelimited';
  return shape?.data?.error;
}

/** @slack/web-api's errors, as the shared renderer understands them (status, retry_after). */
export function toPlatformWriteError(error: unknown): PlatformWriteError {
  const shape = (error ?? {}) as SlackErrorShape;
  const message = shape.message ?? String(error);
  switch (shape.code) {
    case 'slack_webapi_rate_limited_error':
      return new PlatformWriteError(message, {
        status: 429,
        retryAfterMs: (shape.retryAfter ?? 1) * 1000,
        platformCode: 'ratelimited',
        cause: error,
      });
    case 'slack_webapi_platform_error': {
      const code = shape.data?.error;
      const status =
        code === 'ratelimited' ? 429 : code === 'internal_error' || code === 'fatal_error' ? 500 : 400;
      return new PlatformWriteError(`slack: ${code}`, {
        status,
        ...(code ? { platformCode: code } : {}),
        cause: error,
      });
    }
    case 'slack_webapi_http_error':
      return new PlatformWriteError(message, {
        ...(shape.statusCode ? { status: shape.statusCode } : {}),
        cause: error,
      });
    default:
      return new PlatformWriteError(message, { cause: error });
  }
}
