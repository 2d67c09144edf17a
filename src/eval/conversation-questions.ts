import {
  type AnyIntent,
  type FollowUpName,
  type IntentName,
  intentNames,
  phraseQuestion,
  type Split,
} from './phrasing-grammar.js';
import type { Scene, SceneShape } from './scene.js';
import { describeAnswer, extremeShape } from './scene-questions.js';
import { type SceneSpec, type Side, sides } from './scene-spec.js';
import { SeededRandom } from './seeded-random.js';

/**
 * Questions as people ask them (issue #17): one question of an intent in a trained or held-out
 * phrasing, follow-ups that refer back to the turn before, out-of-domain questions with the
 * honest reply, and dialogues of up to `maxTurns` turns mixing them. The answers are the spec's
 * short answers, whatever the phrasing. The Python trainer builds the same turns from the same
 * spec (`phrasings.py`), from the trained split only.
 */

/** What a turn is about, for a follow-up that refers back to it. */
export interface TurnSubject {
  kind?: string;
  colour?: string;
  side?: Side;
  /** the one shape it established (exists-of-a-kind "yes" with one such shape, a position) */
  shape?: SceneShape;
  /** exists questions: the pair asked */
  pair?: [string, string];
}

export interface ConversationTurn {
  intent: AnyIntent;
  question: string;
  answer: string;
  /** why its phrasing is held out; empty when trained */
  heldOut: string[];
  subject: TurnSubject;
}

/** The single-turn intents a fresh question may have (out of domain aside). */
export const freshIntents: readonly IntentName[] = intentNames.filter((intent) => intent !== 'outOfDomain');

const countOf = (scene: Scene, kind: string) => scene.shapes.filter((shape) => shape.kind === kind).length;

function uniqueKinds(scene: Scene): string[] {
  return [...new Set(scene.shapes.map((shape) => shape.kind))].filter((kind) => countOf(scene, kind) === 1);
}

function uniqueColours(scene: Scene): string[] {
  const colours = scene.shapes.map((shape) => shape.colour);
  return [...new Set(colours)].filter((colour) => colours.filter((c) => c === colour).length === 1);
}

function clearSides(spec: SceneSpec, scene: Scene): Side[] {
  return sides.filter((side) => extremeShape(spec, scene, side) !== undefined);
}

function numberWord(spec: SceneSpec, n: number): string {
  const word = spec.questions.count.numbers[n];
  if (word === undefined) throw new Error(`no number word for ${n}`);
  return word;
}

function countKind(spec: SceneSpec, scene: Scene, random: SeededRandom, except?: string): string {
  const present = [...new Set(scene.shapes.map((shape) => shape.kind))].filter((kind) => kind !== except);
  if (present.length > 0 && random.chance(0.7)) return random.pick(present);
  return random.pick(spec.kinds.filter((kind) => kind !== except));
}

/** An exists pair: half present, else absent (hard negatives half the time, an absent colour word sometimes). */
function existsPair(spec: SceneSpec, scene: Scene, random: SeededRandom, except?: [string, string]) {
  const present = new Set(scene.shapes.map((shape) => `${shape.colour}|${shape.kind}`));
  const same = (c: string, k: string) => except !== undefined && except[0] === c && except[1] === k;
  const shapes = scene.shapes.filter((s) => !same(s.colour, s.kind));
  if (shapes.length > 0 && random.chance(0.5)) {
    const s = random.pick(shapes);
    return { colour: s.colour, kind: s.kind, yes: true };
  }
  if (random.chance(0.15)) {
    return {
      colour: random.pick(spec.conversation.absentColours.values),
      kind: random.pick(spec.kinds),
      yes: false,
    };
  }
  let absent = Object.keys(spec.colours)
    .flatMap((c) => spec.kinds.map((k) => [c, k] as [string, string]))
    .filter(([c, k]) => !present.has(`${c}|${k}`) && !same(c, k));
  if (random.chance(0.5)) {
    const s = random.pick(scene.shapes);
    const hard = absent.filter(([c, k]) => c === s.colour || k === s.kind);
    if (hard.length > 0) absent = hard;
  }
  const [colour, kind] = random.pick(absent);
  return { colour, kind, yes: false };
}

