/**
 * Quantile of one of the registry's own classic histograms (the summary page's p50/p95/p99) by
 * linear interpolation inside the bucket that holds it: `les` ascending, distinct upper bounds
 * ending in +Inf, `cumulative` the cumulative counts per bound. NaN when there are no
 * observations.
 *
 * PromQL's histogram_quantile uses another, `prometheusBucketQuantile` (src/promql/kernels.ts),
 * which must equal Prometheus's bit for bit on any input a query can produce. For a registry
 * histogram and 0 < q <= 1 both pick the same bucket and give the same value up to the last bit
 * (this one divides after multiplying: (upper - lower) * (rank - below) / inBucket). They differ:
 * - q outside [0, 1]: NaN here; -Inf/+Inf there (as Prometheus).
 * - unsorted or repeated bounds, counts that decrease, NaN counts: assumed away here (prom-client
 *   never produces them); sorted, coalesced and made monotonic there.
 * - a last bound that is not +Inf, or a single bucket: interpolated here; NaN there.
 * - q = 0 with an empty first bucket: its upper bound here; NaN (0/0) there.
 * metrics may not import promql (the layers are siblings), hence two functions, not one.
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
