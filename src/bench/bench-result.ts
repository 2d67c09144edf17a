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
}

/** One side's answer to one request. */
export interface SideRun {
  sample: RunSample;
  /** the prompt's token ids, image tokens expanded */
  promptIds: number[];
  generatedIds: number[];
  text: string;
}

/** What the bench drives on each side: load once, then generate greedily from image bytes and a question. */
export interface BenchSide {
  label: string;
  run(image: ImagePart, question: string, maxNewTokens: number): Promise<SideRun>;
  dispose(): Promise<void>;
}
