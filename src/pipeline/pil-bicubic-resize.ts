/**
 * Pillow's BICUBIC resample (libImaging/Resample.c) for 8-bit RGB, ported exactly: Keys cubic
 * with a = −0.5, support widened by the scale on a downscale, coefficients normalised in double
 * precision and rounded to 22-bit fixed point (`PRECISION_BITS = 32 − 8 − 2`), a horizontal pass
 * then a vertical one, each accumulated in 32-bit integers, shifted, and clipped to 8 bits. What
 * `PIL.Image.resize(size, Image.BICUBIC)` gives — the call HF's image processors make (no
 * `reducing_gap`, so no `reduce()` first) — bit for bit, enlargements and reductions alike.
 *
 * Fast enough for phone photos: only the output pixels a crop keeps are computed (each output
 * pixel depends on its own coefficients only, so the kept ones are bit-identical to a full resize
 * followed by the crop), the horizontal pass runs only over the source rows the vertical pass
 * reads (as Pillow does), and the vertical pass accumulates whole rows in an Int32Array.
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

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for one axis. */
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

/** The part of the resized image to compute: `[left, left + width) × [top, top + height)`. */
export interface ResizeWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Horizontal pass over source rows `[rowFrom, rowTo)` for output columns `[colFrom, colTo)`. */
function horizontal(
  src: Uint8Array,
  srcWidth: number,
  rowFrom: number,
  rowTo: number,
  c: Coefficients,
  colFrom: number,
  colTo: number,
): Uint8ClampedArray {
  const cols = colTo - colFrom;
  const out = new Uint8ClampedArray((rowTo - rowFrom) * cols * 3);
  const { starts, counts, weights, ksize } = c;
  let o = 0;
  for (let y = rowFrom; y < rowTo; y++) {
    const rowBase = y * srcWidth * 3;
    for (let xx = colFrom; xx < colTo; xx++) {
      let at = rowBase + starts[xx]! * 3;
      const end = at + counts[xx]! * 3;
      let w = xx * ksize;
      let r = half;
      let g = half;
      let b = half;
      for (; at < end; at += 3) {
        const k = weights[w++]!;
        r = (r + Math.imul(src[at]!, k)) | 0;
        g = (g + Math.imul(src[at + 1]!, k)) | 0;
        b = (b + Math.imul(src[at + 2]!, k)) | 0;
      }
      // a Uint8ClampedArray clips to 0…255 as Pillow's clip8 does
      out[o] = r >> precisionBits;
      out[o + 1] = g >> precisionBits;
      out[o + 2] = b >> precisionBits;
      o += 3;
    }
  }
  return out;
}

/** Vertical pass: output rows `[rowFrom, rowTo)` from `src`, whose first row is source row `srcTop`. */
function vertical(
  src: Uint8Array | Uint8ClampedArray,
  rowLength: number,
  srcTop: number,
  c: Coefficients,
  rowFrom: number,
  rowTo: number,
): Uint8ClampedArray {
  const out = new Uint8ClampedArray((rowTo - rowFrom) * rowLength);
  const acc = new Int32Array(rowLength);
  const { starts, counts, weights, ksize } = c;
  for (let yy = rowFrom; yy < rowTo; yy++) {
    acc.fill(half);
    const first = starts[yy]! - srcTop;
    const count = counts[yy]!;
    for (let t = 0; t < count; t++) {
      const k = weights[yy * ksize + t]!;
      const base = (first + t) * rowLength;
      for (let x = 0; x < rowLength; x++) acc[x] = (acc[x]! + Math.imul(src[base + x]!, k)) | 0;
    }
    const o = (yy - rowFrom) * rowLength;
    for (let x = 0; x < rowLength; x++) out[o + x] = acc[x]! >> precisionBits;
  }
  return out;
}

/**
 * Resizes interleaved 8-bit RGB exactly as `PIL.Image.resize((outWidth, outHeight), Image.BICUBIC)`,
 * returning the `window` of the result (default: all of it).
 */
export function pilBicubicResize(
  data: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  window: ResizeWindow = { left: 0, top: 0, width: outWidth, height: outHeight },
): Uint8Array {
  const { left, top } = window;
  const right = left + window.width;
  const bottom = top + window.height;
  if (
    left < 0 ||
    top < 0 ||
    right > outWidth ||
    bottom > outHeight ||
    window.width < 0 ||
    window.height < 0
  ) {
    throw new RangeError(`window ${JSON.stringify(window)} is outside ${outWidth}×${outHeight}`);
  }
  const needHorizontal = outWidth !== width;
  const needVertical = outHeight !== height;
  const vc = needVertical ? coefficients(height, outHeight) : undefined;
  // source rows the kept output rows read
  let rowFrom = top;
  let rowTo = bottom;
  if (vc && window.height > 0) {
    rowFrom = vc.starts[top]!;
    rowTo = 0;
    for (let yy = top; yy < bottom; yy++) rowTo = Math.max(rowTo, vc.starts[yy]! + vc.counts[yy]!);
  }
  let current: Uint8Array | Uint8ClampedArray;
  let rowLength: number;
  if (needHorizontal) {
    current = horizontal(data, width, rowFrom, rowTo, coefficients(width, outWidth), left, right);
    rowLength = window.width * 3;
  } else {
    // no horizontal pass: the kept columns of the needed rows, as they are
    rowLength = window.width * 3;
    const rows = new Uint8Array((rowTo - rowFrom) * rowLength);
    for (let y = rowFrom; y < rowTo; y++) {
      rows.set(data.subarray((y * width + left) * 3, (y * width + right) * 3), (y - rowFrom) * rowLength);
    }
    current = rows;
  }
  if (vc) current = vertical(current, rowLength, rowFrom, vc, top, bottom);
  return new Uint8Array(current.buffer, current.byteOffset, current.byteLength);
}
