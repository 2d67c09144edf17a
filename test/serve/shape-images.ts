import sharp from 'sharp';

export const shapeColours = {
  red: [220, 40, 40],
  blue: [40, 90, 220],
  green: [40, 160, 60],
} as const;

export type ShapeColour = keyof typeof shapeColours;

/** One filled circle on white, as the embedded model's training scenes draw it (128 px PNG). */
export async function circlePng(colour: ShapeColour): Promise<Buffer> {
  const [r, g, b] = shapeColours[colour];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128"><rect width="128" height="128" fill="rgb(255,255,255)"/><circle cx="60" cy="66" r="17" fill="rgb(${r},${g},${b})"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export const dataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;
