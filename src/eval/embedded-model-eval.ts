import { ingestImage } from '../ingest/image-ingest.js';
import type { ImagePart } from '../messages.js';
import type { ModelMessage, VisionChatModel } from '../pipeline/vision-chat-model.js';
import type { ImageLabeler } from '../pipeline/zero-shot-labeler.js';
import { answerMatches, captionNamesEverything } from './answer-scoring.js';
import { type ConversationTurn, conversationCases, isHonestReply } from './conversation-questions.js';
import type { AnyIntent, Split } from './phrasing-grammar.js';
import type { Scene } from './scene.js';
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
  /** issue #17: in-domain questions (fresh and follow-ups) in trained and in held-out phrasings */
  phrasing: Record<Split, Tally>;
  phrasingByIntent: Record<Split, Partial<Record<AnyIntent, Tally>>>;
  /** held-out questions by what their held-out part tests */
  heldOutByItem: Record<string, Tally>;
  /** out-of-domain questions answered with the honest reply */
  outOfDomain: Record<Split, Tally>;
  /** in-domain questions answered with the honest reply (wrong, counted in the tallies above too) */
  falseRefusals: Tally;
  /** 6-turn dialogues with the model's own answers in the history, by turn (index 0 = turn 1) */
  byTurn: Tally[];
  /** issue #17's playground conversation (a red circle beside a blue square) */
  playground: Tally;
  playgroundTranscript: { question: string; expected: string; got: string }[];
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

/** A turn's answer is right: describe by caption completeness, the rest by the spec's exact match. */
export function turnCorrect(spec: SceneSpec, scene: Scene, turn: ConversationTurn, got: string): boolean {
  if (turn.intent === 'describe') return captionNamesEverything(spec, scene, got);
  return answerMatches(got, turn.answer);
}

/** Asks `turns` one after another, the model's own answers in the history; returns its answers. */
async function converse(
  model: VisionChatModel,
  image: ImagePart,
  questions: readonly string[],
  maxNewTokens: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const messages: ModelMessage[] = [];
  const answers: string[] = [];
  for (const [t, text] of questions.entries()) {
    messages.push(question(t === 0 ? image : undefined, text));
    const got = await answerOnce(model, [...messages], maxNewTokens, signal);
    answers.push(got);
    messages.push({ role: 'assistant', content: [{ type: 'text', text: got.trim() }] });
  }
  return answers;
}

async function sceneImage(spec: SceneSpec, scene: Scene, name: string): Promise<ImagePart> {
  const png = await renderScenePng(scene, {
    outlineWidth: spec.diagram.outlineWidth,
    labelColour: spec.diagram.labelColour,
    arrowColour: spec.diagram.arrowColour,
  });
  return ingestImage(new Uint8Array(png), name, {
    maxBytes: Number.MAX_SAFE_INTEGER,
    maxPixels: Number.MAX_SAFE_INTEGER,
  });
}

/** The spec's playground scene (issue #17), drawn like the evaluation's scenes. */
export function playgroundScene(spec: SceneSpec): Scene {
  const p = spec.conversation.playground;
  return {
    index: -1,
    imageSize: spec.imageSize,
    background: p.background,
    backgroundRgb: spec.backgrounds[p.background] ?? [255, 255, 255],
    shapes: p.shapes.map((shape) => ({ ...shape, rgb: spec.colours[shape.colour]!, outlined: false })),
    arrows: [],
  };
}

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
    phrasing: { trained: tally(), heldOut: tally() },
    phrasingByIntent: { trained: {}, heldOut: {} },
    heldOutByItem: {},
    outOfDomain: { trained: tally(), heldOut: tally() },
    falseRefusals: tally(),
    byTurn: Array.from({ length: spec.conversation.maxTurns }, tally),
    playground: tally(),
    playgroundTranscript: [],
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
    const cases = conversationCases(spec, scene, seed);
    const scoreInDomain = (split: Split, turn: ConversationTurn, got: string, asked: string) => {
      const ok = turnCorrect(spec, scene, turn, got);
      count(result.phrasing[split], ok);
      const byIntent = result.phrasingByIntent[split];
      byIntent[turn.intent] ??= tally();
      count(byIntent[turn.intent]!, ok);
      for (const item of turn.heldOut) {
        result.heldOutByItem[item] ??= tally();
        count(result.heldOutByItem[item]!, ok);
      }
      count(result.falseRefusals, isHonestReply(spec, got));
      if (!ok) {
        miss({ scene: index, task: `${split} ${turn.intent}`, question: asked, expected: turn.answer, got });
      }
    };
    for (const { split, turn } of cases.single) {
      const got = await answerOnce(model, [question(image, turn.question)], maxNewTokens, signal);
      if (turn.intent === 'outOfDomain') {
        const ok = isHonestReply(spec, got);
        count(result.outOfDomain[split], ok);
        if (!ok) {
          miss({
            scene: index,
            task: `${split} out-of-domain`,
            question: turn.question,
            expected: turn.answer,
            got,
          });
        }
      } else {
        scoreInDomain(split, turn, got, turn.question);
      }
    }
    for (const { split, first, second } of cases.pairs) {
      const [firstGot, got] = await converse(
        model,
        image,
        [first.question, second.question],
        maxNewTokens,
        signal,
      );
      scoreInDomain(split, second, got!, `${first.question} → ${firstGot!.trim()} → ${second.question}`);
    }
    const answers = await converse(
      model,
      image,
      cases.dialogue.map((turn) => turn.question),
      maxNewTokens,
      signal,
    );
    cases.dialogue.forEach((turn, t) => {
      const got = answers[t]!;
      const ok =
        turn.intent === 'outOfDomain' ? isHonestReply(spec, got) : turnCorrect(spec, scene, turn, got);
      count(result.byTurn[t]!, ok);
      if (!ok) {
        const history = cases.dialogue
          .slice(0, t)
          .map((before, k) => `${before.question} → ${answers[k]!.trim()}`)
          .join(' → ');
        miss({
          scene: index,
          task: `dialogue turn ${t + 1} ${turn.intent}`,
          question: history ? `${history} → ${turn.question}` : turn.question,
          expected: turn.answer,
          got,
        });
      }
    });
    options.onProgress?.(index + 1, options.count);
  }

  const playground = spec.conversation.playground;
  const pgScene = playgroundScene(spec);
  const pgImage = await sceneImage(spec, pgScene, 'playground.png');
  const pgAnswers = await converse(
    model,
    pgImage,
    playground.turns.map((turn) => turn.q),
    maxNewTokens,
    signal,
  );
  playground.turns.forEach((turn, t) => {
    const got = pgAnswers[t]!;
    count(result.playground, answerMatches(got, turn.a));
    result.playgroundTranscript.push({ question: turn.q, expected: turn.a, got: got.trim() });
  });
  return result;
}
