import { describe, expect, it } from 'vitest';
import { defaultBenchOptions, parseBenchOptions } from '../../src/bench/bench-options.js';

describe('parseBenchOptions', () => {
  it('defaults to the tiny random fixture', () => {
    expect(parseBenchOptions([])).toEqual(defaultBenchOptions);
    expect(defaultBenchOptions.model).toBe('test/fixtures/tiny-llava-random');
  });

  it('reads every option', () => {
    expect(
      parseBenchOptions([
        '--model',
        'models/tiny-shapes',
        '--runs',
        '3',
        '--warmup',
        '0',
        '--max-new-tokens',
        '8',
        '--question',
        'How many?',
        '--image',
        'a.png',
        '--threads',
        '2',
        '--precision',
        'fp16',
        '--json',
        '--turns',
        '3',
        '--history-tokens',
        '5',
        '--preprocess-runs',
        '0',
      ]),
    ).toEqual({
      model: 'models/tiny-shapes',
      runs: 3,
      warmup: 0,
      maxNewTokens: 8,
      question: 'How many?',
      image: 'a.png',
      threads: 2,
      precision: 'fp16',
      json: true,
      turns: 3,
      historyTokens: 5,
      preprocessRuns: 0,
    });
  });

  it('returns undefined for --help', () => {
    expect(parseBenchOptions(['--help'])).toBeUndefined();
  });

  it('rejects bad numbers and unknown options with a usage error', () => {
    expect(() => parseBenchOptions(['--runs', '0'])).toThrow(/--runs expects a whole number of at least 1/);
    expect(() => parseBenchOptions(['--runs', 'many'])).toThrow(/--runs/);
    expect(() => parseBenchOptions(['--precision', 'fp8'])).toThrow(/--precision expects one of/);
    expect(() => parseBenchOptions(['--turns', '0'])).toThrow(/--turns expects a whole number of at least 1/);
    expect(() => parseBenchOptions(['--fast'])).toThrow(expect.objectContaining({ code: 'glimpse_usage' }));
  });
});
