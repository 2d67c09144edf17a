import { beforeAll, describe, expect, it } from 'vitest';
import {
  type ConversationTurn,
  conversationCases,
  followUpsAfter,
  freshIntents,
  freshTurn,
  isHonestReply,
  sampleDialogue,
} from '../../src/eval/conversation-questions.js';
import type { Scene, SceneShape } from '../../src/eval/scene.js';
import { generateScenes } from '../../src/eval/scene-generator.js';
import { describeAnswer, extremeShape } from '../../src/eval/scene-questions.js';
import { loadSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';
import { SeededRandom } from '../../src/eval/seeded-random.js';

let spec: SceneSpec;
beforeAll(async () => {
  spec = await loadSceneSpec();
});

const count = (scene: Scene, kind: string) => scene.shapes.filter((s) => s.kind === kind).length;
const number = (n: number) => spec.questions.count.numbers[n];
const named = (s: SceneShape) => `the ${s.colour} ${s.kind}`;

/** The answer a turn must have, worked out from the scene and the turn's subject alone. */
function check(scene: Scene, turn: ConversationTurn, previous?: ConversationTurn): void {
  const { subject } = turn;
  switch (turn.intent) {
    case 'colour':
    case 'andKind':
      expect(count(scene, subject.kind!)).toBe(1);
      expect(turn.answer).toBe(scene.shapes.find((s) => s.kind === subject.kind)!.colour);
      if (turn.intent === 'andKind') expect(subject.kind).not.toBe(previous!.subject.kind);
      break;
    case 'itColour':
      // "it": the one shape the turn before established (its kind may repeat after a position)
      expect(previous!.subject.shape).toBeDefined();
      expect(subject.shape).toBe(previous!.subject.shape);
      expect(turn.answer).toBe(subject.shape!.colour);
      break;
    case 'shape':
    case 'andColourOne': {
      const found = scene.shapes.filter((s) => s.colour === subject.colour);
      expect(found).toHaveLength(1);
      expect(turn.answer).toBe(found[0]!.kind);
      break;
    }
    case 'position':
    case 'andSide':
      expect(turn.answer).toBe(named(extremeShape(spec, scene, subject.side!)!));
      if (turn.intent === 'andSide') expect(subject.side).not.toBe(previous!.subject.side);
      break;
    case 'count':
    case 'andPlural':
    case 'howManyOfThose':
      expect(turn.answer).toBe(number(count(scene, subject.kind!)));
      if (turn.intent === 'howManyOfThose') expect(subject.kind).toBe(previous!.subject.kind);
      if (turn.intent === 'andPlural') expect(subject.kind).not.toBe(previous!.subject.kind);
      break;
    case 'exists':
    case 'andExists': {
      const [colour, kind] = subject.pair!;
      const present = scene.shapes.some((s) => s.colour === colour && s.kind === kind);
      expect(turn.answer).toBe(present ? 'yes' : 'no');
      break;
    }
    case 'existsKind':
    case 'andExistsKind':
      expect(turn.answer).toBe(count(scene, subject.kind!) > 0 ? 'yes' : 'no');
      break;
    case 'describe':
      expect(turn.answer).toBe(describeAnswer(spec, scene));
      break;
    case 'outOfDomain':
      expect(isHonestReply(spec, turn.answer)).toBe(true);
      break;
  }
}

describe('conversation questions', () => {
  it('answers every fresh intent truly, in both splits, whatever the phrasing', () => {
    const random = new SeededRandom(9);
    let asked = 0;
    for (const scene of generateScenes(spec, 4, 150)) {
      for (const intent of [...freshIntents, 'outOfDomain'] as const) {
        for (const split of ['trained', 'heldOut'] as const) {
          const turn = freshTurn(spec, scene, intent, random, split);
          if (!turn) continue;
          asked++;
          check(scene, turn);
          expect(turn.heldOut.length > 0).toBe(split === 'heldOut');
        }
      }
    }
    expect(asked).toBeGreaterThan(150 * 10);
  });

  it('builds dialogues whose follow-ups refer back to the turn before, with true answers', () => {
    const random = new SeededRandom(21);
    const seen = new Set<string>();
    let yesExists = 0;
    let exists = 0;
    for (const scene of generateScenes(spec, 6, 200)) {
      const turns = sampleDialogue(spec, scene, random, {
        turns: spec.conversation.maxTurns,
        heldOutP: 0,
        followUpP: 0.6,
        outOfDomainP: 0.1,
      });
      expect(turns).toHaveLength(spec.conversation.maxTurns);
      turns.forEach((turn, t) => {
        seen.add(turn.intent);
        expect(turn.heldOut).toEqual([]);
        const previous = turns[t - 1];
        if (!freshIntents.includes(turn.intent as never) && turn.intent !== 'outOfDomain') {
          expect(previous, turn.intent).toBeDefined();
          expect(followUpsAfter(spec, scene, previous!)).toContain(turn.intent);
        }
        check(scene, turn, previous);
        if (turn.intent === 'exists' || turn.intent === 'existsKind') {
          exists++;
          if (turn.answer === 'yes') yesExists++;
        }
      });
    }
    expect([...seen].sort()).toEqual(
      [
        ...freshIntents,
        'outOfDomain',
        'itColour',
        'andKind',
        'andPlural',
        'andSide',
        'andColourOne',
        'andExists',
        'andExistsKind',
        'howManyOfThose',
      ].sort(),
    );
    expect(yesExists / exists).toBeGreaterThan(0.35);
    expect(yesExists / exists).toBeLessThan(0.65);
  });

  it('gives the evaluation the same cases for the same seed and scene, half of the dialogue held out', () => {
    const scenes = generateScenes(spec, 90_417, 60);
    let heldOut = 0;
    let turns = 0;
    for (const scene of scenes) {
      const cases = conversationCases(spec, scene, 90_417);
      expect(conversationCases(spec, scene, 90_417)).toEqual(cases);
      expect(cases.single.filter((c) => c.split === 'heldOut').map((c) => c.turn.intent)).toEqual(
        cases.single.filter((c) => c.split === 'trained').map((c) => c.turn.intent),
      );
      expect(cases.pairs.map((p) => p.split)).toEqual(['trained', 'heldOut']);
      for (const pair of cases.pairs) {
        expect(pair.first.heldOut).toEqual([]);
        expect(followUpsAfter(spec, scene, pair.first)).toContain(pair.second.intent);
      }
      expect(cases.dialogue).toHaveLength(spec.conversation.maxTurns);
      turns += cases.dialogue.length;
      heldOut += cases.dialogue.filter((t) => t.heldOut.length > 0).length;
    }
    expect(heldOut / turns).toBeGreaterThan(0.35);
    expect(heldOut / turns).toBeLessThan(0.65);
  });
});
