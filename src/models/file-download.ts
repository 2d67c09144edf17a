import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import pRetry from 'p-retry';
import { GlimpseError, isGlimpseError } from '../errors.js';
import type { HubClient, HubFile } from './hub-client.js';
import type { PullProgress } from './pull-progress.js';

export interface FileDownloadOptions {
  client: HubClient;
  id: string;
  revision: string;
  file: HubFile;
  /** where the file goes (its `.part` sits beside it until verified) */
  target: string;
  progress: PullProgress;
  signal?: AbortSignal;
  /** attempts after a dropped connection or a 5xx, each resuming from the `.part` (default 3) */
  retries?: number;
  /** the first wait between attempts, doubling (default 1000 ms) */
  retryDelayMs?: number;
}

/** What is checked: the LFS sha256, else the git blob id, else only the size. */
function checker(file: HubFile): { hash: Hash; kind: 'sha256' | 'git-sha1' | 'size'; expected?: string } {
  if (file.sha256) return { hash: createHash('sha256'), kind: 'sha256', expected: file.sha256 };
  if (file.gitOid) {
    const hash = createHash('sha1');
    hash.update(`blob ${file.size}\0`);
    return { hash, kind: 'git-sha1', expected: file.gitOid };
  }
  return { hash: createHash('sha256'), kind: 'size' };
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

async function hashInto(hash: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** Whether a file already in place is the one listed (size, then content). */
async function alreadyThere(target: string, file: HubFile): Promise<boolean> {
  if ((await sizeOf(target)) !== file.size) return false;
  const check = checker(file);
  if (!check.expected) return true;
  await hashInto(check.hash, target);
  return check.hash.digest('hex') === check.expected;
}

function corrupt(id: string, file: HubFile, what: string): GlimpseError {
  return new GlimpseError(
    'glimpse_download_corrupt',
    `${id}/${file.path}: ${what}; the download was deleted, run the command again to fetch it anew`,
    { userMessage: 'A model file arrived damaged.', details: { id, path: file.path } },
  );
}

/** One attempt: resumes from the `.part` on disk (Range), appends, then verifies and moves it in place. */
async function attempt(options: FileDownloadOptions): Promise<'sha256' | 'git-sha1' | 'size'> {
  const { client, id, revision, file, target, progress, signal } = options;
  const part = `${target}.part`;
  let offset = (await sizeOf(part)) ?? 0;
  if (offset > file.size) {
    await unlink(part);
    offset = 0;
  }
  const download =
    offset === file.size ? undefined : await client.download(id, revision, file.path, offset, signal);
  if (download) offset = download.offset;
  else if (offset === 0) await writeFile(part, ''); // an empty file: nothing to download
  const check = checker(file);
  if (offset > 0) await hashInto(check.hash, part);
  progress.start(file.path, file.size, offset);
  let received = offset;
  if (download) {
    await pipeline(
      Readable.fromWeb(download.body as NodeReadableStream<Uint8Array>),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          received += chunk.length;
          if (received > file.size)
            throw corrupt(id, file, `more than the listed ${file.size} bytes arrived`);
          check.hash.update(chunk);
          progress.advance(chunk.length);
          yield chunk;
        }
      },
      createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }),
      ...(signal ? [{ signal }] : []),
    );
  }
  if (received !== file.size) {
    // a body that ended early: the part stays for the next attempt to resume
    throw Object.assign(new Error(`${file.path}: the body ended at ${received} of ${file.size} bytes`), {
      code: 'ECONNRESET',
    });
  }
  if (check.expected) {
    const actual = check.hash.digest('hex');
    if (actual !== check.expected) {
      await unlink(part).catch(() => undefined);
      throw corrupt(id, file, `${check.kind} ${actual} is not the listed ${check.expected}`);
    }
  }
  await rename(part, target);
  return check.kind;
}

/**
 * Puts one listed file at `target`: skipped when already there and verified; otherwise fetched
 * into `<target>.part` — resumed with an HTTP Range request when a part is on disk, from an
 * earlier run or an attempt whose connection dropped — then its size and hash (the LFS sha256,
 * or the git blob id of a small file) checked against the listing. A mismatch deletes the part:
 * nothing unverified is ever left at `target`.
 */
export async function downloadFile(options: FileDownloadOptions): Promise<'downloaded' | 'present'> {
  await mkdir(dirname(options.target), { recursive: true });
  if (await alreadyThere(options.target, options.file)) {
    options.progress.skip(options.file.path, options.file.size);
    return 'present';
  }
  const verified = await pRetry(() => attempt(options), {
    retries: options.retries ?? 3,
    minTimeout: options.retryDelayMs ?? 1000,
    factor: 2,
    ...(options.signal ? { signal: options.signal } : {}),
    // a refusal (401/403/404) or a damaged file will not change by asking again
    shouldRetry: ({ error }) =>
      !isGlimpseError(error) ||
      error.code === 'glimpse_hub_failed' ||
      error.code === 'glimpse_hub_unreachable',
  });
  options.progress.done(options.file.path, verified);
  return 'downloaded';
}
