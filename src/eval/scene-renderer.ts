import sharp from 'sharp';
import type { Scene, SceneShape } from './scene.js';
import type { Rgb } from './scene-spec.js';

/**
 * Draws scenes as SVG and rasterises them with sharp (librsvg) to PNG: deliberately another
 * renderer than the Python one used for training.
 */

const fmt = (value: number) => String(Math.round(value * 100) / 100);
const colour = ([r, g, b]: Rgb) => `rgb(${r},${g},${b})`;

function polygon(points: [number, number][]): string {
  return points.map(([x, y]) => `${fmt(x)},${fmt(y)}`).join(' ');
}

function regular(
  cx: number,
  cy: number,
  radius: number,
  corners: number,
  startDeg: number,
): [number, number][] {
  return Array.from({ length: corners }, (_, i) => {
    const angle = ((startDeg + (360 / corners) * i) * Math.PI) / 180;
    return [cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)];
  });
}

/** The geometry of one shape as an SVG element with the given paint attributes. */
export function shapeElement(
  shape: Pick<SceneShape, 'kind' | 'cx' | 'cy' | 'size'>,
  paint: string,
  inset = 0,
): string {
  const { cx, cy } = shape;
  const r = shape.size / 2 - inset;
  switch (shape.kind) {
    case 'circle':
      return `<circle cx="${fmt(cx)}" cy="${fmt(cy)}" r="${fmt(r)}" ${paint}/>`;
    case 'square':
      return `<rect x="${fmt(cx - r)}" y="${fmt(cy - r)}" width="${fmt(2 * r)}" height="${fmt(2 * r)}" ${paint}/>`;
    case 'triangle':
      return `<polygon points="${polygon([
        [cx, cy - r],
        [cx + r, cy + r],
        [cx - r, cy + r],
      ])}" ${paint}/>`;
    case 'diamond':
      return `<polygon points="${polygon([
        [cx, cy - r],
        [cx + r * 0.8, cy],
        [cx, cy + r],
        [cx - r * 0.8, cy],
      ])}" ${paint}/>`;
    case 'hexagon':
      return `<polygon points="${polygon(regular(cx, cy, r, 6, 0))}" ${paint}/>`;
    case 'star': {
      // the star's points span 1.81 r vertically: centre it in the box
      const outer = regular(cx, cy + r * 0.095, r, 5, -90);
      const inner = regular(cx, cy + r * 0.095, r * 0.45, 5, -54);
      return `<polygon points="${polygon(outer.flatMap((point, i) => [point, inner[i]!]))}" ${paint}/>`;
    }
    default:
      throw new Error(`no drawing for shape kind '${shape.kind}'`);
  }
}

function shapeSvg(shape: SceneShape, background: Rgb, outlineWidth: number): string {
  if (!shape.outlined) return shapeElement(shape, `fill="${colour(shape.rgb)}"`);
  return shapeElement(
    shape,
    `fill="${colour(background)}" stroke="${colour(shape.rgb)}" stroke-width="${fmt(outlineWidth)}" stroke-linejoin="miter"`,
    outlineWidth / 2,
  );
}

export interface RenderStyle {
  outlineWidth: number;
  labelColour: Rgb;
  arrowColour: Rgb;
}

export function sceneToSvg(scene: Scene, style: RenderStyle): string {
  const size = scene.imageSize;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">`,
    `<rect x="0" y="0" width="${size}" height="${size}" fill="${colour(scene.backgroundRgb)}"/>`,
  ];
  for (const shape of scene.shapes) parts.push(shapeSvg(shape, scene.backgroundRgb, style.outlineWidth));
  for (const shape of scene.shapes) {
    if (!shape.label) continue;
    const { text, x, y, fontSize } = shape.label;
    parts.push(
      `<text x="${x}" y="${y + fontSize * 0.85}" font-family="DejaVu Sans, Liberation Sans, sans-serif" font-size="${fontSize}" fill="${colour(style.labelColour)}">${text.replace(/[<&>]/g, '')}</text>`,
    );
  }
  for (const arrow of scene.arrows) {
    const angle = Math.atan2(arrow.y2 - arrow.y1, arrow.x2 - arrow.x1);
    const head = 6;
    const back = (side: number): [number, number] => [
      arrow.x2 - head * Math.cos(angle + side * 0.45),
      arrow.y2 - head * Math.sin(angle + side * 0.45),
    ];
    const paint = colour(style.arrowColour);
    parts.push(
      `<line x1="${arrow.x1}" y1="${arrow.y1}" x2="${fmt(arrow.x2 - 4 * Math.cos(angle))}" y2="${fmt(arrow.y2 - 4 * Math.sin(angle))}" stroke="${paint}" stroke-width="1.6"/>`,
      `<polygon points="${polygon([[arrow.x2, arrow.y2], back(1), back(-1)])}" fill="${paint}"/>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** The scene as an RGB PNG of `imageSize`² pixels. */
export async function renderScenePng(scene: Scene, style: RenderStyle): Promise<Buffer> {
  return sharp(Buffer.from(sceneToSvg(scene, style)), { density: 72 })
    .resize(scene.imageSize, scene.imageSize, { fit: 'fill' })
    .flatten({ background: colour(scene.backgroundRgb) })
    .removeAlpha()
    .png()
    .toBuffer();
}
