import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface StaticAsset {
  contentType: string;
  body: Buffer;
}

/** Request path → file in `public/`: the playground page, shipped as plain files, no build step. */
const files: Record<string, { file: string; contentType: string }> = {
  '/': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/playground.css': { file: 'playground.css', contentType: 'text/css; charset=utf-8' },
  '/playground.js': { file: 'playground.js', contentType: 'text/javascript; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', contentType: 'image/svg+xml' },
};

/**
 * The `public/` folder next to this module. The compiled module (`dist/adapters/web`) finds it in
 * the source tree, which sits at the same depth (`src/adapters/web`); tsc copies no assets.
 */
export function publicDirectory(): string {
  const beside = fileURLToPath(new URL('./public/', import.meta.url));
  if (existsSync(beside)) return beside;
  return fileURLToPath(new URL('../../../src/adapters/web/public/', import.meta.url));
}

/** Reads every asset once, at start-up. */
export async function loadStaticAssets(directory = publicDirectory()): Promise<Map<string, StaticAsset>> {
  const assets = new Map<string, StaticAsset>();
  for (const [path, { file, contentType }] of Object.entries(files)) {
    assets.set(path, { contentType, body: await readFile(`${directory}/${file}`) });
  }
  assets.set('/index.html', assets.get('/')!);
  return assets;
}
