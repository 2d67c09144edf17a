import type { IncomingMessage } from 'node:http';
import { badRequest, OpenAIError } from './openai-error.js';

/**
 * Reads a JSON request body of at most `limit` bytes: larger → 413, not JSON → 400
 * `invalid_json`. A body over the limit is not buffered.
 */
export async function readJsonBody(request: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = () =>
    new OpenAIError(
      413,
      'invalid_request_error',
      'request_too_large',
      `the request body is over ${limit} bytes`,
    );
  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    request.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limit) {
        chunks.push(chunk);
        return;
      }
      // stop buffering, but read on so the client can still be told
      request.off('data', onData);
      request.resume();
      reject(tooLarge());
    };
    request.on('data', onData);
    request.once('end', () => resolve());
    request.once('error', reject);
  });
  const text = Buffer.concat(chunks, received).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest('invalid_json', `the request body is not valid JSON: ${(error as Error).message}`);
  }
}
