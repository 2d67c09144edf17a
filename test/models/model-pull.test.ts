import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubClient } from '../../src/models/hub-client.js';
import { listInstalledModels } from '../../src/models/model-list.js';
import { modelFolder, pullModel } from '../../src/models/model-pull.js';
import { createPullProgress, silentProgress } from '../../src/models/pull-progress.js';
import { FakeHub } from '../fakes/fake-hub.js';
import { hubRepo, repoId } from './hub-repo.js';

const token = 'hf_TESTtokenNEVERshown1234';
let hub: FakeHub;
let dir: string;

beforeEach(async () => {
  hub = await new FakeHub().add(repoId, hubRepo()).start();
  dir = await mkdtemp(join(tmpdir(), 'glimpse-pull-'));
});
afterEach(async () => {
  await hub.stop();
  await rm(dir, { recursive: true, force: true });
});

const client = (options: { token?: string } = {}) =>
  new HubClient({ endpoint: hub.hubUrl, ...(options.token ? { token: options.token } : {}) });
const repoFile = (path: string) => hubRepo().find((file) => file.path === path)!.bytes;
const folder = () => join(dir, 'onnx-community', 'tiny-llava-random');

function plainLines(): { lines: () => string[]; progress: ReturnType<typeof createPullProgress> } {
  let text = '';
  return {
    lines: () => text.split('\n').filter((line) => line !== ''),
    progress: createPullProgress({ write: (chunk: string) => (text += chunk) }),
  };
}

