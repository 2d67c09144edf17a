import type { ImagePart } from '../messages.js';
import type { TemplateMessage } from './chat-template.js';
import type { ModelMessage, WarningPart } from './vision-chat-model.js';

export const defaultImagePrompt = 'Describe this image.';

/** The conversation as the chat template sees it, with the images in prompt order. */
export interface PromptPlan {
  messages: TemplateMessage[];
  /** the images that stay, in the order their placeholders appear */
  images: ImagePart[];
  warnings: WarningPart[];
}

export interface PromptPlanOptions {
  maxImages: number;
  /** the question used when the last user turn has images but no text */
  defaultPrompt?: string;
}

/**
 * Turns model messages into chat-template messages: keeps at most `maxImages` images (the newest;
 * older ones are dropped with a warning the user sees), leaves out images in assistant turns, and
 * gives an image-only last user turn the default question.
 */
export function planPrompt(input: readonly ModelMessage[], options: PromptPlanOptions): PromptPlan {
  // the model reads images from the people in the conversation, not from its own turns (chat
  // templates differ on whether they render an assistant's image at all)
  const messages = input.map((message) =>
    message.role === 'assistant'
      ? { ...message, content: message.content.filter((part) => part.type !== 'image') }
      : message,
  );
  const total = messages.reduce(
    (sum, message) => sum + message.content.filter((part) => part.type === 'image').length,
    0,
  );
  let toDrop = Math.max(0, total - options.maxImages);
  const dropped = toDrop;
  const images: ImagePart[] = [];
  const planned: TemplateMessage[] = [];
  const lastUser = messages.findLastIndex((message) => message.role === 'user');
  for (const [index, message] of messages.entries()) {
    const content: TemplateMessage['content'] = [];
    for (const part of message.content) {
      if (part.type === 'image') {
        if (toDrop > 0) {
          toDrop--;
          continue;
        }
        images.push(part);
        content.push({ type: 'image' });
      } else {
        content.push({ type: 'text', text: part.text });
      }
    }
    const hasText = message.content.some((part) => part.type === 'text' && part.text.trim() !== '');
    const hasImage = message.content.some((part) => part.type === 'image');
    if (index === lastUser && hasImage && !hasText) {
      content.push({ type: 'text', text: options.defaultPrompt ?? defaultImagePrompt });
    }
    planned.push({ role: message.role, content });
  }
  const warnings: WarningPart[] = [];
  if (dropped > 0) {
    const kept = options.maxImages;
    warnings.push({
      type: 'warning',
      code: 'glimpse_too_many_images',
      message: `Only the last ${kept} image${kept === 1 ? ' is' : 's are'} used (${dropped} older ${dropped === 1 ? 'one was' : 'ones were'} left out).`,
    });
  }
  return { messages: planned, images, warnings };
}
