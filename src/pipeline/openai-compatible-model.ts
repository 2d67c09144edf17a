import type { GenerationDefaults } from '../config.js';
import type { Logger } from '../logger.js';
import { type PromptPlan, planPrompt } from './prompt-plan.js';
import { type ChatStreamEvent, chatStreamEvents, MalformedEventError } from './remote/openai-event-stream.js';
import { chatCompletionBody, estimatePromptTokens, splitServerUrl } from './remote/openai-request.js';
import {
  isRetryableStatus,
  parseRetryAfter,
  RemoteAttemptFailure,
  RemoteErrors,
} from './remote/remote-errors.js';
import { defaultRemoteRetry, type RemoteRetryOptions, withRemoteRetry } from './remote/remote-retry.js';
import { probeServer } from './remote/server-probe.js';
import type {
  FinishReason,
  ModelInfo,
  ModelMessage,
  ModelRequest,
  ModelStreamPart,
  ModelUsage,
  PromptMeasure,
  VisionChatModel,
} from './vision-chat-model.js';

export type { RemoteRetryOptions } from './remote/remote-retry.js';

export interface OpenAICompatibleModelOptions {
  /** base URL of the server, with or without a trailing `/v1` (`http://gpu:8000`, `http://gpu:8000/v1`) */
  url: string;
  /** the model name to request, e.g. `llava-hf/llava-1.5-7b-hf` */
  model: string;
  /** sent as `Authorization: Bearer <apiKey>`; never logged, never part of an error */
  apiKey?: string;
  /**
   * The largest prompt + completion, in tokens. Default: what the server reports — `max_model_len`
   * in `GET /v1/models` (vLLM, `glimpse serve`) or `n_ctx` in llama.cpp's `GET /props` — else
   * 4096 (LLaVA-1.5's Llama-2/Vicuna context).
   */
  contextLength?: number;
  /** tokens one image occupies in the remote prompt; default 576 (336 px, patch 14, LLaVA-1.5) */
  imageTokens?: number;
  /** default 4 */
  maxImagesPerRequest?: number;
  /** how long each attempt waits for the first byte of the answer (prefill included); default 60 s */
  firstByteTimeoutMs?: number;
  /** retries before the first token (refused connection, 408/429/5xx, an answer cut before it began) */
  retry?: Partial<RemoteRetryOptions>;
  /** generation settings used where a request leaves them unset (usually `config.generation`) */
  defaults?: Partial<GenerationDefaults>;
  logger?: Logger;
  /** the fetch to use (tests); default the global one */
  fetch?: typeof fetch;
}

const defaultContextLength = 4096;
const defaultImageTokens = 576;
const defaultFirstByteTimeoutMs = 60_000;
/** how long to wait for the body to end after `data: [DONE]` */
const afterDoneGraceMs = 1000;

/** An answer whose first token (or end) has come: the events read so far, and the rest. */
interface OpenedAnswer {
  buffered: ChatStreamEvent[];
  rest: AsyncGenerator<ChatStreamEvent, void, undefined>;
  /** hangs up this attempt's connection */
  hangUp: () => void;
  /** stops listening to the request's signal */
  release: () => void;
}

/** the event that ends the retryable part of an answer: a token, a finish, an error, or [DONE] */
function endsRetryableStart(event: ChatStreamEvent): boolean {
  if (event.type === 'done') return true;
  const { chunk } = event;
  if (chunk.error !== undefined || chunk.object === 'error') return true;
  const choice = chunk.choices?.[0];
  return Boolean(choice?.delta?.content) || typeof choice?.finish_reason === 'string';
}

/**
 * A VisionChatModel served by an OpenAI-compatible server: another Glimpse's `glimpse serve`,
 * vLLM (`vllm serve llava-hf/llava-1.5-7b-hf`) or llama.cpp (`llama-server --mmproj`). Answers
 * stream over server-sent events. Build it with `OpenAICompatibleModel.connect`, which checks
 * once that the server serves the model and asks its context length.
 *
 * One concept per file under `./remote`: the request body (`openai-request.ts`), the event stream
 * (`openai-event-stream.ts`, eventsource-parser + zod chunks), error mapping (`remote-errors.ts`),
 * retrying before the first token (`remote-retry.ts`, p-retry) and the start-up probe
 * (`server-probe.ts`). A request is retried only until its first token: once text has been
 * shown, a failure is an `error` part, never a second answer.
 *
 * Usage and timings: prompt and completion tokens come from the server's usage (
 * `stream_options.include_usage`), or from `measure()` and the number of deltas where it sends
 * none; image tokens are `info.imageTokens` per image. Remote preprocessing and vision are not
 * observable apart, so they are 0; prefill is llama.cpp's `prompt_ms` where it reports it, else 0,
 * and `timeToFirstTokenMs` holds all of it (retries included).
 */
