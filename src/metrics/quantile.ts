/**
 * Quantile of a classic histogram by linear interpolation inside the bucket that holds it,
 * as Prometheus's histogram_quantile does: `les` ascending upper bounds ending in +Inf,
 * `cumulative` the cumulative counts per bound. NaN when there are no observations.
 */
export function bucketQuantile(q: number, les: readonly number[], cumulative: readonly number[]): number {
  const n = les.length;
  if (n === 0 || q < 0 || q > 1 || Number.isNaN(q)) return Number.NaN;
  const total = cumulative[n - 1] ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  let i = 0;
  while (i < n - 1 && (cumulative[i] ?? 0) < rank) i++;
  const upper = les[i] as number;
  if (upper === Number.POSITIVE_INFINITY) {
    // The quantile falls in the +Inf bucket: the best answer is the highest finite bound.
    return n >= 2 ? (les[n - 2] as number) : Number.NaN;
  }
  const lower = i === 0 ? 0 : (les[i - 1] as number);
  const below = i === 0 ? 0 : (cumulative[i - 1] as number);
  const inBucket = (cumulative[i] as number) - below;
  if (i === 0 && upper <= 0) return upper;
  if (inBucket <= 0) return upper;
  return lower + ((upper - lower) * (rank - below)) / inBucket;
}
