import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChatEvent, ChatEventHandler } from '../../conversation/chat-event.js';
import type { RateLimiter } from '../../conversation/rate-limiter.js';
import { toGlimpseError } from '../../errors.js';
import { type ImageLimits, ingestImage } from '../../ingest/image-ingest.js';
import type { Logger } from '../../logger.js';
import type { ChatAuthor, ChatMessage, ImagePart } from '../../messages.js';
import { securityHeaders, sendError, sendJson } from './http-responses.js';
import { parseUpload } from './parse-upload.js';
import { readBody } from './read-body.js';
import { refusalReason } from './request-guard.js';
import { SseConnection } from './sse-connection.js';
import { SseReplyChannel } from './sse-reply-channel.js';
import type { StaticAsset } from './static-assets.js';
import { toWebRequestError, WebRequestError } from './web-request-error.js';
import type { WebSession } from './web-session.js';
import type { WebSessionRegistry } from './web-session-registry.js';

export interface WebRoutesContext {
  sessions: WebSessionRegistry;
  assets: Map<string, StaticAsset>;
  handler: ChatEventHandler;
  logger: Logger;
  listenHost: string;
  images: ImageLimits & { maxPerRequest: number };
  maxTextChars: number;
  heartbeatMs: number;
  /** shown in the page's header, e.g. the model's name */
  title: string;
  isStopping: () => boolean;
  /** new chats per client address and minute */
  sessionLimiter: RateLimiter;
  /** event streams open at once, over every chat */
  maxStreams: number;
}

type Route = (request: IncomingMessage, response: ServerResponse, params: string[]) => Promise<void>;

function formatMegabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * The playground's HTTP API, translated into `ChatEvent`s:
 *
 * - `POST /api/sessions` → a new conversation (`web:local:<uuid>`)
 * - `GET /api/sessions/:id/events` → its Server-Sent Events stream (replies, notices)
 * - `POST /api/sessions/:id/messages` (form: `text`, `image`) → a `message` event; 202
 * - `POST /api/sessions/:id/messages/:messageId/cancel` → a `message-deleted` event
 * - `POST /api/sessions/:id/reset` → cancels what is running, then a `reset` command
 */
