import type { Scene, SceneArrow, SceneShape } from './scene.js';
import type { Rgb, SceneSpec } from './scene-spec.js';
import { SeededRandom } from './seeded-random.js';

/**
 * The held-out evaluation seed. Training uses its own seed and, more importantly, its own
 * (Python) generator and renderer, so no evaluation image is a training image.
 */
export const defaultEvalSeed = 90_417;

/** Pixels kept free between a shape's box and the image border. */
const borderMargin = 2;
const labelFontSize = 11;
const maxLayoutTries = 200;

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function boxOf(shape: Pick<SceneShape, 'cx' | 'cy' | 'size'>): Box {
  const half = shape.size / 2;
  return { x0: shape.cx - half, y0: shape.cy - half, x1: shape.cx + half, y1: shape.cy + half };
}

function overlaps(a: Box, b: Box, gap: number): boolean {
  return a.x0 < b.x1 + gap && b.x0 < a.x1 + gap && a.y0 < b.y1 + gap && b.y0 < a.y1 + gap;
}

function inside(box: Box, imageSize: number): boolean {
  return box.x0 >= 0 && box.y0 >= 0 && box.x1 <= imageSize && box.y1 <= imageSize;
}

/** Whether the segment (x1,y1)–(x2,y2) passes through `box` (sampled; boxes are ≥ 20 px). */
function segmentHits(arrow: SceneArrow, box: Box): boolean {
  for (let t = 0; t <= 1; t += 0.05) {
    const x = arrow.x1 + (arrow.x2 - arrow.x1) * t;
    const y = arrow.y1 + (arrow.y2 - arrow.y1) * t;
    if (x >= box.x0 && x <= box.x1 && y >= box.y0 && y <= box.y1) return true;
  }
  return false;
}

function jitter(rgb: Rgb, amount: number, random: SeededRandom): Rgb {
  return rgb.map((channel) => Math.min(255, Math.max(0, channel + random.int(-amount, amount)))) as Rgb;
}

function layoutShapes(spec: SceneSpec, count: number, random: SeededRandom): SceneShape[] | undefined {
  const shapes: SceneShape[] = [];
  const colourNames = Object.keys(spec.colours);
  for (let n = 0; n < count; n++) {
    const size = random.int(spec.shapeSize.min, spec.shapeSize.max);
    const half = size / 2;
    let placed: { cx: number; cy: number } | undefined;
    for (let attempt = 0; attempt < 100 && !placed; attempt++) {
      const cx = random.int(Math.ceil(half + borderMargin), Math.floor(spec.imageSize - half - borderMargin));
      const cy = random.int(Math.ceil(half + borderMargin), Math.floor(spec.imageSize - half - borderMargin));
      const box = boxOf({ cx, cy, size });
      if (shapes.every((other) => !overlaps(box, boxOf(other), spec.minGap))) placed = { cx, cy };
    }
    if (!placed) return undefined;
    const colour = random.pick(colourNames);
    shapes.push({
      kind: random.pick(spec.kinds),
      colour,
      rgb: jitter(spec.colours[colour]!, spec.colourJitter, random),
      size,
      ...placed,
      outlined: random.chance(spec.diagram.outlineProbability),
    });
  }
  return shapes;
}

function labelBox(label: NonNullable<SceneShape['label']>): Box {
  const width = label.fontSize * 0.7 * label.text.length;
  return { x0: label.x, y0: label.y, x1: label.x + width, y1: label.y + label.fontSize };
}

/** Puts a label beside a shape (right, left, below, above: the first spot that is free). */
function addLabels(spec: SceneSpec, shapes: SceneShape[], random: SeededRandom): void {
  const unused = random.shuffle(spec.diagram.labels);
  const taken: Box[] = shapes.map(boxOf);
  for (const shape of shapes) {
    if (!random.chance(spec.diagram.labelProbability) || unused.length === 0) continue;
    const text = unused[0]!;
    const width = labelFontSize * 0.7 * text.length;
    const box = boxOf(shape);
    const spots = [
      { x: box.x1 + 2, y: shape.cy - labelFontSize / 2 },
      { x: box.x0 - 2 - width, y: shape.cy - labelFontSize / 2 },
      { x: shape.cx - width / 2, y: box.y1 + 2 },
      { x: shape.cx - width / 2, y: box.y0 - 2 - labelFontSize },
    ];
    for (const spot of spots) {
      const label = { text, x: Math.round(spot.x), y: Math.round(spot.y), fontSize: labelFontSize };
      const lb = labelBox(label);
      const others = taken.filter((_, i) => i !== shapes.indexOf(shape));
      if (inside(lb, spec.imageSize) && others.every((other) => !overlaps(lb, other, 1))) {
        shape.label = label;
        taken.push(lb);
        unused.shift();
        break;
      }
    }
  }
}

/** Maybe adds one arrow pointing at a shape from free space, crossing nothing else. */
function addArrow(spec: SceneSpec, shapes: SceneShape[], random: SeededRandom): SceneArrow[] {
  if (!random.chance(spec.diagram.arrowProbability)) return [];
  const target = random.pick(shapes);
  const obstacles = [
    ...shapes.filter((shape) => shape !== target).map((shape) => boxOf(shape)),
    ...shapes.flatMap((shape) => (shape.label ? [labelBox(shape.label)] : [])),
  ];
  for (let attempt = 0; attempt < 40; attempt++) {
    const angle = random.next() * Math.PI * 2;
    const length = random.int(14, 26);
    const dx = Math.cos(angle);
    const dy = Math.sin(angle);
    const reach = target.size / 2 + 3;
    const arrow = {
      x2: Math.round(target.cx + dx * reach),
      y2: Math.round(target.cy + dy * reach),
      x1: Math.round(target.cx + dx * (reach + length)),
      y1: Math.round(target.cy + dy * (reach + length)),
    };
    const ends = [arrow.x1, arrow.y1, arrow.x2, arrow.y2];
    if (ends.some((v) => v < borderMargin || v > spec.imageSize - borderMargin)) continue;
    if (
      obstacles.some((box) =>
        segmentHits(arrow, { x0: box.x0 - 2, y0: box.y0 - 2, x1: box.x1 + 2, y1: box.y1 + 2 }),
      )
    )
      continue;
    return [arrow];
  }
  return [];
}

/** The scene at `index` of the set drawn with `seed`: the same inputs give the same scene. */
export function generateScene(spec: SceneSpec, seed: number, index: number): Scene {
  const random = new SeededRandom((Math.imul(seed, 0x01000193) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const count = random.int(spec.shapeCount.min, spec.shapeCount.max);
  let shapes: SceneShape[] | undefined;
  for (let attempt = 0; attempt < maxLayoutTries && !shapes; attempt++)
    shapes = layoutShapes(spec, count, random);
  if (!shapes) throw new Error(`cannot lay out ${count} shapes in ${spec.imageSize}px (scene ${index})`);
  const background = random.pick(Object.keys(spec.backgrounds));
  addLabels(spec, shapes, random);
  const arrows = addArrow(spec, shapes, random);
  return {
    index,
    imageSize: spec.imageSize,
    background,
    backgroundRgb: spec.backgrounds[background]!,
    shapes,
    arrows,
  };
}

/** `count` scenes drawn with `seed` (scene i does not depend on how many are drawn). */
export function generateScenes(spec: SceneSpec, seed: number, count: number): Scene[] {
  return Array.from({ length: count }, (_, index) => generateScene(spec, seed, index));
}
