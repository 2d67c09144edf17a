/**
 * Pillow's BICUBIC resample (libImaging/Resample.c) for 8-bit RGB, ported exactly: Keys cubic
 * with a = −0.5, support widened by the scale on a downscale, coefficients in 22-bit fixed point,
 * a horizontal pass then a vertical one, each rounded and clipped to 8 bits.
 *
 * Used for enlargements, where sharp's `cubic` kernel and PIL's disagree by several levels
 * (design.md); downscales go through sharp, which matches PIL there.
 */

const precisionBits = 32 - 8 - 2;
const half = 1 << (precisionBits - 1);
const one = 2 ** precisionBits;

function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

interface Coefficients {
  /** first input index per output index */
  starts: Int32Array;
  /** taps per output index */
  counts: Int32Array;
  /** `ksize` fixed-point weights per output index */
  weights: Int32Array;
  ksize: number;
}

function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const inverse = 1 / filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const starts = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const raw = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * inverse);
      raw[x] = w;
      total += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = total === 0 ? raw[x]! : raw[x]! / total;
      weights[xx * ksize + x] = Math.trunc(w * one + (w < 0 ? -0.5 : 0.5));
    }
    starts[xx] = xmin;
    counts[xx] = xmax;
  }
  return { starts, counts, weights, ksize };
}

function clip8(sum: number): number {
  const value = Math.floor(sum / one);
  return Math.min(Math.max(value, 0), 255);
}

/** Resizes interleaved 8-bit RGB exactly as `PIL.Image.resize(size, Image.BICUBIC)`. */
export function pilBicubicResize(
  data: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  let current = data;
  let currentWidth = width;
  if (outWidth !== width) {
    const { starts, counts, weights, ksize } = coefficients(width, outWidth);
    const out = new Uint8Array(outWidth * height * 3);
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < outWidth; xx++) {
        const start = starts[xx]!;
        const count = counts[xx]!;
        let r = half;
        let g = half;
        let b = half;
        for (let x = 0; x < count; x++) {
          const k = weights[xx * ksize + x]!;
          const at = (y * width + start + x) * 3;
          r += current[at]! * k;
          g += current[at + 1]! * k;
          b += current[at + 2]! * k;
        }
        const to = (y * outWidth + xx) * 3;
        out[to] = clip8(r);
        out[to + 1] = clip8(g);
        out[to + 2] = clip8(b);
      }
    }
    current = out;
    currentWidth = outWidth;
  }
  if (outHeight !== height) {
    const { starts, counts, weights, ksize } = coefficients(height, outHeight);
    const out = new Uint8Array(currentWidth * outHeight * 3);
    for (let yy = 0; yy < outHeight; yy++) {
      const start = starts[yy]!;
      const count = counts[yy]!;
      for (let x = 0; x < currentWidth; x++) {
        let r = half;
        let g = half;
        let b = half;
        for (let y = 0; y < count; y++) {
          const k = weights[yy * ksize + y]!;
          const at = ((start + y) * currentWidth + x) * 3;
          r += current[at]! * k;
          g += current[at + 1]! * k;
          b += current[at + 2]! * k;
        }
        const to = (yy * currentWidth + x) * 3;
        out[to] = clip8(r);
        out[to + 1] = clip8(g);
        out[to + 2] = clip8(b);
      }
    }
    current = out;
  }
  return current === data ? Uint8Array.from(data) : current;
}
