import type { Scene, SceneShape } from './scene.js';
import { shapePhrase } from './scene-questions.js';
import type { SceneSpec } from './scene-spec.js';
import { SeededRandom } from './seeded-random.js';

/**
 * The zero-shot task of the evaluation: 8 candidate labels "a {colour} {kind}" ("an" before a
 * vowel) for an image. The true label names the scene's largest shape (its only shape in a
 * single-shape image; the first of the largest on a tie). The seven distractors name no shape
 * of the image at all, so exactly one candidate is right: as many as possible share the
 * target's colour or its kind (hard negatives, alternating), the rest are any absent pair.
 */

export const zeroShotCandidateCount = 8;

export interface ZeroShotCase {
  target: SceneShape;
  /** shuffled; exactly one equals `answer` */
  labels: string[];
  answer: string;
}

export function largestShape(scene: Scene): SceneShape {
  return scene.shapes.reduce((best, shape) => (shape.size > best.size ? shape : best));
}

export function zeroShotCase(spec: SceneSpec, scene: Scene, seed: number): ZeroShotCase {
  const random = new SeededRandom((Math.imul(seed ^ 0x27d4eb2f, 17) + scene.index * 104_729) >>> 0);
  const target = largestShape(scene);
  const present = new Set(scene.shapes.map((shape) => `${shape.colour}|${shape.kind}`));
  const colours = Object.keys(spec.colours);
  const absent = (colour: string, kind: string) => !present.has(`${colour}|${kind}`);
  const sameColour = random.shuffle(spec.kinds.filter((kind) => absent(target.colour, kind)));
  const sameKind = random.shuffle(colours.filter((colour) => absent(colour, target.kind)));
  const chosen = new Set<string>();
  const want = zeroShotCandidateCount - 1;
  const hardTarget = Math.min(want - 1, 6); // keep at least one fully random distractor
  while (chosen.size < hardTarget && (sameColour.length > 0 || sameKind.length > 0)) {
    const useColour = (chosen.size % 2 === 0 && sameColour.length > 0) || sameKind.length === 0;
    if (useColour) chosen.add(`${target.colour}|${sameColour.shift()}`);
    else chosen.add(`${sameKind.shift()}|${target.kind}`);
  }
  const others = random.shuffle(
    colours
      .flatMap((colour) => spec.kinds.map((kind) => `${colour}|${kind}`))
      .filter((key) => !present.has(key)),
  );
  for (const key of others) {
    if (chosen.size >= want) break;
    chosen.add(key);
  }
  const answer = shapePhrase(target.colour, target.kind);
  const labels = random.shuffle([
    answer,
    ...[...chosen].map((key) => {
      const [colour, kind] = key.split('|') as [string, string];
      return shapePhrase(colour, kind);
    }),
  ]);
  return { target, labels, answer };
}
