import type { ImagePart } from '../messages.js';

/** One measured generation. */
export interface RunSample {
  /** from the request (image bytes and question) to the first generated token */
  timeToFirstTokenMs: number;
  /** (generated tokens − 1) / time from the first token to the last */
  decodeTokensPerSecond: number;
  /** from the request to the complete answer */
  endToEndMs: number;
  generatedTokens: number;
  /** where the time to first token went, where the side reports it (Glimpse does) */
  stages?: { preprocessMs: number; visionMs: number; prefillMs: number };
  /**
   * The last turn of the same conversation (`--turns`, default the fourth): the first question,
   * then follow-ups with the side's own answers in the history. Glimpse may reuse its caches
   * here; the peer has none.
   */
  laterTurn?: { turn: number; timeToFirstTokenMs: number; promptTokens: number };
}

/** One side's preprocessing of one image, against PIL's pixels where a reference exists. */
export interface PreprocessResult {
  /** e.g. `phone-4032x3024.jpg (4032×3024 JPEG)` */
  image: string;
  /** bytes → pixel values, each run */
  ms: number[];
  /** |ours − PIL| in 8-bit levels over every value, where a PIL reference exists */
  meanAbsError?: number;
  maxAbsError?: number;
}

/** What one side of the benchmark reports from its own child process. */
export interface SideResult {
  /** `glimpse` or `transformers.js` */
  side: string;
  /** e.g. `Glimpse 0.1.0 (onnxruntime-node 1.30.0)` */
  label: string;
  loadMs: number;
  samples: RunSample[];
  /** the prompt's token ids of the last run, image tokens expanded */
  promptIds: number[];
  /** the generated token ids of the last run */
  generatedIds: number[];
  /** the generated text of the last run */
  text: string;
  /** the ids for the parity picture (the model's input size: no resize on either side), untimed */
  parity: { image: string; promptIds: number[]; generatedIds: number[] };
  /** the child process's peak resident set size, bytes */
  peakRssBytes: number;
  preprocess: PreprocessResult[];
}

/** One side's answer to one request. */
export interface SideRun {
  sample: RunSample;
  /** the prompt's token ids, image tokens expanded */
  promptIds: number[];
  generatedIds: number[];
  text: string;
}

/** The follow-up turns of a run: questions after the first, each answered in `maxNewTokens`. */
export interface FollowUps {
  questions: string[];
  maxNewTokens: number;
}

/**
 * What the bench drives on each side: load once, then generate greedily from image bytes and a
 * question (a cold first turn: Glimpse empties its caches first), then the follow-ups, if any.
 */
export interface BenchSide {
  label: string;
  run(image: ImagePart, question: string, maxNewTokens: number, followUps?: FollowUps): Promise<SideRun>;
  /** bytes → the `pixel_values` the side feeds its model (CHW float32, one image) */
  preprocess(image: ImagePart): Promise<Float32Array>;
  dispose(): Promise<void>;
}