describe('glimpse models pull (pullModel against a loopback Hub and CDN)', () => {
  it('fetches only what q4 needs into <dir>/<owner>/<name>, verified, and the result loads', async () => {
    hub.token = token;
    const result = await pullModel({
      client: client({ token }),
      id: repoId,
      precision: 'q4',
      dir,
      progress: silentProgress,
    });
    expect(result.folder).toBe(folder());
    const wanted = [
      'config.json',
      'generation_config.json',
      'preprocessor_config.json',
      'processor_config.json',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'chat_template.json',
      'onnx/vision_encoder_q4.onnx',
      'onnx/embed_tokens_q4.onnx',
      'onnx/decoder_model_merged_q4.onnx',
    ];
    expect(result.files.map((file) => file.path).sort()).toEqual([...wanted].sort());
    for (const path of wanted) {
      expect(await readFile(join(folder(), path))).toEqual(repoFile(path));
    }
    expect(existsSync(join(folder(), 'README.md'))).toBe(false);
    expect(existsSync(join(folder(), 'onnx/decoder_model_merged.onnx'))).toBe(false);
    // the token went to the Hub, never to the CDN the LFS files were redirected to
    const hubRequests = hub.requests.filter((request) => request.host === 'hub');
    const cdnRequests = hub.requests.filter((request) => request.host === 'cdn');
    expect(hubRequests.every((request) => request.authorization === `Bearer ${token}`)).toBe(true);
    expect(cdnRequests).toHaveLength(3);
    expect(cdnRequests.every((request) => request.authorization === undefined)).toBe(true);

    const [installed] = await listInstalledModels(dir);
    expect(installed).toMatchObject({
      id: repoId,
      precisions: ['q4'],
      partial: 0,
      loads: { ok: true, modelType: 'llava', imageSize: { height: 336, width: 336 }, imageTokens: 576 },
    });
    expect(installed!.bytes).toBe(result.bytes);
  });

  it('resumes a partial file with a Range request (206) and appends the rest', async () => {
    const path = 'onnx/decoder_model_merged_q4.onnx';
    const whole = repoFile(path);
    await mkdir(join(folder(), 'onnx'), { recursive: true });
    await writeFile(join(folder(), `${path}.part`), whole.subarray(0, 100_000));
    const { lines, progress } = plainLines();
    await pullModel({ client: client(), id: repoId, precision: 'q4', dir, progress });
    const forDecoder = hub.requests.filter(
      (request) => request.host === 'cdn' && request.path.includes('decoder'),
    );
    expect(forDecoder.map((request) => request.range)).toEqual(['bytes=100000-']);
    expect(await readFile(join(folder(), path))).toEqual(whole);
    expect(existsSync(join(folder(), `${path}.part`))).toBe(false);
    expect(lines()).toContain(`resuming ${path} at 97.7 KB of 487.1 KB`);
    expect(lines()).toContain(`ok ${path} (487.1 KB, sha256 checked)`);
  });

  it('a connection cut mid-file is resumed in the same run from where it stopped', async () => {
    const path = 'onnx/decoder_model_merged_q4.onnx';
    hub.cutOnce.set(path, 200_000);
    await pullModel({
      client: client(),
      id: repoId,
      precision: 'q4',
      dir,
      progress: silentProgress,
      retryDelayMs: 1,
    });
    const ranges = hub.requests
      .filter((request) => request.host === 'cdn' && request.path.includes('decoder'))
      .map((request) => request.range);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(ranges[1]!)![0])).toBeGreaterThan(0);
    expect(await readFile(join(folder(), path))).toEqual(repoFile(path));
  });

  it('refuses a file whose sha256 is not the listed one, and leaves nothing of it in place', async () => {
    const path = 'onnx/decoder_model_merged_q4.onnx';
    hub.corrupt.add(path);
    const failure = await pullModel({
      client: client(),
      id: repoId,
      precision: 'q4',
      dir,
      progress: silentProgress,
    }).catch((error) => error);
    expect(failure).toMatchObject({
      code: 'glimpse_download_corrupt',
      message: expect.stringContaining(`${repoId}/${path}: sha256`),
    });
    expect(existsSync(join(folder(), path))).toBe(false);
    expect(existsSync(join(folder(), `${path}.part`))).toBe(false);
    // it was not asked again: a damaged file does not mend by retrying
    expect(
      hub.requests.filter((request) => request.host === 'cdn' && request.path.includes('decoder')),
    ).toHaveLength(1);
  });

  it('checks small files by their git blob id too', async () => {
    hub.corrupt.add('config.json');
    const failure = await pullModel({
      client: client(),
      id: repoId,
      precision: 'q4',
      dir,
      progress: silentProgress,
    }).catch((error) => error);
    expect(failure).toMatchObject({
      code: 'glimpse_download_corrupt',
      message: expect.stringContaining(`${repoId}/config.json: git-sha1`),
    });
    expect(existsSync(join(folder(), 'config.json'))).toBe(false);
  });

  it('an empty file (0 bytes) is put in place too', async () => {
    hub.repos.set(repoId, [...hubRepo(), { path: 'added_tokens.json', bytes: Buffer.alloc(0), lfs: false }]);
    const result = await pullModel({
      client: client(),
      id: repoId,
      precision: 'q4',
      dir,
      progress: silentProgress,
    });
    expect(result.files).toContainEqual({ path: 'added_tokens.json', size: 0, status: 'downloaded' });
    expect(await readFile(join(folder(), 'added_tokens.json'))).toEqual(Buffer.alloc(0));
  });

  it('a second pull finds every file in place and downloads nothing', async () => {
    await pullModel({ client: client(), id: repoId, precision: 'q4', dir, progress: silentProgress });
    const before = hub.requests.length;
    const { lines, progress } = plainLines();
    const again = await pullModel({ client: client(), id: repoId, precision: 'q4', dir, progress });
    expect(again.files.every((file) => file.status === 'present')).toBe(true);
    expect(hub.requests.slice(before).map((request) => request.path)).toEqual([
      `/api/models/${repoId}/tree/main?recursive=true`,
    ]);
    expect(lines().every((line) => line.startsWith('have '))).toBe(true);
  });

  it('follows the tree listing through its Link pages', async () => {
    hub.pageSize = 4;
    const result = await pullModel({
      client: client(),
      id: repoId,
      precision: 'fp16',
      dir,
      progress: silentProgress,
    });
    expect(result.files.map((file) => file.path)).toContain('onnx/decoder_model_merged_fp16.onnx_data');
    expect(hub.requests.filter((request) => request.path.includes('/tree/')).length).toBeGreaterThan(3);
  });
});

