import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What one request is answered with. */
export type ScriptedReply = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * A loopback HTTP server that answers its chat requests from a script, one reply per request
 * (the last one repeats), and records when each came. `GET /v1/models` lists `model`.
 */
export class ScriptedServer {
  readonly arrivals: number[] = [];
  private server: Server | undefined;
  url = '';

  constructor(
    private readonly script: ScriptedReply[],
    readonly model = 'm',
  ) {}

  async start(): Promise<this> {
    const server = createServer((request, response) => {
      if (request.url?.startsWith('/v1/models')) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ object: 'list', data: [{ id: this.model }] }));
        return;
      }
      request.resume();
      request.on('end', () => {
        this.arrivals.push(performance.now());
        const reply = this.script[Math.min(this.arrivals.length - 1, this.script.length - 1)];
        reply?.(request, response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  get requests(): number {
    return this.arrivals.length;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

export function chunk(content: string | undefined, finishReason: string | null = null): string {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    choices: [
      {
        index: 0,
        delta: content === undefined ? { role: 'assistant' } : { content },
        finish_reason: finishReason,
      },
    ],
  })}\n\n`;
}

/** a whole answer: role chunk, one chunk per piece, the finish, usage, [DONE] */
export function answer(...pieces: string[]): ScriptedReply {
  return (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(chunk(undefined));
    pieces.forEach((piece, index) => {
      response.write(chunk(piece, index === pieces.length - 1 ? 'stop' : null));
    });
    response.write(
      `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: pieces.length } })}\n\n`,
    );
    response.end('data: [DONE]\n\n');
  };
}

/** an HTTP error with an OpenAI error body and optional headers */
export function status(code: number, headers: Record<string, string> = {}): ScriptedReply {
  return (_request, response) => {
    response.writeHead(code, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify({ error: { message: `status ${code}`, type: 'server_error' } }));
  };
}

/** the headers and `first` sent, then the connection dropped */
export function cutAfter(first: string): ScriptedReply {
  return (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(first, () => setTimeout(() => response.socket?.destroy(), 5));
  };
}
