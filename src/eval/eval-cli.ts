import { parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfigFromProcess } from '../config.js';
import { isGlimpseError } from '../errors.js';
import { createLogger } from '../logger.js';
import { createModel } from '../pipeline/create-model.js';
import { ZeroShotLabeler } from '../pipeline/zero-shot-labeler.js';
import { runEmbeddedModelEval } from './embedded-model-eval.js';
import { evalPassed, evalRows, formatEvalReport } from './eval-report.js';
import { defaultEvalSeed } from './scene-generator.js';
import { defaultSceneSpecPath, loadSceneSpec } from './scene-spec.js';

export const evalUsage = `Usage: npm run eval -- [options]

Evaluates a tiny-shapes model through the real pipeline on held-out scenes drawn here
(SVG rendered by sharp; another seed and renderer than training) and prints Q&A accuracy,
caption completeness, zero-shot top-1 and follow-up accuracy against the targets.
Exits 1 when a target is missed.

Options:
  --model <dir>       the model directory (default: GLIMPSE_MODEL_DIR, models/tiny-shapes)
  --count <n>         images to draw (default 200)
  --seed <s>          scene seed (default ${defaultEvalSeed})
  --spec <file>       the scene spec (default ${defaultSceneSpecPath})
  --max-tokens <n>    the longest answer (default 64)
  --mistakes <n>      mistakes to list (default 10)
  --json              print the result as JSON instead of the table`;

export interface EvalCliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  loadConfig: () => Config;
}

function whole(flag: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min)
    throw new RangeError(`--${flag} expects a whole number ≥ ${min}`);
  return parsed;
}

const evalOptions = {
  model: { type: 'string' },
  count: { type: 'string' },
  seed: { type: 'string' },
  spec: { type: 'string' },
  'max-tokens': { type: 'string' },
  mistakes: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `npm run eval`: 0 when every target is met, 1 when one is missed, 2 on bad arguments. */
export async function runEvalCli(argv: string[], partialIo: Partial<EvalCliIo> = {}): Promise<number> {
  const io: EvalCliIo = {
    stdout: partialIo.stdout ?? process.stdout,
    stderr: partialIo.stderr ?? process.stderr,
    loadConfig: partialIo.loadConfig ?? (() => loadConfigFromProcess()),
  };
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof evalOptions }>>['values'];
  let count: number;
  let seed: number;
  let maxNewTokens: number;
  let mistakes: number;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: evalOptions }));
    count = whole('count', values.count, 200, 1);
    seed = whole('seed', values.seed, defaultEvalSeed, 0);
    maxNewTokens = whole('max-tokens', values['max-tokens'], 64, 1);
    mistakes = whole('mistakes', values.mistakes, 10, 0);
  } catch (error) {
    io.stderr.write(`eval: ${(error as Error).message}\n${evalUsage}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${evalUsage}\n`);
    return 0;
  }

  try {
    const config = io.loadConfig();
    if (values.model) {
      if (config.model.provider !== 'onnx') {
        io.stderr.write('eval: --model needs GLIMPSE_MODEL_PROVIDER=onnx\n');
        return 2;
      }
      config.model = { ...config.model, dir: values.model };
    }
    const spec = await loadSceneSpec(values.spec ?? defaultSceneSpecPath);
    const logger = createLogger({
      ...config.log,
      level: config.log.level === 'info' ? 'warn' : config.log.level,
    });
    const model = await createModel(config, logger);
    let labeler: ZeroShotLabeler | undefined;
    try {
      labeler = await ZeroShotLabeler.fromConfig(config);
      const started = Date.now();
      const result = await runEmbeddedModelEval({
        spec,
        model,
        labeler,
        seed,
        count,
        maxNewTokens,
        onProgress: (done, total) => {
          if (done % 10 === 0 || done === total) {
            io.stderr.write(
              `eval: ${done}/${total} images (${((Date.now() - started) / 1000).toFixed(0)} s)\n`,
            );
          }
        },
      });
      if (values.json) {
        io.stdout.write(
          `${JSON.stringify({ model: model.info.source, pass: evalPassed(result), rows: evalRows(result), result }, null, 2)}\n`,
        );
      } else {
        io.stdout.write(formatEvalReport(result, { modelName: model.info.source, mistakes }));
      }
      return evalPassed(result) ? 0 : 1;
    } finally {
      await labeler?.close();
      await model.close();
    }
  } catch (error) {
    if (error instanceof ConfigError || isGlimpseError(error)) {
      io.stderr.write(`eval: ${error.message}${isGlimpseError(error) ? ` [${error.code}]` : ''}\n`);
      return 2;
    }
    throw error;
  }
}
