import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Scene, SceneShape } from '../../src/eval/scene.js';
import { generateScenes } from '../../src/eval/scene-generator.js';
import { type RenderStyle, renderScenePng, sceneToSvg } from '../../src/eval/scene-renderer.js';
import { loadSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';

let spec: SceneSpec;
let style: RenderStyle;
beforeAll(async () => {
  spec = await loadSceneSpec();
  style = {
    outlineWidth: spec.diagram.outlineWidth,
    labelColour: spec.diagram.labelColour,
    arrowColour: spec.diagram.arrowColour,
  };
});

function scene(shapes: SceneShape[]): Scene {
  return {
    index: 0,
    imageSize: 128,
    background: 'cream',
    backgroundRgb: [250, 243, 220],
    shapes,
    arrows: [],
  };
}

async function pixels(png: Buffer) {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => {
    const i = (Math.round(y) * info.width + Math.round(x)) * info.channels;
    return [data[i], data[i + 1], data[i + 2]];
  };
  return { info, at };
}

describe('scene renderer', () => {
  it('renders a PNG sharp decodes, at the spec size, RGB', async () => {
    const png = await renderScenePng(generateScenes(spec, 4, 1)[0]!, style);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBe(spec.imageSize);
    expect(meta.height).toBe(spec.imageSize);
    expect(meta.channels).toBe(3);
  });

  it("paints a filled shape's centre with its colour and the rest with the background", async () => {
    const red: SceneShape = {
      kind: 'circle',
      colour: 'red',
      rgb: [220, 40, 40],
      size: 30,
      cx: 40,
      cy: 50,
      outlined: false,
    };
    const { at } = await pixels(await renderScenePng(scene([red]), style));
    expect(at(40, 50)).toEqual([220, 40, 40]);
    expect(at(100, 100)).toEqual([250, 243, 220]);
    expect(at(40 + 12, 50)).toEqual([220, 40, 40]); // inside the radius
    expect(at(40 + 16, 50)).toEqual([250, 243, 220]); // outside it
  });

  it('draws every kind, filled and outlined: outlines keep the background inside', async () => {
    for (const kind of spec.kinds) {
      const filled: SceneShape = {
        kind,
        colour: 'blue',
        rgb: [40, 90, 220],
        size: 40,
        cx: 32,
        cy: 64,
        outlined: false,
      };
      const outlined: SceneShape = { ...filled, cx: 96, outlined: true };
      const { at } = await pixels(await renderScenePng(scene([filled, outlined]), style));
      expect(at(32, 64), kind).toEqual([40, 90, 220]);
      expect(at(96, 64), kind).toEqual([250, 243, 220]);
      // the outline's stroke crosses the vertical through the centre, just inside the box
      let strokes = 0;
      for (let y = 44; y <= 84; y++) {
        const [r, g, b] = at(96, y);
        if (Math.abs(r! - 40) + Math.abs(g! - 90) + Math.abs(b! - 220) < 30) strokes++;
      }
      expect(strokes, kind).toBeGreaterThanOrEqual(2);
    }
  });

  it('draws labels and arrows in their spec colours, as SVG text and lines', () => {
    const s = scene([
      {
        kind: 'square',
        colour: 'green',
        rgb: [40, 160, 60],
        size: 30,
        cx: 40,
        cy: 40,
        outlined: false,
        label: { text: 'A', x: 58, y: 35, fontSize: 11 },
      },
    ]);
    s.arrows.push({ x1: 90, y1: 90, x2: 58, y2: 58 });
    const svg = sceneToSvg(s, style);
    expect(svg).toContain('>A</text>');
    expect(svg).toContain(`fill="rgb(${spec.diagram.labelColour.join(',')})"`);
    expect(svg).toContain(`stroke="rgb(${spec.diagram.arrowColour.join(',')})"`);
  });
});