function existsKindPick(spec: SceneSpec, scene: Scene, random: SeededRandom, except?: string): string {
  const present = [...new Set(scene.shapes.map((s) => s.kind))].filter((k) => k !== except);
  const absent = spec.kinds.filter((k) => k !== except && !present.includes(k));
  if (present.length > 0 && (absent.length === 0 || random.chance(0.5))) return random.pick(present);
  return random.pick(absent);
}

/** Subject, slot values and answer of a fresh question, or undefined when the scene does not allow it. */
function freshContent(
  spec: SceneSpec,
  scene: Scene,
  intent: IntentName,
  random: SeededRandom,
): { values: Record<string, string>; side?: Side; answer: string; subject: TurnSubject } | undefined {
  switch (intent) {
    case 'colour': {
      const kinds = uniqueKinds(scene);
      if (kinds.length === 0) return undefined;
      const kind = random.pick(kinds);
      const shape = scene.shapes.find((s) => s.kind === kind)!;
      return { values: { kind }, answer: shape.colour, subject: { kind, colour: shape.colour, shape } };
    }
    case 'shape': {
      const colours = uniqueColours(scene);
      if (colours.length === 0) return undefined;
      const colour = random.pick(colours);
      const shape = scene.shapes.find((s) => s.colour === colour)!;
      return { values: { colour }, answer: shape.kind, subject: { colour, kind: shape.kind } };
    }
    case 'position': {
      const clear = clearSides(spec, scene);
      if (clear.length === 0) return undefined;
      const side = random.pick(clear);
      const shape = extremeShape(spec, scene, side)!;
      return {
        values: {},
        side,
        answer: `the ${shape.colour} ${shape.kind}`,
        subject: { side, shape, kind: shape.kind, colour: shape.colour },
      };
    }
    case 'count': {
      const kind = countKind(spec, scene, random);
      return {
        values: { plural: spec.plural[kind]!, kind },
        answer: numberWord(spec, countOf(scene, kind)),
        subject: { kind },
      };
    }
    case 'exists': {
      const { colour, kind, yes } = existsPair(spec, scene, random);
      return {
        values: { colour, kind, plural: spec.plural[kind]! },
        answer: yes ? 'yes' : 'no',
        subject: { pair: [colour, kind] },
      };
    }
    case 'existsKind': {
      const kind = existsKindPick(spec, scene, random);
      const n = countOf(scene, kind);
      const shape = n === 1 ? scene.shapes.find((s) => s.kind === kind) : undefined;
      return {
        values: { kind, plural: spec.plural[kind]! },
        answer: n > 0 ? 'yes' : 'no',
        subject: { kind, ...(shape ? { shape } : {}) },
      };
    }
    case 'describe':
      return { values: {}, answer: describeAnswer(spec, scene), subject: {} };
    case 'outOfDomain':
      return { values: {}, answer: spec.conversation.honestReply, subject: {} };
  }
}

/** A fresh question of `intent` in `split`, or undefined when the scene does not allow it. */
export function freshTurn(
  spec: SceneSpec,
  scene: Scene,
  intent: IntentName,
  random: SeededRandom,
  split: Split,
): ConversationTurn | undefined {
  const content = freshContent(spec, scene, intent, random);
  if (!content) return undefined;
  const phrased = phraseQuestion(
    spec,
    intent,
    { values: content.values, ...(content.side ? { side: content.side } : {}) },
    random,
    split,
  );
  return { intent, ...phrased, answer: content.answer, subject: content.subject };
}

