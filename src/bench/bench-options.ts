import { parseArgs } from 'node:util';
import { GlimpseError } from '../errors.js';

export interface BenchOptions {
  /** the LLaVA model directory both sides load */
  model: string;
  /** measured runs per side, after the warm-up */
  runs: number;
  warmup: number;
  maxNewTokens: number;
  question: string;
  /** an image file to use instead of the built-in test picture */
  image?: string;
  /** which ONNX files both sides load, by suffix (`fp32`, `fp16`, `q8`/`quantized`, `q4`, …) */
  precision: string;
  /** onnxruntime intra-op threads for both sides; 0 = its default */
  threads: number;
  /** print the raw results as JSON after the table */
  json: boolean;
  /** turns per run: the timed first turn, then follow-ups; the last one's time to first token is reported */
  turns: number;
  /** new tokens per follow-up turn */
  historyTokens: number;
  /** timed preprocessings per bench image, after the runs */
  preprocessRuns: number;
}

export const defaultBenchOptions: BenchOptions = {
  model: 'test/fixtures/tiny-llava-random',
  runs: 10,
  warmup: 1,
  maxNewTokens: 24,
  question: 'What colour is the circle?',
  precision: 'fp32',
  threads: 0,
  json: false,
  turns: 4,
  historyTokens: 8,
  preprocessRuns: 5,
};

const precisions = ['fp32', 'fp16', 'q8', 'quantized', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'];

export const benchUsage = `Usage: npm run bench -- [options]

Runs transformers.js and Glimpse on the same model directory, image and question (greedy), each
in its own process, and prints them side by side.

  --model <dir>          LLaVA model directory (default ${defaultBenchOptions.model})
  --runs <n>             measured runs per side (default ${defaultBenchOptions.runs})
  --warmup <n>           warm-up runs per side, not measured (default ${defaultBenchOptions.warmup})
  --max-new-tokens <n>   tokens to generate (default ${defaultBenchOptions.maxNewTokens})
  --question <text>      the question (default "${defaultBenchOptions.question}")
  --image <file>         an image file (default: a built-in 672×504 PNG of a circle and a square)
  --precision <p>        ONNX files to load on both sides: ${precisions.join(', ')} (default fp32)
  --threads <n>          onnxruntime intra-op threads for both sides (default 0: its default)
  --turns <n>            turns per run: the first, then follow-ups with the side's own answers
                         in the history; the last turn's time to first token is reported
                         (default ${defaultBenchOptions.turns}; 1 = first turns only)
  --history-tokens <n>   new tokens per follow-up turn (default ${defaultBenchOptions.historyTokens})
  --preprocess-runs <n>  timed preprocessings of the picture and of a 4032×3024 phone photo
                         (default ${defaultBenchOptions.preprocessRuns}; 0 = skip)
  --json                 also print the raw results as JSON
  --help                 this text`;

function count(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new GlimpseError(
      'glimpse_usage',
      `--${name} expects a whole number of at least ${min}, not '${value}'`,
    );
  }
  return Number(value);
}

/** Parses the bench's command line; throws a `glimpse_usage` error on a bad one, `undefined` for --help. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | undefined {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof spec; allowPositionals: false }>>;
  const spec = {
    model: { type: 'string' },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    'max-new-tokens': { type: 'string' },
    question: { type: 'string' },
    image: { type: 'string' },
    threads: { type: 'string' },
    precision: { type: 'string' },
    json: { type: 'boolean' },
    turns: { type: 'string' },
    'history-tokens': { type: 'string' },
    'preprocess-runs': { type: 'string' },
    help: { type: 'boolean' },
  } as const;
  try {
    parsed = parseArgs({ args: [...argv], options: spec, allowPositionals: false });
  } catch (error) {
    throw new GlimpseError(
      'glimpse_usage',
      `${error instanceof Error ? error.message : String(error)}\n\n${benchUsage}`,
    );
  }
  const values = parsed.values;
  if (values.help) return undefined;
  const d = defaultBenchOptions;
  const precision = values.precision ?? d.precision;
  if (!precisions.includes(precision)) {
    throw new GlimpseError(
      'glimpse_usage',
      `--precision expects one of ${precisions.join(', ')}, not '${precision}'`,
    );
  }
  return {
    model: values.model ?? d.model,
    runs: count('runs', values.runs, d.runs, 1),
    warmup: count('warmup', values.warmup, d.warmup, 0),
    maxNewTokens: count('max-new-tokens', values['max-new-tokens'], d.maxNewTokens, 1),
    question: values.question ?? d.question,
    precision,
    threads: count('threads', values.threads, d.threads, 0),
    json: values.json ?? false,
    turns: count('turns', values.turns, d.turns, 1),
    historyTokens: count('history-tokens', values['history-tokens'], d.historyTokens, 1),
    preprocessRuns: count('preprocess-runs', values['preprocess-runs'], d.preprocessRuns, 0),
    ...(values.image ? { image: values.image } : {}),
  };
}
