import { setTimeout as sleep } from 'node:timers/promises';
import type { GlimpseError } from '../../src/errors.js';
import type {
  ModelInfo,
  ModelMessage,
  ModelRequest,
  ModelStreamPart,
  PromptMeasure,
  VisionChatModel,
} from '../../src/pipeline/vision-chat-model.js';

/** One scripted answer: the deltas to yield, then a finish (or an error). */
export interface Script {
  deltas: string[];
  /** wait this long before each delta (ms), so tests can cancel mid-stream */
  delayMs?: number;
  /** yield an error part after the deltas instead of finishing */
  error?: GlimpseError;
  warnings?: string[];
  /** resolve this promise before yielding the first delta (lets tests hold a turn open) */
  gate?: Promise<void>;
}

export interface RecordedCall {
  request: ModelRequest;
  signal: AbortSignal | undefined;
  /** deltas actually yielded */
  yielded: string[];
  /** whether the producer's `finally` ran */
  cleanedUp: boolean;
  finishReason?: 'stop' | 'length' | 'abort';
}

/**
 * A VisionChatModel that answers from a script and records every call: the fake the tests of
 * everything above the pipeline use. Token counts are whitespace words; an image counts as
 * `info.imageTokens` tokens.
 */
export class ScriptedModel implements VisionChatModel {
  readonly info: ModelInfo;
  readonly calls: RecordedCall[] = [];
  private readonly scripts: Script[];
  private readonly fallback: (request: ModelRequest) => Script;
  closed = false;

  constructor(
    scripts: Script[] = [],
    options: { info?: Partial<ModelInfo>; fallback?: (request: ModelRequest) => Script } = {},
  ) {
    this.scripts = [...scripts];
    this.fallback = options.fallback ?? (() => ({ deltas: ['ok'] }));
    this.info = {
      id: 'scripted',
      source: 'memory',
      contextLength: 2048,
      imageTokens: 16,
      maxImagesPerRequest: 4,
      ...options.info,
    };
  }

  async measure(messages: ModelMessage[]): Promise<PromptMeasure> {
    let promptTokens = 0;
    let imageTokens = 0;
    for (const message of messages) {
      promptTokens += 2; // role markers
      for (const part of message.content) {
        if (part.type === 'image') {
          imageTokens += this.info.imageTokens;
          promptTokens += this.info.imageTokens;
        } else {
          promptTokens += part.text.split(/\s+/).filter(Boolean).length;
        }
      }
    }
    return { promptTokens, imageTokens };
  }

  stream(request: ModelRequest, signal?: AbortSignal): AsyncIterable<ModelStreamPart> {
    const script = this.scripts.shift() ?? this.fallback(request);
    const call: RecordedCall = { request, signal, yielded: [], cleanedUp: false };
    this.calls.push(call);
    const measure = () => this.measure(request.messages);
    return (async function* generate(): AsyncGenerator<ModelStreamPart> {
      const started = performance.now();
      try {
        for (const message of script.warnings ?? []) yield { type: 'warning', code: 'scripted', message };
        if (script.gate) await script.gate;
        let count = 0;
        for (const delta of script.deltas) {
          if (script.delayMs) await sleep(script.delayMs);
          if (signal?.aborted) break;
          if (request.maxNewTokens !== undefined && count >= request.maxNewTokens) break;
          call.yielded.push(delta);
          count++;
          yield { type: 'text-delta', text: delta };
        }
        if (script.error && !signal?.aborted) {
          yield { type: 'error', error: script.error };
          return;
        }
        const finishReason = signal?.aborted ? 'abort' : count < script.deltas.length ? 'length' : 'stop';
        call.finishReason = finishReason;
        const { promptTokens, imageTokens } = await measure();
        yield {
          type: 'finish',
          finishReason,
          usage: { promptTokens, imageTokens, completionTokens: count },
          timings: {
            preprocessMs: 0,
            visionMs: 0,
            prefillMs: 0,
            timeToFirstTokenMs: 0,
            decodeTokensPerSecond: 0,
            totalMs: performance.now() - started,
          },
        };
      } finally {
        call.cleanedUp = true;
      }
    })();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
