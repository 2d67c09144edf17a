import type { ImagePart } from '../messages.js';
import type { ImageLabeler, LabelScore } from '../pipeline/zero-shot-labeler.js';

/** What a caption is: the model's answer to this prompt (the tiny-shapes describe question). */
export const defaultCaptionPrompt = 'Describe the image.';

/** The labels worth showing next to a caption: the most likely few, above a floor. */
export async function topLabels(
  labeler: ImageLabeler,
  image: ImagePart,
  labels: readonly string[],
  options: { top?: number; minProbability?: number; signal?: AbortSignal } = {},
): Promise<LabelScore[]> {
  if (labels.length === 0) return [];
  const ranked = await labeler.rank(image, labels, options.signal);
  const floor = options.minProbability ?? 0.15;
  return ranked
    .slice(0, options.top ?? 3)
    .filter((score, index) => index === 0 || score.probability >= floor);
}

/** The caption reply: a suggested alt text, then the labels with their probabilities. */
export function captionReplyText(caption: string, labels: readonly LabelScore[]): string {
  const alt = caption.trim() === '' ? '(no caption)' : caption.trim();
  const lines = [`Suggested alt text: ${alt}`];
  if (labels.length > 0) {
    lines.push(`Labels: ${labels.map((l) => `${l.label} (${Math.round(l.probability * 100)}%)`).join(', ')}`);
  }
  return lines.join('\n');
}
