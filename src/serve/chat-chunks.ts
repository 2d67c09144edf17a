import type { FinishReason, ModelUsage } from '../pipeline/vision-chat-model.js';

/**
 * The objects of OpenAI's chat completion API, as the official clients parse them:
 * `chat.completion` (non-streaming) and `chat.completion.chunk` (one per server-sent event).
 */

export interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
}

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function openAIUsage(usage: ModelUsage): OpenAIUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

/** `stop` or `length` (an aborted answer has no one left to read its reason; it reads as `stop`). */
export function openAIFinishReason(reason: FinishReason): 'stop' | 'length' {
  return reason === 'length' ? 'length' : 'stop';
}

export function completionObject(
  identity: CompletionIdentity,
  text: string,
  finishReason: FinishReason,
  usage: ModelUsage,
) {
  return {
    id: identity.id,
    object: 'chat.completion' as const,
    created: identity.created,
    model: identity.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: text, refusal: null },
        logprobs: null,
        finish_reason: openAIFinishReason(finishReason),
      },
    ],
    usage: openAIUsage(usage),
  };
}

/**
 * One streamed chunk. With `include_usage`, every chunk carries `usage: null` and one last chunk
 * has no choices and the usage, as OpenAI sends it.
 */
export function chunkObject(
  identity: CompletionIdentity,
  body:
    | { delta: { role?: 'assistant'; content?: string }; finishReason?: FinishReason }
    | { usage: ModelUsage },
  includeUsage: boolean,
) {
  const base = {
    id: identity.id,
    object: 'chat.completion.chunk' as const,
    created: identity.created,
    model: identity.model,
  };
  if ('usage' in body) return { ...base, choices: [], usage: openAIUsage(body.usage) };
  return {
    ...base,
    choices: [
      {
        index: 0,
        delta: body.delta,
        logprobs: null,
        finish_reason: body.finishReason ? openAIFinishReason(body.finishReason) : null,
      },
    ],
    ...(includeUsage ? { usage: null } : {}),
  };
}

/** One server-sent event carrying `value` as JSON. */
export function sseData(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

export const sseDone = 'data: [DONE]\n\n';
