import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { runEmbeddedModelEval } from '../../src/eval/embedded-model-eval.js';
import { evalPassed, evalRows, evalTargets, formatEvalReport } from '../../src/eval/eval-report.js';
import { defaultEvalSeed, generateScene } from '../../src/eval/scene-generator.js';
import { questionsForScene } from '../../src/eval/scene-questions.js';
import { renderScenePng } from '../../src/eval/scene-renderer.js';
import { loadSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';
import { zeroShotCase } from '../../src/eval/zero-shot-candidates.js';
import { createLogger } from '../../src/logger.js';
import type { ImagePart } from '../../src/messages.js';
import { createModel } from '../../src/pipeline/create-model.js';
import type { ImageLabeler, LabelScore } from '../../src/pipeline/zero-shot-labeler.js';
import { ZeroShotLabeler } from '../../src/pipeline/zero-shot-labeler.js';
import { ScriptedModel } from '../fakes/scripted-model.js';

let spec: SceneSpec;
beforeAll(async () => {
  spec = await loadSceneSpec();
});

interface Oracle {
  answers: Map<string, string>;
  zeroShotAnswer: string;
}

/** What a perfect model would answer, per image hash (built from the same generator). */
async function oracles(seed: number, count: number): Promise<Map<string, Oracle>> {
  const style = {
    outlineWidth: spec.diagram.outlineWidth,
    labelColour: spec.diagram.labelColour,
    arrowColour: spec.diagram.arrowColour,
  };
  const byHash = new Map<string, Oracle>();
  for (let index = 0; index < count; index++) {
    const scene = generateScene(spec, seed, index);
    const png = await renderScenePng(scene, style);
    const { questions, followUp } = questionsForScene(spec, scene, seed);
    const answers = new Map(questions.map((q) => [q.question, q.answer]));
    answers.set(followUp.first.question, followUp.first.answer);
    answers.set(followUp.second.question, followUp.second.answer);
    byHash.set(createHash('sha256').update(png).digest('hex'), {
      answers,
      zeroShotAnswer: zeroShotCase(spec, scene, seed).answer,
    });
  }
  return byHash;
}

const firstImage = (messages: { content: { type: string }[] }[]) =>
  messages.flatMap((m) => m.content).find((part): part is ImagePart => part.type === 'image');

describe('runEmbeddedModelEval (with an oracle model)', () => {
  it('scores a perfect model 100% and a model wrong on counts accordingly, with its own first turn in follow-ups', async () => {
    const seed = 5;
    const count = 12;
    const table = await oracles(seed, count);
    const model = new ScriptedModel([], {
      fallback: (request) => {
        const oracle = table.get(firstImage(request.messages)!.sha256)!;
        const last = request.messages.at(-1)!;
        const text = last.content.find((part) => part.type === 'text')!;
        const question = text.type === 'text' ? text.text : '';
        const answer = question.startsWith('How many') ? 'seven' : (oracle.answers.get(question) ?? '?');
        const sentence = answer.endsWith('.') ? answer : `${answer}.`;
        return { deltas: [` ${sentence[0]!.toUpperCase()}`, sentence.slice(1)] };
      },
    });
    const labeler: ImageLabeler = {
      async rank(image, labels) {
        const sha = (image as ImagePart).sha256;
        const answer = table.get(sha)!.zeroShotAnswer;
        const ranked: LabelScore[] = labels.map((label) => ({
          label,
          probability: label === answer ? 0.9 : 0.1 / (labels.length - 1),
          similarity: label === answer ? 0.5 : 0,
        }));
        return ranked.sort((a, b) => b.probability - a.probability);
      },
      async close() {},
    };
    const progress: number[] = [];
    const result = await runEmbeddedModelEval({
      spec,
      model,
      labeler,
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
    const countDialogues = result.mistakes.filter((m) => m.task === 'follow-up countThenCount').length;
    expect(result.followUp.correct).toBe(result.followUp.total - countDialogues);
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
});

const modelDir = 'models/tiny-shapes';
const haveModel = existsSync(`${modelDir}/config.json`);
if (!haveModel) {
  console.warn(
    `skipping the embedded-model evaluation: ${modelDir} does not exist yet (train/export it first)`,
  );
}

/**
 * The committed model's measured level on this 40-image sample (greedy, so deterministic): Q&A 91.7%
 * (143/156), captions 95.0%, zero-shot 92.5%, follow-ups 85.0% (34/40); on 200 images (`npm run eval`):
 * 92.6 / 95.5 / 93.5 / 90.0%. The test holds Q&A and captions to issue #4's targets themselves
 * (`evalTargets`); zero-shot to 87.5% and follow-ups to 82.5% (two answers and one below what was
 * measured here): on 40 images one answer is 2.5 points, and the follow-ups sit exactly on their 85%
 * target on this sample, so a float difference between CPUs on a near-tie would fail the suite. The
 * 200-image evaluation is the target check. It fails when a pipeline or model change makes the
 * embedded model answer worse.
 */
const measuredFloor = {
  qa: evalTargets.qa,
  caption: evalTargets.caption,
  zeroShot: 0.875,
  followUp: 0.825,
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
        ]);
        const floors = [
          measuredFloor.qa,
          measuredFloor.caption,
          measuredFloor.zeroShot,
          measuredFloor.followUp,
        ];
        rows.forEach((row, index) => {
          expect(row.rate, `${row.name}\n${report}`).toBeGreaterThanOrEqual(floors[index]!);
        });
        expect(report).toMatch(/≥ 90%/);
      } finally {
        await labeler.close();
        await model.close();
      }
    },
    15 * 60_000,
  );
});