/** The follow-ups that can come after `previous` on this scene. */
export function followUpsAfter(spec: SceneSpec, scene: Scene, previous: ConversationTurn): FollowUpName[] {
  const out: FollowUpName[] = [];
  const { intent, subject } = previous;
  if (subject.shape && ['existsKind', 'andExistsKind', 'position', 'andSide'].includes(intent)) {
    if (previous.answer !== 'no') out.push('itColour');
  }
  if (['colour', 'itColour', 'andKind'].includes(intent) && subject.kind) {
    if (uniqueKinds(scene).some((k) => k !== subject.kind)) out.push('andKind');
  }
  if (['count', 'andPlural', 'howManyOfThose'].includes(intent) && subject.kind) out.push('andPlural');
  if (['position', 'andSide'].includes(intent) && subject.side) {
    if (clearSides(spec, scene).some((s) => s !== subject.side)) out.push('andSide');
  }
  if (['shape', 'andColourOne'].includes(intent) && subject.colour) {
    if (uniqueColours(scene).some((c) => c !== subject.colour)) out.push('andColourOne');
  }
  if (['exists', 'andExists'].includes(intent) && subject.pair) out.push('andExists');
  if (['existsKind', 'andExistsKind'].includes(intent) && subject.kind) {
    out.push('andExistsKind', 'howManyOfThose');
  }
  return out;
}

/** A follow-up of type `name` to `previous` (one of `followUpsAfter`), in `split`. */
export function followUpTurn(
  spec: SceneSpec,
  scene: Scene,
  previous: ConversationTurn,
  name: FollowUpName,
  random: SeededRandom,
  split: Split,
): ConversationTurn {
  const { subject } = previous;
  let values: Record<string, string> = {};
  let side: Side | undefined;
  let answer: string;
  let next: TurnSubject;
  switch (name) {
    case 'itColour': {
      const shape = subject.shape!;
      answer = shape.colour;
      next = { kind: shape.kind, colour: shape.colour, shape };
      break;
    }
    case 'andKind': {
      const kind = random.pick(uniqueKinds(scene).filter((k) => k !== subject.kind));
      const shape = scene.shapes.find((s) => s.kind === kind)!;
      values = { kind };
      answer = shape.colour;
      next = { kind, colour: shape.colour, shape };
      break;
    }
    case 'andPlural': {
      const kind = countKind(spec, scene, random, subject.kind);
      values = { kind, plural: spec.plural[kind]! };
      answer = numberWord(spec, countOf(scene, kind));
      next = { kind };
      break;
    }
    case 'andSide': {
      side = random.pick(clearSides(spec, scene).filter((s) => s !== subject.side));
      const shape = extremeShape(spec, scene, side)!;
      answer = `the ${shape.colour} ${shape.kind}`;
      next = { side, shape, kind: shape.kind, colour: shape.colour };
      break;
    }
    case 'andColourOne': {
      const colour = random.pick(uniqueColours(scene).filter((c) => c !== subject.colour));
      const shape = scene.shapes.find((s) => s.colour === colour)!;
      values = { colour };
      answer = shape.kind;
      next = { colour, kind: shape.kind };
      break;
    }
    case 'andExists': {
      const { colour, kind, yes } = existsPair(spec, scene, random, subject.pair);
      values = { colour, kind, plural: spec.plural[kind]! };
      answer = yes ? 'yes' : 'no';
      next = { pair: [colour, kind] };
      break;
    }
    case 'andExistsKind': {
      const kind = existsKindPick(spec, scene, random, subject.kind);
      const n = countOf(scene, kind);
      const shape = n === 1 ? scene.shapes.find((s) => s.kind === kind) : undefined;
      values = { kind, plural: spec.plural[kind]! };
      answer = n > 0 ? 'yes' : 'no';
      next = { kind, ...(shape ? { shape } : {}) };
      break;
    }
    case 'howManyOfThose': {
      answer = numberWord(spec, countOf(scene, subject.kind!));
      next = { kind: subject.kind! };
      break;
    }
  }
  const phrased = phraseQuestion(spec, name, { values, ...(side ? { side } : {}) }, random, split);
  return { intent: name, ...phrased, answer, subject: next };
}

