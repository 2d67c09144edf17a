import sharp from 'sharp';

/** One red circle on white, as the embedded model's training scenes draw it (128 px PNG). */
export async function redCirclePng(): Promise<Buffer> {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128"><rect width="128" height="128" fill="rgb(255,255,255)"/><circle cx="60" cy="66" r="17" fill="rgb(220,40,40)"/></svg>';
  return sharp(Buffer.from(svg)).png().toBuffer();
}
