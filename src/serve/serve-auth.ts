import { createHash, timingSafeEqual } from 'node:crypto';
import { OpenAIError } from './openai-error.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Checks `Authorization: Bearer <key>` against the configured key (compared as digests, in
 * constant time). No key configured (loopback only): every request passes. Throws a 401 in
 * OpenAI's shape; neither the expected nor the given key is ever part of it.
 */
export function checkBearer(header: string | undefined, apiKey: string | undefined): void {
  if (!apiKey) return;
  const unauthorized = (code: string, message: string) =>
    new OpenAIError(401, 'invalid_request_error', code, message, null, {
      'www-authenticate': 'Bearer realm="glimpse"',
    });
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) {
    throw unauthorized(
      'missing_api_key',
      'You did not provide an API key: send it as "Authorization: Bearer <key>".',
    );
  }
  if (!timingSafeEqual(digest(match[1]), digest(apiKey))) {
    throw unauthorized('invalid_api_key', 'Incorrect API key provided.');
  }
}