export interface DialogueOptions {
  turns: number;
  /** the chance that a turn's phrasing is drawn from the held-out split (0 in training) */
  heldOutP: number;
  /** the chance of a follow-up when the previous turn allows one */
  followUpP: number;
  /** the chance of an out-of-domain turn otherwise */
  outOfDomainP: number;
}

/** A dialogue about one scene: fresh questions, follow-ups referring back, out-of-domain turns. */
export function sampleDialogue(
  spec: SceneSpec,
  scene: Scene,
  random: SeededRandom,
  options: DialogueOptions,
): ConversationTurn[] {
  const turns: ConversationTurn[] = [];
  for (let t = 0; t < options.turns; t++) {
    const split: Split = random.chance(options.heldOutP) ? 'heldOut' : 'trained';
    const previous = turns.at(-1);
    const followUps = previous ? followUpsAfter(spec, scene, previous) : [];
    if (previous && followUps.length > 0 && random.chance(options.followUpP)) {
      turns.push(followUpTurn(spec, scene, previous, random.pick(followUps), random, split));
      continue;
    }
    if (random.chance(options.outOfDomainP)) {
      turns.push(freshTurn(spec, scene, 'outOfDomain', random, split)!);
      continue;
    }
    let turn: ConversationTurn | undefined;
    const described = turns.some((before) => before.intent === 'describe');
    for (const intent of random.shuffle(freshIntents)) {
      if (intent === 'describe' && described) continue; // one long caption per dialogue at most
      turn = freshTurn(spec, scene, intent, random, split);
      if (turn) break;
    }
    turns.push(turn!);
  }
  return turns;
}

/** Whether an answer is the honest out-of-domain reply (the spec's answer matching). */
export function isHonestReply(spec: SceneSpec, answer: string): boolean {
  const norm = (text: string) => text.toLowerCase().trim().replace(/\.$/, '');
  return norm(answer) === norm(spec.conversation.honestReply);
}

export interface SingleCase {
  split: Split;
  turn: ConversationTurn;
}

export interface PairCase {
  split: Split;
  /** a trained fresh question that allows a follow-up */
  first: ConversationTurn;
  /** the follow-up, phrased in `split`; the one scored */
  second: ConversationTurn;
}

/** Everything the conversation part of the evaluation asks about one scene. */
export interface ConversationCases {
  /** one question of every fresh intent the scene allows, and one out-of-domain question, per split */
  single: SingleCase[];
  /** one follow-up per split */
  pairs: PairCase[];
  /** a `maxTurns`-turn dialogue, half its phrasings held out */
  dialogue: ConversationTurn[];
}

export const evalDialogueOptions = { heldOutP: 0.5, followUpP: 0.5, outOfDomainP: 0.1 } as const;

/** The conversation cases for `scene` (deterministic in seed and scene index). */
export function conversationCases(spec: SceneSpec, scene: Scene, seed: number): ConversationCases {
  const random = new SeededRandom((Math.imul(seed ^ 0x1b873593, 13) + scene.index * 65_537 + 17) >>> 0);
  const single: SingleCase[] = [];
  const pairs: PairCase[] = [];
  for (const split of ['trained', 'heldOut'] as const) {
    for (const intent of [...freshIntents, 'outOfDomain'] as const) {
      const turn = freshTurn(spec, scene, intent, random, split);
      if (turn) single.push({ split, turn });
    }
    for (const intent of random.shuffle(freshIntents)) {
      const first = freshTurn(spec, scene, intent, random, 'trained');
      if (!first) continue;
      const options = followUpsAfter(spec, scene, first);
      if (options.length === 0) continue;
      pairs.push({
        split,
        first,
        second: followUpTurn(spec, scene, first, random.pick(options), random, split),
      });
      break;
    }
  }
  const dialogue = sampleDialogue(spec, scene, random, {
    turns: spec.conversation.maxTurns,
    ...evalDialogueOptions,
  });
  return { single, pairs, dialogue };
}
