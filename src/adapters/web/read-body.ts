import type { IncomingMessage } from 'node:http';
import { WebRequestError } from './web-request-error.js';

export type BodyResult =
  | { ok: true; bytes: Buffer<ArrayBuffer> }
  | { ok: false; reason: 'too-large'; receivedBytes: number };

/**
 * Reads a request body of at most `limit` bytes. A larger body is read on and thrown away (up to
 * `drainLimit` more bytes) so the client still gets the answer; past that the socket is destroyed.
 * A client that goes away mid-upload is a `web_upload_aborted` refusal.
 */
export function readBody(
  request: IncomingMessage,
  limit: number,
  drainLimit = 64 * 1024 * 1024,
): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? Number.NaN);
    const chunks: Buffer[] = [];
    let received = 0;
    let tooLarge = Number.isFinite(declared) && declared > limit;
    const finish = () => {
      cleanup();
      resolve(
        tooLarge
          ? { ok: false, reason: 'too-large', receivedBytes: received }
          : {
              ok: true,
              bytes: Buffer.concat(chunks, received),
            },
      );
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (!tooLarge && received > limit) {
        tooLarge = true;
        chunks.length = 0;
      }
      if (tooLarge) {
        if (received > limit + drainLimit) {
          cleanup();
          request.destroy();
          resolve({ ok: false, reason: 'too-large', receivedBytes: received });
        }
        return;
      }
      chunks.push(chunk);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(
        new WebRequestError(400, 'web_upload_aborted', 'The upload was interrupted; please try again.', {
          reason: error.message,
          receivedBytes: received,
        }),
      );
    };
    const onAborted = () => onError(new Error('the client went away during the upload'));
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', finish);
      request.off('error', onError);
      request.off('aborted', onAborted);
    };
    request.on('data', onData);
    request.on('end', finish);
    request.on('error', onError);
    request.on('aborted', onAborted);
  });
}
