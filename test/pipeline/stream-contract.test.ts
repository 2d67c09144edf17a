import { describe, expect, it } from 'vitest';
import type { ModelRequest } from '../../src/pipeline/vision-chat-model.js';
import { ScriptedModel } from '../fakes/scripted-model.js';

const request: ModelRequest = {
  messages: [{ role: 'user', content: [{ type: 'text', text: 'hello there' }] }],
};

describe('VisionChatModel stream contract (scripted model)', () => {
  it('yields deltas then exactly one finish part with usage', async () => {
    const model = new ScriptedModel([{ deltas: ['a ', 'red ', 'circle'] }]);
    const parts = [];
    for await (const part of model.stream(request)) parts.push(part);
    expect(parts.map((part) => part.type)).toEqual(['text-delta', 'text-delta', 'text-delta', 'finish']);
    const finish = parts.at(-1);
    expect(finish).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { completionTokens: 3 } });
  });

  it("runs the producer's finally when the consumer breaks early", async () => {
    const model = new ScriptedModel([{ deltas: ['one', 'two', 'three', 'four'] }]);
    const seen: string[] = [];
    for await (const part of model.stream(request)) {
      if (part.type === 'text-delta') seen.push(part.text);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(['one', 'two']);
    expect(model.calls[0]?.cleanedUp).toBe(true);
    expect(model.calls[0]?.yielded).toEqual(['one', 'two']);
  });

  it('stops at the next step after the signal aborts and reports finishReason abort', async () => {
    const model = new ScriptedModel([{ deltas: ['a', 'b', 'c', 'd'], delayMs: 5 }]);
    const controller = new AbortController();
    const parts = [];
    for await (const part of model.stream(request, controller.signal)) {
      parts.push(part);
      if (part.type === 'text-delta') controller.abort();
    }
    expect(parts.filter((part) => part.type === 'text-delta')).toHaveLength(1);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'abort' });
    expect(model.calls[0]?.cleanedUp).toBe(true);
  });
});
