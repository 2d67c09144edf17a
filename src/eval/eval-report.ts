import type { EvalResult, Tally } from './embedded-model-eval.js';
import { type QuestionType, questionTypes } from './scene-questions.js';

/** The issue's acceptance targets for the embedded model. */
export const evalTargets = {
  qa: 0.9,
  caption: 0.8,
  zeroShot: 0.9,
  followUp: 0.85,
} as const;

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
    ...questionTypes.map((type) => row(`  ${type} questions`, result.qa[type])),
    row('  zero-shot, single-shape images', result.zeroShotSingle),
    row('  follow-ups, first turn', result.followUpFirst),
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
