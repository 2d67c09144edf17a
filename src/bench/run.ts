import { spawn } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isGlimpseError } from '../errors.js';
import { benchImage, paritySize } from './bench-image.js';
import { type BenchOptions, benchUsage, parseBenchOptions } from './bench-options.js';
import { formatReport } from './bench-report.js';
import type { BenchSide, SideResult } from './bench-result.js';
import { loadGlimpseSide } from './glimpse-side.js';
import { loadTransformersPeer } from './transformers-peer.js';

/**
 * `npm run bench`: transformers.js and Glimpse on the same model directory, each in a child
 * process of its own (so load time and peak RSS are each side's alone), then one table.
 */

const resultMarker = 'GLIMPSE_BENCH_RESULT ';
const sides = ['transformers.js', 'glimpse'] as const;
type SideName = (typeof sides)[number];

async function runWorker(side: SideName, options: BenchOptions): Promise<SideResult> {
  const image = await benchImage(options.image);
  const loadStart = performance.now();
  const bench: BenchSide =
    side === 'glimpse'
      ? await loadGlimpseSide(options.model, options.threads)
      : await loadTransformersPeer(options.model, options.threads);
  const loadMs = performance.now() - loadStart;
  try {
    for (let index = 0; index < options.warmup; index++) {
      await bench.run(image, options.question, options.maxNewTokens);
    }
    const samples: SideResult['samples'] = [];
    let last: Awaited<ReturnType<BenchSide['run']>> | undefined;
    for (let index = 0; index < options.runs; index++) {
      last = await bench.run(image, options.question, options.maxNewTokens);
      samples.push(last.sample);
      process.stderr.write(
        `  ${side}: run ${index + 1}/${options.runs} ${last.sample.endToEndMs.toFixed(1)} ms\n`,
      );
    }
    const parity = await bench.run(
      await benchImage(undefined, [paritySize, paritySize]),
      options.question,
      options.maxNewTokens,
    );
    return {
      side,
      label: bench.label,
      loadMs,
      samples,
      promptIds: last?.promptIds ?? [],
      generatedIds: last?.generatedIds ?? [],
      text: last?.text ?? '',
      parity: { promptIds: parity.promptIds, generatedIds: parity.generatedIds },
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await bench.dispose();
  }
}

function runChild(side: SideName, argv: readonly string[]): Promise<SideResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--worker', side, ...argv], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (data: string) => {
      stdout += data;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.split('\n').find((candidate) => candidate.startsWith(resultMarker));
      if (code !== 0 || !line) {
        reject(new Error(`the ${side} side failed (exit code ${code})`));
        return;
      }
      resolve(JSON.parse(line.slice(resultMarker.length)) as SideResult);
    });
  });
}

async function main(argv: string[]): Promise<number> {
  const workerAt = argv.indexOf('--worker');
  const worker = workerAt === -1 ? undefined : (argv[workerAt + 1] as SideName | undefined);
  const rest = workerAt === -1 ? argv : [...argv.slice(0, workerAt), ...argv.slice(workerAt + 2)];
  const options = parseBenchOptions(rest);
  if (!options) {
    process.stdout.write(`${benchUsage}\n`);
    return 0;
  }
  if (worker) {
    if (!sides.includes(worker)) throw new Error(`unknown side '${worker}'`);
    const result = await runWorker(worker, options);
    process.stdout.write(`${resultMarker}${JSON.stringify(result)}\n`);
    return 0;
  }
  process.stderr.write(
    `bench: ${options.model}, ${options.warmup} warm-up + ${options.runs} runs per side\n`,
  );
  const peer = await runChild('transformers.js', rest);
  const glimpse = await runChild('glimpse', rest);
  const image = await benchImage(options.image);
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const report = {
    model: options.model,
    image: `${image.width}×${image.height} ${image.mediaType.replace('image/', '').toUpperCase()}`,
    question: options.question,
    maxNewTokens: options.maxNewTokens,
    warmup: options.warmup,
    machine: `${availableParallelism()} CPUs (${cpu}), onnxruntime-node CPU on both sides`,
    peer,
    glimpse,
  };
  process.stdout.write(`${formatReport(report)}\n`);
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = isGlimpseError(error)
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
    process.stderr.write(`bench: ${message}\n`);
    process.exitCode = isGlimpseError(error, 'glimpse_usage') ? 2 : 1;
  },
);
