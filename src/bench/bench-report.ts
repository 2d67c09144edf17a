import type { PreprocessResult, SideResult } from './bench-result.js';
import { type Summary, summarize } from './bench-stats.js';
import type { DecodeBound } from './decode-bound.js';

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
  decodeBound?: DecodeBound;
}

/** Issue #18's targets, as the bench checks them (never as wall-clock assertions in tests). */
export const targets = {
  laterTurnOverFirst: 0.2,
  decodeOverPeer: 1.2,
  firstTurnOverPeer: 1.0,
  phonePhotoMs: 250,
};

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
  const laterTurn = glimpse.samples.find((sample) => sample.laterTurn)?.laterTurn?.turn;
  const rows = [
    metric('time to first token', 'ms', (s) => s.timeToFirstTokenMs, false, 1),
    ...(laterTurn
      ? [
          metric(
            `time to first token, turn ${laterTurn}`,
            'ms',
            (s) => s.laterTurn?.timeToFirstTokenMs ?? Number.NaN,
            false,
            1,
          ),
        ]
      : []),
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
  const median = (result: SideResult, pick: (sample: SideResult['samples'][number]) => number) =>
    summarize(result.samples.map(pick)).median;
  const ttft = (result: SideResult) => median(result, (s) => s.timeToFirstTokenMs);
  const laterTtft = (result: SideResult) =>
    median(result, (s) => s.laterTurn?.timeToFirstTokenMs ?? Number.NaN);
  const laterTokens = (result: SideResult) => result.samples.at(-1)?.laterTurn?.promptTokens ?? 0;
  const reuse = laterTurn
    ? [
        `turn ${laterTurn} ÷ turn 1, time to first token (medians): ${peer.label} ${fixed(laterTtft(peer) / ttft(peer), 2)} (${laterTokens(peer)} prompt tokens, everything again), ` +
          `${glimpse.label} ${fixed(laterTtft(glimpse) / ttft(glimpse), 2)} (${laterTokens(glimpse)} prompt tokens; image features and the KV prefix reused)`,
      ]
    : [];
  const preprocessing = formatPreprocessing(peer, glimpse);
  const bound = report.decodeBound;
  const decodeMedian = (result: SideResult) => median(result, (s) => s.decodeTokensPerSecond);
  const boundLines = bound
    ? [
        `decode bound of this machine: ${fixed(bound.weightBytes / 1e6, 1)} MB of decoder weights per token ÷ ${fixed(bound.bandwidthBytesPerSecond / 1e9, 1)} GB/s ` +
          `(memcpy of 256 MiB, read + write) = ${fixed(bound.tokensPerSecond, 1)} tok/s (the KV cache adds ${fixed(bound.kvBytes / 1e6, 1)} MB per token at this context); ` +
          `reached: ${glimpse.label} ${fixed((100 * decodeMedian(glimpse)) / bound.tokensPerSecond, 0)}%, ${peer.label} ${fixed((100 * decodeMedian(peer)) / bound.tokensPerSecond, 0)}%`,
      ]
    : [];
  const phone = glimpse.preprocess.find((result) => result.image.startsWith('phone-'));
  const exact = glimpse.preprocess.filter((result) => result.maxAbsError !== undefined);
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const targetLines = [
    'targets (issue #18):',
    ...(laterTurn
      ? [
          `  turn ${laterTurn} time to first token ≤ ${targets.laterTurnOverFirst} × turn 1 (Glimpse): ${fixed(laterTtft(glimpse) / ttft(glimpse), 2)} — ${verdict(laterTtft(glimpse) / ttft(glimpse) <= targets.laterTurnOverFirst)}`,
        ]
      : []),
    `  decode ≥ ${targets.decodeOverPeer} × peer: ${fixed(decodeMedian(glimpse) / decodeMedian(peer), 2)} — ${verdict(decodeMedian(glimpse) / decodeMedian(peer) >= targets.decodeOverPeer)}`,
    `  first-turn time to first token ≤ ${targets.firstTurnOverPeer} × peer: ${fixed(ttft(glimpse) / ttft(peer), 2)} — ${verdict(ttft(glimpse) / ttft(peer) <= targets.firstTurnOverPeer)}`,
    ...(exact.length > 0
      ? [
          `  preprocessing pixel-exact against PIL: max |Δ| ${Math.max(...exact.map((r) => r.maxAbsError!))} on ${exact.length} image${exact.length === 1 ? '' : 's'} — ${verdict(exact.every((r) => r.maxAbsError === 0))}`,
        ]
      : []),
    ...(phone
      ? [
          `  4032×3024 JPEG preprocessed ≤ ${targets.phonePhotoMs} ms (median): ${fixed(summarize(phone.ms).median, 0)} ms — ${verdict(summarize(phone.ms).median <= targets.phonePhotoMs)}`,
        ]
      : []),
  ];
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
    ...reuse,
    ...boundLines,
    ...(preprocessing.length > 0 ? ['', ...preprocessing] : []),
    '',
    ...targetLines,
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

/** One line per image: each side's median preprocessing time and its error against PIL. */
function formatPreprocessing(peer: SideResult, glimpse: SideResult): string[] {
  if (glimpse.preprocess.length === 0) return [];
  const cell = (result: PreprocessResult | undefined) => {
    if (!result || result.ms.length === 0) return '—';
    const time = `${fixed(summarize(result.ms).median, 1)} ms`;
    if (result.maxAbsError === undefined) return `${time}, no PIL reference`;
    return `${time}, |Δ| vs PIL mean ${fixed(result.meanAbsError!, 3)} max ${fixed(result.maxAbsError, 1)}${result.maxAbsError === 0 ? ' (exact)' : ''}`;
  };
  const rows = glimpse.preprocess.map((result) => [
    result.image,
    cell(peer.preprocess.find((other) => other.image === result.image)),
    cell(result),
  ]);
  const headers = ['preprocessing, bytes → pixel values (median)', peer.label, glimpse.label];
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((cells) => (cells[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((text, column) => text.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}
