// Arithmetic shared by the per-step evaluator (engine.ts), the range plan (rangeeval.ts) and the
// function implementations (function-implementations.ts), written once so that both evaluation
// paths do every floating-point operation the same way, in the same order: the range plan is
// checked bit for bit against the per-step path (test/promql/range-plan.test.ts).
//
// A leaf: it imports no other evaluator module, so nothing here can pull evaluation back in.

import type { Labels } from "../tsdb/index.js";
import { labelsKey } from "../tsdb/index.js";
import type { QueryGuard } from "./limits.js";
import { PromQLEvalError } from "./value.js";

/** Numbers a range function reads: a plain array, or a view of the store's typed array. */
export type Samples = ArrayLike<number> & Iterable<number>;

/** A range-vector argument's series: views of the store's arrays where no stale marker intervenes. */
export interface RangeArgSeries {
  labels: Labels;
  timestamps: Samples;
  values: Samples;
}

/** The window a range vector was read from (rate's extrapolation needs it). */
export interface RangeWindow {
  rangeStartMs: number;
  rangeEndMs: number;
  rangeMs: number;
}

/** A range vector plus the window it was read from. */
export interface RangeArg extends RangeWindow {
  series: RangeArgSeries[];
}

/** Throws Prometheus's error if two elements share a label set. */
export function checkUniqueLabelsets(samples: readonly { labels: Labels }[], g?: QueryGuard): void {
  if (samples.length < 2) return;
  const seen = new Set<string>();
  for (const s of samples) {
    g?.tick(1);
    const k = labelsKey(s.labels);
    if (seen.has(k)) throw new PromQLEvalError("vector cannot contain metrics with the same labelset");
    seen.add(k);
  }
}

/** Go's insertionSort (sort.Sort on short slices): stable, so ties keep their order. */
export function insertionSort<T>(data: T[], less: (a: T, b: T) => boolean, g?: QueryGuard): void {
  for (let i = 1; i < data.length; i++) {
    let j = i;
    for (; j > 0 && less(data[j] as T, data[j - 1] as T); j--) {
      const x = data[j] as T;
      data[j] = data[j - 1] as T;
      data[j - 1] = x;
    }
    // Quadratic on long vectors (sort() of 100 k series): count the comparisons made.
    g?.tick(i - j + 1);
  }
}

/** One step of Kahan-Babuška summation: the new sum and compensation. */
export function kahanSumInc(inc: number, sum: number, c: number): [number, number] {
  const t = sum + inc;
  if (t === Infinity || t === -Infinity) return [t, 0];
  if (Math.abs(sum) >= Math.abs(inc)) return [t, c + (sum - t + inc)];
  return [t, c + (inc - t + sum)];
}

/**
 * Prometheus's incremental mean (avg, avg_over_time): `mean` of the first count - 1 values with
 * `v`, the count-th, added. Dividing each term by count avoids overflowing float64. Once the mean
 * is infinite it stays so: a finite value or an infinity of the same sign leaves it as it is
 * (adding would give NaN); only NaN or the opposite infinity turn it into NaN.
 */
export function incrementalMean(mean: number, count: number, v: number): number {
  if (mean === Infinity || mean === -Infinity) {
    if ((v === Infinity || v === -Infinity) && mean > 0 === v > 0) return mean;
    if (!(v === Infinity || v === -Infinity) && !Number.isNaN(v)) return mean;
  }
  return mean + (v / count - mean / count);
}

// ---------------------------------------------------------------------------------------------
// The aggregation kernel: sum, avg, count, group, min, max, stddev, stdvar over cells of three
// parallel arrays (one cell per group on the per-step path, per group and step in the range
// plan). A cell is opened by its group's first value, then takes the others in input order.

/** Aggregations computed by the kernel (the others need more than a cell: topk, quantile, …). */
export type KernelAggregation = "sum" | "avg" | "count" | "group" | "min" | "max" | "stddev" | "stdvar";

const KERNEL_AGGREGATIONS: ReadonlySet<string> = new Set<KernelAggregation>([
  "sum",
  "avg",
  "count",
  "group",
  "min",
  "max",
  "stddev",
  "stdvar",
]);

export function isKernelAggregation(op: string): op is KernelAggregation {
  return KERNEL_AGGREGATIONS.has(op);
}

/** A cell's state: the running value, mean and count (Prometheus's groupedAggregation). */
export interface AggregationCells {
  value: Float64Array;
  mean: Float64Array;
  count: Float64Array;
}

