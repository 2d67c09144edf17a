import type { Scene } from './scene.js';
import type { SceneSpec } from './scene-spec.js';

/**
 * The spec's `answerMatching`: "exact after lowercasing, trimming and removing one trailing
 * period".
 */
export function normalizeAnswer(text: string): string {
  const trimmed = text.toLowerCase().trim();
  return trimmed.endsWith('.') ? trimmed.slice(0, -1) : trimmed;
}

export function answerMatches(given: string, expected: string): boolean {
  return normalizeAnswer(given) === normalizeAnswer(expected);
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function occurrences(text: string, phrase: string): number {
  return (text.match(new RegExp(`(?<![a-z])${escapeRegExp(phrase)}(?![a-z])`, 'g')) ?? []).length;
}

/**
 * Caption completeness: the caption names every shape present with its colour. Each
 * (colour, kind) pair of the scene must appear as "{colour} {kind}" at least as often as the
 * scene holds it ("a red circle and a red circle"), or once in the plural ("two red circles")
 * when it holds several. Extra words, order and punctuation do not matter.
 */
export function captionNamesEverything(spec: SceneSpec, scene: Scene, caption: string): boolean {
  const text = caption.toLowerCase().replace(/\s+/g, ' ');
  const needed = new Map<string, { colour: string; kind: string; count: number }>();
  for (const shape of scene.shapes) {
    const key = `${shape.colour}|${shape.kind}`;
    const entry = needed.get(key) ?? { colour: shape.colour, kind: shape.kind, count: 0 };
    entry.count++;
    needed.set(key, entry);
  }
  for (const { colour, kind, count } of needed.values()) {
    const singular = occurrences(text, `${colour} ${kind}`);
    const plural = occurrences(text, `${colour} ${spec.plural[kind] ?? `${kind}s`}`);
    if (singular < count && !(count > 1 && plural > 0)) return false;
  }
  return true;
}
