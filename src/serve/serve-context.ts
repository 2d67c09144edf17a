import type { ImageLimits } from '../ingest/image-ingest.js';
import type { Logger } from '../logger.js';
import type { VisionChatModel } from '../pipeline/vision-chat-model.js';
import type { RequestQueue } from './request-queue.js';
import type { ServeMetrics } from './serve-metrics.js';

/** What every route of `glimpse serve` reads: the model, its queue, metrics and limits. */
export interface ServeContext {
  model: VisionChatModel;
  queue: RequestQueue;
  metrics: ServeMetrics;
  logger: Logger;
  apiKey?: string;
  /** the answer's length when a request gives no `max_tokens` (bounded by the context left) */
  defaultMaxTokens: number;
  images: ImageLimits & { maxPerRequest: number; remoteHosts: readonly string[] };
  /** the largest request body: every allowed image base64-encoded, plus 1 MiB of text */
  maxBodyBytes: number;
  /** the model's creation time, seconds (OpenAI's `created`) */
  created: number;
  /** between SSE keep-alive comments while a streamed answer waits or prefills */
  heartbeatMs: number;
}
