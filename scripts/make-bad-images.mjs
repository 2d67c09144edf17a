#!/usr/bin/env node
// Writes the bad-image fixture set into test/fixtures/bad-images (or the folder given as the first
// argument): broken, hostile and odd-but-valid images, made with sharp and hand-written bytes.
// Deterministic: `test/reliability/bad-image-fixtures.test.ts` checks the committed files equal
// what this script makes. Sizes over a cap are made by the tests at run time, not committed.
//
//   node scripts/make-bad-images.mjs [out-dir]

import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

const here = dirname(fileURLToPath(import.meta.url));
export const defaultOutDir = resolve(here, '../test/fixtures/bad-images');

/** a PNG chunk: length, type, data, CRC-32 of type + data */
function pngChunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * An 83-byte decompression bomb: a valid PNG whose IHDR claims `width`×`height` 8-bit RGB (30 GB
 * decoded at 100000×100000) and whose IDAT holds a few rows of zeros. A reader that trusts the
 * header before the pixel limit would allocate it all.
 */
export function pngBomb(width = 100_000, height = 100_000) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(4096), { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** an SVG whose only content is an external image: rendering it would fetch `href` */
export function svgWithExternalImage(href) {
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image href="${href}" xlink:href="${href}" width="64" height="64"/></svg>\n`,
  );
}

/** HEIC as an iPhone writes it starts with this `ftyp` box (sharp's libheif cannot encode HEVC) */
function heicBytes() {
  const ftyp = Buffer.concat([
    Buffer.from([0, 0, 0, 0x18]),
    Buffer.from('ftypheic', 'latin1'),
    Buffer.from([0, 0, 0, 0]),
    Buffer.from('mif1heic', 'latin1'),
  ]);
  // a `meta` box header with nothing a decoder could use after it
  const meta = Buffer.concat([Buffer.from([0, 0, 0, 0x0c]), Buffer.from('meta', 'latin1'), Buffer.alloc(4)]);
  return Buffer.concat([ftyp, meta]);
}

/** the smallest well-formed one-page PDF (an empty page) */
function pdfBytes() {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>',
  ];
  let body = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((object, index) => {
    offsets.push(body.length);
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/** deterministic noise (sharp's own noise is random): a small xorshift over RGB */
function noiseRaw(width, height, seed = 7) {
  const data = Buffer.alloc(width * height * 3);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = state & 0xff;
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** a red circle on white, like the scenes the embedded model knows */
function circleSvg(width, height, background = 'white') {
  const r = Math.min(width, height) / 3;
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="${background}"/><circle cx="${width / 2}" cy="${height / 2}" r="${r}" fill="rgb(220,40,40)"/></svg>`,
  );
}

const solid = (width, height, colour) =>
  sharp({ create: { width, height, channels: 3, background: colour } });

/** file name → bytes, in a stable order */
export async function makeBadImages() {
  const noisePng = await noiseRaw(48, 48).png({ compressionLevel: 9 }).toBuffer();
  const noiseJpeg = await noiseRaw(48, 48).jpeg({ quality: 90 }).toBuffer();
  const noiseGif = await noiseRaw(32, 32).gif().toBuffer();
  const noiseWebp = await noiseRaw(32, 32).webp({ quality: 80 }).toBuffer();
  const frames = await Promise.all(['#ff0000', '#00ff00', '#0000ff'].map((c) => solid(24, 24, c).png().toBuffer()));
  const circle = await sharp(circleSvg(64, 64)).png().toBuffer();
  return new Map([
    // broken
    ['truncated.png', noisePng.subarray(0, Math.floor(noisePng.length * 0.6))],
    ['truncated.jpg', noiseJpeg.subarray(0, Math.floor(noiseJpeg.length * 0.6))],
    ['truncated.gif', noiseGif.subarray(0, Math.floor(noiseGif.length * 0.6))],
    ['truncated.webp', noiseWebp.subarray(0, Math.floor(noiseWebp.length * 0.6))],
    ['empty.png', Buffer.alloc(0)],
    ['not-an-image.png', Buffer.from('These are notes, not a picture.\n')],
    // hostile
    ['bomb-100000x100000.png', pngBomb()],
    ['external-ref.svg', svgWithExternalImage('http://glimpse-fixture.invalid/tracker.png')],
    // other formats under an image name
    ['tiff-bytes.png', await solid(16, 16, '#336699').tiff().toBuffer()],
    ['pdf-bytes.png', pdfBytes()],
    ['heic-bytes.jpg', heicBytes()],
    // valid, with a declared type or name that lies
    ['mislabelled.png', circle],
    ['jpeg-bytes.png', await sharp(circle).jpeg({ quality: 90 }).toBuffer()],
    // valid but odd
    ['animated.gif', await sharp(frames, { join: { animated: true } }).gif({ delay: 200, loop: 0 }).toBuffer()],
    ['one-pixel.png', await solid(1, 1, '#dc2828').png().toBuffer()],
    ['strip-10000x10.png', await solid(10_000, 10, '#336699').png({ compressionLevel: 9 }).toBuffer()],
    ['cmyk.jpg', await sharp(circle).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer()],
    ['sixteen-bit.png', await sharp(circle).toColourspace('rgb16').png().toBuffer()],
    ['alpha.png', await sharp(circleSvg(64, 64, 'none')).png().toBuffer()],
  ]);
}

async function main() {
  const outDir = resolve(process.argv[2] ?? defaultOutDir);
  await mkdir(outDir, { recursive: true });
  const files = await makeBadImages();
  for (const name of await readdir(outDir)) if (!files.has(name)) await rm(join(outDir, name));
  let total = 0;
  for (const [name, bytes] of files) {
    await writeFile(join(outDir, name), bytes);
    total += bytes.length;
  }
  process.stdout.write(`${files.size} files, ${total} bytes in ${outDir}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
