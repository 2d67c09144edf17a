import type { IncomingMessage, ServerResponse } from 'node:http';
import { sseData, sseDone } from './chat-chunks.js';
import { handleChatCompletion } from './chat-completions.js';
import { fromGlimpseError, OpenAIError } from './openai-error.js';
import { checkBearer } from './serve-auth.js';
import type { ServeContext } from './serve-context.js';

function sendJson(
  response: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
) {
  const body = JSON.stringify(value);
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(body);
}

/**
 * An error as the client can still take it: OpenAI's error JSON with its status while nothing
 * was written; inside a started event stream, one `data: {"error": …}` event and `[DONE]` (as
 * vLLM does), which the official clients raise as an APIError.
 */
export function sendError(response: ServerResponse, error: OpenAIError): void {
  if (response.writableEnded || response.destroyed) return;
  if (!response.headersSent) {
    sendJson(response, error.status, error.toJSON(), error.headers);
    return;
  }
  response.end(`${sseData(error.toJSON())}${sseDone}`);
}

/** The model as `/v1/models` lists it, with vLLM's `max_model_len` (what OpenAICompatibleModel reads). */
function modelCard(context: ServeContext) {
  const { info } = context.model;
  return {
    id: info.id,
    object: 'model',
    created: context.created,
    owned_by: 'glimpse',
    root: info.id,
    parent: null,
    max_model_len: info.contextLength,
  };
}

export interface RouteResult {
  status: number;
  /** for the request counter: only chat completions count */
  chat?: { stream: boolean };
}

/** Dispatches one request; every failure becomes OpenAI's error JSON. */
export async function route(
  context: ServeContext,
  state: { ready: boolean },
  request: IncomingMessage,
  response: ServerResponse,
): Promise<RouteResult> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
  const method = request.method ?? 'GET';
  const allow = (methods: string[]) => {
    if (!methods.includes(method)) {
      throw new OpenAIError(
        405,
        'invalid_request_error',
        'method_not_allowed',
        `${method} is not allowed on ${path}`,
        null,
        {
          allow: methods.join(', '),
        },
      );
    }
  };
  const meta = { stream: false };
  try {
    if (path === '/v1/chat/completions') {
      allow(['POST']);
      const result = await handleChatCompletion(context, request, response, meta);
      return { status: result.status, chat: { stream: result.stream } };
    }
    if (path === '/v1/models') {
      allow(['GET']);
      checkBearer(request.headers.authorization, context.apiKey);
      sendJson(response, 200, { object: 'list', data: [modelCard(context)] });
      return { status: 200 };
    }
    if (path.startsWith('/v1/models/')) {
      allow(['GET']);
      checkBearer(request.headers.authorization, context.apiKey);
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (id !== context.model.info.id) {
        throw new OpenAIError(
          404,
          'not_found_error',
          'model_not_found',
          `The model \`${id}\` does not exist.`,
          'model',
        );
      }
      sendJson(response, 200, modelCard(context));
      return { status: 200 };
    }
    if (path === '/healthz' || path === '/health') {
      allow(['GET', 'HEAD']);
      sendJson(response, 200, { status: 'ok' });
      return { status: 200 };
    }
    if (path === '/readyz') {
      allow(['GET', 'HEAD']);
      const status = state.ready ? 200 : 503;
      sendJson(response, status, {
        status: state.ready ? 'ready' : 'stopping',
        model: context.model.info.id,
        active: context.queue.active,
        waiting: context.queue.depth,
      });
      return { status };
    }
    if (path === '/metrics') {
      allow(['GET']);
      const { contentType, body } = await context.metrics.text();
      response.writeHead(200, { 'content-type': contentType });
      response.end(body);
      return { status: 200 };
    }
    throw new OpenAIError(404, 'not_found_error', 'not_found', `no route ${method} ${path}`);
  } catch (caught) {
    const error = fromGlimpseError(caught);
    if (error.status >= 500) context.logger.error({ err: caught, path }, 'request failed');
    sendError(response, error);
    return {
      status: error.status,
      ...(path === '/v1/chat/completions' ? { chat: { stream: meta.stream } } : {}),
    };
  }
}
