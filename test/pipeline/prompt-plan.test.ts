import { describe, expect, it } from 'vitest';
import { defaultImagePrompt, planPrompt } from '../../src/pipeline/prompt-plan.js';
import type { ModelMessage } from '../../src/pipeline/vision-chat-model.js';
import { imagePart } from './helpers/fixture.js';

const image = (name: string) => imagePart(new Uint8Array([1]), 1, 1, name);
const text = (value: string) => ({ type: 'text' as const, text: value });

describe('planPrompt', () => {
  it('keeps images and text in order, images as bare placeholders', () => {
    const plan = planPrompt([{ role: 'user', content: [image('a'), text('what?')] }], { maxImages: 4 });
    expect(plan.messages).toEqual([{ role: 'user', content: [{ type: 'image' }, text('what?')] }]);
    expect(plan.images.map((part) => part.name)).toEqual(['a']);
    expect(plan.warnings).toEqual([]);
  });

  it('drops the oldest images over the maximum, across turns, with a warning the user sees', () => {
    const messages: ModelMessage[] = [
      { role: 'user', content: [image('1'), image('2'), text('first')] },
      { role: 'assistant', content: [text('ok')] },
      { role: 'user', content: [image('3'), image('4'), text('second')] },
    ];
    const plan = planPrompt(messages, { maxImages: 2 });
    expect(plan.images.map((part) => part.name)).toEqual(['3', '4']);
    expect(plan.messages[0]).toEqual({ role: 'user', content: [text('first')] });
    expect(plan.messages[2]?.content).toEqual([{ type: 'image' }, { type: 'image' }, text('second')]);
    expect(plan.warnings).toEqual([
      expect.objectContaining({
        type: 'warning',
        code: 'glimpse_too_many_images',
        message: expect.stringMatching(/last 2 images/),
      }),
    ]);
  });

  it('leaves out images in assistant turns (templates differ on rendering them)', () => {
    const plan = planPrompt(
      [
        { role: 'user', content: [image('u'), text('what?')] },
        { role: 'assistant', content: [image('a'), text('this')] },
      ],
      { maxImages: 4 },
    );
    expect(plan.images.map((part) => part.name)).toEqual(['u']);
    expect(plan.messages[1]?.content).toEqual([text('this')]);
  });

  it('gives an image without a question the default prompt', () => {
    const plan = planPrompt([{ role: 'user', content: [image('a')] }], { maxImages: 4 });
    expect(plan.messages[0]?.content).toEqual([{ type: 'image' }, text(defaultImagePrompt)]);
    expect(defaultImagePrompt).toBe('Describe this image.');
  });

  it('only the last user turn gets the default prompt', () => {
    const plan = planPrompt(
      [
        { role: 'user', content: [image('a')] },
        { role: 'assistant', content: [text('a cat')] },
        { role: 'user', content: [text('and the colour?')] },
      ],
      { maxImages: 4 },
    );
    expect(plan.messages[0]?.content).toEqual([{ type: 'image' }]);
  });
});
