import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { loadConfig } from '../../src/config.js';
import { captureIo } from '../fakes/captured-io.js';
import { FakeHub } from '../fakes/fake-hub.js';
import { hubRepo, repoId } from '../models/hub-repo.js';

const token = 'hf_cliTOKENneverPRINTED42';
let hub: FakeHub;
let dir: string;

beforeEach(async () => {
  hub = await new FakeHub().add(repoId, hubRepo()).start();
  hub.token = token;
  dir = await mkdtemp(join(tmpdir(), 'glimpse-models-'));
});
afterEach(async () => {
  await hub.stop();
  await rm(dir, { recursive: true, force: true });
});

const io = (env: Record<string, string> = {}) =>
  captureIo(() =>
    loadConfig({ GLIMPSE_LOG_LEVEL: 'silent', HF_ENDPOINT: hub.hubUrl, HF_TOKEN: token, ...env }),
  );

describe('glimpse models pull', () => {
  it('pulls with HF_ENDPOINT and HF_TOKEN from the config, prints plain progress lines off a terminal, never the token', async () => {
    const captured = io();
    const code = await main(['models', 'pull', repoId, '--precision', 'q4', '--dir', dir], captured);
    expect(captured.err()).not.toContain('glimpse models:');
    expect(code).toBe(0);
    expect(captured.out()).toContain(`${repoId} (q4) is in `);
    expect(captured.out()).toContain('11 files');
    expect(captured.out()).toContain('GLIMPSE_PRECISION=q4 glimpse start');
    const lines = captured.err().split('\n');
    expect(lines).toContain('downloading onnx/decoder_model_merged_q4.onnx (487.1 KB)');
    expect(lines).toContain('ok onnx/decoder_model_merged_q4.onnx (487.1 KB, sha256 checked)');
    expect(lines.some((line) => /^ok config\.json \([\d.]+ KB, git-sha1 checked\)$/.test(line))).toBe(true);
    expect(captured.err()).not.toContain('\r');
    expect(captured.out() + captured.err()).not.toContain(token);
    expect(hub.requests.some((request) => request.authorization === `Bearer ${token}`)).toBe(true);
  });

  it('a refused token: one line with the code, exit 1, the token nowhere (though the hub echoed it)', async () => {
    hub.token = 'hf_theRIGHTone000000';
    const captured = io();
    const code = await main(['models', 'pull', repoId, '--precision', 'q4', '--dir', dir], captured);
    expect(code).toBe(1);
    expect(captured.err()).toMatch(
      /^glimpse models: HF_TOKEN was refused for .* \[glimpse_hub_unauthorized\]\n$/,
    );
    expect(captured.out() + captured.err()).not.toContain(token);
  });

  it('a precision the export lacks names the ones it has', async () => {
    const captured = io();
    const code = await main(['models', 'pull', repoId, '--precision', 'bnb4', '--dir', dir], captured);
    expect(code).toBe(1);
    expect(captured.err()).toContain('has no bnb4 export');
    expect(captured.err()).toContain('it has: fp32, fp16, q4 [glimpse_precision_unavailable]');
  });

  it('usage errors: no id, an unknown precision', async () => {
    const none = io();
    expect(await main(['models', 'pull'], none)).toBe(2);
    expect(none.err()).toContain('give the Hub id');
    const bad = io();
    expect(await main(['models', 'pull', repoId, '--precision', 'q3'], bad)).toBe(2);
    expect(bad.err()).toContain('--precision expects one of');
  });
});

describe('glimpse models list', () => {
  it('shows each model: precisions, size, and whether it loads', async () => {
    await cp('models/tiny-shapes', join(dir, 'tiny-shapes'), { recursive: true });
    await mkdir(join(dir, 'someone', 'broken'), { recursive: true });
    await writeFile(join(dir, 'someone', 'broken', 'config.json'), '{"model_type": "llava"}');
    await writeFile(join(dir, 'someone', 'broken', 'model.onnx.part'), 'half');
    const captured = io();
    expect(await main(['models', 'list', '--dir', dir], captured)).toBe(0);
    const lines = captured.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^id\s+precisions\s+size\s+loads$/);
    expect(lines[1]).toMatch(
      /^someone\/broken\s+-\s+\d+ B\s+no: model directory \. is missing .*\(1 unfinished download\)$/,
    );
    expect(lines[2]).toMatch(/^tiny-shapes\s+fp32\s+13\.\d MB\s+llava, 128×128 px, 64 image tokens$/);
  });

  it('--json, and an empty directory', async () => {
    await cp('models/tiny-shapes', join(dir, 'tiny-shapes'), { recursive: true });
    const captured = io();
    expect(await main(['models', 'list', '--dir', dir, '--json'], captured)).toBe(0);
    expect(JSON.parse(captured.out())).toEqual([
      expect.objectContaining({
        id: 'tiny-shapes',
        precisions: ['fp32'],
        loads: { ok: true, modelType: 'llava', imageSize: { height: 128, width: 128 }, imageTokens: 64 },
      }),
    ]);
    const empty = io();
    expect(await main(['models', 'list', '--dir', join(dir, 'none')], empty)).toBe(0);
    expect(empty.out()).toContain('no models under');
  });
});
