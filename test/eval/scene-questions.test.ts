import { beforeAll, describe, expect, it } from 'vitest';
import type { Scene, SceneShape } from '../../src/eval/scene.js';
import { generateScenes } from '../../src/eval/scene-generator.js';
import {
  describeAnswer,
  extremeShape,
  joinList,
  questionsForScene,
  shapePhrase,
} from '../../src/eval/scene-questions.js';
import { loadSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';

let spec: SceneSpec;
beforeAll(async () => {
  spec = await loadSceneSpec();
});

function shape(kind: string, colour: string, cx: number, cy: number): SceneShape {
  return { kind, colour, rgb: [0, 0, 0], size: 24, cx, cy, outlined: false };
}

function scene(shapes: SceneShape[], index = 0): Scene {
  return { index, imageSize: 128, background: 'white', backgroundRgb: [255, 255, 255], shapes, arrows: [] };
}

/** The question template as a regex: `{x}` matches anything. */
function templateRegex(template: string): RegExp {
  const parts = template.split(/\{\w+\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('(.+)')}$`);
}

describe('answers in the spec phrasing', () => {
  it('uses "an" before a vowel sound and lists with commas and a final "and"', () => {
    expect(shapePhrase('orange', 'star')).toBe('an orange star');
    expect(shapePhrase('red', 'circle')).toBe('a red circle');
    expect(joinList(['a', 'b', 'c'])).toBe('a, b and c');
    expect(joinList(['a'])).toBe('a');
    expect(joinList(['a', 'b'])).toBe('a and b');
  });

  it('describes shapes left to right by centre x', () => {
    const s = scene([
      shape('star', 'orange', 100, 20),
      shape('circle', 'red', 20, 100),
      shape('square', 'blue', 60, 60),
    ]);
    expect(describeAnswer(spec, s)).toBe('a red circle, a blue square and an orange star.');
  });
});

describe('unambiguity rules', () => {
  it('asks a position only when the extreme centre is positionMargin beyond every other', () => {
    const margin = spec.positionMargin;
    const close = scene([shape('circle', 'red', 30, 40), shape('square', 'blue', 30 + margin - 1, 90)]);
    expect(extremeShape(spec, close, 'left')).toBeUndefined();
    expect(extremeShape(spec, close, 'top')?.kind).toBe('circle');
    const clear = scene([shape('circle', 'red', 30, 40), shape('square', 'blue', 30 + margin, 90)]);
    expect(extremeShape(spec, clear, 'left')?.kind).toBe('circle');
    expect(extremeShape(spec, clear, 'right')?.kind).toBe('square');
  });

  it('never asks a colour of a repeated kind, nor the shape of a repeated colour', () => {
    const s = scene([
      shape('circle', 'red', 20, 20),
      shape('circle', 'blue', 100, 100),
      shape('star', 'red', 60, 60),
    ]);
    for (let seed = 0; seed < 50; seed++) {
      const { questions, followUp } = questionsForScene(spec, s, seed);
      expect(questions.find((q) => q.type === 'colour')?.question).toBe('What colour is the star?');
      expect(questions.find((q) => q.type === 'shape')?.question).toBe('What shape is blue?');
      if (followUp.type === 'existsThenColour') expect(followUp.first.question).toBe('Is there a star?');
    }
    const noUnique = scene([shape('circle', 'red', 20, 20), shape('circle', 'red', 100, 100)]);
    const { questions } = questionsForScene(spec, noUnique, 1);
    expect(questions.map((q) => q.type)).not.toContain('colour');
    expect(questions.map((q) => q.type)).not.toContain('shape');
  });

  it('holds the rules, the templates and true answers over many generated scenes', () => {
    const seen = new Set<string>();
    let existsYes = 0;
    let existsTotal = 0;
    for (const s of generateScenes(spec, 3, 400)) {
      const { questions, followUp } = questionsForScene(spec, s, 3);
      const kindsOf = (kind: string) => s.shapes.filter((x) => x.kind === kind);
      const coloursOf = (colour: string) => s.shapes.filter((x) => x.colour === colour);
      for (const q of questions) {
        seen.add(q.type);
        const template = spec.questions[q.type];
        const match = q.question.match(templateRegex(template.q));
        expect(match, `${q.question} fits ${template.q}`).not.toBeNull();
        if (q.type === 'colour') {
          const found = kindsOf(match![1]!);
          expect(found).toHaveLength(1);
          expect(q.answer).toBe(found[0]!.colour);
        } else if (q.type === 'shape') {
          const found = coloursOf(match![1]!);
          expect(found).toHaveLength(1);
          expect(q.answer).toBe(found[0]!.kind);
        } else if (q.type === 'count') {
          const kind = spec.kinds.find((k) => spec.plural[k] === match![1]);
          expect(kind).toBeDefined();
          expect(q.answer).toBe(spec.questions.count.numbers[kindsOf(kind!).length]);
        } else if (q.type === 'exists') {
          const [, colour, kind] = q.question.match(/^Is there a (.+) (\w+)\?$/)!;
          const present = s.shapes.some((x) => x.colour === colour && x.kind === kind);
          expect(q.answer).toBe(present ? 'yes' : 'no');
          existsTotal++;
          if (present) existsYes++;
        } else if (q.type === 'position') {
          const side = match![1] as 'left' | 'right' | 'top' | 'bottom';
          const key = (x: SceneShape) =>
            side === 'left' ? -x.cx : side === 'right' ? x.cx : side === 'top' ? -x.cy : x.cy;
          const best = s.shapes.reduce((a, b) => (key(b) > key(a) ? b : a));
          for (const other of s.shapes) {
            if (other !== best) expect(key(best) - key(other)).toBeGreaterThanOrEqual(spec.positionMargin);
          }
          expect(q.answer).toBe(`the ${best.colour} ${best.kind}`);
        } else if (q.type === 'describe') {
          expect(q.question).toBe(spec.questions.describe.q);
          expect(q.answer.endsWith('.')).toBe(true);
        }
      }
      seen.add(followUp.type);
      const dialogue = spec.followUps[followUp.type];
      expect(followUp.first.question).toMatch(templateRegex(dialogue.q1));
      expect(followUp.second.question).toMatch(templateRegex(dialogue.q2));
    }
    expect([...seen].sort()).toEqual(
      [
        'colour',
        'shape',
        'position',
        'count',
        'exists',
        'describe',
        'existsThenColour',
        'countThenCount',
        'positionThenColour',
      ].sort(),
    );
    expect(existsYes / existsTotal).toBeGreaterThan(0.4);
    expect(existsYes / existsTotal).toBeLessThan(0.6);
  });

  it('follow-ups: "what colour is it?" refers to the one shape of that kind; counts name two kinds', () => {
    const s = scene([shape('hexagon', 'green', 20, 20), shape('star', 'black', 100, 100)], 0);
    const seenTypes = new Set<string>();
    for (let index = 0; index < 3; index++) {
      const { followUp } = questionsForScene(spec, { ...s, index }, 5);
      seenTypes.add(followUp.type);
      if (followUp.type === 'existsThenColour') {
        expect(followUp.first.answer).toBe('yes');
        const kind = followUp.first.question.match(/^Is there a (\w+)\?$/)![1];
        expect(followUp.second).toEqual({
          question: 'What colour is it?',
          answer: kind === 'hexagon' ? 'green' : 'black',
        });
      }
      if (followUp.type === 'countThenCount') {
        expect(followUp.second.question).toMatch(/^And how many \w+\?$/);
        expect(followUp.first.question).not.toContain(followUp.second.question.slice(13, -1));
      }
      if (followUp.type === 'positionThenColour') {
        expect(followUp.second.question).toMatch(/^And on the (left|right|top|bottom)\?$/);
      }
    }
    expect(seenTypes.size).toBe(3);
  });
});
