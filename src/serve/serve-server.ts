import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServeConfig } from '../config.js';
import { checkServeBinding } from '../config.js';
import type { ImageLimits } from '../ingest/image-ingest.js';
import type { Logger } from '../logger.js';
import type { VisionChatModel } from '../pipeline/vision-chat-model.js';
import { RequestQueue } from './request-queue.js';
import type { ServeContext } from './serve-context.js';
import { ServeMetrics } from './serve-metrics.js';
import { route } from './serve-routes.js';

export interface ServeServerOptions {
  model: VisionChatModel;
  serve: ServeConfig;
  images: ImageLimits & { maxPerRequest: number };
  /** the answer's length when a request gives no `max_tokens` (GLIMPSE_MAX_NEW_TOKENS) */
  defaultMaxTokens: number;
  logger: Logger;
  /** between keep-alive comments of a waiting stream (default 10 s) */
  heartbeatMs?: number;
}

export interface ServeServer {
  /** `http://host:port`, once listening */
  readonly url: string;
  readonly metrics: ServeMetrics;
  start(): Promise<void>;
  /** not ready, stop accepting, abort what runs and waits, close the connections */
  stop(): Promise<void>;
}

/**
 * `glimpse serve`'s HTTP server: OpenAI's chat completions and model list on one in-process
 * model, plus health, readiness and Prometheus metrics. Refuses to listen beyond loopback
 * without an API key.
 */
export function createServeServer(options: ServeServerOptions): ServeServer {
  checkServeBinding(options.serve);
  const queue = new RequestQueue(options.serve.concurrency, options.serve.queueMax);
  const metrics = new ServeMetrics(queue, () => options.model.stats?.());
  const logger = options.logger;
  const context: ServeContext = {
    model: options.model,
    queue,
    metrics,
    logger,
    ...(options.serve.apiKey ? { apiKey: options.serve.apiKey } : {}),
    defaultMaxTokens: options.defaultMaxTokens,
    images: { ...options.images, remoteHosts: options.serve.imageHosts },
    maxBodyBytes: Math.ceil((options.images.maxBytes * options.images.maxPerRequest * 4) / 3) + 1024 * 1024,
    created: Math.floor(Date.now() / 1000),
    heartbeatMs: options.heartbeatMs ?? 10_000,
  };
  const state = { ready: false };
  let url = '';

  const server: Server = createServer((request, response) => {
    const started = performance.now();
    void route(context, state, request, response).then(
      (result) => {
        if (!result.chat) return;
        metrics.request(result.status, result.chat.stream);
        logger.info(
          {
            status: result.status,
            stream: result.chat.stream,
            ms: Math.round(performance.now() - started),
          },
          'chat completion',
        );
      },
      (error: unknown) => {
        logger.error({ err: error }, 'request handler failed');
        if (!response.headersSent) response.writeHead(500);
        response.end();
      },
    );
  });
  server.keepAliveTimeout = 65_000;

  return {
    get url() {
      return url;
    },
    metrics,
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.serve.port, options.serve.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${host}:${address.port}`;
      state.ready = true;
    },
    async stop() {
      state.ready = false;
      queue.rejectWaiting(new Error('the server is stopping'));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // aborts every answer in flight: their responses close, their signals fire
      server.closeAllConnections();
      await closed;
    },
  };
}
