import { createHash } from 'node:crypto';
import type { Config } from '../../src/config.js';
import type {
  ChatEvent,
  ChatEventHandler,
  HandleResult,
  ReplyChannel,
} from '../../src/conversation/chat-event.js';
import { createLogger, type Logger } from '../../src/logger.js';
import type { ChatMessage, ImagePart, MessagePart } from '../../src/messages.js';

/** A logger whose JSON lines land in `lines` (parsed), so tests can assert structured logs. */
export function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    format: 'json',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

export function imagePart(seed: string, name = `${seed}.png`): ImagePart {
  const bytes = new Uint8Array(Buffer.from(`fake image bytes ${seed}`));
  return {
    type: 'image',
    mediaType: 'image/png',
    bytes,
    width: 8,
    height: 8,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    name,
  };
}

export function chatMessage(
  conversationId: string,
  messageId: string,
  text: string,
  options: { images?: ImagePart[]; authorId?: string; isBot?: boolean } = {},
): ChatMessage {
  const parts: MessagePart[] = [];
  if (text !== '') parts.push({ type: 'text', text });
  parts.push(...(options.images ?? []));
  return {
    platform: 'web',
    conversationId,
    messageId,
    author: { id: options.authorId ?? 'u1', name: 'User', isBot: options.isBot ?? false },
    parts,
  };
}

export function messageEvent(message: ChatMessage, reply: ReplyChannel): ChatEvent {
  return { type: 'message', message, reply };
}

export function managerConfig(
  scheduler: Partial<Config['scheduler']> = {},
  overrides: { maxImages?: number; maxNewTokens?: number; systemPrompt?: string } = {},
): Pick<Config, 'generation' | 'images' | 'scheduler'> {
  return {
    generation: {
      maxNewTokens: overrides.maxNewTokens ?? 64,
      temperature: 0,
      topP: 1,
      topK: 0,
      repetitionPenalty: 1,
      ...(overrides.systemPrompt ? { systemPrompt: overrides.systemPrompt } : {}),
    },
    images: { maxPerRequest: overrides.maxImages ?? 4, maxBytes: 1 << 20, maxPixels: 1 << 24 },
    scheduler: { concurrency: 1, queueMax: 32, rateLimitPerMinute: 0, ...scheduler },
  };
}

/** A promise with its resolver, to hold a scripted turn open. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Waits until `check` holds (polling, bounded at ~10 s; no timing is asserted). */
export async function until(check: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, i < 50 ? 0 : 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Waits until `check` holds, polling every `intervalMs`, for up to `timeoutMs` (for waits longer
 * than `until`'s; no timing is asserted). `what` may be computed when the wait fails.
 */
export async function eventually(
  check: () => boolean,
  what: string | (() => string),
  options: { timeoutMs: number; intervalMs: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

/** Hands `event` to `handler` and waits for everything it started (`HandleResult.done`). */
export async function handled(handler: ChatEventHandler, event: ChatEvent): Promise<HandleResult> {
  const result = await handler.handle(event);
  await result.done;
  return result;
}
