import type { Rgb } from './scene-spec.js';

/** One shape of a tiny-shapes scene. Geometry is in pixels of the `imageSize` square. */
export interface SceneShape {
  kind: string;
  /** the colour's name in the spec; `rgb` is that colour with jitter */
  colour: string;
  rgb: Rgb;
  /** bounding-box side */
  size: number;
  cx: number;
  cy: number;
  /** drawn as a thick stroke of its colour around the background */
  outlined: boolean;
  /** a textbook label beside the shape ("A", "2"), top-left of its box */
  label?: { text: string; x: number; y: number; fontSize: number };
}

/** A textbook arrow pointing at a shape; the head is at (x2, y2). */
export interface SceneArrow {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Scene {
  /** index in its generated set */
  index: number;
  imageSize: number;
  background: string;
  backgroundRgb: Rgb;
  shapes: SceneShape[];
  arrows: SceneArrow[];
}
