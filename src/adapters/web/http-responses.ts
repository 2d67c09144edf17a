import type { ServerResponse } from 'node:http';
import type { WebRequestError } from './web-request-error.js';

/** Headers on every response: the page loads nothing from elsewhere and runs no inline script. */
export const securityHeaders: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...securityHeaders,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/** `{"error": {"code", "message"}}`: the page shows `message` as is. */
export function sendError(response: ServerResponse, error: WebRequestError): void {
  sendJson(
    response,
    error.status,
    { error: { code: error.code, message: error.userMessage } },
    {
      // A refused upload may still be arriving; do not reuse the connection for the next request.
      ...(error.status === 413 ? { connection: 'close' } : {}),
      ...(error.retryAfterSeconds !== undefined ? { 'retry-after': String(error.retryAfterSeconds) } : {}),
    },
  );
}