export function createWebRoutes(context: WebRoutesContext) {
  const { sessions, logger } = context;
  const author = (session: WebSession): ChatAuthor => ({
    id: `web:${session.id}`,
    name: 'You',
    isBot: false,
  });

  /** Hands an event to the manager; the turn ends for the tab once everything it started is done. */
  const dispatch = (event: ChatEvent, session: WebSession, messageId: string) => {
    Promise.resolve()
      .then(() => context.handler.handle(event))
      .then((result) => result.done)
      .then(() => {
        if (event.type === 'message') session.endTurn(messageId);
      })
      .catch((error: unknown) => {
        const coded = toGlimpseError(error);
        logger.error(
          {
            err: coded,
            code: coded.code,
            conversationId: session.conversationId,
            messageId,
            event: event.type,
          },
          'conversation handler failed',
        );
        session.publish('error', { messageId, message: coded.userMessage });
        session.publish('done', { messageId });
        session.endTurn(messageId);
      });
  };

  const cancelTurns = (session: WebSession, reason: string) => {
    for (const messageId of session.pendingTurns) {
      logger.info({ conversationId: session.conversationId, messageId, reason }, 'cancelling web turn');
      session.endTurn(messageId);
      dispatch(
        { type: 'message-deleted', platform: 'web', conversationId: session.conversationId, messageId },
        session,
        messageId,
      );
    }
  };

  const requireSession = (id: string | undefined): WebSession => {
    const session = id === undefined ? undefined : sessions.get(id);
    if (!session) {
      throw new WebRequestError(404, 'web_session_unknown', 'This chat has expired; a new one was started.');
    }
    return session;
  };

  let openStreams = 0;

  const createSession: Route = async (request, response) => {
    request.resume();
    const client = request.socket.remoteAddress ?? 'unknown';
    const decision = context.sessionLimiter.take(client);
    if (!decision.allowed) {
      const retryAfterSeconds = Math.ceil(decision.retryAfterMs / 1000);
      logger.warn(
        { code: 'glimpse_rate_limited', client, retryAfterSeconds },
        'too many new chats from one client',
      );
      throw new WebRequestError(
        429,
        'glimpse_rate_limited',
        `Too many new chats; try again in ${retryAfterSeconds} s.`,
        {},
        retryAfterSeconds,
      );
    }
    const session = sessions.create();
    if (!session) {
      throw new WebRequestError(503, 'glimpse_busy', 'Too many open chats; close a tab and try again.');
    }
    logger.debug({ conversationId: session.conversationId }, 'web session created');
    sendJson(response, 201, {
      sessionId: session.id,
      conversationId: session.conversationId,
      title: context.title,
      limits: {
        maxImageBytes: context.images.maxBytes,
        maxImagePixels: context.images.maxPixels,
        maxImagesPerMessage: context.images.maxPerRequest,
        maxTextChars: context.maxTextChars,
      },
    });
  };

  const openEvents: Route = async (request, response, [id]) => {
    const session = requireSession(id);
    if (openStreams >= context.maxStreams) {
      logger.warn({ code: 'glimpse_busy', openStreams }, 'too many event streams open');
      throw new WebRequestError(
        503,
        'glimpse_busy',
        'Too many open chats; close a tab and try again.',
        {},
        5,
      );
    }
    const connection = new SseConnection(response, { heartbeatMs: context.heartbeatMs });
    openStreams++;
    connection.onClose(() => {
      openStreams--;
    });
    connection.send('ready', { sessionId: session.id, conversationId: session.conversationId });
    session.subscribe(connection, () => {
      if (!context.isStopping()) cancelTurns(session, 'browser disconnected');
    });
    request.on('close', () => connection.close());
  };

  const postMessage: Route = async (request, response, [id]) => {
    const session = requireSession(id);
    const { maxBytes, maxPerRequest } = context.images;
    const limit = maxBytes * maxPerRequest + 64 * 1024;
    const body = await readBody(request, limit);
    if (!body.ok) {
      throw new WebRequestError(
        413,
        'glimpse_image_too_large',
        `The upload is too large (over ${formatMegabytes(limit)}; the limit is ${formatMegabytes(maxBytes)} per image).`,
        { receivedBytes: body.receivedBytes, limit },
      );
    }
    const upload = await parseUpload(request.headers['content-type'], body.bytes, {
      maxTextChars: context.maxTextChars,
      maxFiles: maxPerRequest,
    });
    const images: ImagePart[] = [];
    for (const file of upload.files) images.push(await ingestImage(file.bytes, file.name, context.images));
    const messageId = randomUUID();
    const message: ChatMessage = {
      platform: 'web',
      conversationId: session.conversationId,
      messageId,
      author: author(session),
      parts: [...images, { type: 'text', text: upload.text }],
      createdAt: new Date(),
    };
    session.beginTurn(messageId);
    logger.info(
      {
        conversationId: session.conversationId,
        messageId,
        chars: upload.text.length,
        images: images.map((image) => ({
          mediaType: image.mediaType,
          width: image.width,
          height: image.height,
        })),
      },
      'web message',
    );
    dispatch(
      { type: 'message', message, reply: new SseReplyChannel(session, messageId, logger) },
      session,
      messageId,
    );
    sendJson(response, 202, {
      messageId,
      images: images.map(({ name, mediaType, width, height }) => ({ name, mediaType, width, height })),
    });
  };

  const cancelMessage: Route = async (request, response, [id, messageId]) => {
    request.resume();
    const session = requireSession(id);
    const pending = messageId !== undefined && session.pendingTurns.includes(messageId);
    if (pending) {
      session.endTurn(messageId);
      logger.info({ conversationId: session.conversationId, messageId }, 'web turn stopped by the user');
      dispatch(
        { type: 'message-deleted', platform: 'web', conversationId: session.conversationId, messageId },
        session,
        messageId,
      );
    }
    sendJson(response, 202, { cancelled: pending });
  };

  const reset: Route = async (request, response, [id]) => {
    request.resume();
    const session = requireSession(id);
    cancelTurns(session, 'reset');
    const commandId = randomUUID();
    logger.info({ conversationId: session.conversationId }, 'web conversation reset');
    dispatch(
      {
        type: 'command',
        command: 'reset',
        platform: 'web',
        conversationId: session.conversationId,
        author: author(session),
        reply: new SseReplyChannel(session, commandId, logger),
      },
      session,
      commandId,
    );
    sendJson(response, 202, { commandId });
  };

  const routes: { method: string; pattern: RegExp; route: Route }[] = [
    { method: 'POST', pattern: /^\/api\/sessions$/, route: createSession },
    { method: 'GET', pattern: /^\/api\/sessions\/([^/]+)\/events$/, route: openEvents },
    { method: 'POST', pattern: /^\/api\/sessions\/([^/]+)\/messages$/, route: postMessage },
    {
      method: 'POST',
      pattern: /^\/api\/sessions\/([^/]+)\/messages\/([^/]+)\/cancel$/,
      route: cancelMessage,
    },
    { method: 'POST', pattern: /^\/api\/sessions\/([^/]+)\/reset$/, route: reset },
  ];

  const serveStatic = (request: IncomingMessage, response: ServerResponse, path: string): boolean => {
    const asset = context.assets.get(path);
    if (!asset) return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      throw new WebRequestError(405, 'web_method_not_allowed', 'Method not allowed.');
    }
    response.writeHead(200, {
      ...securityHeaders,
      'content-type': asset.contentType,
      'content-length': String(asset.body.length),
      'cache-control': 'no-cache',
    });
    response.end(request.method === 'HEAD' ? undefined : asset.body);
    return true;
  };

  const route = async (request: IncomingMessage, response: ServerResponse) => {
    if (context.isStopping())
      throw new WebRequestError(503, 'web_stopping', 'The playground is shutting down.');
    const refusal = refusalReason(request, context.listenHost);
    if (refusal) {
      throw new WebRequestError(403, 'web_forbidden', 'This request is not allowed here.', {
        reason: refusal,
        host: request.headers.host,
        origin: request.headers.origin,
      });
    }
    const path = new URL(request.url ?? '/', 'http://playground.invalid').pathname;
    if (path === '/healthz') {
      sendJson(response, 200, { ok: true });
      return;
    }
    if (serveStatic(request, response, path)) return;
    for (const { method, pattern, route: handle } of routes) {
      const match = pattern.exec(path);
      if (!match) continue;
      if (request.method !== method) {
        throw new WebRequestError(405, 'web_method_not_allowed', 'Method not allowed.', {
          method: request.method,
        });
      }
      await handle(request, response, match.slice(1));
      return;
    }
    throw new WebRequestError(404, 'web_not_found', 'Not found.');
  };

  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    try {
      await route(request, response);
    } catch (error) {
      const refusal = toWebRequestError(error);
      const fields = {
        code: refusal.code,
        status: refusal.status,
        method: request.method,
        path: request.url,
        ...refusal.details,
      };
      if (refusal.status >= 500) logger.error({ ...fields, err: error }, 'web request failed');
      else logger.warn(fields, `web request refused: ${refusal.userMessage}`);
      sendError(response, refusal);
      if (refusal.status === 413 && !request.complete) response.once('finish', () => request.destroy());
    }
  };
}
