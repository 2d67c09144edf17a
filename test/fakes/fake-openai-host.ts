import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the host answers `POST /v1/chat/completions`. */
export type HostBehaviour =
  /** streams `answer` as SSE chunks, then usage and `[DONE]` */
  | { kind: 'answer'; answer: (request: ChatRequest) => string[]; delayMs?: number }
  /** answers this HTTP status with a JSON error body (which echoes the request's authorization) */
  | { kind: 'status'; status: number }
  /** streams `deltas`, then keeps the connection open without another byte */
  | { kind: 'stall'; deltas: string[] };

export interface ChatRequest {
  model: string;
  messages: { role: string; content: string | { type: string; text?: string }[] }[];
  [key: string]: unknown;
}

export interface RecordedHostRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: ChatRequest | undefined;
}

/**
 * A local OpenAI-compatible model host (what vLLM or `glimpse serve` offer) on loopback:
 * `GET /v1/models` and streaming `POST /v1/chat/completions`. It can be stopped and started again
 * on the same port (the host going down and coming back), and told to fail or stall.
 */
export class FakeOpenAIHost {
  readonly requests: RecordedHostRequest[] = [];
  behaviour: HostBehaviour = { kind: 'answer', answer: () => ['Red', '.'] };
  /** statuses the next chat requests answer, one each, before `behaviour` applies again */
  readonly failNext: number[] = [];
  /** a status `GET /v1/models` answers instead of the list (with the same careless echo) */
  modelsStatus: number | undefined;
  port = 0;
  private server: Server | undefined;
  private readonly open = new Set<ServerResponse>();

  constructor(readonly model = 'llava-test') {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** listens on `port` (0: a free one at first, then the same one again) */
  async start(): Promise<this> {
    const server = createServer((request, response) => void this.route(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** the host goes away: open answers are cut, new connections are refused */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const response of this.open) response.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  /** the chat requests it was sent */
  get chats(): RecordedHostRequest[] {
    return this.requests.filter((request) => request.path === '/v1/chat/completions');
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString();
    const path = new URL(request.url ?? '/', 'http://host').pathname;
    const body = raw ? (JSON.parse(raw) as ChatRequest) : undefined;
    this.requests.push({
      method: request.method ?? '',
      path,
      authorization: request.headers.authorization,
      body,
    });
    // a careless server that repeats what it was sent, credentials included
    const echo = (status: number) =>
      void response.writeHead(status, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          error: {
            message: `failed for ${request.headers.authorization ?? 'anonymous'}`,
            type: 'server_error',
          },
        }),
      );
    if (request.method === 'GET' && path === '/v1/models' && this.modelsStatus !== undefined) {
      return echo(this.modelsStatus);
    }
    if (request.method === 'GET' && path === '/v1/models') {
      return void response.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          object: 'list',
          data: [{ id: this.model, object: 'model', max_model_len: 4096 }],
        }),
      );
    }
    if (request.method !== 'POST' || path !== '/v1/chat/completions' || !body) {
      return void response.writeHead(404).end();
    }
    const failure = this.failNext.shift();
    if (failure !== undefined) return echo(failure);
    const behaviour = this.behaviour;
    if (behaviour.kind === 'status') {
      return echo(behaviour.status);
    }
    this.open.add(response);
    response.on('close', () => this.open.delete(response));
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      `data: ${JSON.stringify({
        id: 'chatcmpl-1',
        object: 'chat.completion.chunk',
        model: this.model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      })}\n\n`;
    const deltas = behaviour.kind === 'stall' ? behaviour.deltas : behaviour.answer(body);
    response.write(chunk({ role: 'assistant' }));
    for (const text of deltas) {
      if (behaviour.kind === 'answer' && behaviour.delayMs) {
        await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
      }
      if (response.destroyed) return;
      response.write(chunk({ content: text }));
    }
    if (behaviour.kind === 'stall') return; // holds the answer open until the host stops
    response.write(chunk({}, 'stop'));
    response.write(
      `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: deltas.length } })}\n\n`,
    );
    response.end('data: [DONE]\n\n');
  }
}

export async function startFakeOpenAIHost(model?: string): Promise<FakeOpenAIHost> {
  return new FakeOpenAIHost(model).start();
}