describe('Hub failures: one line, a stable code', () => {
  it('offline (nothing listens at HF_ENDPOINT)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const offline = new HubClient({ endpoint: `http://127.0.0.1:${port}`, token });
    const failure = await pullModel({
      client: offline,
      id: repoId,
      precision: 'q4',
      dir,
      progress: silentProgress,
    }).catch((error) => error);
    expect(failure).toMatchObject({ code: 'glimpse_hub_unreachable' });
    expect(failure.message).toBe(
      `cannot reach http://127.0.0.1:${port} (ECONNREFUSED): offline? Set HF_ENDPOINT to use a mirror`,
    );
    expect(failure.message).not.toContain(token);
  });

  it('401 without a token: private, gated or missing — set HF_TOKEN', async () => {
    hub.token = token;
    const failure = await pullModel({
      client: client(),
      id: repoId,
      precision: 'q4',
      dir,
      progress: silentProgress,
    }).catch((error) => error);
    expect(failure).toMatchObject({ code: 'glimpse_hub_unauthorized', details: { status: 401 } });
    expect(failure.message).toMatch(
      /is private, gated or missing \(HTTP 401\): check the id, or set HF_TOKEN/,
    );
  });

  it('401 with a token: the token was refused (and is not in the message)', async () => {
    hub.token = token;
    const wrong = 'hf_wrongWRONGwrong0000';
    const failure = await pullModel({
      client: client({ token: wrong }),
      id: repoId,
      precision: 'q4',
      dir,
      progress: silentProgress,
    }).catch((error) => error);
    expect(failure.message).toMatch(/^HF_TOKEN was refused/);
    expect(JSON.stringify({ m: failure.message, d: failure.details })).not.toContain(wrong);
  });

  it('403 GatedRepo: accept the terms on the model page', async () => {
    hub.token = token;
    hub.gated.add(repoId);
    const failure = await pullModel({
      client: client({ token }),
      id: repoId,
      precision: 'q4',
      dir,
      progress: silentProgress,
    }).catch((error) => error);
    expect(failure).toMatchObject({ code: 'glimpse_hub_unauthorized', details: { hubCode: 'GatedRepo' } });
    expect(failure.message).toContain(`${repoId} is gated: accept its terms at ${hub.hubUrl}/${repoId}`);
  });

  it('404: no such model', async () => {
    const failure = await pullModel({
      client: client(),
      id: 'onnx-community/nope',
      precision: 'q4',
      dir,
      progress: silentProgress,
    }).catch((error) => error);
    expect(failure).toMatchObject({ code: 'glimpse_hub_not_found' });
    expect(failure.message).toBe(`no model onnx-community/nope on ${hub.hubUrl} (HTTP 404)`);
  });
});

describe('modelFolder', () => {
  it('puts owner/name in a folder per owner and refuses ids that would leave the directory', () => {
    expect(modelFolder('/m', 'onnx-community/llava-interleave-qwen-0.5b-hf')).toBe(
      '/m/onnx-community/llava-interleave-qwen-0.5b-hf',
    );
    for (const bad of ['../etc', 'a/../../b', 'a/b/c', '/abs', 'a/..', '']) {
      expect(() => modelFolder('/m', bad)).toThrow(expect.objectContaining({ code: 'glimpse_usage' }));
    }
  });
});

describe('createPullProgress on a terminal', () => {
  it('redraws one line in place, at most every 100 ms, and ends it at 100%', () => {
    let text = '';
    let clock = 0;
    const progress = createPullProgress(
      { isTTY: true, write: (chunk: string) => (text += chunk) },
      { now: () => clock },
    );
    progress.start('onnx/decoder_model_merged_q4.onnx', 1000, 0);
    clock = 50;
    progress.advance(100); // within 100 ms of the last draw: not drawn
    expect(text.split('\r').length).toBe(2);
    clock = 1000;
    progress.advance(400);
    expect(text.split('\r').at(-1)).toBe(
      `\u001b[Konnx/decoder_model_merged_q4.onnx [${'#'.repeat(12)}${'-'.repeat(12)}]  50% 500 B/1000 B 500 B/s`,
    );
    progress.done('onnx/decoder_model_merged_q4.onnx', 'sha256');
    expect(text.endsWith('100% 1000 B/1000 B 1000 B/s\n')).toBe(true);
    expect(text).not.toContain('downloading');
  });
});

// keeps the helper honest: the git blob id the fake lists is git's
describe('fake hub', () => {
  it('lists git blob ids as git computes them', () => {
    const bytes = Buffer.from('hello\n');
    expect(createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex')).toBe(
      'ce013625030ba8dba906f756967f9e9ca394464a',
    );
  });
});
