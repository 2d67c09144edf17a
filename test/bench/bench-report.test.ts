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
