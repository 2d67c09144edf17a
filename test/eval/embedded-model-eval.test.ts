import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { conversationCases } from '../../src/eval/conversation-questions.js';
import { playgroundScene, runEmbeddedModelEval } from '../../src/eval/embedded-model-eval.js';
import { evalPassed, evalRows, evalTargets, formatEvalReport } from '../../src/eval/eval-report.js';
import { defaultEvalSeed, generateScene } from '../../src/eval/scene-generator.js';
import { questionsForScene } from '../../src/eval/scene-questions.js';
import { renderScenePng } from '../../src/eval/scene-renderer.js';
import { loadSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';
import { zeroShotCase } from '../../src/eval/zero-shot-candidates.js';
import { createLogger } from '../../src/logger.js';
import type { ImagePart } from '../../src/messages.js';
import { createModel } from '../../src/pipeline/create-model.js';
import type { ModelRequest } from '../../src/pipeline/vision-chat-model.js';
import type { ImageLabeler, LabelScore } from '../../src/pipeline/zero-shot-labeler.js';
import { ZeroShotLabeler } from '../../src/pipeline/zero-shot-labeler.js';
import { ScriptedModel } from '../fakes/scripted-model.js';

let spec: SceneSpec;
beforeAll(async () => {
  spec = await loadSceneSpec();
});

interface Oracle {
  /** the user questions of a conversation, joined by newlines → the right answer to the last */
  answers: Map<string, string>;
  zeroShotAnswer: string;
}

const style = () => ({
  outlineWidth: spec.diagram.outlineWidth,
  labelColour: spec.diagram.labelColour,
  arrowColour: spec.diagram.arrowColour,
});
const sha = (png: Buffer) => createHash('sha256').update(png).digest('hex');

/** Records the right answer after each prefix of a conversation. */
function addConversation(answers: Map<string, string>, turns: { question: string; answer: string }[]) {
  turns.forEach((_turn, t) => {
    answers.set(
      turns
        .slice(0, t + 1)
        .map((x) => x.question)
        .join('\n'),
      turns[t]!.answer,
    );
  });
}

/** What a perfect model would answer, per image hash (built from the same generators). */
async function oracles(seed: number, count: number): Promise<Map<string, Oracle>> {
  const byHash = new Map<string, Oracle>();
  for (let index = 0; index < count; index++) {
    const scene = generateScene(spec, seed, index);
    const png = await renderScenePng(scene, style());
    const { questions, followUp } = questionsForScene(spec, scene, seed);
    const answers = new Map<string, string>();
    for (const q of questions) addConversation(answers, [q]);
    addConversation(answers, [followUp.first, followUp.second]);
    const cases = conversationCases(spec, scene, seed);
    for (const { turn } of cases.single) addConversation(answers, [turn]);
    for (const { first, second } of cases.pairs) addConversation(answers, [first, second]);
    addConversation(answers, cases.dialogue);
    byHash.set(sha(png), { answers, zeroShotAnswer: zeroShotCase(spec, scene, seed).answer });
  }
  const playground = await renderScenePng(playgroundScene(spec), style());
  const answers = new Map<string, string>();
  addConversation(
    answers,
    spec.conversation.playground.turns.map((turn) => ({ question: turn.q, answer: turn.a })),
  );
  byHash.set(sha(playground), { answers, zeroShotAnswer: '' });
  return byHash;
}

const firstImage = (messages: { content: { type: string }[] }[]) =>
  messages.flatMap((m) => m.content).find((part): part is ImagePart => part.type === 'image');

const userQuestions = (request: ModelRequest) =>
  request.messages
    .filter((m) => m.role === 'user')
    .map((m) => m.content.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join(''));

/**
 * A model that answers as the oracle says, unless `twist` gives another answer for a request
 * (its user questions, the oracle's answer); answers come back capitalised with a period, as the
 * real model writes them.
 */
function oracleModel(
  table: Map<string, Oracle>,
  twist: (questions: string[], right: string) => string = (_q, right) => right,
): ScriptedModel {
  return new ScriptedModel([], {
    fallback: (request) => {
      const oracle = table.get(firstImage(request.messages)!.sha256)!;
      const questions = userQuestions(request);
      const right = oracle.answers.get(questions.join('\n')) ?? '?';
      const answer = twist(questions, right);
      const sentence = answer.endsWith('.') ? answer : `${answer}.`;
      return { deltas: [` ${sentence[0]!.toUpperCase()}`, sentence.slice(1)] };
    },
  });
}

function oracleLabeler(table: Map<string, Oracle>): ImageLabeler {
  return {
    async rank(image, labels) {
      const answer = table.get((image as ImagePart).sha256)!.zeroShotAnswer;
      const ranked: LabelScore[] = labels.map((label) => ({
        label,
        probability: label === answer ? 0.9 : 0.1 / (labels.length - 1),
        similarity: label === answer ? 0.5 : 0,
      }));
      return ranked.sort((a, b) => b.probability - a.probability);
    },
    async close() {},
  };
}

const rate = (t: { correct: number; total: number }) => t.correct / t.total;

describe('runEmbeddedModelEval (with an oracle model)', () => {
  it('scores a perfect model 100% and a model wrong on counts accordingly, with its own first turn in follow-ups', async () => {
    const seed = 5;
    const count = 12;
    const table = await oracles(seed, count);
    const model = oracleModel(table, (questions, right) =>
      questions.length === 1 && questions[0]!.startsWith('How many') ? 'seven' : right,
    );
    const progress: number[] = [];
    const result = await runEmbeddedModelEval({
      spec,
      model,
      labeler: oracleLabeler(table),
      seed,
      count,
      onProgress: (done) => progress.push(done),
    });
    expect(progress.at(-1)).toBe(count);
    for (const type of ['colour', 'shape', 'position', 'exists', 'describe'] as const) {
      expect(result.qa[type].correct, type).toBe(result.qa[type].total);
    }
    expect(result.qa.count).toEqual({ correct: 0, total: count });
    expect(result.caption).toEqual({ correct: count, total: count });
    expect(result.zeroShot).toEqual({ correct: count, total: count });
    // only the canonical count question is asked first and alone, so the follow-ups stay right
    expect(result.followUp.correct).toBe(result.followUp.total);
    expect(result.qa.position.total + result.qa.colour.total).toBeGreaterThan(count);

    // the second turn: image + first question, the model's own answer, then the follow-up alone
    const followUpCall = model.calls.find((call) => call.request.messages.length === 3)!;
    const [user, assistant, next] = followUpCall.request.messages as [
      (typeof followUpCall.request.messages)[0],
      (typeof followUpCall.request.messages)[0],
      (typeof followUpCall.request.messages)[0],
    ];
    expect(user.content[0]?.type).toBe('image');
    expect(assistant.role).toBe('assistant');
    expect(assistant.content).toEqual([{ type: 'text', text: expect.stringMatching(/\.$/) }]);
    expect(next.content.every((part) => part.type === 'text')).toBe(true);
    expect(model.calls.every((call) => call.request.temperature === 0)).toBe(true);

    const rows = evalRows(result);
    expect(rows[0]!.pass).toBe(false); // every count answer is wrong: 75% < 90%
    expect(evalPassed(result)).toBe(false);
    const report = formatEvalReport(result);
    expect(report).toMatch(/Q&A exact \(colour\/shape\/count\/position\).*FAIL/);
    expect(report).toMatch(/captions naming every shape and colour\s+100\.0%\s+12\/12\s+≥ 80%\s+PASS/);
    expect(report).toMatch(/expected "\w+", got "Seven\."/);
    expect(report.trim().endsWith('FAIL')).toBe(true);
  });

  it('issue #17: a perfect model passes every target; phrasings, turns, out-of-domain and the playground are all asked', async () => {
    const seed = 11;
    const count = 10;
    const table = await oracles(seed, count);
    const model = oracleModel(table);
    const result = await runEmbeddedModelEval({ spec, model, labeler: oracleLabeler(table), seed, count });
    expect(result.mistakes).toEqual([]);
    expect(evalPassed(result)).toBe(true);
    // every fresh intent that a scene allows, in both splits, and one follow-up per split
    expect(result.phrasing.trained.total).toBeGreaterThanOrEqual(count * 5);
    expect(result.phrasing.heldOut.total).toBe(result.phrasing.trained.total);
    expect(Object.keys(result.phrasingByIntent.heldOut)).toEqual(
      expect.arrayContaining(['colour', 'shape', 'position', 'count', 'exists', 'existsKind', 'describe']),
    );
    expect(Object.keys(result.heldOutByItem).length).toBeGreaterThan(10);
    expect(result.outOfDomain.trained).toEqual({ correct: count, total: count });
    expect(result.outOfDomain.heldOut).toEqual({ correct: count, total: count });
    expect(result.byTurn).toHaveLength(spec.conversation.maxTurns);
    for (const turn of result.byTurn) expect(turn).toEqual({ correct: count, total: count });
    expect(result.playground).toEqual({ correct: 4, total: 4 });
    expect(result.falseRefusals.correct).toBe(0);

    // 6-turn dialogues: the whole history (the model's own answers) goes back each turn
    const longest = model.calls.reduce((a, b) =>
      b.request.messages.length > a.request.messages.length ? b : a,
    );
    expect(longest.request.messages).toHaveLength(2 * spec.conversation.maxTurns - 1);
    expect(longest.request.messages.filter((m) => m.content.some((p) => p.type === 'image'))).toHaveLength(1);

    const report = formatEvalReport(result);
    for (const name of [
      'held-out phrasings',
      'dialogues, turns 4–6',
      'out-of-domain: honest reply (held-out questions)',
      'playground conversation',
      'trained phrasings',
      'dialogues, turn 1',
      'dialogues, turns 2–3',
    ]) {
      expect(report).toContain(name);
    }
    expect(report).toMatch(/> What color is the circle\?\n\s+Red\.\s+\(ok\)/);
  });

  it('issue #17: each new figure falls when the model fails at it — invented shapes out of domain, late turns, held-out phrasings', async () => {
    const seed = 11;
    const count = 8;
    const table = await oracles(seed, count);
    const honest = spec.conversation.honestReply;
    const heldOut = new Set<string>();
    for (let index = 0; index < count; index++) {
      const cases = conversationCases(spec, generateScene(spec, seed, index), seed);
      for (const { turn } of cases.single) if (turn.heldOut.length > 0) heldOut.add(turn.question);
      for (const { second } of cases.pairs) if (second.heldOut.length > 0) heldOut.add(second.question);
    }
    const model = oracleModel(table, (questions, right) => {
      if (right === honest) return 'a red circle.'; // invents a shape
      if (questions.length >= 4) return 'zero'; // loses track after three turns
      if (questions.length === 1 && heldOut.has(questions[0]!)) return honest; // refuses new phrasings
      return right;
    });
    const result = await runEmbeddedModelEval({ spec, model, labeler: oracleLabeler(table), seed, count });
    expect(result.outOfDomain.heldOut.correct).toBe(0);
    expect(result.outOfDomain.trained.correct).toBe(0);
    expect(rate(result.byTurn[0]!)).toBeGreaterThan(0.85);
    for (const turn of result.byTurn.slice(3)) expect(rate(turn)).toBeLessThan(0.5);
    expect(rate(result.phrasing.trained)).toBe(1);
    expect(rate(result.phrasing.heldOut)).toBeLessThan(0.5);
    expect(result.falseRefusals.correct).toBeGreaterThan(0);
    const failing = evalRows(result)
      .filter((row) => row.pass === false)
      .map((row) => row.name);
    expect(failing).toEqual([
      'held-out phrasings',
      'dialogues, turns 4–6 (own answers in history)',
      'out-of-domain: honest reply (held-out questions)',
      'playground conversation (issue #17)',
    ]);
  });
});

const modelDir = 'models/tiny-shapes';
const haveModel = existsSync(`${modelDir}/config.json`);
if (!haveModel) {
  console.warn(
    `skipping the embedded-model evaluation: ${modelDir} does not exist yet (train/export it first)`,
  );
}

/**
 * The committed model (issue #17's run 17c, train.py's defaults: models/README.md) measured on this
 * 40-image sample (greedy, so deterministic): Q&A 98.1% (153/156), captions 92.5% (37/40), zero-shot
 * 85.0% (34/40), follow-ups 82.5% (33/40), held-out phrasings 93.4% (295/316), turns 4–6 91.7%
 * (110/120), out of domain 97.5% (39/40), playground 4/4. On 200 images (`npm run eval`): seed 90417
 * 99.2 / 93.5 / 92.0 / 85.0%, held-out 92.4%, turns 4–6 94.7%, out of domain 94.5%, playground 4/4,
 * every target met; seed 20261207 (fresh) 98.6 / 94.0 / 91.0 / 87.5%, 92.6%, 92.7%, 91.5%, 4/4.
 *
 * The floors: Q&A, captions, turns 4–6 and the playground are held to the targets themselves
 * (`evalTargets`); held-out phrasings and out of domain, which sit a few points over their targets
 * on 200 images, to the target less one answer on this sample; zero-shot and follow-ups, under
 * their targets on this small sample, to one answer below what was measured here (on 40 images one
 * answer is 2.5 points, and a float difference between CPUs on a near-tie would otherwise fail the
 * suite). The 200-image evaluation is the target check; this test fails when a pipeline or model
 * change makes the embedded model answer worse.
 */
const measuredFloor = {
  qa: evalTargets.qa,
  caption: evalTargets.caption,
  zeroShot: 0.825,
  followUp: 0.8,
  /** less one answer of the sample's held-out questions (~316: the count depends on the scenes) */
  heldOutPhrasings: (heldOutAsked: number) => evalTargets.heldOutPhrasings - 1 / heldOutAsked,
  lateTurns: evalTargets.lateTurns,
  outOfDomain: evalTargets.outOfDomain - 1 / 40,
  playground: evalTargets.playground,
};

describe.skipIf(!haveModel)(`the embedded model (${modelDir}) on 40 held-out images`, () => {
  it(
    'answers at least as well as the committed model was measured to, and reports the issue targets',
    async () => {
      const config = loadConfig({ GLIMPSE_MODEL_DIR: modelDir, GLIMPSE_LOG_LEVEL: 'silent' });
      const model = await createModel(config, createLogger({ level: 'silent' }));
      const labeler = await ZeroShotLabeler.fromConfig(config);
      try {
        const result = await runEmbeddedModelEval({
          spec,
          model,
          labeler,
          seed: defaultEvalSeed + 1,
          count: 40,
        });
        const report = formatEvalReport(result);
        const rows = evalRows(result).filter((row) => row.target !== undefined);
        expect(rows.map((row) => row.target)).toEqual([
          evalTargets.qa,
          evalTargets.caption,
          evalTargets.zeroShot,
          evalTargets.followUp,
          evalTargets.heldOutPhrasings,
          evalTargets.lateTurns,
          evalTargets.outOfDomain,
          evalTargets.playground,
        ]);
        const floors = [
          measuredFloor.qa,
          measuredFloor.caption,
          measuredFloor.zeroShot,
          measuredFloor.followUp,
          measuredFloor.heldOutPhrasings(result.phrasing.heldOut.total),
          measuredFloor.lateTurns,
          measuredFloor.outOfDomain,
          measuredFloor.playground,
        ];
        rows.forEach((row, index) => {
          expect(row.rate, `${row.name}\n${report}`).toBeGreaterThanOrEqual(floors[index]!);
        });
        expect(report).toMatch(/≥ 90%/);
        // a sample of every kind of issue #17 case was asked
        expect(result.phrasing.trained.total).toBeGreaterThanOrEqual(40 * 5);
        expect(result.phrasing.heldOut.total).toBe(result.phrasing.trained.total);
        expect(Object.keys(result.phrasingByIntent.heldOut).length).toBeGreaterThanOrEqual(10);
        expect(result.outOfDomain.heldOut.total).toBe(40);
        expect(result.outOfDomain.trained.total).toBe(40);
        expect(result.byTurn.map((turn) => turn.total)).toEqual(Array(6).fill(40));
        expect(result.playground.total).toBe(spec.conversation.playground.turns.length);
        expect(report).toMatch(/playground conversation \(a red circle beside a blue square\)/);
      } finally {
        await labeler.close();
        await model.close();
      }
    },
    15 * 60_000,
  );
});
