import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FinishPart, ModelRequest } from '../pipeline/vision-chat-model.js';
import { type CompletionIdentity, chunkObject, completionObject, sseData, sseDone } from './chat-chunks.js';
import { toModelMessages } from './chat-messages.js';
import { type ChatRequest, parseChatRequest } from './chat-request.js';
import { badRequest, fromGlimpseError, OpenAIError } from './openai-error.js';
import { readJsonBody } from './request-body.js';
import type { Release } from './request-queue.js';
import { checkBearer } from './serve-auth.js';
import type { ServeContext } from './serve-context.js';

/** What the sampling parameters of a request become for the model (unset: the model's defaults). */
export function toModelRequest(request: ChatRequest, maxNewTokens: number): Omit<ModelRequest, 'messages'> {
  const stop = typeof request.stop === 'string' ? [request.stop] : (request.stop ?? []);
  return {
    maxNewTokens,
    ...(request.temperature != null ? { temperature: request.temperature } : {}),
    ...(request.top_p != null ? { topP: request.top_p } : {}),
    ...(request.top_k != null ? { topK: Math.max(0, request.top_k) } : {}),
    ...(request.repetition_penalty != null ? { repetitionPenalty: request.repetition_penalty } : {}),
    ...(request.seed != null ? { seed: request.seed } : {}),
    ...(stop.filter((s) => s !== '').length > 0 ? { stop: stop.filter((s) => s !== '') } : {}),
  };
}

/**
 * `POST /v1/chat/completions`: checks the key, the body, the model name, the images and the
 * context before queueing, so every refusal is a status line with OpenAI's error JSON. A streamed
 * answer gets its headers as soon as it is queued (keep-alive comments while it waits, so a
 * client's first-byte timeout measures the server, not the queue); a client that goes away stops
 * its generation, queued or running.
 */
export async function handleChatCompletion(
  context: ServeContext,
  request: IncomingMessage,
  response: ServerResponse,
  /** filled in once the body is read, so a refusal is counted as streamed or not */
  meta: { stream: boolean },
): Promise<{ status: number; stream: boolean }> {
  const received = performance.now();
  const { model, queue, metrics } = context;
  checkBearer(request.headers.authorization, context.apiKey);
  const body = parseChatRequest(await readJsonBody(request, context.maxBodyBytes));
  if (body.model !== model.info.id) {
    throw new OpenAIError(
      404,
      'not_found_error',
      'model_not_found',
      `The model \`${body.model}\` does not exist; this server serves \`${model.info.id}\`.`,
      'model',
    );
  }
  const stream = body.stream === true;
  meta.stream = stream;
  const includeUsage = stream && body.stream_options?.include_usage === true;

  const controller = new AbortController();
  const onClose = () => {
    if (!response.writableFinished) controller.abort(new Error('the client went away'));
  };
  response.on('close', onClose);
  const { signal } = controller;

  const messages = await toModelMessages(
    body.messages,
    {
      limits: context.images,
      maxImages: context.images.maxPerRequest,
      remoteHosts: context.images.remoteHosts,
    },
    signal,
  );
  let measured: { promptTokens: number };
  try {
    measured = await model.measure(messages);
  } catch (error) {
    throw fromGlimpseError(error, 'messages');
  }
  const contextLength = model.info.contextLength;
  const requested = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  const promptTokens = measured.promptTokens;
  if (
    promptTokens >= contextLength ||
    (requested !== undefined && promptTokens + requested > contextLength)
  ) {
    throw badRequest(
      'context_length_exceeded',
      `This model's maximum context length is ${contextLength} tokens. However, you requested ${promptTokens + (requested ?? 0)} tokens (${promptTokens} in the messages, ${requested ?? 0} in the completion). Please reduce the length of the messages or completion.`,
      'messages',
    );
  }
  const maxNewTokens = requested ?? Math.min(context.defaultMaxTokens, contextLength - promptTokens);

  // a full queue throws here, before anything is written
  const slot = queue.enqueue(signal);
  const identity: CompletionIdentity = {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    created: Math.floor(Date.now() / 1000),
    model: model.info.id,
  };

  let heartbeat: NodeJS.Timeout | undefined;
  if (stream) {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write(': queued\n\n');
    heartbeat = setInterval(() => response.write(': keep-alive\n\n'), context.heartbeatMs);
  }

  let release: Release | undefined;
  try {
    release = await slot;
  } catch (error) {
    clearInterval(heartbeat);
    if (signal.aborted) return { status: 499, stream };
    throw error;
  }

  let text = '';
  let firstTokenAt: number | undefined;
  let finish: FinishPart | undefined;
  try {
    const parts = model.stream({ messages, ...toModelRequest(body, maxNewTokens) }, signal);
    let sentRole = false;
    for await (const part of parts) {
      if (part.type === 'text-delta') {
        firstTokenAt ??= performance.now();
        if (!stream) {
          text += part.text;
          continue;
        }
        if (!sentRole) {
          response.write(
            sseData(chunkObject(identity, { delta: { role: 'assistant', content: '' } }, includeUsage)),
          );
          sentRole = true;
        }
        response.write(sseData(chunkObject(identity, { delta: { content: part.text } }, includeUsage)));
      } else if (part.type === 'finish') {
        finish = part;
      } else if (part.type === 'error') {
        throw fromGlimpseError(part.error);
      } else if (part.type === 'warning') {
        context.logger.debug({ code: part.code }, part.message);
      }
    }
    if (!finish)
      throw new OpenAIError(
        500,
        'server_error',
        'glimpse_model_failed',
        'the model stopped without finishing',
      );
    if (signal.aborted) return { status: 499, stream };

    const usage = finish.usage;
    metrics.generation(
      usage.promptTokens,
      usage.completionTokens,
      firstTokenAt === undefined ? 0 : (firstTokenAt - received) / 1000,
      finish.timings.decodeTokensPerSecond,
    );
    if (!stream) {
      const json = JSON.stringify(completionObject(identity, text, finish.finishReason, usage));
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(json);
      return { status: 200, stream };
    }
    clearInterval(heartbeat);
    if (!sentRole) {
      response.write(
        sseData(chunkObject(identity, { delta: { role: 'assistant', content: '' } }, includeUsage)),
      );
    }
    response.write(
      sseData(chunkObject(identity, { delta: {}, finishReason: finish.finishReason }, includeUsage)),
    );
    if (includeUsage) response.write(sseData(chunkObject(identity, { usage }, true)));
    response.end(sseDone);
    return { status: 200, stream };
  } finally {
    clearInterval(heartbeat);
    release();
    response.off('close', onClose);
  }
}
