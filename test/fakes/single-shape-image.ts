import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderScenePng } from '../../src/eval/scene-renderer.js';

export interface SingleShape {
  kind: string;
  colour: string;
  rgb: [number, number, number];
}

/** Writes a 128 px PNG of one filled shape centred on white (the tiny-shapes style) to a tmp file. */
export async function singleShapePngFile(shape: SingleShape): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'glimpse-shape-'));
  const path = join(dir, `${shape.colour}-${shape.kind}.png`);
  const png = await renderScenePng(
    {
      index: 0,
      imageSize: 128,
      background: 'white',
      backgroundRgb: [255, 255, 255],
      shapes: [{ ...shape, size: 36, cx: 64, cy: 64, outlined: false }],
      arrows: [],
    },
    { outlineWidth: 3, labelColour: [60, 60, 60], arrowColour: [90, 90, 90] },
  );
  await writeFile(path, png);
  return path;
}
