import type { GenerationDefaults } from '../config.js';
import { GlimpseError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ImagePart } from '../messages.js';
import { type PromptPlan, planPrompt } from './prompt-plan.js';
import { parseServerSentEvents } from './server-sent-events.js';
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

export interface OpenAICompatibleModelOptions {
  /** base URL of the server, with or without a trailing `/v1` (`http://gpu:8000`, `http://gpu:8000/v1`) */
  url: string;
  /** the model name to request, e.g. `llava-hf/llava-1.5-7b-hf` */
  model: string;
  /** sent as `Authorization: Bearer <apiKey>`; never logged, never part of an error */
  apiKey?: string;
  /**
   * The largest prompt + completion, in tokens. Default: the `max_model_len` the server reports
   * in `GET /v1/models` (vLLM does), else 4096 (LLaVA-1.5's Llama-2/Vicuna context).
   */
  contextLength?: number;
  /** tokens one image occupies in the remote prompt; default 576 (336 px, patch 14, LLaVA-1.5) */
  imageTokens?: number;
  /** default 4 */
  maxImagesPerRequest?: number;
  /** how long to wait for the first byte of the answer (prefill included); default 60 s */
  firstByteTimeoutMs?: number;
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
/** per message: role markers and separators of a typical chat template */
const messageOverheadTokens = 4;
/** BOS and the assistant prefix the template appends */
const promptOverheadTokens = 2;
/** English BPE averages about 4 bytes a token; 3 over-counts a little, which is the safe side */
const bytesPerTextToken = 3;

interface ModelsListEntry {
  id?: unknown;
  max_model_len?: unknown;
}

interface ChatCompletionChunk {
  choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  error?: unknown;
  object?: unknown;
  message?: unknown;
}

/** The endpoint base (no trailing slash, no `/v1`) and a display form without credentials. */
function splitUrl(url: string): { base: string; display: string } {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  const display = parsed.toString().replace(/\/+$/, '');
  parsed.pathname = parsed.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return { base: parsed.toString().replace(/\/+$/, ''), display };
}

/**
 * The conversation in OpenAI's chat format: text parts, and images as data URLs in their places.
 * `planPrompt` has already dropped the oldest images beyond the limit; its placeholders take the
 * kept images in order. A message without images is sent as a plain string.
 */
function toOpenAIMessages(plan: PromptPlan): Record<string, unknown>[] {
  let next = 0;
  return plan.messages.map((message) => {
    if (!message.content.some((part) => part.type === 'image')) {
      return {
        role: message.role,
        content: message.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n'),
      };
    }
    return {
      role: message.role,
      content: message.content.map((part) => {
        if (part.type === 'text') return { type: 'text', text: part.text };
        const image = plan.images[next++] as ImagePart;
        return {
          type: 'image_url',
          image_url: { url: `data:${image.mediaType};base64,${Buffer.from(image.bytes).toString('base64')}` },
        };
      }),
    };
  });
}

function asCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}

/** What an error body says (OpenAI's `{error: {message}}` or vLLM's `{object: 'error', message}`). */
function serverMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as Record<string, unknown>;
  const error = record.error;
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null) {
    const message = (error as Record<string, unknown>).message;
    if (typeof message === 'string') return message;
  }
  if (record.object === 'error' && typeof record.message === 'string') return record.message;
  return undefined;
}

const statusUserMessages: [(status: number) => boolean, string][] = [
  [(status) => status === 401 || status === 403, 'The remote model server refused our credentials.'],
  [(status) => status === 404, 'The remote model is not available.'],
  [(status) => status === 413, 'That request is too large for the remote model server.'],
  [(status) => status === 429, 'The remote model server is busy; try again shortly.'],
  [
    (status) => status >= 500,
    'The model is unavailable right now (its server had a problem); please try again shortly.',
  ],
];

/**
 * A VisionChatModel served by an OpenAI-compatible server (vLLM, or another Glimpse's
 * `/v1/chat/completions`). Answers stream over server-sent events. Build it with
 * `OpenAICompatibleModel.connect`, which checks once that the server serves the model.
 *
 * Usage and timings: prompt and completion tokens come from the server's final usage chunk
 * (`stream_options.include_usage`), or from `measure()` and the number of deltas where it sends
 * none; image tokens are `info.imageTokens` per image. Remote preprocessing, vision and prefill
 * are not observable apart, so their timings are 0 and `timeToFirstTokenMs` holds all three.
 */
