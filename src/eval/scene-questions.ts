import type { Scene, SceneShape } from './scene.js';
import { fillTemplate, type SceneSpec, type Side, sides } from './scene-spec.js';
import { SeededRandom } from './seeded-random.js';

/**
 * Questions and answers about a scene, in the spec's exact phrasing, asked only when the answer
 * is unambiguous (the spec's `when` rules).
 */

export type QuestionType = 'colour' | 'shape' | 'position' | 'count' | 'exists' | 'describe';
export const questionTypes: readonly QuestionType[] = [
  'colour',
  'shape',
  'position',
  'count',
  'exists',
  'describe',
];

export type FollowUpType = 'existsThenColour' | 'countThenCount' | 'positionThenColour';
export const followUpTypes: readonly FollowUpType[] = [
  'existsThenColour',
  'countThenCount',
  'positionThenColour',
];

export interface QuestionAnswer {
  question: string;
  answer: string;
}

export interface SceneQuestion extends QuestionAnswer {
  type: QuestionType;
}

export interface SceneFollowUp {
  type: FollowUpType;
  first: QuestionAnswer;
  second: QuestionAnswer;
}

/** "a red circle", "an orange star" ('an' before a vowel sound). */
export function shapePhrase(colour: string, kind: string): string {
  return `${/^[aeiou]/i.test(colour) ? 'an' : 'a'} ${colour} ${kind}`;
}

