import { join, resolve, sep } from 'node:path';
import { GlimpseError } from '../errors.js';
import { downloadFile } from './file-download.js';
import type { HubClient } from './hub-client.js';
import { selectModelFiles } from './model-files.js';
import type { PullProgress } from './pull-progress.js';

/** `owner/name` (or a bare `name`), as the Hub spells repository ids. */
const hubIdPattern = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Where a model goes: `<dir>/<owner>/<name>`, one folder per owner and one per model inside it,
 * mirroring the Hub id (`models/onnx-community/llava-interleave-qwen-0.5b-hf`). Ids with `..`
 * or other characters the Hub does not allow are refused.
 */
export function modelFolder(dir: string, id: string): string {
  if (
    !hubIdPattern.test(id) ||
    id.split('/').some((segment) => segment === '.' || segment === '..' || segment.includes('..'))
  ) {
    throw new GlimpseError('glimpse_usage', `'${id}' is not a Hub model id (owner/name)`, {
      userMessage: `'${id}' is not a Hub model id (owner/name).`,
    });
  }
  return join(resolve(dir), ...id.split('/'));
}

export interface PullOptions {
  client: HubClient;
  id: string;
  precision: string;
  /** the models directory (`./models`) */
  dir: string;
  revision?: string;
  progress: PullProgress;
  signal?: AbortSignal;
  retries?: number;
  retryDelayMs?: number;
}

export interface PullResult {
  folder: string;
  files: { path: string; size: number; status: 'downloaded' | 'present' }[];
  bytes: number;
}

/**
 * Fetches the files a precision needs (`selectModelFiles`) from the Hub into `modelFolder`,
 * one after another, each resumable and verified (`downloadFile`).
 */
export async function pullModel(options: PullOptions): Promise<PullResult> {
  const folder = modelFolder(options.dir, options.id);
  const revision = options.revision ?? 'main';
  const listed = await options.client.listFiles(options.id, revision, options.signal);
  const selected = selectModelFiles(listed, options.precision, options.id);
  const files: PullResult['files'] = [];
  for (const file of selected) {
    const target = resolve(folder, file.path);
    if (!target.startsWith(folder + sep)) continue; // never outside the folder, whatever the listing says
    const status = await downloadFile({
      client: options.client,
      id: options.id,
      revision,
      file,
      target,
      progress: options.progress,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
    });
    files.push({ path: file.path, size: file.size, status });
  }
  return { folder, files, bytes: files.reduce((sum, file) => sum + file.size, 0) };
}