export class OpenAICompatibleModel implements VisionChatModel {
  readonly info: ModelInfo;
  private readonly base: string;
  private readonly options: OpenAICompatibleModelOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly errors: RemoteErrors;
  private readonly retry: RemoteRetryOptions;
  private readonly firstByteTimeoutMs: number;
  private readonly controllers = new Set<AbortController>();
  private closed = false;

  constructor(options: OpenAICompatibleModelOptions) {
    const { base, display } = splitServerUrl(options.url);
    this.base = base;
    this.options = options;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.firstByteTimeoutMs = options.firstByteTimeoutMs ?? defaultFirstByteTimeoutMs;
    this.errors = new RemoteErrors(display, options.apiKey, this.firstByteTimeoutMs);
    this.retry = { ...defaultRemoteRetry, ...options.retry };
    this.info = {
      id: options.model,
      source: display,
      contextLength: options.contextLength ?? defaultContextLength,
      imageTokens: options.imageTokens ?? defaultImageTokens,
      maxImagesPerRequest: options.maxImagesPerRequest ?? 4,
    };
  }

  /**
   * Asks the server whether it serves `options.model` and its context length (`server-probe.ts`),
   * then returns the model. Throws one `glimpse_remote_failed` error naming what is wrong:
   * unreachable, refused, no such model, a llama.cpp server without a vision projector. A server
   * without `/v1/models` (404) is taken at its word.
   */
  static async connect(options: OpenAICompatibleModelOptions): Promise<OpenAICompatibleModel> {
    const probe = new OpenAICompatibleModel(options);
    const facts = await probeServer(
      {
        base: probe.base,
        source: probe.info.source,
        model: options.model,
        headers: probe.headers(true),
        fetch: probe.fetchImpl,
        timeoutMs: probe.firstByteTimeoutMs,
        errors: probe.errors,
      },
      options.contextLength === undefined,
    );
    options.logger?.debug(
      { source: probe.info.source, server: facts.kind, contextLength: facts.contextLength },
      'remote model server probed',
    );
    if (options.contextLength === undefined && facts.contextLength) {
      return new OpenAICompatibleModel({ ...options, contextLength: facts.contextLength });
    }
    return probe;
  }

  private headers(json: boolean): Record<string, string> {
    return {
      accept: json ? 'application/json' : 'text/event-stream',
      ...(json ? {} : { 'content-type': 'application/json' }),
      ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
    };
  }

  /** A conservative estimate (`estimatePromptTokens`), since the remote tokenizer is not at hand. */
  async measure(messages: ModelMessage[]): Promise<PromptMeasure> {
    const plan = this.plan(messages);
    return {
      promptTokens: estimatePromptTokens(plan, this.info.imageTokens),
      imageTokens: plan.images.length * this.info.imageTokens,
    };
  }

  /** The newest `maxImagesPerRequest` images (older ones dropped with a warning), as the onnx model does. */
  private plan(messages: readonly ModelMessage[]): PromptPlan {
    return planPrompt(messages, { maxImages: this.info.maxImagesPerRequest });
  }

  /** The JSON body of `POST /v1/chat/completions` for a request. */
  requestBody(request: ModelRequest): Record<string, unknown> {
    return chatCompletionBody(
      this.options.model,
      this.plan(request.messages),
      request,
      this.options.defaults,
    );
  }

  stream(request: ModelRequest, signal?: AbortSignal): AsyncIterable<ModelStreamPart> {
    return {
      [Symbol.asyncIterator]: () => this.generate(request, signal),
    };
  }

