import { beforeAll, describe, expect, it } from 'vitest';
import { answerMatches, captionNamesEverything, normalizeAnswer } from '../../src/eval/answer-scoring.js';
import type { Scene, SceneShape } from '../../src/eval/scene.js';
import { loadSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';

let spec: SceneSpec;
beforeAll(async () => {
  spec = await loadSceneSpec();
});

const shape = (kind: string, colour: string, cx: number): SceneShape => ({
  kind,
  colour,
  rgb: [0, 0, 0],
  size: 24,
  cx,
  cy: 60,
  outlined: false,
});
const scene = (shapes: SceneShape[]): Scene => ({
  index: 0,
  imageSize: 128,
  background: 'white',
  backgroundRgb: [255, 255, 255],
  shapes,
  arrows: [],
});

describe('answer matching (exact after lowercasing, trimming, one trailing period)', () => {
  it('normalizes as the spec says', () => {
    expect(normalizeAnswer('  Red. ')).toBe('red');
    expect(normalizeAnswer('red..')).toBe('red.');
    expect(normalizeAnswer('The Red Circle')).toBe('the red circle');
  });

  it('accepts only exact answers', () => {
    expect(answerMatches('Yes.', 'yes')).toBe(true);
    expect(answerMatches('three', 'three')).toBe(true);
    expect(answerMatches('3', 'three')).toBe(false);
    expect(answerMatches('red circle', 'the red circle')).toBe(false);
    expect(answerMatches('yes, it is', 'yes')).toBe(false);
    expect(answerMatches('a red circle and an orange star.', 'a red circle and an orange star.')).toBe(true);
  });
});

describe('caption completeness', () => {
  it('needs every shape named with its colour, in any order and wording', () => {
    const s = scene([shape('circle', 'red', 10), shape('star', 'orange', 60)]);
    expect(captionNamesEverything(spec, s, 'a red circle and an orange star.')).toBe(true);
    expect(captionNamesEverything(spec, s, 'An orange star, then a red circle')).toBe(true);
    expect(captionNamesEverything(spec, s, 'a red circle.')).toBe(false);
    expect(captionNamesEverything(spec, s, 'a red star and an orange circle.')).toBe(false);
    expect(captionNamesEverything(spec, s, 'a red circles and an orange star.')).toBe(false);
  });

  it('counts repeated shapes: twice in the singular or once in the plural', () => {
    const s = scene([shape('circle', 'red', 10), shape('circle', 'red', 60)]);
    expect(captionNamesEverything(spec, s, 'a red circle.')).toBe(false);
    expect(captionNamesEverything(spec, s, 'a red circle and a red circle.')).toBe(true);
    expect(captionNamesEverything(spec, s, 'two red circles.')).toBe(true);
  });
});
