import { Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { bindableTensor, float32Data, floatTensor, fromHalf, toHalf } from '../../src/pipeline/float16.js';

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

describe('float16 tensors across Node versions', () => {
  it('keeps float16 data a Uint16Array the binding reads, also where Float16Array exists (Node 24+)', () => {
    const tensor = floatTensor('float16', new Float32Array([1, -2, 0.5]), [3]);
    expect(tensor.data).toBeInstanceOf(Uint16Array);
    expect([...float32Data(tensor)]).toEqual([1, -2, 0.5]);
  });

  it('reads and rebinds a tensor whose data the runtime wrapped as a Float16Array', () => {
    const Half = (globalThis as { Float16Array?: new (values: number[]) => ArrayBufferView }).Float16Array;
    const bits = Uint16Array.from([1, 0.25, -3], toHalf);
    const data = Half ? new Half([1, 0.25, -3]) : bits;
    const tensor = new Tensor('float16', data as Uint16Array, [3]);
    expect([...float32Data(tensor)]).toEqual([1, 0.25, -3]);
    expect(bindableTensor(tensor).data).toEqual(bits);
  });
});
