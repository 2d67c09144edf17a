import { describe, expect, it } from 'vitest';
import { type BenchReport, compareTokenIds, formatReport, ratioText } from '../../src/bench/bench-report.js';
import type { RunSample, SideResult } from '../../src/bench/bench-result.js';

function side(label: string, samples: RunSample[], generatedIds: number[], peakRssBytes: number): SideResult {
  return {
    side: label,
    label,
    loadMs: 100,
    samples,
    promptIds: [1, 510, 510, 7],
    generatedIds,
    text: 'a red circle',
    parity: { image: '336×336', promptIds: [1, 510, 510, 7], generatedIds: [4, 5, 6] },
    peakRssBytes,
    preprocess: [],
  };
}

const sample = (ttft: number, rate: number, total: number): RunSample => ({
  timeToFirstTokenMs: ttft,
  decodeTokensPerSecond: rate,
  endToEndMs: total,
  generatedTokens: 3,
});

describe('ratioText', () => {
  it('says Glimpse ÷ peer, and which way is better', () => {
    expect(ratioText(50, 100, false)).toBe('0.50  (2.00× better)');
    expect(ratioText(200, 100, false)).toBe('2.00  (2.00× worse)');
    expect(ratioText(300, 100, true)).toBe('3.00  (3.00× better)');
    expect(ratioText(100, 100, true)).toBe('1.00  (same)');
    expect(ratioText(0, 100, true)).toBe('—');
  });
});

describe('compareTokenIds', () => {
  it('says yes with the counts when prompt and answer match', () => {
    expect(
      compareTokenIds({ promptIds: [1, 2], generatedIds: [3] }, { promptIds: [1, 2], generatedIds: [3] }),
    ).toEqual({ identical: true, detail: '2 prompt ids, 1 generated ids' });
  });

  it('names where the ids part', () => {
    const result = compareTokenIds(
      { promptIds: [1, 2], generatedIds: [3, 4] },
      { promptIds: [1, 2, 2], generatedIds: [3, 9] },
    );
    expect(result.identical).toBe(false);
    expect(result.detail).toContain('prompt ids differ at 2');
    expect(result.detail).toContain('generated ids differ at 1: peer [4…], Glimpse [9…]');
  });
});

describe('formatReport', () => {
  const report: BenchReport = {
    model: 'test/fixtures/tiny-llava-random',
    image: '672×504 PNG',
    question: 'What colour is the circle?',
    maxNewTokens: 24,
    warmup: 1,
    machine: '2 CPUs',
    peer: side(
      'transformers.js 4.3.1',
      [sample(100, 50, 300), sample(120, 40, 340), sample(110, 45, 320)],
      [4, 5, 6],
      200 * 1024 ** 2,
    ),
    glimpse: side(
      'Glimpse 0.1.0',
      [sample(50, 100, 150), sample(60, 80, 170), sample(55, 90, 160)],
      [4, 5, 6],
      100 * 1024 ** 2,
    ),
  };

  it('prints both sides, medians, p90s and ratios in one table', () => {
    const text = formatReport(report);
    expect(text).toContain('transformers.js 4.3.1');
    expect(text).toContain('Glimpse 0.1.0');
    const ttft = text.split('\n').find((line) => line.startsWith('time to first token (ms)'));
    expect(ttft).toMatch(/median\s+110\.0\s+55\.0\s+0\.50\s+\(2\.00× better\)/);
    const rate = text.split('\n').find((line) => line.startsWith('decode (tok/s)'));
    expect(rate).toMatch(/median\s+45\.0\s+90\.0\s+2\.00\s+\(2\.00× better\)/);
    expect(text).toMatch(/peak RSS \(MiB\)\s+200\s+100\s+0\.50/);
    expect(text).toContain('token ids identical: yes');
    expect(text).toContain('timed image, same ids: yes');
  });

  it('reports the later turn, the preprocessing against PIL, the decode bound and the targets', () => {
    const later = (first: RunSample, ttft: number): RunSample => ({
      ...first,
      laterTurn: { turn: 4, timeToFirstTokenMs: ttft, promptTokens: 639 },
    });
    const text = formatReport({
      ...report,
      peer: {
        ...report.peer,
        samples: report.peer.samples.map((s) => later(s, s.timeToFirstTokenMs * 1.1)),
        preprocess: [
          {
            image: 'phone-4032x3024.jpg (4032×3024 JPEG)',
            ms: [90, 95],
            meanAbsError: 4.6,
            maxAbsError: 142,
          },
        ],
      },
      glimpse: {
        ...report.glimpse,
        samples: report.glimpse.samples.map((s) => later(s, 5)),
        preprocess: [
          {
            image: 'phone-4032x3024.jpg (4032×3024 JPEG)',
            ms: [180, 200, 190],
            meanAbsError: 0,
            maxAbsError: 0,
          },
        ],
      },
      decodeBound: { weightBytes: 100e6, kvBytes: 10e6, bandwidthBytesPerSecond: 20e9, tokensPerSecond: 200 },
    });
    expect(text).toMatch(/time to first token, turn 4 \(ms\)\s+median\s+121\.0\s+5\.0/);
    expect(text).toContain('turn 4 ÷ turn 1, time to first token (medians): transformers.js 4.3.1 1.10');
    expect(text).toContain('Glimpse 0.1.0 0.09 (639 prompt tokens');
    expect(text).toMatch(
      /phone-4032x3024\.jpg .*92\.5 ms, \|Δ\| vs PIL mean 4\.600 max 142\.0\s+190\.0 ms, \|Δ\| vs PIL mean 0\.000 max 0\.0 \(exact\)/,
    );
    expect(text).toContain('= 200.0 tok/s');
    expect(text).toContain('reached: Glimpse 0.1.0 45%, transformers.js 4.3.1 23%');
    expect(text).toContain('turn 4 time to first token ≤ 0.2 × turn 1 (Glimpse): 0.09 — met');
    expect(text).toContain('decode ≥ 1.2 × peer: 2.00 — met');
    expect(text).toContain('preprocessing pixel-exact against PIL: max |Δ| 0 on 1 image — met');
    expect(text).toContain('4032×3024 JPEG preprocessed ≤ 250 ms (median): 190 ms — met');
  });

  it('says no when the answers differ', () => {
    const differing = {
      ...report,
      glimpse: {
        ...report.glimpse,
        parity: { image: '336×336', promptIds: [1, 510, 510, 7], generatedIds: [4, 8, 6] },
      },
    };
    expect(formatReport(differing)).toContain('token ids identical: no (336×336 picture');
  });
});
