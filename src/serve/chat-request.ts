import { z } from 'zod';
import { badRequest } from './openai-error.js';

/**
 * The body of `POST /v1/chat/completions` Glimpse accepts: OpenAI's chat format with `text` and
 * `image_url` parts, the sampling parameters it maps onto a ModelRequest, and vLLM's `top_k` and
 * `repetition_penalty`. Fields it does not use (`user`, `logprobs: false`, …) are ignored.
 */

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const imagePart = z.object({
  type: z.literal('image_url'),
  image_url: z.union([
    z.string().transform((url) => ({ url })),
    z.object({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }),
  ]),
});
const contentPart = z.discriminatedUnion('type', [textPart, imagePart], {
  error: 'expected a part of type "text" or "image_url"',
});

const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant'], {
    error: 'expected "system", "developer", "user" or "assistant"',
  }),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
});

const count = z.number().int().min(1);

export const chatRequestSchema = z.object({
  model: z.string().min(1),
  messages: z.array(message).min(1, { message: 'at least one message is needed' }),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  temperature: z.number().min(0).max(5).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  max_tokens: count.nullish(),
  max_completion_tokens: count.nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(16)]).nullish(),
  seed: z.number().int().nullish(),
  n: z.literal(1, { error: 'only n = 1 is supported' }).nullish(),
  top_k: z.number().int().min(-1).nullish(),
  repetition_penalty: z.number().gt(0).max(5).nullish(),
});

export type ChatRequest = z.output<typeof chatRequestSchema>;
export type ChatRequestMessage = ChatRequest['messages'][number];

/** The request, or the first problem as OpenAI reports it: 400 with the field's path in `param`. */
export function parseChatRequest(body: unknown): ChatRequest {
  const parsed = chatRequestSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.length > 0 ? issue.path.map(String).join('.') : null;
  const message = param ? `${param}: ${issue.message}` : issue.message;
  throw badRequest('invalid_request', message, param);
}
