import { answerMatches } from './answer-scoring.js';
import type { EvalResult, Tally } from './embedded-model-eval.js';
import { type QuestionType, questionTypes } from './scene-questions.js';

/** The acceptance targets for the embedded model: issue #4's four, then issue #17's. */
export const evalTargets = {
  qa: 0.9,
  caption: 0.8,
  zeroShot: 0.9,
  followUp: 0.85,
  heldOutPhrasings: 0.9,
  lateTurns: 0.85,
  outOfDomain: 0.9,
  playground: 1,
} as const;

/** Dialogue turns reported together (1-based, inclusive). */
export const turnGroups = [
  { name: 'turn 1', from: 1, to: 1 },
  { name: 'turns 2–3', from: 2, to: 3 },
  { name: 'turns 4–6', from: 4, to: 6 },
] as const;

function turns(result: EvalResult, from: number, to: number): Tally {
  return sum(result.byTurn.slice(from - 1, to));
}

/** The question types the Q&A target covers ("colour/shape/count/position questions"). */
export const scoredQuestionTypes: readonly QuestionType[] = ['colour', 'shape', 'count', 'position'];

export interface EvalRow {
  name: string;
  correct: number;
  total: number;
  rate: number;
  /** undefined for informational rows */
  target?: number;
  pass?: boolean;
}

const rate = (t: Tally) => (t.total === 0 ? 0 : t.correct / t.total);

function row(name: string, tally: Tally, target?: number): EvalRow {
  const value = rate(tally);
  return {
    name,
    correct: tally.correct,
    total: tally.total,
    rate: value,
    ...(target === undefined ? {} : { target, pass: tally.total > 0 && value >= target }),
  };
}

function sum(tallies: Tally[]): Tally {
  return tallies.reduce((a, b) => ({ correct: a.correct + b.correct, total: a.total + b.total }), {
    correct: 0,
    total: 0,
  });
}

/** The four headline checks, then the per-type and other informational figures. */
export function evalRows(result: EvalResult): EvalRow[] {
  return [
    row(
      'Q&A exact (colour/shape/count/position)',
      sum(scoredQuestionTypes.map((type) => result.qa[type])),
      evalTargets.qa,
    ),
    row('captions naming every shape and colour', result.caption, evalTargets.caption),
    row('zero-shot top-1 of 8 labels', result.zeroShot, evalTargets.zeroShot),
    row('follow-ups (second turn)', result.followUp, evalTargets.followUp),
    row('held-out phrasings', result.phrasing.heldOut, evalTargets.heldOutPhrasings),
    row('dialogues, turns 4–6 (own answers in history)', turns(result, 4, 6), evalTargets.lateTurns),
    row(
      'out-of-domain: honest reply (held-out questions)',
      result.outOfDomain.heldOut,
      evalTargets.outOfDomain,
    ),
    row('playground conversation (issue #17)', result.playground, evalTargets.playground),
    ...questionTypes.map((type) => row(`  ${type} questions`, result.qa[type])),
    row('  zero-shot, single-shape images', result.zeroShotSingle),
    row('  follow-ups, first turn', result.followUpFirst),
    row('  trained phrasings', result.phrasing.trained),
    ...Object.entries(result.phrasingByIntent.heldOut).map(([intent, tally]) =>
      row(`  held-out: ${intent}`, tally!),
    ),
    ...turnGroups
      .slice(0, 2)
      .map((group) => row(`  dialogues, ${group.name}`, turns(result, group.from, group.to))),
    row('  out-of-domain: honest reply (trained questions)', result.outOfDomain.trained),
    row('  in-domain answered with the honest reply', result.falseRefusals),
  ];
}

export function evalPassed(result: EvalResult): boolean {
  return evalRows(result).every((r) => r.pass !== false);
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

/** A plain-text table for the terminal. */
export function formatEvalReport(
  result: EvalResult,
  options: { modelName?: string; mistakes?: number } = {},
): string {
  const rows = evalRows(result);
  const width = Math.max(...rows.map((r) => r.name.length));
  const lines = [
    `tiny-shapes held-out evaluation${options.modelName ? ` of ${options.modelName}` : ''}: ${result.images} images, seed ${result.seed}`,
    '',
    `${'metric'.padEnd(width)}  ${'score'.padStart(7)}  ${'count'.padStart(9)}  ${'target'.padStart(7)}  result`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.name.padEnd(width)}  ${percent(r.rate).padStart(7)}  ${`${r.correct}/${r.total}`.padStart(9)}  ${(r.target === undefined ? '' : `≥ ${Math.round(r.target * 100)}%`).padStart(7)}  ${r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL'}`,
    );
  }
  if (result.playgroundTranscript.length > 0) {
    lines.push('', 'playground conversation (a red circle beside a blue square):');
    for (const turn of result.playgroundTranscript) {
      const mark = answerMatches(turn.got, turn.expected) ? 'ok' : `expected "${turn.expected}"`;
      lines.push(`  > ${turn.question}\n    ${turn.got}  (${mark})`);
    }
  }
  const shown = result.mistakes.slice(0, options.mistakes ?? 10);
  if (shown.length > 0) {
    lines.push('', `first ${shown.length} of ${result.mistakes.length} mistakes:`);
    for (const m of shown) {
      lines.push(`  #${m.scene} ${m.task}: ${m.question}  expected "${m.expected}", got "${m.got.trim()}"`);
    }
  }
  lines.push('', evalPassed(result) ? 'PASS' : 'FAIL');
  return `${lines.join('\n')}\n`;
}
