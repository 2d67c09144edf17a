import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatEventHandler } from '../../conversation/chat-event.js';
import { RateLimiter } from '../../conversation/rate-limiter.js';
import { GlimpseError } from '../../errors.js';
import type { ImageLimits } from '../../ingest/image-ingest.js';
import type { Logger } from '../../logger.js';
import type { ChatAdapter } from '../chat-adapter.js';
import { isLoopbackHost } from './request-guard.js';
import { loadStaticAssets } from './static-assets.js';
import { createWebRoutes } from './web-routes.js';
import { WebSessionRegistry } from './web-session-registry.js';

export interface WebAdapterOptions {
  /** `127.0.0.1` by default (GLIMPSE_WEB_HOST): loopback only */
  host: string;
  /** 0 picks a free port */
  port: number;
  images: ImageLimits & { maxPerRequest: number };
  logger: Logger;
  /** shown in the page's header, e.g. the model's name */
  title?: string;
  /** the longest question accepted, in characters */
  maxTextChars?: number;
  /** how often an idle event stream gets a `: ping` comment */
  heartbeatMs?: number;
  /** chats kept at once (default 256); the least recently used idle one makes room */
  maxSessions?: number;
  /** a tab that has gone away is forgotten after this long */
  sessionIdleMs?: number;
  /** new chats per client address and minute (default 30) */
  sessionsPerMinute?: number;
  /** event streams open at once over every chat (default 512) */
  maxStreams?: number;
}

/**
 * The local web playground as a `ChatAdapter`: a small page (plain HTML/CSS/JS from `public/`),
 * uploads validated at ingest, questions turned into `ChatEvent`s, answers streamed back as
 * Server-Sent Events. No framework: `node:http` and the platform's own `Request.formData`.
 */
export class WebAdapter implements ChatAdapter {
  readonly platform = 'web' as const;
  private server: Server | undefined;
  private sessions: WebSessionRegistry | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private boundPort: number | undefined;

  constructor(private readonly options: WebAdapterOptions) {}

  /** where the page is, e.g. `http://127.0.0.1:8080` (with the real port once started) */
  get url(): string {
    const { host } = this.options;
    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    return `http://${shown.includes(':') ? `[${shown}]` : shown}:${this.boundPort ?? this.options.port}`;
  }

  describe(): string {
    const { host } = this.options;
    if (isLoopbackHost(host)) return `web playground on ${this.url}`;
    return `web playground on ${this.url} (listening on ${host}: reachable from other machines, no login)`;
  }

  async start(handler: ChatEventHandler): Promise<void> {
    if (this.server) throw new Error('the web adapter is already started');
    const { logger, host, port } = this.options;
    const sessionIdleMs = this.options.sessionIdleMs ?? 60 * 60 * 1000;
    const sessions = new WebSessionRegistry({
      maxSessions: this.options.maxSessions ?? 256,
      idleMs: sessionIdleMs,
    });
    const routes = createWebRoutes({
      sessions,
      assets: await loadStaticAssets(),
      handler,
      logger,
      listenHost: host,
      images: this.options.images,
      maxTextChars: this.options.maxTextChars ?? 4000,
      heartbeatMs: this.options.heartbeatMs ?? 15_000,
      title: this.options.title ?? 'Glimpse',
      isStopping: () => this.stopping,
      sessionLimiter: new RateLimiter({ limit: this.options.sessionsPerMinute ?? 30, windowMs: 60_000 }),
      maxStreams: this.options.maxStreams ?? 512,
    });
    const server = createServer((request, response) => void routes(request, response));
    server.headersTimeout = 20_000;
    server.requestTimeout = 120_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const hint =
          error.code === 'EADDRINUSE'
            ? `port ${port} is already in use; set GLIMPSE_WEB_PORT to another port`
            : `cannot listen on ${host}:${port} (${error.code ?? error.message}); check GLIMPSE_WEB_HOST`;
        reject(
          new GlimpseError('glimpse_config_invalid', `web playground: ${hint}`, {
            cause: error,
            userMessage: `The web playground could not start: ${hint}.`,
            details: { host, port, code: error.code },
          }),
        );
      });
      server.listen(port, host, () => resolve());
    });
    server.on('error', (error) => logger.error({ err: error }, 'web server error'));
    this.server = server;
    this.sessions = sessions;
    this.boundPort = (server.address() as AddressInfo).port;
    this.sweepTimer = setInterval(() => sessions.sweep(), Math.min(sessionIdleMs, 60_000));
    this.sweepTimer.unref();
    if (!isLoopbackHost(host)) {
      logger.warn(
        { host },
        'the web playground listens beyond loopback and has no login; anyone who can reach it can use the model',
      );
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.stopping = true;
    clearInterval(this.sweepTimer);
    this.sessions?.closeAll();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    this.server = undefined;
    this.sessions = undefined;
    this.stopping = false;
  }
}

export function createWebAdapter(options: WebAdapterOptions): WebAdapter {
  return new WebAdapter(options);
}