export function aggregationCells(n: number): AggregationCells {
  return { value: new Float64Array(n), mean: new Float64Array(n), count: new Float64Array(n) };
}

/** `c` if it has at least n cells, else a copy with room for n (at least twice as many). */
export function aggregationCellsWithRoom(c: AggregationCells, n: number): AggregationCells {
  if (c.value.length >= n) return c;
  const bigger = aggregationCells(Math.max(n, 2 * c.value.length));
  bigger.value.set(c.value);
  bigger.mean.set(c.mean);
  bigger.count.set(c.count);
  return bigger;
}

/** Opens cell i with its group's first value. */
export function aggregationOpen(op: KernelAggregation, c: AggregationCells, i: number, v: number): void {
  c.count[i] = 1;
  c.mean[i] = v;
  c.value[i] = op === "stddev" || op === "stdvar" ? 0 : op === "count" || op === "group" ? 1 : v;
}

/** Adds a further value of the group to cell i. */
export function aggregationAdd(op: KernelAggregation, c: AggregationCells, i: number, v: number): void {
  switch (op) {
    case "sum":
      c.value[i] = (c.value[i] as number) + v;
      break;
    case "avg": {
      const n = (c.count[i] as number) + 1;
      c.count[i] = n;
      c.mean[i] = incrementalMean(c.mean[i] as number, n, v);
      break;
    }
    case "count": {
      const n = (c.count[i] as number) + 1;
      c.count[i] = n;
      c.value[i] = n;
      break;
    }
    case "group":
      break;
    case "max": {
      const g = c.value[i] as number;
      if (g < v || Number.isNaN(g)) c.value[i] = v;
      break;
    }
    case "min": {
      const g = c.value[i] as number;
      if (g > v || Number.isNaN(g)) c.value[i] = v;
      break;
    }
    case "stddev":
    case "stdvar": {
      const n = (c.count[i] as number) + 1;
      c.count[i] = n;
      const delta = v - (c.mean[i] as number);
      const mean = (c.mean[i] as number) + delta / n;
      c.mean[i] = mean;
      c.value[i] = (c.value[i] as number) + delta * (v - mean);
      break;
    }
  }
}

/** The aggregate of an open cell i. */
export function aggregationResult(op: KernelAggregation, c: AggregationCells, i: number): number {
  switch (op) {
    case "avg":
      return c.mean[i] as number;
    case "stdvar":
      return (c.value[i] as number) / (c.count[i] as number);
    case "stddev":
      return Math.sqrt((c.value[i] as number) / (c.count[i] as number));
    default:
      return c.value[i] as number;
  }
}

// ---------------------------------------------------------------------------------------------
// Range functions' shared arithmetic.

/**
 * Prometheus's extrapolatedRate (rate, increase, delta) over samples [lo, hi) of `v`/`ts`.
 * Index-based so that a range query's series-at-a-time pass (rangeeval.ts) can slide a window
 * over a series' arrays without a view per step; the per-step path passes the whole window.
 */