/** "a, b and c" */
export function joinList(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** The describe answer: shapes left to right by centre x, e.g. "a red circle and an orange star." */
export function describeAnswer(spec: SceneSpec, scene: Scene): string {
  const ordered = [...scene.shapes].sort((a, b) => a.cx - b.cx);
  return fillTemplate(spec.questions.describe.a, {
    list: joinList(ordered.map((shape) => shapePhrase(shape.colour, shape.kind))),
  });
}

/**
 * The shape that is clearly the most `side`: its centre at least `positionMargin` beyond every
 * other shape's centre; undefined when no shape is (a lone shape is trivially clear).
 */
export function extremeShape(spec: SceneSpec, scene: Scene, side: Side): SceneShape | undefined {
  const key = (shape: SceneShape) =>
    side === 'left' ? -shape.cx : side === 'right' ? shape.cx : side === 'top' ? -shape.cy : shape.cy;
  const ordered = [...scene.shapes].sort((a, b) => key(b) - key(a));
  const [first, second] = ordered;
  if (!first) return undefined;
  if (second && key(first) - key(second) < spec.positionMargin) return undefined;
  return first;
}

const countOf = (scene: Scene, kind: string) => scene.shapes.filter((shape) => shape.kind === kind).length;
const colourCount = (scene: Scene, colour: string) =>
  scene.shapes.filter((shape) => shape.colour === colour).length;

function countWord(spec: SceneSpec, count: number): string {
  const word = spec.questions.count.numbers[count];
  if (word === undefined) throw new Error(`no number word for ${count}`);
  return word;
}

function sideName(spec: SceneSpec, side: Side): string {
  return spec.questions.position.sides[side]!;
}

/** Kinds of which the scene has exactly one. */
function uniqueKinds(scene: Scene): string[] {
  return [...new Set(scene.shapes.map((shape) => shape.kind))].filter((kind) => countOf(scene, kind) === 1);
}

function uniqueColours(scene: Scene): string[] {
  return [...new Set(scene.shapes.map((shape) => shape.colour))].filter(
    (colour) => colourCount(scene, colour) === 1,
  );
}

function clearSides(spec: SceneSpec, scene: Scene): Side[] {
  return sides.filter((side) => extremeShape(spec, scene, side) !== undefined);
}

/** A kind to count: usually one present in the scene, sometimes any kind (possibly zero). */
function countKind(spec: SceneSpec, scene: Scene, random: SeededRandom, except?: string): string {
  const present = [...new Set(scene.shapes.map((shape) => shape.kind))].filter((kind) => kind !== except);
  if (present.length > 0 && random.chance(0.7)) return random.pick(present);
  return random.pick(spec.kinds.filter((kind) => kind !== except));
}

function colourQuestion(spec: SceneSpec, scene: Scene, random: SeededRandom): SceneQuestion | undefined {
  const kinds = uniqueKinds(scene);
  if (kinds.length === 0) return undefined;
  const kind = random.pick(kinds);
  const shape = scene.shapes.find((s) => s.kind === kind)!;
  const t = spec.questions.colour;
  return {
    type: 'colour',
    question: fillTemplate(t.q, { kind }),
    answer: fillTemplate(t.a, { colour: shape.colour }),
  };
}

function shapeQuestion(spec: SceneSpec, scene: Scene, random: SeededRandom): SceneQuestion | undefined {
  const colours = uniqueColours(scene);
  if (colours.length === 0) return undefined;
  const colour = random.pick(colours);
  const shape = scene.shapes.find((s) => s.colour === colour)!;
  const t = spec.questions.shape;
  return {
    type: 'shape',
    question: fillTemplate(t.q, { colour }),
    answer: fillTemplate(t.a, { kind: shape.kind }),
  };
}

function positionQuestion(spec: SceneSpec, scene: Scene, random: SeededRandom): SceneQuestion | undefined {
  const clear = clearSides(spec, scene);
  if (clear.length === 0) return undefined;
  const side = random.pick(clear);
  const shape = extremeShape(spec, scene, side)!;
  const t = spec.questions.position;
  return {
    type: 'position',
    question: fillTemplate(t.q, { side: sideName(spec, side) }),
    answer: fillTemplate(t.a, { colour: shape.colour, kind: shape.kind }),
  };
}

function countQuestion(spec: SceneSpec, scene: Scene, random: SeededRandom): SceneQuestion {
  const kind = countKind(spec, scene, random);
  const t = spec.questions.count;
  return {
    type: 'count',
    question: fillTemplate(t.q, { plural: spec.plural[kind]!, kind }),
    answer: fillTemplate(t.a, { number: countWord(spec, countOf(scene, kind)) }),
  };
}

function existsQuestion(spec: SceneSpec, scene: Scene, random: SeededRandom): SceneQuestion {
  const present = new Set(scene.shapes.map((shape) => `${shape.colour}|${shape.kind}`));
  let colour: string;
  let kind: string;
  if (random.chance(0.5)) {
    ({ colour, kind } = random.pick(scene.shapes));
  } else {
    const absent = Object.keys(spec.colours)
      .flatMap((c) => spec.kinds.map((k) => [c, k] as const))
      .filter(([c, k]) => !present.has(`${c}|${k}`));
    [colour, kind] = random.pick(absent);
  }
  const t = spec.questions.exists;
  return {
    type: 'exists',
    question: fillTemplate(t.q, { colour, kind }),
    answer: fillTemplate(t.a, { yesno: present.has(`${colour}|${kind}`) ? 'yes' : 'no' }),
  };
}

function describeQuestion(spec: SceneSpec, scene: Scene): SceneQuestion {
  return { type: 'describe', question: spec.questions.describe.q, answer: describeAnswer(spec, scene) };
}

function existsThenColour(spec: SceneSpec, scene: Scene, random: SeededRandom): SceneFollowUp | undefined {
  const kinds = uniqueKinds(scene);
  if (kinds.length === 0) return undefined;
  const kind = random.pick(kinds);
  const shape = scene.shapes.find((s) => s.kind === kind)!;
  const t = spec.followUps.existsThenColour;
  return {
    type: 'existsThenColour',
    first: { question: fillTemplate(t.q1, { kind }), answer: fillTemplate(t.a1, {}) },
    second: { question: fillTemplate(t.q2, {}), answer: fillTemplate(t.a2, { colour: shape.colour }) },
  };
}

function countThenCount(spec: SceneSpec, scene: Scene, random: SeededRandom): SceneFollowUp {
  const kind = countKind(spec, scene, random);
  const kind2 = countKind(spec, scene, random, kind);
  const t = spec.followUps.countThenCount;
  return {
    type: 'countThenCount',
    first: {
      question: fillTemplate(t.q1, { plural: spec.plural[kind]! }),
      answer: fillTemplate(t.a1, { number: countWord(spec, countOf(scene, kind)) }),
    },
    second: {
      question: fillTemplate(t.q2, { plural2: spec.plural[kind2]! }),
      answer: fillTemplate(t.a2, { number2: countWord(spec, countOf(scene, kind2)) }),
    },
  };
}

function positionThenColour(spec: SceneSpec, scene: Scene, random: SeededRandom): SceneFollowUp | undefined {
  const clear = clearSides(spec, scene);
  if (clear.length < 2) return undefined;
  const [side, side2] = random.shuffle(clear) as [Side, Side];
  const a = extremeShape(spec, scene, side)!;
  const b = extremeShape(spec, scene, side2)!;
  const t = spec.followUps.positionThenColour;
  return {
    type: 'positionThenColour',
    first: {
      question: fillTemplate(t.q1, { side: sideName(spec, side) }),
      answer: fillTemplate(t.a1, { colour: a.colour, kind: a.kind }),
    },
    second: {
      question: fillTemplate(t.q2, { side2: sideName(spec, side2) }),
      answer: fillTemplate(t.a2, { colour2: b.colour, kind2: b.kind }),
    },
  };
}

export interface SceneQuestions {
  /** at most one question of each type, those whose `when` rule the scene meets */
  questions: SceneQuestion[];
  /** one two-turn dialogue, its type drawn among those the scene allows */
  followUp: SceneFollowUp;
}

/** The questions asked about `scene` (deterministic in seed and scene index). */
export function questionsForScene(spec: SceneSpec, scene: Scene, seed: number): SceneQuestions {
  const random = new SeededRandom((Math.imul(seed ^ 0x5bd1e995, 31) + scene.index * 7919) >>> 0);
  const questions = [
    colourQuestion(spec, scene, random),
    shapeQuestion(spec, scene, random),
    positionQuestion(spec, scene, random),
    countQuestion(spec, scene, random),
    existsQuestion(spec, scene, random),
    describeQuestion(spec, scene),
  ].filter((question): question is SceneQuestion => question !== undefined);
  // the dialogue type rotates with the scene index, falling back to one the scene allows
  const makers = [existsThenColour, countThenCount, positionThenColour];
  let followUp: SceneFollowUp | undefined;
  for (let k = 0; k < makers.length && !followUp; k++) {
    followUp = makers[(scene.index + k) % makers.length]!(spec, scene, random);
  }
  return { questions, followUp: followUp ?? countThenCount(spec, scene, random) };
}
