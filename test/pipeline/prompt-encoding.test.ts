import { beforeAll, describe, expect, it } from 'vitest';
import { isGlimpseError } from '../../src/errors.js';
import { ChatTemplate } from '../../src/pipeline/chat-template.js';
import { encodePrompt, stripImageToken } from '../../src/pipeline/image-token-expansion.js';
import { LlavaPrompt } from '../../src/pipeline/llava-prompt.js';
import { type ModelDirectory, readModelDirectory } from '../../src/pipeline/model-directory.js';
import { type ModelSpec, modelSpecOf } from '../../src/pipeline/model-spec.js';
import { TextTokenizer } from '../../src/pipeline/text-tokenizer.js';
import { fixtureDir, imagePart } from './helpers/fixture.js';

let files: ModelDirectory;
let spec: ModelSpec;
let tokenizer: TextTokenizer;
beforeAll(async () => {
  files = await readModelDirectory(fixtureDir);
  spec = modelSpecOf(files);
  tokenizer = new TextTokenizer(files.tokenizerJson, files.tokenizerConfig, files.specialTokensMap);
});
const layout = () => ({ imageToken: '<image>', imageTokenId: 510, tokensPerImage: 576 });
const image = (name: string) => imagePart(new Uint8Array([1]), 1, 1, name);

describe('TextTokenizer', () => {
  it('knows the special tokens and adds BOS through the post-processor', () => {
    expect(tokenizer.bosToken).toBe('<s>');
    expect(tokenizer.bosTokenId).toBe(1);
    expect(tokenizer.eosTokenId).toBe(2);
    expect(tokenizer.specialIds.has(510)).toBe(true);
    const ids = tokenizer.encode('USER: hi', true);
    expect(ids[0]).toBe(1);
    expect(tokenizer.encode('USER: hi', false)).toEqual(ids.slice(1));
    expect(tokenizer.decode(ids)).toBe('USER: hi');
  });
});

describe('ChatTemplate', () => {
  it("renders the model's template to text as HF does", () => {
    const template = new ChatTemplate(files.chatTemplate, { bosToken: '<s>', eosToken: '</s>' });
    const text = template.render([
      { role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'What is it?' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'A circle.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Colour?' }] },
    ]);
    expect(text).toBe('USER: <image>\nWhat is it? ASSISTANT: A circle.</s>USER: Colour? ASSISTANT:');
  });

  it('a model without a template is a clear error', () => {
    expect(() => new ChatTemplate(undefined)).toThrow(/no chat template/);
  });
});

describe('encodePrompt (image-token expansion)', () => {
  it('expands each placeholder into the per-image count, BOS once', () => {
    const encoded = encodePrompt('USER: <image>\n<image>\nhi ASSISTANT:', 2, tokenizer, layout());
    expect(encoded.imageTokens).toBe(1152);
    expect(encoded.inputIds[0]).toBe(1);
    expect(encoded.inputIds.filter((id) => id === 1)).toHaveLength(1);
    const firstImage = encoded.inputIds.indexOf(510);
    expect(encoded.inputIds.slice(firstImage, firstImage + 576).every((id) => id === 510)).toBe(true);
  });

  it('does not add a second BOS when the template writes it (as HF processor.apply_chat_template)', () => {
    const encoded = encodePrompt('<s>USER: hi ASSISTANT:', 0, tokenizer, layout());
    expect(encoded.inputIds.filter((id) => id === 1)).toHaveLength(1);
    expect(encoded.inputIds[0]).toBe(1);
  });

  it('placeholders and images must agree', () => {
    let error: unknown;
    try {
      encodePrompt('USER: <image>\nhi', 2, tokenizer, layout());
    } catch (caught) {
      error = caught;
    }
    expect(isGlimpseError(error, 'glimpse_model_failed')).toBe(true);
  });

  it('user text cannot claim an image slot', () => {
    expect(stripImageToken('look <image> here', '<image>')).toBe('look  here');
  });
});

describe('LlavaPrompt', () => {
  it('builds ids for several images per turn and images in earlier turns', () => {
    const prompt = LlavaPrompt.fromFiles(spec, tokenizer, files.chatTemplate, { maxImages: 4 });
    const built = prompt.build([
      { role: 'user', content: [image('a'), image('b'), { type: 'text', text: 'Compare.' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Same.' }] },
      { role: 'user', content: [image('c'), { type: 'text', text: 'And this <image>?' }] },
    ]);
    expect(built.images.map((part) => part.name)).toEqual(['a', 'b', 'c']);
    expect(built.imageTokens).toBe(3 * 576);
    expect(built.text).toBe(
      'USER: <image>\n<image>\nCompare. ASSISTANT: Same.</s>USER: <image>\nAnd this ? ASSISTANT:',
    );
    expect(built.inputIds.filter((id) => id === 510)).toHaveLength(3 * 576);
  });

  it('drops images over the maximum oldest-first with a warning', () => {
    const prompt = LlavaPrompt.fromFiles(spec, tokenizer, files.chatTemplate, { maxImages: 1 });
    const built = prompt.build([
      { role: 'user', content: [image('old'), image('new'), { type: 'text', text: 'hm' }] },
    ]);
    expect(built.images.map((part) => part.name)).toEqual(['new']);
    expect(built.imageTokens).toBe(576);
    expect(built.warnings[0]?.message).toMatch(/last 1 image is used/);
  });

  it('a text-only turn has no image tokens', () => {
    const prompt = LlavaPrompt.fromFiles(spec, tokenizer, files.chatTemplate, { maxImages: 4 });
    const built = prompt.build([{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }]);
    expect(built.imageTokens).toBe(0);
    expect(built.text).toBe('USER: Hello ASSISTANT:');
  });
});