export function extrapolatedRate(
  a: RangeWindow,
  v: ArrayLike<number>,
  ts: ArrayLike<number>,
  lo: number,
  hi: number,
  isCounter: boolean,
  isRate: boolean,
  drops?: CounterDrops,
): number | undefined {
  const n = hi - lo;
  if (n < 2) return undefined;
  const first = v[lo] as number;
  const last = v[hi - 1] as number;
  let result = last - first;
  if (isCounter) {
    // Go starts from the first sample and adds the value before each drop, in order.
    if (drops === undefined) {
      let prev = first;
      for (let i = lo + 1; i < hi; i++) {
        const x = v[i] as number;
        if (x < prev) result += prev;
        prev = x;
      }
    } else {
      // The same additions in the same order, from the series' precomputed drop positions.
      const idx = drops.at;
      for (let j = drops.from; j < idx.length && (idx[j] as number) < hi; j++)
        result += v[(idx[j] as number) - 1] as number;
    }
  }
  const t0 = ts[lo] as number;
  const t1 = ts[hi - 1] as number;
  let durationToStart = (t0 - a.rangeStartMs) / 1000;
  const durationToEnd = (a.rangeEndMs - t1) / 1000;
  const sampledInterval = (t1 - t0) / 1000;
  const avgBetween = sampledInterval / (n - 1);
  if (isCounter && result > 0 && first >= 0) {
    // A counter cannot have been below zero: don't extrapolate past the time it would have been 0.
    const durationToZero = sampledInterval * (first / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = avgBetween * 1.1;
  let interval = sampledInterval;
  interval += durationToStart < threshold ? durationToStart : avgBetween / 2;
  interval += durationToEnd < threshold ? durationToEnd : avgBetween / 2;
  // Go's order of operations, bit for bit: one factor (divided by the range for a rate), then a
  // single multiplication. Scaling then dividing the result rounds differently in the last bit,
  // and histogram_quantile turns such a bit into a different bucket when the rank ties a bucket's
  // count (a 0.99 quantile of 99-of-100 observations gave 0.001000000000000024 instead of 0.0005).
  let factor = interval / sampledInterval;
  if (isRate) factor /= goDurationSeconds(a.rangeMs);
  return result * factor;
}

/**
 * A series' counter drops for a sliding window: `at` lists every index i with v[i] < v[i - 1]
 * (ascending); `from` is the first entry inside the current window (at[from] > lo).
 */
export interface CounterDrops {
  at: Int32Array;
  from: number;
}

/**
 * Go's time.Duration.Seconds() for a whole number of milliseconds: whole seconds plus the
 * nanosecond remainder / 1e9, which for ranges like 1234 ms rounds differently from ms / 1000.
 */
export function goDurationSeconds(ms: number): number {
  const sec = Math.trunc(ms / 1000);
  return sec + ((ms - sec * 1000) * 1e6) / 1e9;
}

// ---------------------------------------------------------------------------------------------
// Quantiles.

/** Prometheus's quantile (φ-quantile with linear interpolation); sorts `values` in place. */
export function quantile(q: number, values: number[], g?: QueryGuard): number {
  if (values.length === 0 || Number.isNaN(q)) return Number.NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  // The comparator ticks the query's guard: a 10 M-point window takes seconds to sort.
  values.sort((a, b) => {
    g?.tick(1);
    return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : -1) : Number.isNaN(b) ? 1 : a - b;
  });
  const n = values.length;
  const rank = q * (n - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(n - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return (values[lower] as number) * (1 - weight) + (values[upper] as number) * weight;
}

/**
 * Prometheus's bucketQuantile (histogram_quantile, `promql/quantile.go`), bit for bit, after its
 * sort: on parallel arrays ub/cnt holding n0 buckets sorted by upper bound, stably, which it
 * rewrites in place (equal bounds coalesced, counts made monotonic). The per-step path and the
 * range plan both call this one.
 *
 * src/metrics/quantile.ts keeps a second one, `bucketQuantile`, for the registry's own
 * well-formed histograms (the summary page's p50/p95/p99); how the two differ is written there.
 */
export function prometheusBucketQuantile(q: number, ub: Float64Array, cnt: Float64Array, n0: number): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  if (n0 === 0 || (ub[n0 - 1] as number) !== Infinity) return Number.NaN;
  // coalesceBuckets: sum the counts of equal upper bounds.
  let n = 0;
  for (let i = 0; i < n0; i++) {
    if (n > 0 && ub[n - 1] === ub[i]) cnt[n - 1] = (cnt[n - 1] as number) + (cnt[i] as number);
    else {
      ub[n] = ub[i] as number;
      cnt[n] = cnt[i] as number;
      n++;
    }
  }
  // ensureMonotonic: a count below an earlier one is raised to it (NaN counts stay as they are).
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const c = cnt[i] as number;
    if (c > max) max = c;
    else if (c < max) cnt[i] = max;
  }
  if (n < 2) return Number.NaN;
  const observations = cnt[n - 1] as number;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  // sort.Search(n-1, count >= rank): a binary search as in Go. It equals a linear scan for
  // monotonic counts, but a NaN count makes the predicate non-monotonic and then only the same
  // search finds the same bucket.
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const h = (lo + hi) >>> 1;
    if (!((cnt[h] as number) >= rank)) lo = h + 1;
    else hi = h;
  }
  const b = lo;
  if (b === n - 1) return ub[n - 2] as number;
  if (b === 0 && (ub[0] as number) <= 0) return ub[0] as number;
  let bucketStart = 0;
  const bucketEnd = ub[b] as number;
  let count = cnt[b] as number;
  if (b > 0) {
    bucketStart = ub[b - 1] as number;
    count -= cnt[b - 1] as number;
    rank -= cnt[b - 1] as number;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}
