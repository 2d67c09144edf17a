import { describe, expect, it } from 'vitest';
import { argmax, Sampler } from '../../src/pipeline/sampler.js';
import { seededRandom } from '../../src/pipeline/seeded-random.js';

const logits = Float32Array.from([1, 3, 2.5, -1, 0]);

function histogram(sampler: Sampler, runs: number, seen: number[] = []): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < runs; i++) counts[sampler.sample(logits, seen)]!++;
  return counts;
}

describe('Sampler', () => {
  it('temperature 0 is greedy (argmax)', () => {
    expect(new Sampler({ temperature: 0 }).sample(logits)).toBe(1);
    expect(argmax(Float32Array.from([-5, -2, -3]))).toBe(1);
    expect(argmax(Float32Array.from([Number.NaN, -2, Number.NaN]))).toBe(1);
    expect(() => argmax(Float32Array.from([Number.NaN, Number.NaN]))).toThrow(/NaN logits/);
  });

  it('the same seed gives the same samples; another seed gives others', () => {
    const draw = (seed: number) => {
      const sampler = new Sampler({ temperature: 1, seed });
      return Array.from({ length: 40 }, () => sampler.sample(logits));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('samples in proportion to softmax(logits / T)', () => {
    const counts = histogram(new Sampler({ temperature: 1, seed: 1 }), 20000);
    const weights = Array.from(logits, (value) => Math.exp(value));
    const total = weights.reduce((a, b) => a + b, 0);
    for (const [id, count] of counts.entries()) expect(count / 20000).toBeCloseTo(weights[id]! / total, 1);
  });

  it('top-k keeps only the k most likely tokens', () => {
    const counts = histogram(new Sampler({ temperature: 2, topK: 2, seed: 3 }), 2000);
    expect(counts[0]).toBe(0);
    expect(counts[3]).toBe(0);
    expect(counts[4]).toBe(0);
    expect(counts[1]! + counts[2]!).toBe(2000);
  });

  it('top-p keeps the smallest set reaching p', () => {
    // probabilities at T=1: ~[0.07, 0.50, 0.30, 0.01, 0.03] → p = 0.5 keeps only token 1
    const counts = histogram(new Sampler({ temperature: 1, topP: 0.5, seed: 4 }), 500);
    expect(counts[1]).toBe(500);
    const wider = histogram(new Sampler({ temperature: 1, topP: 0.8, seed: 4 }), 2000);
    expect(wider[1]! > 0 && wider[2]! > 0).toBe(true);
    expect(wider[0]! + wider[3]! + wider[4]!).toBe(0);
  });

  it("repetition penalty divides seen positive logits and multiplies negative ones (HF's rule)", () => {
    // token 1 (3.0) seen, penalty 2 → 1.5 < 2.5: greedy now picks token 2
    expect(new Sampler({ temperature: 0, repetitionPenalty: 2 }).sample(logits, [1])).toBe(2);
    // a seen negative logit gets more negative, never promoted
    const negative = Float32Array.from([-1, -2]);
    expect(new Sampler({ temperature: 0, repetitionPenalty: 3 }).sample(negative, [0])).toBe(1);
  });
});

describe('seededRandom', () => {
  it('is deterministic and in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    for (let i = 0; i < 100; i++) {
      const value = a();
      expect(value).toBe(b());
      expect(value >= 0 && value < 1).toBe(true);
    }
  });
});
