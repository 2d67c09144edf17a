import { createHmac } from 'node:crypto';
import { request } from 'node:http';

export interface PostSignedOptions {
  signingSecret: string;
  /** seconds since the epoch (default: now); more than 5 minutes off makes bolt refuse it as stale */
  timestamp?: number;
  /** sign with a wrong secret */
  badSignature?: boolean;
  /** `x-slack-retry-num` / `x-slack-retry-reason`, as Slack sends on redelivery (`http_timeout`, …) */
  retryNum?: number;
  retryReason?: string;
  /** `json` (Events API, the default) or `form` (slash commands; interactivity sends `{payload: JSON}`) */
  encoding?: 'json' | 'form';
  headers?: Record<string, string>;
}

export interface SignedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** the body parsed as JSON, when it is JSON */
  json: unknown;
  /** ms from sending to the full response: how long the receiver took to ack */
  elapsedMs: number;
}

/** `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>`, Slack's request signature */
export function slackSignature(signingSecret: string, timestamp: number, rawBody: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
}

/** encodes a payload the way Slack posts it */
export function encodeSlackBody(
  payload: Record<string, unknown>,
  encoding: 'json' | 'form',
): { raw: string; contentType: string } {
  if (encoding === 'json') return { raw: JSON.stringify(payload), contentType: 'application/json' };
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(payload)) {
    if (value === undefined) continue;
    form.set(key, typeof value === 'string' ? value : JSON.stringify(value));
  }
  return { raw: form.toString(), contentType: 'application/x-www-form-urlencoded' };
}

/** POSTs a payload to a bolt HTTP receiver (`http://127.0.0.1:PORT/slack/events`) signed as Slack signs it. */
export function postSigned(
  url: string,
  payload: Record<string, unknown>,
  options: PostSignedOptions,
): Promise<SignedResponse> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const { raw, contentType } = encodeSlackBody(payload, options.encoding ?? 'json');
  const secret = options.badSignature ? `${options.signingSecret}-wrong` : options.signingSecret;
  const headers: Record<string, string> = {
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(raw)),
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': slackSignature(secret, timestamp, raw),
    ...(options.retryNum === undefined ? {} : { 'x-slack-retry-num': String(options.retryNum) }),
    ...(options.retryReason === undefined ? {} : { 'x-slack-retry-reason': options.retryReason }),
    ...options.headers,
  };
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // agent: false — one connection per request, closed after it, so nothing keeps the receiver's server open
    const req = request(url, { method: 'POST', headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = body ? JSON.parse(body) : undefined;
        } catch {
          json = undefined;
        }
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body,
          json,
          elapsedMs: Date.now() - started,
        });
      });
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end(raw);
  });
}
