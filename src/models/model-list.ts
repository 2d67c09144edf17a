import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { isGlimpseError } from '../errors.js';
import { readModelDirectory } from '../pipeline/model-directory.js';
import { modelSpecOf } from '../pipeline/model-spec.js';
import { precisionsIn } from './model-files.js';

/** A model directory found under the models dir. */
export interface InstalledModel {
  /** its path under the models dir: the Hub id for pulled models (`onnx-community/…`) */
  id: string;
  folder: string;
  /** precisions whose three graphs are all present */
  precisions: string[];
  /** bytes on disk, everything in the folder */
  bytes: number;
  /** `.part` files: a pull that has not finished */
  partial: number;
  /** whether Glimpse can load it, read from its files as `glimpse start` does (no graph is loaded) */
  loads:
    | { ok: true; modelType: string; imageSize: { height: number; width: number }; imageTokens: number }
    | { ok: false; reason: string };
}

async function filesUnder(folder: string): Promise<{ path: string; size: number }[]> {
  const found: { path: string; size: number }[] = [];
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found.push({ path: relative(folder, path).split(sep).join('/'), size: (await stat(path)).size });
  }
  return found;
}

async function describe(dir: string, folder: string): Promise<InstalledModel> {
  const files = await filesUnder(folder);
  const precisions = precisionsIn(files.map((file) => file.path));
  let loads: InstalledModel['loads'];
  try {
    const spec = modelSpecOf(await readModelDirectory(folder, precisions[0] ?? 'fp32'));
    loads = {
      ok: true,
      modelType: spec.modelType,
      imageSize: spec.image.outputSize,
      imageTokens: spec.imageTokensPerImage,
    };
  } catch (error) {
    const message = isGlimpseError(error)
      ? error.message
      : error instanceof Error
        ? error.message
        : String(error);
    loads = { ok: false, reason: message.replace(`${folder}`, '.').split('\n')[0] ?? message };
  }
  return {
    id: relative(dir, folder).split(sep).join('/'),
    folder,
    precisions,
    bytes: files.reduce((sum, file) => sum + file.size, 0),
    partial: files.filter((file) => file.path.endsWith('.part')).length,
    loads,
  };
}

/**
 * The model directories under `dir`: any folder holding a `config.json`, at the top
 * (`models/tiny-shapes`) or one level down (`models/<owner>/<name>`, as `glimpse models pull`
 * puts them). Sorted by id.
 */
export async function listInstalledModels(dir: string): Promise<InstalledModel[]> {
  const root = resolve(dir);
  const folders: string[] = [];
  const visit = async (folder: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch {
      return;
    }
    if (depth > 0 && entries.some((entry) => entry.isFile() && entry.name === 'config.json')) {
      folders.push(folder);
      return;
    }
    if (depth >= 2) return;
    for (const entry of entries) {
      if (entry.isDirectory() && !entry.name.startsWith('.'))
        await visit(join(folder, entry.name), depth + 1);
    }
  };
  await visit(root, 0);
  const models = await Promise.all(folders.map((folder) => describe(root, folder)));
  return models.sort((a, b) => a.id.localeCompare(b.id));
}
