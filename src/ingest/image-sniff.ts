/**
 * What the first bytes of a file say it is, before any decoder sees it: the four formats Glimpse
 * reads, the other formats people upload under an image name (said by name in the refusal), or
 * nothing recognisable. Only the leading signature is read; nothing is decoded or fetched (an SVG
 * never reaches an SVG renderer, so its external references are never followed).
 */
export type SniffedImage =
  | { readable: true; format: 'png' | 'jpeg' | 'gif' | 'webp' }
  | { readable: false; kind: string };

/** what a PNG's IHDR claims, read from the bytes (no decoder: a bomb's header is only numbers) */
export function pngDimensions(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.byteLength < 24 || ascii(bytes, 12, 16) !== 'IHDR') return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

const ascii = (bytes: Uint8Array, start: number, end: number) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1', start, end);

const startsWith = (bytes: Uint8Array, signature: readonly number[], offset = 0) =>
  bytes.byteLength >= offset + signature.length &&
  signature.every((byte, index) => bytes[offset + index] === byte);

/** ISO-BMFF brands (the `ftyp` box): HEIC/HEIF from phones, AVIF */
const heifBrands = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1', 'mif2']);
const avifBrands = new Set(['avif', 'avis']);

function isoBrandKind(bytes: Uint8Array): string | undefined {
  if (bytes.byteLength < 16 || ascii(bytes, 4, 8) !== 'ftyp') return undefined;
  const boxSize = Math.min(Buffer.from(bytes.buffer, bytes.byteOffset).readUInt32BE(0), bytes.byteLength, 64);
  const brands = [ascii(bytes, 8, 12)];
  for (let offset = 16; offset + 4 <= boxSize; offset += 4) brands.push(ascii(bytes, offset, offset + 4));
  if (brands.some((brand) => avifBrands.has(brand))) return 'an AVIF image';
  if (brands.some((brand) => heifBrands.has(brand))) return 'a HEIC image';
  return undefined;
}

/** an SVG document: its first element (after an XML declaration, comments, a doctype) is <svg> */
function isSvg(bytes: Uint8Array): boolean {
  let head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096))
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .toLowerCase();
  for (;;) {
    head = head.trimStart();
    const prolog = /^(<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!doctype[^>]*>)/.exec(head);
    if (!prolog) break;
    head = head.slice(prolog[0].length);
  }
  return /^<svg[\s>/]/.test(head);
}

export function sniffImage(bytes: Uint8Array): SniffedImage | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    return { readable: true, format: 'png' };
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { readable: true, format: 'jpeg' };
  const six = ascii(bytes, 0, Math.min(6, bytes.byteLength));
  if (six === 'GIF87a' || six === 'GIF89a') return { readable: true, format: 'gif' };
  if (bytes.byteLength >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') {
    return { readable: true, format: 'webp' };
  }
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) {
    return { readable: false, kind: 'a TIFF image' };
  }
  if (ascii(bytes, 0, Math.min(5, bytes.byteLength)) === '%PDF-')
    return { readable: false, kind: 'a PDF document' };
  const iso = isoBrandKind(bytes);
  if (iso) return { readable: false, kind: iso };
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) {
    return { readable: false, kind: 'a JPEG XL image' };
  }
  if (ascii(bytes, 0, Math.min(4, bytes.byteLength)) === '8BPS')
    return { readable: false, kind: 'a Photoshop file' };
  if (bytes.byteLength >= 26 && ascii(bytes, 0, 2) === 'BM' && bytes[14]! >= 12 && bytes[15] === 0) {
    return { readable: false, kind: 'a BMP image' };
  }
  if (isSvg(bytes)) return { readable: false, kind: 'an SVG drawing' };
  return undefined;
}
