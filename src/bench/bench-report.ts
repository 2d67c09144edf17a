import type { SideResult } from './bench-result.js';
import { type Summary, summarize } from './bench-stats.js';

export interface BenchReport {
  model: string;
  /** e.g. `672×504 PNG` */
  image: string;
  question: string;
  maxNewTokens: number;
  warmup: number;
  /** e.g. `2 × AMD EPYC 7B13` */
  machine: string;
  peer: SideResult;
  glimpse: SideResult;
}

export interface TokenIds {
  promptIds: readonly number[];
  generatedIds: readonly number[];
}

/** Whether both sides read the same prompt and generated the same tokens; where they part if not. */
export function compareTokenIds(peer: TokenIds, glimpse: TokenIds): { identical: boolean; detail: string } {
  const firstDifference = (a: readonly number[], b: readonly number[]): number => {
    const length = Math.max(a.length, b.length);
    for (let index = 0; index < length; index++) if (a[index] !== b[index]) return index;
    return -1;
  };
  const prompt = firstDifference(peer.promptIds, glimpse.promptIds);
  const generated = firstDifference(peer.generatedIds, glimpse.generatedIds);
  if (prompt === -1 && generated === -1) {
    return {
      identical: true,
      detail: `${peer.promptIds.length} prompt ids, ${peer.generatedIds.length} generated ids`,
    };
  }
  const parts: string[] = [];
  if (prompt !== -1) {
    parts.push(
      `prompt ids differ at ${prompt} (peer ${peer.promptIds.length} ids, Glimpse ${glimpse.promptIds.length})`,
    );
  }
  if (generated !== -1) {
    parts.push(
      `generated ids differ at ${generated}: peer [${peer.generatedIds.slice(generated, generated + 5).join(', ')}…], ` +
        `Glimpse [${glimpse.generatedIds.slice(generated, generated + 5).join(', ')}…]`,
    );
  }
  return { identical: false, detail: parts.join('; ') };
}

interface Row {
  metric: string;
  unit: string;
  higherIsBetter: boolean;
  peer: Summary;
  glimpse: Summary;
  digits: number;
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

/** `Glimpse ÷ peer`, and which way is better, in words. */
export function ratioText(glimpse: number, peer: number, higherIsBetter: boolean): string {
  if (!(glimpse > 0) || !(peer > 0)) return '—';
  const ratio = glimpse / peer;
  const better = higherIsBetter ? ratio : 1 / ratio;
  const verdict =
    Math.abs(better - 1) < 0.005
      ? 'same'
      : better > 1
        ? `${better.toFixed(2)}× better`
        : `${(1 / better).toFixed(2)}× worse`;
  return `${ratio.toFixed(2)}  (${verdict})`;
}

const mib = (bytes: number) => bytes / (1024 * 1024);

/** The side-by-side table `npm run bench` prints. */
export function formatReport(report: BenchReport): string {
  const { peer, glimpse } = report;
  const metric = (
    name: string,
    unit: string,
    pick: (sample: SideResult['samples'][number]) => number,
    higherIsBetter: boolean,
    digits: number,
  ): Row => ({
    metric: name,
    unit,
    higherIsBetter,
    peer: summarize(peer.samples.map(pick), higherIsBetter),
    glimpse: summarize(glimpse.samples.map(pick), higherIsBetter),
    digits,
  });
  const rows = [
    metric('time to first token', 'ms', (s) => s.timeToFirstTokenMs, false, 1),
    metric('decode', 'tok/s', (s) => s.decodeTokensPerSecond, true, 1),
    metric('end-to-end', 'ms', (s) => s.endToEndMs, false, 1),
  ];
  const headers = ['', '', peer.label, glimpse.label, 'Glimpse ÷ peer'];
  const table: string[][] = [];
  for (const row of rows) {
    for (const stat of ['median', 'p90'] as const) {
      table.push([
        stat === 'median' ? `${row.metric} (${row.unit})` : '',
        stat,
        fixed(row.peer[stat], row.digits),
        fixed(row.glimpse[stat], row.digits),
        ratioText(row.glimpse[stat], row.peer[stat], row.higherIsBetter),
      ]);
    }
  }
  table.push([
    'model load (ms)',
    '',
    fixed(peer.loadMs, 0),
    fixed(glimpse.loadMs, 0),
    ratioText(glimpse.loadMs, peer.loadMs, false),
  ]);
  table.push([
    'peak RSS (MiB)',
    '',
    fixed(mib(peer.peakRssBytes), 0),
    fixed(mib(glimpse.peakRssBytes), 0),
    ratioText(glimpse.peakRssBytes, peer.peakRssBytes, false),
  ]);
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...table.map((cells) => (cells[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column >= 2 && column <= 3 ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const stagesOf = (result: SideResult): string | undefined => {
    const staged = result.samples.flatMap((sample) => (sample.stages ? [sample.stages] : []));
    if (staged.length === 0) return undefined;
    const median = (pick: (stages: (typeof staged)[number]) => number) =>
      fixed(summarize(staged.map(pick)).median, 1);
    return `${result.label} time to first token, median by stage: preprocess ${median((s) => s.preprocessMs)} ms, vision ${median((s) => s.visionMs)} ms, prefill ${median((s) => s.prefillMs)} ms`;
  };
  const stages = [stagesOf(peer), stagesOf(glimpse)].filter((line): line is string => line !== undefined);
  const parity = compareTokenIds(peer.parity, glimpse.parity);
  const timed = compareTokenIds(peer, glimpse);
  const runs = glimpse.samples.length;
  const generated = glimpse.samples.at(-1)?.generatedTokens ?? 0;
  return [
    `Glimpse vs ${peer.label}: same model directory, image, question; greedy`,
    `model     ${report.model}`,
    `request   ${report.image} + "${report.question}" → ${generated} new tokens (max ${report.maxNewTokens})`,
    `runs      ${runs} measured after ${report.warmup} warm-up, each side in its own process; ${report.machine}`,
    `          p90 is the slow tail (90th percentile of times, 10th of rates); ratio > 1 on a rate is faster`,
    '',
    line(headers),
    ...table.map(line),
    ...stages,
    '',
    `token ids identical: ${parity.identical ? 'yes' : 'no'} (${glimpse.parity.image} picture, which neither side resizes: ${parity.detail})`,
    `timed image, same ids: ${timed.identical ? 'yes' : 'no'} (${timed.detail})${
      timed.identical || !parity.identical
        ? ''
        : ' — transformers.js resizes with an affine bicubic without antialiasing, Glimpse like PIL'
    }`,
    `peer says:    ${JSON.stringify(peer.text)}`,
    `Glimpse says: ${JSON.stringify(glimpse.text)}`,
  ].join('\n');
}
