import { GlimpseError } from '../errors.js';
import type { ImagePart, MessagePart } from '../messages.js';
import type { ModelMessage, VisionChatModel } from '../pipeline/vision-chat-model.js';
import type { ConversationTurn, ImageRef } from './conversation-store.js';

export interface FitInput {
  model: Pick<VisionChatModel, 'measure'>;
  history: ConversationTurn[];
  /** the new user message (text and images, images already validated) */
  message: MessagePart[];
  systemPrompt?: string;
  /** images per request, the new message's included */
  maxImages: number;
  /** the most prompt tokens: context length minus the room kept for the answer */
  budgetTokens: number;
  /** resolves a stored image; undefined when it expired */
  loadImage: (sha256: string) => Promise<ImagePart | undefined>;
}

export interface FitResult {
  messages: ModelMessage[];
  promptTokens: number;
  /** history exchanges (a user turn and its answer) kept / in the history */
  keptExchanges: number;
  totalExchanges: number;
  /** images left out because of `maxImages` */
  droppedImages: number;
  /** one-line notes for the user, e.g. that history was cut */
  warnings: string[];
}

type Exchange = ConversationTurn[];

/** Groups turns into exchanges: a user turn and the assistant turns after it. */
function exchangesOf(history: ConversationTurn[]): Exchange[] {
  const exchanges: Exchange[] = [];
  for (const turn of history) {
    const last = exchanges.at(-1);
    if (turn.role === 'assistant' && last) last.push(turn);
    else exchanges.push([turn]);
  }
  return exchanges;
}

const textOfTurn = (turn: ConversationTurn) =>
  turn.parts
    .filter((part): part is { type: 'text'; text: string } => part.type === 'text')
    .map((part) => part.text)
    .join('\n');

/** An exchange goes into a prompt only whole: a user turn that got a (partly) shown answer. */
const usable = (exchange: Exchange) =>
  exchange[0]?.role === 'user' &&
  exchange.some((turn) => turn.role === 'assistant' && textOfTurn(turn) !== '');

/**
 * Fits history into the model's context: the newest exchanges that fit `budgetTokens` by the
 * model's own count (`measure`), and the newest `maxImages` images (the new message's first).
 * Older images in kept turns become a short text marker. Binary search: O(log n) measurements.
 */
export async function fitContext(input: FitInput): Promise<FitResult> {
  const exchanges = exchangesOf(input.history).filter(usable);
  const warnings: string[] = [];

  // Images: the new message's newest first, then the history's, newest to oldest.
  const newImages = input.message.filter((part): part is ImagePart => part.type === 'image');
  const keptNew = new Set(newImages.slice(Math.max(0, newImages.length - input.maxImages)));
  const newDropped = newImages.length - keptNew.size;
  const resolved = new Map<string, ImagePart>();
  const overLimit = new Set<string>();
  let slots = input.maxImages - keptNew.size;
  const historyRefs = exchanges
    .flat()
    .flatMap((turn) => turn.parts.filter((part): part is ImageRef => part.type === 'image-ref'))
    .reverse();
  for (const ref of historyRefs) {
    if (resolved.has(ref.sha256) || overLimit.has(ref.sha256)) continue;
    if (slots <= 0) {
      overLimit.add(ref.sha256);
      continue;
    }
    const image = await input.loadImage(ref.sha256);
    if (!image) continue;
    resolved.set(ref.sha256, image);
    slots--;
  }

  const system: ModelMessage[] = input.systemPrompt
    ? [{ role: 'system', content: [{ type: 'text', text: input.systemPrompt }] }]
    : [];
  const newMessage: ModelMessage = {
    role: 'user',
    content: input.message.filter((part) => part.type === 'text' || keptNew.has(part)),
  };

  const build = (keep: number): { messages: ModelMessage[]; dropped: number } => {
    const kept = exchanges.slice(exchanges.length - keep);
    const used = new Set<string>();
    let dropped = newDropped;
    const messages: ModelMessage[] = [...system];
    for (const turn of kept.flat()) {
      const content: ModelMessage['content'] = [];
      for (const part of turn.parts) {
        if (part.type === 'text') {
          if (part.text !== '') content.push({ type: 'text', text: part.text });
          continue;
        }
        const image = resolved.get(part.sha256);
        if (image && !used.has(part.sha256)) {
          used.add(part.sha256);
          content.push(image);
        } else if (!image) {
          if (overLimit.has(part.sha256)) dropped++;
          content.push({ type: 'text', text: `[image not shown: ${part.name}]` });
        }
      }
      if (content.length > 0) messages.push({ role: turn.role, content });
    }
    messages.push(newMessage);
    return { messages, dropped };
  };

  const fits = async (keep: number) => {
    const { messages, dropped } = build(keep);
    const { promptTokens } = await input.model.measure(messages);
    return { messages, dropped, promptTokens, ok: promptTokens <= input.budgetTokens };
  };

  const alone = await fits(0);
  if (!alone.ok) {
    throw new GlimpseError('glimpse_context_overflow', 'the new message alone exceeds the context budget', {
      userMessage: 'That message is too long for me — please shorten it or send fewer images.',
      details: { promptTokens: alone.promptTokens, budgetTokens: input.budgetTokens },
    });
  }
  let best = alone;
  let bestKeep = 0;
  let low = 1;
  let high = exchanges.length;
  while (low <= high) {
    const mid = Math.floor((low + high) / 2);
    const attempt = await fits(mid);
    if (attempt.ok) {
      best = attempt;
      bestKeep = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  if (best.dropped > 0) {
    warnings.push(
      `Only the last ${input.maxImages} image${input.maxImages === 1 ? ' is' : 's are'} used; older ones were left out.`,
    );
  }
  if (bestKeep < exchanges.length) {
    warnings.push(
      bestKeep === 0
        ? 'Earlier messages no longer fit my context, so I answered this one on its own.'
        : `Earlier messages no longer fit my context; I used the last ${bestKeep} exchange${bestKeep === 1 ? '' : 's'}.`,
    );
  }
  return {
    messages: best.messages,
    promptTokens: best.promptTokens,
    keptExchanges: bestKeep,
    totalExchanges: exchanges.length,
    droppedImages: best.dropped,
    warnings,
  };
}
