import { existsSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GlimpseError, isGlimpseError } from '../errors.js';
import { benchImage } from './bench-image.js';
import { benchUsage, parseBenchOptions } from './bench-options.js';
import { formatReport } from './bench-report.js';
import { decodeBound, measureBandwidth } from './decode-bound.js';
import { SideProcess } from './side-process.js';
import { runSideWorker, type SideName, sideNames } from './side-worker.js';
import { runSoak } from './soak.js';

/**
 * `npm run bench`: transformers.js and Glimpse on the same model directory, each in a child
 * process of its own (so load time and peak RSS are each side's alone), their runs interleaved
 * (ABBA) so both see the same load on a shared machine, then one table.
 */
async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'soak') return runSoak(argv.slice(1));
  const workerAt = argv.indexOf('--worker');
  const worker = workerAt === -1 ? undefined : argv[workerAt + 1];
  const rest = workerAt === -1 ? argv : [...argv.slice(0, workerAt), ...argv.slice(workerAt + 2)];
  const options = parseBenchOptions(rest);
  if (!options) {
    process.stdout.write(`${benchUsage}\n`);
    return 0;
  }
  if (worker !== undefined) {
    if (!sideNames.includes(worker as SideName)) throw new Error(`unknown side '${worker}'`);
    await runSideWorker(worker as SideName, options);
    return 0;
  }

  if (!existsSync(join(options.model, 'config.json'))) {
    throw new GlimpseError(
      'glimpse_usage',
      `${options.model} holds no config.json: --model expects a LLaVA model directory`,
    );
  }
  process.stderr.write(
    `bench: ${options.model}, ${options.warmup} warm-up + ${options.runs} runs per side, interleaved\n`,
  );
  // the machine's memory bandwidth, measured before either side runs
  const bandwidth = measureBandwidth();
  const script = fileURLToPath(import.meta.url);
  const started: SideProcess[] = [];
  try {
    // loaded one after the other, so neither load competes with the other
    const peer = await SideProcess.start('transformers.js', script, rest);
    started.push(peer);
    const glimpse = await SideProcess.start('glimpse', script, rest);
    started.push(glimpse);
    for (let round = 0; round < options.warmup + options.runs; round++) {
      const measured = round >= options.warmup;
      const order = round % 2 === 0 ? [peer, glimpse] : [glimpse, peer];
      const times: string[] = [];
      for (const side of order) {
        const sample = await side.run(measured);
        times.push(`${side.side} ${sample.endToEndMs.toFixed(1)} ms`);
      }
      const label = measured ? `run ${round - options.warmup + 1}/${options.runs}` : 'warm-up';
      process.stderr.write(`  ${label}: ${times.join(', ')}\n`);
    }
    const peerResult = await peer.finish();
    const glimpseResult = await glimpse.finish();
    const image = await benchImage(options.image);
    const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
    const generated = glimpseResult.generatedIds.length;
    const bound = await decodeBound(
      options.model,
      options.precision,
      glimpseResult.promptIds.length + generated / 2,
      bandwidth,
    );
    const report = {
      model: options.precision === 'fp32' ? options.model : `${options.model} (${options.precision})`,
      image: `${image.width}×${image.height} ${image.mediaType.replace('image/', '').toUpperCase()}`,
      question: options.question,
      maxNewTokens: options.maxNewTokens,
      warmup: options.warmup,
      machine: `${availableParallelism()} CPUs (${cpu}), onnxruntime-node CPU on both sides`,
      peer: peerResult,
      glimpse: glimpseResult,
      decodeBound: bound,
    };
    process.stdout.write(`${formatReport(report)}\n`);
    if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  } finally {
    for (const side of started) side.kill();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`bench: ${message}\n`);
    process.exitCode = isGlimpseError(error, 'glimpse_usage') ? 2 : 1;
    // a worker: let go of the parent's channel so this process can exit
    if (process.connected) process.disconnect();
  },
);
