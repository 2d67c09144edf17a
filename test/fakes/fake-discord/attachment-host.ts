import type { IncomingMessage, ServerResponse } from 'node:http';

/** How a hosted file answers a download — the normal case and the ones a downloader must survive. */
export type HostedBehaviour =
  /** 200 with the bytes and their content type (the default) */
  | { type: 'bytes' }
  /** a 302 (or `status`) to `location`, e.g. another host */
  | { type: 'redirect'; location: string; status?: number }
  /** announces `announcedBytes` in content-length, then streams every byte of the body anyway */
  | { type: 'more-than-announced'; announcedBytes: number }
  /** no content-length: streams the body `repeat` times (chunked) — bigger than any metadata says */
  | { type: 'endless'; repeat: number }
  /** 200 text/html: a login page instead of the image */
  | { type: 'html' }
  /** an expired or missing CDN link */
  | { type: 'status'; status: number };

export interface HostedFile {
  body: Uint8Array;
  contentType: string;
  behaviour: HostedBehaviour;
}

/** Static files under `/attachments/...` on the fake's own origin (where attachment `url`s point). */
export class AttachmentHost {
  private readonly files = new Map<string, HostedFile>();

  set(path: string, file: HostedFile): void {
    this.files.set(path, file);
  }

  has(path: string): boolean {
    return this.files.has(path);
  }

  /** answers the request; returns the status sent */
  serve(path: string, request: IncomingMessage, response: ServerResponse): number {
    const file = this.files.get(path);
    if (!file) return sendText(response, 404, 'text/plain', 'Not Found');
    const { behaviour, body } = file;
    switch (behaviour.type) {
      case 'redirect':
        response.writeHead(behaviour.status ?? 302, { location: behaviour.location, 'content-length': '0' });
        response.end();
        return behaviour.status ?? 302;
      case 'html':
        return sendText(
          response,
          200,
          'text/html; charset=utf-8',
          '<!doctype html><html><head><title>Sign in</title></head><body>Please sign in</body></html>',
        );
      case 'status':
        return sendText(
          response,
          behaviour.status,
          'application/xml',
          '<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>',
        );
      case 'more-than-announced': {
        // node's http refuses to write past a content-length, so the lie goes straight to the socket
        const socket = request.socket;
        socket.write(
          `HTTP/1.1 200 OK\r\ncontent-type: ${file.contentType}\r\ncontent-length: ${behaviour.announcedBytes}\r\nconnection: close\r\n\r\n`,
        );
        socket.end(Buffer.from(body));
        return 200;
      }
      case 'endless': {
        response.writeHead(200, { 'content-type': file.contentType });
        let left = behaviour.repeat;
        const pump = () => {
          while (left > 0) {
            left--;
            if (!response.write(Buffer.from(body))) {
              response.once('drain', pump);
              return;
            }
          }
          response.end();
        };
        response.on('close', () => {
          left = 0;
        });
        pump();
        return 200;
      }
      default:
        response.writeHead(200, {
          'content-type': file.contentType,
          'content-length': String(body.byteLength),
        });
        response.end(Buffer.from(body));
        return 200;
    }
  }
}

function sendText(response: ServerResponse, status: number, contentType: string, text: string): number {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(text)),
  });
  response.end(text);
  return status;
}