  /**
   * One attempt: the request, its status, and the body read up to the first token (or the end,
   * or an error event). Fails with a `RemoteAttemptFailure` saying whether to try again; an
   * abort of `signal` is thrown as it came.
   */
  private async open(body: string, signal: AbortSignal): Promise<OpenedAnswer> {
    const attempt = new AbortController();
    const onAbort = () => attempt.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const release = () => signal.removeEventListener('abort', onAbort);
    let timedOut = false;
    // the first-byte timer stops at the first byte of the body (a keep-alive comment counts)
    let timer: NodeJS.Timeout | undefined = setTimeout(() => {
      timedOut = true;
      attempt.abort();
    }, this.firstByteTimeoutMs);
    const clearTimer = () => {
      clearTimeout(timer);
      timer = undefined;
    };
    const fail = (failure: RemoteAttemptFailure): never => {
      clearTimer();
      release();
      attempt.abort();
      throw failure;
    };

    let response: Response;
    try {
      response = await this.fetchImpl(`${this.base}/v1/chat/completions`, {
        method: 'POST',
        headers: this.headers(false),
        body,
        signal: attempt.signal,
      });
    } catch (error) {
      if (signal.aborted) fail(new RemoteAttemptFailure(this.errors.transport(error, false), false));
      return fail(new RemoteAttemptFailure(this.errors.transport(error, timedOut), !timedOut));
    }
    if (!response.ok) {
      clearTimer();
      return fail(
        new RemoteAttemptFailure(
          await this.errors.status(response),
          isRetryableStatus(response.status),
          parseRetryAfter(response.headers.get('retry-after')),
        ),
      );
    }
    if (!response.body)
      return fail(new RemoteAttemptFailure(this.errors.malformed('the answer has no body'), false));

    const rest = chatStreamEvents(response.body, clearTimer);
    const buffered: ChatStreamEvent[] = [];
    try {
      for (;;) {
        const next = await rest.next();
        if (next.done) throw new RemoteAttemptFailure(this.errors.cutOff(false), true);
        buffered.push(next.value);
        if (endsRetryableStart(next.value)) break;
      }
    } catch (error) {
      await rest.return();
      if (error instanceof RemoteAttemptFailure) return fail(error);
      if (error instanceof MalformedEventError) {
        return fail(new RemoteAttemptFailure(this.errors.malformed(error.what, error.cause), false));
      }
      if (timedOut) return fail(new RemoteAttemptFailure(this.errors.transport(error, true), false));
      // a connection dropped before the first token: nothing was shown, so asking again is safe
      return fail(new RemoteAttemptFailure(this.errors.cutOff(false, error), !signal.aborted));
    }
    clearTimer();
    return { buffered, rest, hangUp: () => attempt.abort(), release };
  }