export class OpenAICompatibleModel implements VisionChatModel {
  readonly info: ModelInfo;
  private readonly base: string;
  private readonly options: OpenAICompatibleModelOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly controllers = new Set<AbortController>();
  private closed = false;

  constructor(options: OpenAICompatibleModelOptions) {
    const { base, display } = splitUrl(options.url);
    this.base = base;
    this.options = options;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.info = {
      id: options.model,
      source: display,
      contextLength: options.contextLength ?? defaultContextLength,
      imageTokens: options.imageTokens ?? defaultImageTokens,
      maxImagesPerRequest: options.maxImagesPerRequest ?? 4,
    };
  }

  /**
   * Asks `GET /v1/models` whether the server serves `options.model` (and its context length,
   * where the server reports `max_model_len`), then returns the model. Throws one
   * `glimpse_remote_failed` error naming what is wrong: unreachable, refused, or no such model.
   * A server without `/v1/models` (404) is taken at its word.
   */
  static async connect(options: OpenAICompatibleModelOptions): Promise<OpenAICompatibleModel> {
    const probe = new OpenAICompatibleModel(options);
    const entries = await probe.listModels();
    if (entries === undefined) return probe;
    const entry = entries.find((candidate) => candidate.id === options.model);
    if (!entry) {
      const served = entries
        .map((candidate) => String(candidate.id))
        .slice(0, 10)
        .join(', ');
      throw new GlimpseError(
        'glimpse_remote_failed',
        `model '${options.model}' is not served by ${probe.info.source} (it serves: ${served || 'nothing'})`,
        { userMessage: 'The remote model is not available.', details: { source: probe.info.source } },
      );
    }
    const maxModelLen = asCount(entry.max_model_len);
    if (options.contextLength === undefined && maxModelLen) {
      return new OpenAICompatibleModel({ ...options, contextLength: maxModelLen });
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

  /** The served models, or undefined when the server has no `/v1/models`. */
  private async listModels(): Promise<ModelsListEntry[] | undefined> {
    const timeoutMs = this.options.firstByteTimeoutMs ?? defaultFirstByteTimeoutMs;
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.base}/v1/models`, {
        headers: this.headers(true),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw this.transportError(error, false);
    }
    if (response.status === 404) {
      await response.body?.cancel().catch(() => undefined);
      return undefined;
    }
    if (!response.ok) throw await this.statusError(response);
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw this.malformed('the model list is not JSON', error);
    }
    const data = (body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) throw this.malformed('the model list has no data array');
    return data as ModelsListEntry[];
  }

  /**
   * A conservative estimate, since the remote tokenizer is not at hand: one token per 3 UTF-8
   * bytes of text (BPE tokenizers average about 4 on English), 4 tokens per message for the chat
   * template's role markers, 2 for BOS and the assistant prefix, and `info.imageTokens` per image
   * kept (the newest `maxImagesPerRequest`, as `stream` sends them).
   */
  async measure(messages: ModelMessage[]): Promise<PromptMeasure> {
    const plan = this.plan(messages);
    let promptTokens = promptOverheadTokens + plan.images.length * this.info.imageTokens;
    for (const message of plan.messages) {
      promptTokens += messageOverheadTokens;
      for (const part of message.content) {
        if (part.type === 'text')
          promptTokens += Math.ceil(Buffer.byteLength(part.text, 'utf8') / bytesPerTextToken);
      }
    }
    return { promptTokens, imageTokens: plan.images.length * this.info.imageTokens };
  }

  /** The newest `maxImagesPerRequest` images (older ones dropped with a warning), as the onnx model does. */
  private plan(messages: readonly ModelMessage[]): PromptPlan {
    return planPrompt(messages, { maxImages: this.info.maxImagesPerRequest });
  }

  /** The JSON body of `POST /v1/chat/completions` for a request. */
  requestBody(request: ModelRequest): Record<string, unknown> {
    const defaults = this.options.defaults ?? {};
    const maxTokens = request.maxNewTokens ?? defaults.maxNewTokens;
    const temperature = request.temperature ?? defaults.temperature;
    const topP = request.topP ?? defaults.topP;
    const topK = request.topK ?? defaults.topK;
    const repetitionPenalty = request.repetitionPenalty ?? defaults.repetitionPenalty;
    return {
      model: this.options.model,
      messages: toOpenAIMessages(this.plan(request.messages)),
      stream: true,
      stream_options: { include_usage: true },
      ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(topP !== undefined && topP < 1 ? { top_p: topP } : {}),
      // vLLM's sampling extras; sent only when they change something, so plain OpenAI servers work
      ...(topK !== undefined && topK > 0 ? { top_k: topK } : {}),
      ...(repetitionPenalty !== undefined && repetitionPenalty !== 1
        ? { repetition_penalty: repetitionPenalty }
        : {}),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      ...(request.stop && request.stop.length > 0 ? { stop: request.stop } : {}),
    };
  }

  stream(request: ModelRequest, signal?: AbortSignal): AsyncIterable<ModelStreamPart> {
    return {
      [Symbol.asyncIterator]: () => this.generate(request, signal),
    };
  }

  private async *generate(request: ModelRequest, signal?: AbortSignal): AsyncGenerator<ModelStreamPart> {
    const started = performance.now();
    const controller = new AbortController();
    this.controllers.add(controller);
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timeoutMs = this.options.firstByteTimeoutMs ?? defaultFirstByteTimeoutMs;
    let timer: NodeJS.Timeout | undefined = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    let graceTimer: NodeJS.Timeout | undefined;
    const clearTimer = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };

    const plan = this.plan(request.messages);
    const images = plan.images.length;
    let firstDeltaAt: number | undefined;
    let lastDeltaAt: number | undefined;
    let deltas = 0;
    let finishReason: FinishReason | undefined;
    let serverUsage: { prompt?: number; completion?: number } = {};
    let done = false;

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
          prefillMs: 0,
          timeToFirstTokenMs: firstDeltaAt !== undefined ? firstDeltaAt - started : 0,
          decodeTokensPerSecond:
            completionTokens > 1 && decodeMs > 0 ? (completionTokens - 1) / (decodeMs / 1000) : 0,
          totalMs: performance.now() - started,
        },
      };
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
      let response: Response;
      try {
        response = await this.fetchImpl(`${this.base}/v1/chat/completions`, {
          method: 'POST',
          headers: this.headers(false),
          body: JSON.stringify(this.requestBody(request)),
          signal: controller.signal,
        });
      } catch (error) {
        if (signal?.aborted || this.closed) {
          yield await finish('abort');
          return;
        }
        yield { type: 'error', error: this.transportError(error, timedOut) };
        return;
      }
      if (!response.ok) {
        clearTimer();
        yield { type: 'error', error: await this.statusError(response) };
        return;
      }
      if (!response.body) {
        yield { type: 'error', error: this.malformed('the answer has no body') };
        return;
      }

      const reader = response.body.getReader();
      // the first-byte timer stops at the first byte of the body (a keep-alive comment counts)
      const watched = (async function* () {
        try {
          for (;;) {
            const read = await reader.read();
            if (read.done) return;
            clearTimer();
            yield read.value;
          }
        } finally {
          // hangs up when the consumer stopped early; a no-op on a finished body
          await reader.cancel().catch(() => undefined);
        }
      })();
      try {
        for await (const event of parseServerSentEvents(watched)) {
          const data = event.data.trim();
          // after [DONE] the rest of the body is read and ignored, so the connection can be reused
          if (done) continue;
          if (data === '[DONE]') {
            done = true;
            // the body ends right after [DONE]; one that does not is hung up on after a grace period
            graceTimer = setTimeout(() => controller.abort(), afterDoneGraceMs);
            yield await finish(signal?.aborted ? 'abort' : (finishReason ?? 'stop'));
            continue;
          }
          if (data === '') continue;
          let chunk: ChatCompletionChunk;
          try {
            chunk = JSON.parse(data) as ChatCompletionChunk;
          } catch (error) {
            yield { type: 'error', error: this.malformed('a stream event is not JSON', error) };
            return;
          }
          if (typeof chunk !== 'object' || chunk === null) {
            yield { type: 'error', error: this.malformed('a stream event is not an object') };
            return;
          }
          if (chunk.error !== undefined || chunk.object === 'error') {
            const message = serverMessage(chunk);
            yield {
              type: 'error',
              error: new GlimpseError(
                'glimpse_remote_failed',
                `remote model server reported an error mid-stream: ${this.scrub(message ?? 'unknown error')}`,
                {
                  userMessage: 'The remote model server had a problem; try again later.',
                  details: { source: this.info.source },
                },
              ),
            };
            return;
          }
          if (chunk.usage) {
            serverUsage = {
              ...serverUsage,
              ...(asCount(chunk.usage.prompt_tokens) !== undefined
                ? { prompt: asCount(chunk.usage.prompt_tokens) }
                : {}),
              ...(asCount(chunk.usage.completion_tokens) !== undefined
                ? { completion: asCount(chunk.usage.completion_tokens) }
                : {}),
            };
          }
          const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
          if (!choice) continue;
          const content = choice.delta?.content;
          if (typeof content === 'string' && content !== '') {
            const now = performance.now();
            firstDeltaAt ??= now;
            lastDeltaAt = now;
            deltas++;
            yield { type: 'text-delta', text: content };
          }
          if (typeof choice.finish_reason === 'string') {
            finishReason =
              choice.finish_reason === 'length'
                ? 'length'
                : choice.finish_reason === 'abort'
                  ? 'abort'
                  : 'stop';
          }
        }
      } catch (error) {
        if (done) return;
        if (signal?.aborted || this.closed) {
          yield await finish('abort');
          return;
        }
        yield { type: 'error', error: this.transportError(error, timedOut) };
        return;
      }

      if (done) return;
      if (signal?.aborted) {
        yield await finish('abort');
        return;
      }
      if (finishReason === undefined) {
        yield {
          type: 'error',
          error: new GlimpseError('glimpse_remote_failed', 'the remote answer ended before it was complete', {
            userMessage: 'The remote model server stopped answering midway; try again.',
            details: { source: this.info.source },
          }),
        };
        return;
      }
      yield await finish(finishReason);
    } finally {
      clearTimer();
      clearTimeout(graceTimer);
      signal?.removeEventListener('abort', onAbort);
      // frees the connection when the consumer stops early; a no-op once the answer is complete
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

  /** Removes the API key from text that came from elsewhere (a server echoing a header, say). */
  private scrub(text: string): string {
    const key = this.options.apiKey;
    const scrubbed = key ? text.split(key).join('[redacted]') : text;
    return scrubbed.length > 300 ? `${scrubbed.slice(0, 300)}…` : scrubbed;
  }

  private async statusError(response: Response): Promise<GlimpseError> {
    let text = '';
    try {
      text = await response.text();
    } catch {
      // the body is only for the log line
    }
    let said: string | undefined;
    try {
      said = serverMessage(JSON.parse(text));
    } catch {
      said = text.trim() || undefined;
    }
    const userMessage =
      statusUserMessages.find(([matches]) => matches(response.status))?.[1] ??
      'The remote model server rejected the request.';
    return new GlimpseError(
      'glimpse_remote_failed',
      `remote model server answered HTTP ${response.status}${said ? `: ${this.scrub(said)}` : ''}`,
      { userMessage, details: { source: this.info.source, status: response.status } },
    );
  }

  private transportError(error: unknown, timedOut: boolean): GlimpseError {
    if (timedOut || (error instanceof Error && error.name === 'TimeoutError')) {
      const timeoutMs = this.options.firstByteTimeoutMs ?? defaultFirstByteTimeoutMs;
      return new GlimpseError(
        'glimpse_remote_failed',
        `remote model server sent nothing within ${timeoutMs} ms (${this.info.source})`,
        {
          userMessage: 'The remote model server took too long to answer.',
          details: { source: this.info.source },
        },
      );
    }
    const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
    const code =
      (typeof cause?.code === 'string' ? cause.code : undefined) ??
      (typeof (error as { code?: unknown } | undefined)?.code === 'string'
        ? (error as { code: string }).code
        : undefined);
    const what = error instanceof Error ? error.message : String(error);
    return new GlimpseError(
      'glimpse_remote_failed',
      `could not reach the remote model server ${this.info.source}: ${this.scrub(code ? `${code} (${what})` : what)}`,
      {
        userMessage:
          'The model is unavailable right now (its server cannot be reached); please try again shortly.',
        details: { source: this.info.source, ...(code ? { errno: code } : {}) },
      },
    );
  }

  private malformed(what: string, cause?: unknown): GlimpseError {
    return new GlimpseError(
      'glimpse_remote_failed',
      `remote model server sent something unreadable: ${what}`,
      {
        userMessage: 'The remote model server sent an answer Glimpse could not read.',
        details: { source: this.info.source },
        ...(cause !== undefined && cause instanceof Error
          ? { cause: new Error(this.scrub(cause.message)) }
          : {}),
      },
    );
  }
}
