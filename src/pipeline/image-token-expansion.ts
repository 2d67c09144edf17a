import { GlimpseError } from '../errors.js';
import type { TextTokenizer } from './text-tokenizer.js';

export interface ImageTokenLayout {
  /** the placeholder the chat template writes, e.g. `<image>` */
  imageToken: string;
  imageTokenId: number;
  tokensPerImage: number;
}

export interface EncodedPrompt {
  inputIds: number[];
  /** how many of `inputIds` are image tokens */
  imageTokens: number;
}

function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count++;
  return count;
}

/** Removes the image placeholder from user text, so typed text cannot claim an image's slot. */
export function stripImageToken(text: string, imageToken: string): string {
  return text.split(imageToken).join('');
}

/**
 * Expands every image placeholder of a rendered prompt into `tokensPerImage` image tokens and
 * tokenizes it the way HF's LlavaProcessor does: the text is expanded, then encoded with special
 * tokens on (the post-processor adds BOS) — unless the template already wrote BOS itself, where HF's
 * `processor.apply_chat_template(tokenize=True)` turns special tokens off to avoid a second BOS.
 */
export function encodePrompt(
  text: string,
  imageCount: number,
  tokenizer: TextTokenizer,
  layout: ImageTokenLayout,
): EncodedPrompt {
  const placeholders = countOccurrences(text, layout.imageToken);
  if (placeholders !== imageCount) {
    throw new GlimpseError(
      'glimpse_model_failed',
      `the chat template wrote ${placeholders} image placeholders for ${imageCount} images`,
      { details: { placeholders, imageCount } },
    );
  }
  const expanded = text.split(layout.imageToken).join(layout.imageToken.repeat(layout.tokensPerImage));
  const templateWroteBos = tokenizer.bosToken !== undefined && text.startsWith(tokenizer.bosToken);
  const inputIds = tokenizer.encode(expanded, !templateWroteBos);
  const imageTokens = inputIds.reduce((sum, id) => sum + (id === layout.imageTokenId ? 1 : 0), 0);
  if (imageTokens !== imageCount * layout.tokensPerImage) {
    throw new GlimpseError(
      'glimpse_model_invalid',
      `the tokenizer made ${imageTokens} image tokens (id ${layout.imageTokenId}) for ${imageCount} images × ${layout.tokensPerImage}`,
      { userMessage: 'The model is not installed correctly.' },
    );
  }
  return { inputIds, imageTokens };
}
