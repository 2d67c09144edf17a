import { GlimpseError } from '../errors.js';
import { seededRandom } from './seeded-random.js';

export interface SamplerOptions {
  /** 0 (or less) is greedy */
  temperature?: number;
  /** keep only the k most likely tokens; 0 = off */
  topK?: number;
  /** keep the smallest set of tokens whose probability reaches p; 1 = off */
  topP?: number;
  /** HF's repetition penalty over every token seen so far; 1 = off */
  repetitionPenalty?: number;
  /** seeds the PRNG; without it sampling is seeded from Math.random */
  seed?: number;
}

/**
 * Picks the next token from a row of logits, in HF generate's order: repetition penalty, then
 * temperature, top-k, top-p, then a draw (or argmax when greedy).
 */
export class Sampler {
  private readonly temperature: number;
  private readonly topK: number;
  private readonly topP: number;
  private readonly repetitionPenalty: number;
  private readonly random: () => number;

  constructor(options: SamplerOptions = {}) {
    this.temperature = options.temperature ?? 0;
    this.topK = options.topK ?? 0;
    this.topP = options.topP ?? 1;
    this.repetitionPenalty = options.repetitionPenalty ?? 1;
    this.random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  get greedy(): boolean {
    return this.temperature <= 0;
  }

  /** `logits` is one vocabulary row; `seen` the ids of the sequence so far (for the penalty). */
  sample(logits: Float32Array, seen: Iterable<number> = []): number {
    const scores = this.repetitionPenalty === 1 ? logits : this.penalize(logits, seen);
    if (this.greedy) return argmax(scores);
    const candidates = this.candidates(scores);
    let r = this.random();
    for (const candidate of candidates) {
      r -= candidate.p;
      if (r < 0) return candidate.id;
    }
    return candidates.at(-1)!.id;
  }

  /** HF's RepetitionPenaltyLogitsProcessor: positive scores divided, negative ones multiplied. */
  private penalize(logits: Float32Array, seen: Iterable<number>): Float32Array {
    const out = Float32Array.from(logits);
    for (const id of new Set(seen)) {
      const score = logits[id];
      if (score === undefined) continue;
      out[id] = score < 0 ? score * this.repetitionPenalty : score / this.repetitionPenalty;
    }
    return out;
  }

  /** The surviving tokens with renormalised probabilities, most likely first. */
  private candidates(scores: Float32Array): { id: number; p: number }[] {
    const t = this.temperature;
    let order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]!);
    if (this.topK > 0 && this.topK < order.length) order = order.slice(0, this.topK);
    const max = scores[order[0]!]! / t;
    let total = 0;
    let items = order.map((id) => {
      const weight = Math.exp(scores[id]! / t - max);
      total += weight;
      return { id, p: weight };
    });
    for (const item of items) item.p /= total;
    if (this.topP < 1) {
      // keep tokens until the cumulative probability reaches top_p (at least one)
      let cumulative = 0;
      const kept: typeof items = [];
      for (const item of items) {
        kept.push(item);
        cumulative += item.p;
        if (cumulative >= this.topP) break;
      }
      items = kept;
      const keptTotal = items.reduce((sum, item) => sum + item.p, 0);
      for (const item of items) item.p /= keptTotal;
    }
    return items;
  }
}

export function argmax(values: Float32Array): number {
  let best = -1;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    if (values[i]! > bestValue || (best === -1 && values[i] === Number.NEGATIVE_INFINITY)) {
      bestValue = values[i]!;
      best = i;
    }
  }
  if (best === -1) {
    // every logit NaN: a numeric failure (e.g. an overflowing half-precision graph), not a token
    throw new GlimpseError('glimpse_model_failed', 'the model produced NaN logits');
  }
  return best;
}