  private async *generate(request: ModelRequest, signal?: AbortSignal): AsyncGenerator<ModelStreamPart> {
    const started = performance.now();
    const controller = new AbortController();
    this.controllers.add(controller);
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let graceTimer: NodeJS.Timeout | undefined;
    let answer: OpenedAnswer | undefined;

    const plan = this.plan(request.messages);
    const images = plan.images.length;
    let firstDeltaAt: number | undefined;
    let lastDeltaAt: number | undefined;
    let deltas = 0;
    let finishReason: FinishReason | undefined;
    let serverUsage: { prompt?: number; completion?: number } = {};
    let prefillMs = 0;
    let done = false;
    const stopped = () => Boolean(signal?.aborted) || this.closed;

    const finish = async (reason: FinishReason): Promise<ModelStreamPart> => {
      const completionTokens = serverUsage.completion ?? deltas;
      const promptTokens = serverUsage.prompt ?? (await this.measure(request.messages)).promptTokens;
      const usage: ModelUsage = {
        promptTokens,
        imageTokens: Math.min(images * this.info.imageTokens, promptTokens),
        completionTokens,
      };
      const decodeMs =
        firstDeltaAt !== undefined && lastDeltaAt !== undefined ? lastDeltaAt - firstDeltaAt : 0;
      return {
        type: 'finish',
        finishReason: reason,
        usage,
        timings: {
          preprocessMs: 0,
          visionMs: 0,
          prefillMs,
          timeToFirstTokenMs: firstDeltaAt !== undefined ? firstDeltaAt - started : 0,
          decodeTokensPerSecond:
            completionTokens > 1 && decodeMs > 0 ? (completionTokens - 1) / (decodeMs / 1000) : 0,
          totalMs: performance.now() - started,
        },
      };
    };

    /** one event → the parts it yields; `error` ends the answer */
    const handle = async function* (
      this: OpenAICompatibleModel,
      event: ChatStreamEvent,
    ): AsyncGenerator<ModelStreamPart, 'error' | undefined> {
      if (event.type === 'done') {
        done = true;
        // the body ends right after [DONE]; one that does not is hung up on after a grace period
        const hangUp = answer?.hangUp;
        graceTimer = setTimeout(() => hangUp?.(), afterDoneGraceMs);
        yield await finish(signal?.aborted ? 'abort' : (finishReason ?? 'stop'));
        return undefined;
      }
      const { chunk } = event;
      if (chunk.error !== undefined || chunk.object === 'error') {
        yield { type: 'error', error: this.errors.midStream(chunk) };
        return 'error';
      }
      if (chunk.usage) {
        serverUsage = {
          prompt: chunk.usage.prompt_tokens ?? serverUsage.prompt,
          completion: chunk.usage.completion_tokens ?? serverUsage.completion,
        };
      }
      if (chunk.timings?.prompt_ms) prefillMs = chunk.timings.prompt_ms;
      const choice = chunk.choices?.[0];
      const content = choice?.delta?.content;
      if (content) {
        const now = performance.now();
        firstDeltaAt ??= now;
        lastDeltaAt = now;
        deltas++;
        yield { type: 'text-delta', text: content };
      }
      if (typeof choice?.finish_reason === 'string') {
        finishReason =
          choice.finish_reason === 'length' ? 'length' : choice.finish_reason === 'abort' ? 'abort' : 'stop';
      }
      return undefined;
    };

    try {
      for (const warning of plan.warnings) yield warning;
      if (signal?.aborted) {
        yield await finish('abort');
        return;
      }
      this.options.logger?.debug(
        { model: this.options.model, source: this.info.source, images, messages: request.messages.length },
        'remote chat completion',
      );
      const body = JSON.stringify(this.requestBody(request));
      try {
        answer = await withRemoteRetry(() => this.open(body, controller.signal), {
          retry: this.retry,
          signal: controller.signal,
          onRetry: ({ attempt, error, delayMs }) =>
            this.options.logger?.info(
              {
                code: 'glimpse_remote_retry',
                attempt,
                delayMs,
                reason: error.message,
                source: this.info.source,
              },
              'remote model server failed before the first token; asking again',
            ),
        });
      } catch (error) {
        if (stopped()) {
          yield await finish('abort');
          return;
        }
        yield {
          type: 'error',
          error: error instanceof RemoteAttemptFailure ? error.error : this.errors.transport(error, false),
        };
        return;
      }

      for (const event of answer.buffered) {
        if (done) break;
        if ((yield* handle.call(this, event)) === 'error') return;
      }
      try {
        for await (const event of answer.rest) {
          // after [DONE] the rest of the body is read and ignored, so the connection can be reused
          if (done) continue;
          if ((yield* handle.call(this, event)) === 'error') return;
        }
      } catch (error) {
        if (done) return;
        if (stopped()) {
          yield await finish('abort');
          return;
        }
        yield {
          type: 'error',
          error:
            error instanceof MalformedEventError
              ? this.errors.malformed(error.what, error.cause)
              : this.errors.cutOff(true, error),
        };
        return;
      }

      if (done) return;
      if (signal?.aborted) {
        yield await finish('abort');
        return;
      }
      if (finishReason === undefined) {
        yield { type: 'error', error: this.errors.cutOff(true) };
        return;
      }
      yield await finish(finishReason);
    } finally {
      clearTimeout(graceTimer);
      signal?.removeEventListener('abort', onAbort);
      // frees the connection when the consumer stops early; a no-op once the answer is complete
      await answer?.rest.return();
      answer?.hangUp();
      answer?.release();
      controller.abort();
      this.controllers.delete(controller);
    }
  }

  /** Hangs up every answer in flight (each finishes with `abort`). */
  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.controllers) controller.abort();
    this.controllers.clear();
  }
}
