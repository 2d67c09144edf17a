import { z } from 'zod';

/**
 * What OpenAI-compatible servers send, as zod schemas: only the fields Glimpse reads, each
 * optional where one of the servers leaves it out (llama.cpp sends `content: null` in its first
 * delta and usage beside the finish reason; vLLM sends usage in a chunk of its own). Unknown
 * fields are ignored.
 */

const count = z.number().finite().nonnegative();

/** One `data:` event of a streamed `POST /v1/chat/completions`. */
export const chatCompletionChunkSchema = z.object({
  object: z.string().nullish(),
  choices: z
    .array(
      z.object({
        delta: z.object({ content: z.string().nullish() }).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: z.object({ prompt_tokens: count.nullish(), completion_tokens: count.nullish() }).nullish(),
  /** llama.cpp's own timings (`llama-server`): prompt evaluation time */
  timings: z.object({ prompt_ms: count.nullish() }).nullish(),
  /** an error event mid-stream: OpenAI's `{error: {message}}`, vLLM's `{object: 'error', message}` */
  error: z.unknown().optional(),
  message: z.unknown().optional(),
});
export type ChatCompletionChunk = z.output<typeof chatCompletionChunkSchema>;

/** One entry of `GET /v1/models`. */
export const modelEntrySchema = z.object({
  id: z.string(),
  /** vLLM (and `glimpse serve`) report the context here */
  max_model_len: count.nullish(),
  /** `llamacpp` for llama.cpp's `llama-server`, `vllm` for vLLM */
  owned_by: z.string().nullish(),
});
export type ModelEntry = z.output<typeof modelEntrySchema>;

export const modelListSchema = z.object({ data: z.array(modelEntrySchema) });

/** llama.cpp's `GET /props`: the context of a slot, and whether a vision projector is loaded. */
export const llamaCppPropsSchema = z.object({
  default_generation_settings: z.object({ n_ctx: count.nullish() }).nullish(),
  modalities: z.object({ vision: z.boolean().nullish() }).nullish(),
});
export type LlamaCppProps = z.output<typeof llamaCppPropsSchema>;

/** What an error body says: OpenAI's `{error: {message}}`, `{error: 'text'}`, or vLLM's `{object: 'error', message}`. */
export function serverMessage(body: unknown): string | undefined {
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
