import { describe, expect, it } from 'vitest';
import { percentile, summarize } from '../../src/bench/bench-stats.js';

describe('percentile', () => {
  it('interpolates between the closest ranks, like numpy', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90)).toBeCloseTo(91);
    expect(percentile([7], 90)).toBe(7);
    expect(percentile([1, 5], 0)).toBe(1);
    expect(percentile([1, 5], 100)).toBe(5);
  });

  it('is NaN for no values', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('summarize', () => {
  it('takes the slow tail of times from the top', () => {
    expect(summarize([5, 1, 4, 2, 3])).toEqual({ n: 5, median: 3, p90: 4.6, min: 1, max: 5 });
  });

  it('takes the slow tail of rates from the bottom', () => {
    const rates = summarize([5, 1, 4, 2, 3], true);
    expect(rates.median).toBe(3);
    expect(rates.p90).toBeCloseTo(1.4);
  });
});
