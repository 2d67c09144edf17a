import { describe, expect, it } from 'vitest';
import { fitContext } from '../../src/conversation/context-budget.js';
import type { ConversationTurn, ImageRef } from '../../src/conversation/conversation-store.js';
import type { ImagePart } from '../../src/messages.js';
import type { ModelMessage } from '../../src/pipeline/vision-chat-model.js';
import { ScriptedModel } from '../fakes/scripted-model.js';
import { imagePart } from './helpers.js';

const at = new Date(0).toISOString();
const ref = (image: ImagePart): ImageRef => ({
  type: 'image-ref',
  sha256: image.sha256,
  mediaType: image.mediaType,
  width: image.width,
  height: image.height,
  name: image.name,
});
const user = (text: string, images: ImagePart[] = []): ConversationTurn => ({
  role: 'user',
  parts: [{ type: 'text', text }, ...images.map(ref)],
  createdAt: at,
});
const assistant = (text: string, interrupted = false): ConversationTurn => ({
  role: 'assistant',
  parts: [{ type: 'text', text }],
  createdAt: at,
  ...(interrupted ? { interrupted } : {}),
});
const render = (messages: ModelMessage[]) =>
  messages.map(
    (m) => `${m.role}:${m.content.map((p) => (p.type === 'text' ? p.text : `<${p.name}>`)).join(' ')}`,
  );

/** a model whose `measure` is counted */
function countingModel() {
  const model = new ScriptedModel([], { info: { imageTokens: 10 } });
  let measured = 0;
  return {
    measure: (messages: ModelMessage[]) => {
      measured++;
      return model.measure(messages);
    },
    get measured() {
      return measured;
    },
  };
}

describe('fitContext', () => {
  it('keeps everything, without warnings, when it fits', async () => {
    const model = countingModel();
    const result = await fitContext({
      model,
      history: [user('hi'), assistant('hello')],
      message: [{ type: 'text', text: 'again' }],
      systemPrompt: 'Be brief.',
      maxImages: 4,
      budgetTokens: 1000,
      loadImage: async () => undefined,
    });
    expect(render(result.messages)).toEqual(['system:Be brief.', 'user:hi', 'assistant:hello', 'user:again']);
    expect(result.warnings).toEqual([]);
    expect(result.keptExchanges).toBe(1);
  });

  it('finds the most exchanges that fit with a logarithmic number of measurements', async () => {
    const model = countingModel();
    const history = Array.from({ length: 64 }, (_, i) => [user(`q${i}`), assistant(`a${i}`)]).flat();
    // each exchange: 2 + 1 + 2 + 1 = 6 tokens; the new message 3 → 10 exchanges fit in 63
    const result = await fitContext({
      model,
      history,
      message: [{ type: 'text', text: 'now' }],
      maxImages: 4,
      budgetTokens: 63,
      loadImage: async () => undefined,
    });
    expect(result.keptExchanges).toBe(10);
    expect(render(result.messages)[0]).toBe('user:q54');
    expect(result.promptTokens).toBe(63);
    expect(model.measured).toBeLessThanOrEqual(8);
    expect(result.warnings).toEqual([
      'Earlier messages no longer fit my context; I used the last 10 exchanges.',
    ]);
  });

  it("keeps the newest images (the new message's first) and marks older and expired ones", async () => {
    const [a, b, c, d, gone] = ['a', 'b', 'c', 'd', 'gone'].map((seed) => imagePart(seed));
    const stored = new Map([a, b, d].map((image) => [image!.sha256, image!]));
    const result = await fitContext({
      model: countingModel(),
      history: [user('one', [d!, a!]), assistant('x'), user('two', [gone!, b!]), assistant('y')],
      message: [{ type: 'text', text: 'three' }, c!],
      maxImages: 3,
      budgetTokens: 1000,
      loadImage: async (sha256) => stored.get(sha256),
    });
    expect(render(result.messages)).toEqual([
      'user:one [image not shown: d.png] <a.png>',
      'assistant:x',
      'user:two [image not shown: gone.png] <b.png>',
      'assistant:y',
      'user:three <c.png>',
    ]);
    expect(result.droppedImages).toBe(1);
    expect(result.warnings).toEqual(['Only the last 3 images are used; older ones were left out.']);
  });

  it('leaves out exchanges whose answer was never shown', async () => {
    const result = await fitContext({
      model: countingModel(),
      history: [user('lost'), assistant('', true), user('kept'), assistant('partial', true)],
      message: [{ type: 'text', text: 'next' }],
      maxImages: 4,
      budgetTokens: 1000,
      loadImage: async () => undefined,
    });
    expect(render(result.messages)).toEqual(['user:kept', 'assistant:partial', 'user:next']);
    expect(result.warnings).toEqual([]);
  });

  it('refuses a new message that cannot fit on its own', async () => {
    await expect(
      fitContext({
        model: countingModel(),
        history: [],
        message: [{ type: 'text', text: 'far too many words for this' }],
        maxImages: 4,
        budgetTokens: 3,
        loadImage: async () => undefined,
      }),
    ).rejects.toMatchObject({ code: 'glimpse_context_overflow' });
  });
});
