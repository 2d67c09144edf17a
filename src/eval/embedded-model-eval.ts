import { ingestImage } from '../ingest/image-ingest.js';
import type { ImagePart } from '../messages.js';
import type { ModelMessage, VisionChatModel } from '../pipeline/vision-chat-model.js';
import type { ImageLabeler } from '../pipeline/zero-shot-labeler.js';
import { answerMatches, captionNamesEverything } from './answer-scoring.js';
import { generateScene } from './scene-generator.js';
import { type QuestionType, questionsForScene, questionTypes } from './scene-questions.js';
import { renderScenePng } from './scene-renderer.js';
import type { SceneSpec } from './scene-spec.js';
import { zeroShotCase } from './zero-shot-candidates.js';

/**
 * The held-out evaluation of the embedded model: scenes drawn here (SVG through sharp, another
 * seed and another renderer than training), asked through the real `VisionChatModel` and ranked
 * by the real zero-shot labeler. Greedy decoding; answers scored by the spec's `answerMatching`.
 */

export interface Tally {
  correct: number;
  total: number;
}

export interface EvalMistake {
  scene: number;
  task: string;
  question: string;
  expected: string;
  got: string;
}

export interface EvalResult {
  seed: number;
  images: number;
  /** one question of each applicable type per image; `describe` is scored by exact match here */
  qa: Record<QuestionType, Tally>;
  /** the answer to the describe question names every shape with its colour */
  caption: Tally;
  /** the true label ranked first among 8 (every image: its largest shape) */
  zeroShot: Tally;
  /** the same, on single-shape images only */
  zeroShotSingle: Tally;
  /** the second turn of two-turn dialogues, with the model's own first answer in the history */
  followUp: Tally;
  followUpFirst: Tally;
  mistakes: EvalMistake[];
}

export interface EvalOptions {
  spec: SceneSpec;
  model: VisionChatModel;
  labeler: ImageLabeler;
  seed: number;
  count: number;
  /** the longest answer to generate (the describe answer of 5 shapes is ~30 tokens) */
  maxNewTokens?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

const tally = (): Tally => ({ correct: 0, total: 0 });

function count(target: Tally, ok: boolean): void {
  target.total++;
  if (ok) target.correct++;
}

/** Runs one greedy answer to completion and returns its text. */
export async function answerOnce(
  model: VisionChatModel,
  messages: ModelMessage[],
  maxNewTokens: number,
  signal?: AbortSignal,
): Promise<string> {
  let text = '';
  for await (const part of model.stream({ messages, maxNewTokens, temperature: 0 }, signal)) {
    if (part.type === 'text-delta') text += part.text;
    else if (part.type === 'error') throw part.error;
  }
  return text;
}

const question = (image: ImagePart | undefined, text: string): ModelMessage => ({
  role: 'user',
  content: [...(image ? [image] : []), { type: 'text', text }],
});

export async function runEmbeddedModelEval(options: EvalOptions): Promise<EvalResult> {
  const { spec, model, labeler, seed, signal } = options;
  const maxNewTokens = options.maxNewTokens ?? 64;
  const style = {
    outlineWidth: spec.diagram.outlineWidth,
    labelColour: spec.diagram.labelColour,
    arrowColour: spec.diagram.arrowColour,
  };
  const result: EvalResult = {
    seed,
    images: options.count,
    qa: Object.fromEntries(questionTypes.map((type) => [type, tally()])) as Record<QuestionType, Tally>,
    caption: tally(),
    zeroShot: tally(),
    zeroShotSingle: tally(),
    followUp: tally(),
    followUpFirst: tally(),
    mistakes: [],
  };
  const miss = (mistake: EvalMistake) => result.mistakes.push(mistake);

  for (let index = 0; index < options.count; index++) {
    signal?.throwIfAborted();
    const scene = generateScene(spec, seed, index);
    const png = await renderScenePng(scene, style);
    const image = await ingestImage(new Uint8Array(png), `scene-${seed}-${index}.png`, {
      maxBytes: Number.MAX_SAFE_INTEGER,
      maxPixels: Number.MAX_SAFE_INTEGER,
    });
    const { questions, followUp } = questionsForScene(spec, scene, seed);

    for (const item of questions) {
      const got = await answerOnce(model, [question(image, item.question)], maxNewTokens, signal);
      const ok = answerMatches(got, item.answer);
      count(result.qa[item.type], ok);
      if (!ok) miss({ scene: index, task: item.type, question: item.question, expected: item.answer, got });
      if (item.type === 'describe') {
        const complete = captionNamesEverything(spec, scene, got);
        count(result.caption, complete);
      }
    }

    const firstMessages = [question(image, followUp.first.question)];
    const first = await answerOnce(model, firstMessages, maxNewTokens, signal);
    count(result.followUpFirst, answerMatches(first, followUp.first.answer));
    const second = await answerOnce(
      model,
      [
        ...firstMessages,
        { role: 'assistant', content: [{ type: 'text', text: first.trim() }] },
        question(undefined, followUp.second.question),
      ],
      maxNewTokens,
      signal,
    );
    const secondOk = answerMatches(second, followUp.second.answer);
    count(result.followUp, secondOk);
    if (!secondOk) {
      miss({
        scene: index,
        task: `follow-up ${followUp.type}`,
        question: `${followUp.first.question} → ${first.trim()} → ${followUp.second.question}`,
        expected: followUp.second.answer,
        got: second,
      });
    }

    const zeroShot = zeroShotCase(spec, scene, seed);
    const ranked = await labeler.rank(image, zeroShot.labels, signal);
    const top = ranked[0]?.label ?? '';
    const zsOk = top === zeroShot.answer;
    count(result.zeroShot, zsOk);
    if (scene.shapes.length === 1) count(result.zeroShotSingle, zsOk);
    if (!zsOk) {
      miss({
        scene: index,
        task: 'zero-shot',
        question: zeroShot.labels.join(' | '),
        expected: zeroShot.answer,
        got: top,
      });
    }
    options.onProgress?.(index + 1, options.count);
  }
  return result;
}
