import { describe, expect, it } from 'vitest';
import { fromHalf, toHalf } from '../../src/pipeline/float16.js';

describe('float16 conversion', () => {
  it('encodes known values (IEEE 754 half)', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(1e6)).toBe(0x7c00);
    expect(toHalf(-3.4e38)).toBe(0xfc00);
    expect(toHalf(2 ** -24)).toBe(0x0001);
    expect(toHalf(0)).toBe(0);
    expect(Number.isNaN(fromHalf(toHalf(Number.NaN)))).toBe(true);
  });

  it('round-trips within half precision and rounds to nearest even', () => {
    for (const value of [0.1, -0.3333, 2.71, 1234.5, 6e-5, -7e-8]) {
      expect(Math.abs(fromHalf(toHalf(value)) - value)).toBeLessThanOrEqual(
        Math.abs(value) * 2 ** -11 + 2 ** -25,
      );
    }
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1)
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
});
