import { beforeAll, describe, expect, it } from 'vitest';
import { generateScene, generateScenes } from '../../src/eval/scene-generator.js';
import { loadSceneSpec, parseSceneSpec, type SceneSpec } from '../../src/eval/scene-spec.js';
import { SeededRandom } from '../../src/eval/seeded-random.js';

let spec: SceneSpec;
beforeAll(async () => {
  spec = await loadSceneSpec();
});

describe('SeededRandom', () => {
  it('is deterministic per seed and stays in range', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.next())).not.toEqual(xs);
    for (let i = 0; i < 1000; i++) {
      const v = a.int(3, 7);
      expect(v).toBeGreaterThanOrEqual(3);
      expect(v).toBeLessThanOrEqual(7);
    }
  });
});

describe('scene spec', () => {
  it('loads the repository contract', () => {
    expect(spec.imageSize).toBe(128);
    expect(spec.kinds.length).toBeGreaterThanOrEqual(6);
    expect(Object.keys(spec.colours).length).toBeGreaterThanOrEqual(8);
  });

  it('rejects a spec whose cross-references do not hold, listing every problem', () => {
    const broken = structuredClone(spec) as unknown as Record<string, unknown> & SceneSpec;
    broken.plural = {};
    broken.shapeCount = { min: 3, max: 1 };
    expect(() => parseSceneSpec(broken)).toThrow(/plural.*circle[\s\S]*shapeCount/);
    expect(() => parseSceneSpec({ imageSize: 'big' })).toThrowError(
      expect.objectContaining({ code: 'glimpse_model_invalid' }),
    );
  });
});

describe('scene generator', () => {
  it('is deterministic: same seed and index, same scene; another seed, other scenes', () => {
    expect(generateScenes(spec, 7, 20)).toEqual(generateScenes(spec, 7, 20));
    expect(generateScene(spec, 7, 13)).toEqual(generateScenes(spec, 7, 20)[13]);
    expect(generateScenes(spec, 8, 20)).not.toEqual(generateScenes(spec, 7, 20));
  });

  it('draws scenes that keep every rule of the spec', () => {
    const colourNames = Object.keys(spec.colours);
    for (const scene of generateScenes(spec, 1, 300)) {
      expect(scene.imageSize).toBe(spec.imageSize);
      expect(Object.keys(spec.backgrounds)).toContain(scene.background);
      expect(scene.backgroundRgb).toEqual(spec.backgrounds[scene.background]);
      expect(scene.shapes.length).toBeGreaterThanOrEqual(spec.shapeCount.min);
      expect(scene.shapes.length).toBeLessThanOrEqual(spec.shapeCount.max);
      for (const [i, shape] of scene.shapes.entries()) {
        expect(spec.kinds).toContain(shape.kind);
        expect(colourNames).toContain(shape.colour);
        const base = spec.colours[shape.colour]!;
        shape.rgb.forEach((channel, c) => {
          expect(Math.abs(channel - base[c]!)).toBeLessThanOrEqual(spec.colourJitter);
        });
        expect(shape.size).toBeGreaterThanOrEqual(spec.shapeSize.min);
        expect(shape.size).toBeLessThanOrEqual(spec.shapeSize.max);
        const half = shape.size / 2;
        expect(shape.cx - half).toBeGreaterThanOrEqual(0);
        expect(shape.cy - half).toBeGreaterThanOrEqual(0);
        expect(shape.cx + half).toBeLessThanOrEqual(spec.imageSize);
        expect(shape.cy + half).toBeLessThanOrEqual(spec.imageSize);
        for (const other of scene.shapes.slice(i + 1)) {
          const apartX = Math.abs(shape.cx - other.cx) - (shape.size + other.size) / 2;
          const apartY = Math.abs(shape.cy - other.cy) - (shape.size + other.size) / 2;
          expect(Math.max(apartX, apartY)).toBeGreaterThanOrEqual(spec.minGap);
        }
        if (shape.label) expect(spec.diagram.labels).toContain(shape.label.text);
      }
      const labels = scene.shapes.flatMap((shape) => (shape.label ? [shape.label.text] : []));
      expect(new Set(labels).size).toBe(labels.length);
    }
  });

  it('covers every kind, colour, background, shape count and diagram touch', () => {
    const scenes = generateScenes(spec, 2, 400);
    const shapes = scenes.flatMap((scene) => scene.shapes);
    expect(new Set(shapes.map((s) => s.kind))).toEqual(new Set(spec.kinds));
    expect(new Set(shapes.map((s) => s.colour))).toEqual(new Set(Object.keys(spec.colours)));
    expect(new Set(scenes.map((s) => s.background))).toEqual(new Set(Object.keys(spec.backgrounds)));
    expect(new Set(scenes.map((s) => s.shapes.length)).size).toBe(
      spec.shapeCount.max - spec.shapeCount.min + 1,
    );
    const outlined = shapes.filter((s) => s.outlined).length / shapes.length;
    expect(outlined).toBeGreaterThan(spec.diagram.outlineProbability - 0.07);
    expect(outlined).toBeLessThan(spec.diagram.outlineProbability + 0.07);
    expect(shapes.some((s) => s.label)).toBe(true);
    expect(scenes.some((s) => s.arrows.length > 0)).toBe(true);
  });
});
