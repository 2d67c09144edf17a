import type { GenerationDefaults } from '../../config.js';
import type { ImagePart } from '../../messages.js';
import type { PromptPlan } from '../prompt-plan.js';
import type { ModelRequest } from '../vision-chat-model.js';

/** The endpoint base (no trailing slash, no `/v1`) and a display form without credentials. */
export function splitServerUrl(url: string): { base: string; display: string } {
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
export function toOpenAIMessages(plan: PromptPlan): Record<string, unknown>[] {
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

/**
 * The JSON body of `POST /v1/chat/completions`: streamed, with the usage chunk asked for;
 * request settings win over the defaults; `top_k` and `repetition_penalty` (vLLM's and
 * llama.cpp's extras) only when they change something, so plain OpenAI servers accept it.
 */
export function chatCompletionBody(
  model: string,
  plan: PromptPlan,
  request: ModelRequest,
  defaults: Partial<GenerationDefaults> = {},
): Record<string, unknown> {
  const maxTokens = request.maxNewTokens ?? defaults.maxNewTokens;
  const temperature = request.temperature ?? defaults.temperature;
  const topP = request.topP ?? defaults.topP;
  const topK = request.topK ?? defaults.topK;
  const repetitionPenalty = request.repetitionPenalty ?? defaults.repetitionPenalty;
  return {
    model,
    messages: toOpenAIMessages(plan),
    stream: true,
    stream_options: { include_usage: true },
    ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined && topP < 1 ? { top_p: topP } : {}),
    ...(topK !== undefined && topK > 0 ? { top_k: topK } : {}),
    ...(repetitionPenalty !== undefined && repetitionPenalty !== 1
      ? { repetition_penalty: repetitionPenalty }
      : {}),
    ...(request.seed !== undefined ? { seed: request.seed } : {}),
    ...(request.stop && request.stop.length > 0 ? { stop: request.stop } : {}),
  };
}

/** per message: role markers and separators of a typical chat template */
const messageOverheadTokens = 4;
/** BOS and the assistant prefix the template appends */
const promptOverheadTokens = 2;
/** English BPE averages about 4 bytes a token; 3 over-counts a little, which is the safe side */
const bytesPerTextToken = 3;

/**
 * A conservative prompt size, since the remote tokenizer is not at hand: one token per 3 UTF-8
 * bytes of text, 4 tokens per message for the chat template's role markers, 2 for BOS and the
 * assistant prefix, and `imageTokens` per image kept.
 */
export function estimatePromptTokens(plan: PromptPlan, imageTokens: number): number {
  let promptTokens = promptOverheadTokens + plan.images.length * imageTokens;
  for (const message of plan.messages) {
    promptTokens += messageOverheadTokens;
    for (const part of message.content) {
      if (part.type === 'text')
        promptTokens += Math.ceil(Buffer.byteLength(part.text, 'utf8') / bytesPerTextToken);
    }
  }
  return promptTokens;
}
