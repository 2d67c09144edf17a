import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve('.');
const script = join(root, 'dist/bench/run.js');

/** npm test builds dist/ first; a test run that starts from an older build rebuilds it. */
function benchIsStale(): boolean {
  if (!existsSync(script)) return true;
  const built = statSync(script).mtimeMs;
  return readdirSync(join(root, 'src/bench')).some(
    (name) => statSync(join(root, 'src/bench', name)).mtimeMs > built,
  );
}

describe('npm run bench', () => {
  it('prints both sides side by side and says the token ids are identical', async () => {
    if (benchIsStale())
      await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root }).catch(() => undefined);
    const { stdout } = await run(
      process.execPath,
      [script, '--runs', '2', '--warmup', '0', '--max-new-tokens', '4', '--preprocess-runs', '1', '--json'],
      { cwd: root, timeout: 120_000 },
    );
    expect(stdout).toContain('Glimpse vs transformers.js');
    for (const row of [
      'time to first token (ms)',
      'decode (tok/s)',
      'end-to-end (ms)',
      'model load (ms)',
      'peak RSS (MiB)',
      'time to first token, turn 4 (ms)',
      'decode bound of this machine',
      'phone-4032x3024.jpg (4032×3024 JPEG)',
      'targets (issue #18):',
    ]) {
      expect(stdout).toContain(row);
    }
    expect(stdout).toContain('token ids identical: yes');
    expect(stdout).toContain('preprocessing pixel-exact against PIL: max |Δ| 0 on 2 images — met');
    const json = JSON.parse(stdout.slice(stdout.indexOf('\n{') + 1)) as {
      peer: { samples: unknown[]; peakRssBytes: number };
      glimpse: { samples: unknown[]; generatedIds: number[] };
    };
    expect(json.peer.samples).toHaveLength(2);
    expect(json.glimpse.samples).toHaveLength(2);
    expect(json.glimpse.generatedIds).toHaveLength(4);
    expect(json.peer.peakRssBytes).toBeGreaterThan(0);
  });

  it('exits 2 with a clear message for a directory that is not a model', async () => {
    const failure = await run(process.execPath, [script, '--model', 'test'], { cwd: root }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--model expects a LLaVA model directory'),
    });
  });
});
