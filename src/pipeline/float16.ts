import { Tensor } from 'onnxruntime-node';
import type { OnnxSession } from './onnx-sessions.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 single → half, rounding to nearest even (as numpy's astype(float16)). */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // inf / NaN
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (half + (rest > halfway || (rest === halfway && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/** IEEE 754 half → number. */
export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export type FloatType = 'float32' | 'float16';

/** The element type a graph declares for a float input (float32 when it says nothing). */
export function inputFloatType(session: OnnxSession, name: string): FloatType {
  const metadata = (session as Partial<{ inputMetadata: readonly { name: string; type?: string }[] }>)
    .inputMetadata;
  return metadata?.find((item) => item.name === name)?.type === 'float16' ? 'float16' : 'float32';
}

/** a float16 tensor's raw bits, whether its data is a Uint16Array or a native Float16Array */
function halfBits(tensor: Tensor): Uint16Array {
  const data = tensor.data as Uint16Array | (ArrayBufferView & { length: number });
  return data instanceof Uint16Array ? data : new Uint16Array(data.buffer, data.byteOffset, data.length);
}

/**
 * A float16 tensor onnxruntime-node's binding can read. Where the JavaScript runtime has a native
 * `Float16Array` (Node 24 and later), onnxruntime-common wraps float16 data in one — for tensors
 * we build and for those a session returns — and the 1.30 binding reads a `Float16Array` as
 * empty ("not enough space: expected N, got 0"). The bits are kept as a `Uint16Array` view of
 * the same memory, which every Node version's binding reads.
 */
export function bindableTensor(tensor: Tensor): Tensor {
  if (tensor.type !== 'float16' || tensor.data instanceof Uint16Array) return tensor;
  (tensor as unknown as { cpuData: Uint16Array }).cpuData = halfBits(tensor);
  return tensor;
}

/** A float tensor of the type the graph wants, from float32 data. */
export function floatTensor(type: FloatType, data: Float32Array, dims: readonly number[]): Tensor {
  if (type === 'float32') return new Tensor('float32', data, dims);
  return bindableTensor(new Tensor('float16', Uint16Array.from(data, toHalf), dims));
}

/** A float tensor's data as float32 (a copy), whichever float type the graph produced. */
export function float32Data(tensor: Tensor, begin = 0, end = tensor.size): Float32Array {
  if (tensor.type === 'float16') return Float32Array.from(halfBits(tensor).subarray(begin, end), fromHalf);
  return (tensor.data as Float32Array).slice(begin, end);
}
