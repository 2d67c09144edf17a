/** The middle and the tail of a set of measurements. */
export interface Summary {
  n: number;
  median: number;
  /** the slow tail: the 90th percentile of a time, the 10th percentile of a rate */
  p90: number;
  min: number;
  max: number;
}

/**
 * The `p`-th percentile (0–100) of `values` with linear interpolation between the closest ranks
 * (numpy's default), so the median of an even count is the mean of the middle two.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (Math.min(Math.max(p, 0), 100) / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.ceil(rank);
  const low = sorted[lower] as number;
  const high = sorted[upper] as number;
  return low + (high - low) * (rank - lower);
}

/**
 * Median and p90 of `values`. `higherIsBetter` marks a rate (tokens/s): its slow tail is the
 * 10th percentile, so p90 always means "the worst one run in ten".
 */
export function summarize(values: readonly number[], higherIsBetter = false): Summary {
  return {
    n: values.length,
    median: percentile(values, 50),
    p90: percentile(values, higherIsBetter ? 10 : 90),
    min: values.length > 0 ? Math.min(...values) : Number.NaN,
    max: values.length > 0 ? Math.max(...values) : Number.NaN,
  };
}
