import type { GlimpseError } from '../errors.js';
import type { ImagePart, TextPart } from '../messages.js';

/** One message of the conversation handed to a model, in chat-template order. */
export interface ModelMessage {
  role: 'system' | 'user' | 'assistant';
  content: (TextPart | ImagePart)[];
}

export interface GenerationOptions {
  /** upper bound on generated tokens */
  maxNewTokens?: number;
  /** 0 means greedy */
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
  /** generation stops before any of these strings; they are not emitted */
  stop?: string[];
}

export interface ModelRequest extends GenerationOptions {
  messages: ModelMessage[];
}

export interface ModelUsage {
  /** every token the model read, image tokens included */
  promptTokens: number;
  /** how many of the prompt tokens stood for images */
  imageTokens: number;
  completionTokens: number;
}

export interface ModelTimings {
  preprocessMs: number;
  visionMs: number;
  prefillMs: number;
  timeToFirstTokenMs: number;
  decodeTokensPerSecond: number;
  totalMs: number;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface TextDeltaPart {
  type: 'text-delta';
  text: string;
}

export interface FinishPart {
  type: 'finish';
  finishReason: FinishReason;
  usage: ModelUsage;
  timings: ModelTimings;
  /** the generated token ids, where the model has them (not for remote models) */
  tokenIds?: number[];
}

export interface ErrorPart {
  type: 'error';
  error: GlimpseError;
}

/**
 * What `stream` yields: any number of text deltas, then exactly one `finish` or `error` part.
 * Warnings the user should see ("only the last 4 images are used") come as `warning` parts
 * before the first delta.
 */
export type ModelStreamPart = TextDeltaPart | FinishPart | ErrorPart | WarningPart;

export interface WarningPart {
  type: 'warning';
  code: string;
  message: string;
}

export interface ModelInfo {
  /** a display name, e.g. the model directory's name */
  id: string;
  /** where it was loaded from (a directory or a URL) */
  source: string;
  /** the largest prompt + completion the model accepts, in tokens */
  contextLength: number;
  /** tokens one image occupies in the prompt */
  imageTokens: number;
  maxImagesPerRequest: number;
}

/** Hit and miss counts of one of a model's caches, since it was loaded. */
export interface ModelCacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
}

/** What a model can say about itself for metrics: plain numbers, nothing of its internals. */
export interface ModelStats {
  /** where it runs: `cpu`, `cuda`, or `remote` */
  executionProvider: string;
  /** vision-encoder output kept per distinct image */
  imageCache?: ModelCacheStats;
  /** decoder state kept across turns (prefix reuse) */
  kvCache?: ModelCacheStats & { reusedTokens: number };
}

export interface PromptMeasure {
  promptTokens: number;
  imageTokens: number;
}

/**
 * The model seam. `stream` is lazy: nothing runs until iteration starts. A consumer may stop
 * iterating at any time (or abort the signal); the producer then frees what it holds in `finally`.
 */
export interface VisionChatModel {
  readonly info: ModelInfo;
  stream(request: ModelRequest, signal?: AbortSignal): AsyncIterable<ModelStreamPart>;
  /** the prompt size of `messages` in the model's own tokens, for the context budget */
  measure(messages: ModelMessage[]): Promise<PromptMeasure>;
  /** counters for metrics (`glimpse serve`'s /metrics); optional: a model without caches may omit it */
  stats?(): ModelStats;
  close(): Promise<void>;
}
