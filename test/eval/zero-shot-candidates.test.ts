import { beforeAll, describe, expect, it } from 'vitest';
import { generateScenes } from '../../src/eval/scene-generator.js';
import { shapePhrase } from '../../src/eval/scene-questions.js';
import { loadSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';
import { largestShape, zeroShotCandidateCount, zeroShotCase } from '../../src/eval/zero-shot-candidates.js';

let spec: SceneSpec;
beforeAll(async () => {
  spec = await loadSceneSpec();
});

describe('zero-shot candidates', () => {
  it('gives 8 distinct labels: the largest shape, and 7 naming nothing in the image', () => {
    for (const scene of generateScenes(spec, 11, 300)) {
      const c = zeroShotCase(spec, scene, 11);
      expect(c.labels).toHaveLength(zeroShotCandidateCount);
      expect(new Set(c.labels).size).toBe(zeroShotCandidateCount);
      const largest = largestShape(scene);
      expect(c.answer).toBe(shapePhrase(largest.colour, largest.kind));
      for (const shape of scene.shapes) expect(shape.size).toBeLessThanOrEqual(largest.size);
      const present = new Set(scene.shapes.map((s) => shapePhrase(s.colour, s.kind)));
      expect(c.labels.filter((label) => present.has(label))).toEqual([c.answer]);
      for (const label of c.labels) expect(label).toMatch(/^an? \w+ \w+$/);
      // hard negatives: most distractors share the target's colour or kind
      const hard = c.labels.filter(
        (label) =>
          label !== c.answer && (label.includes(` ${largest.colour} `) || label.endsWith(` ${largest.kind}`)),
      );
      expect(hard.length).toBeGreaterThanOrEqual(4);
    }
  });

  it('is deterministic and puts the answer at varying positions', () => {
    const scenes = generateScenes(spec, 12, 40);
    const a = scenes.map((scene) => zeroShotCase(spec, scene, 12));
    expect(scenes.map((scene) => zeroShotCase(spec, scene, 12))).toEqual(a);
    expect(new Set(a.map((c) => c.labels.indexOf(c.answer))).size).toBeGreaterThan(3);
  });
});
