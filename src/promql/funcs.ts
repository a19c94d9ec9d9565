// PromQL functions of Prometheus 2.42 for float samples (`promql/functions.go`).

import { type Labels, labelsKey, labelValue, METRIC_NAME } from "../tsdb/index.js";
import type { Call, Expr, LabelMatcher } from "./ast.js";
import {
  checkUniqueLabelsets,
  type Evaluator,
  insertionSort,
  type RangeArg,
  type Samples,
} from "./engine.js";
import { dropMetricName, isValidLabelName, removeLabels, setLabel } from "./labelset.js";
import type { QueryGuard } from "./limits.js";
import { compileRE2 } from "./regex.js";
import { PromQLEvalError, parseGoFloat, type Sample, type Value } from "./value.js";

type VectorFn = (v: number) => number;

const SIMPLE: Record<string, VectorFn> = {
  abs: Math.abs,
  ceil: Math.ceil,
  floor: Math.floor,
  exp: Math.exp,
  sqrt: Math.sqrt,
  ln: Math.log,
  log2: Math.log2,
  log10: Math.log10,
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  asin: Math.asin,
  acos: Math.acos,
  atan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  tanh: Math.tanh,
  asinh: Math.asinh,
  acosh: Math.acosh,
  atanh: Math.atanh,
  deg: (v) => (v * 180) / Math.PI,
  rad: (v) => (v * Math.PI) / 180,
  sgn: (v) => (v < 0 ? -1 : v > 0 ? 1 : v),
};

const DATE: Record<string, (d: Date) => number> = {
  days_in_month: (d) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate(),
  day_of_month: (d) => d.getUTCDate(),
  day_of_week: (d) => d.getUTCDay(),
  day_of_year: (d) =>
    Math.round(
      (Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) /
        86_400_000,
    ) + 1,
  hour: (d) => d.getUTCHours(),
  minute: (d) => d.getUTCMinutes(),
  month: (d) => d.getUTCMonth() + 1,
  year: (d) => d.getUTCFullYear(),
};

type RangeFn = (
  ev: Evaluator,
  call: Call,
  t: number,
  arg: RangeArg,
  values: Samples,
  timestamps: Samples,
) => number | undefined;

/** Functions over a range vector: one output per series with samples; undefined = no output for that series. */
export const OVER_RANGE: Record<string, RangeFn> = {
  rate: (_e, _c, _t, a, v, ts) => extrapolatedRate(a, v, ts, 0, v.length, true, true),
  increase: (_e, _c, _t, a, v, ts) => extrapolatedRate(a, v, ts, 0, v.length, true, false),
  delta: (_e, _c, _t, a, v, ts) => extrapolatedRate(a, v, ts, 0, v.length, false, false),
  irate: (_e, _c, _t, _a, v, ts) => instantValue(v, ts, true),
  idelta: (_e, _c, _t, _a, v, ts) => instantValue(v, ts, false),
  deriv: (_e, _c, _t, _a, v, ts) => {
    if (v.length < 2) return undefined;
    return linearRegression(v, ts, ts[0] as number)[0];
  },
  predict_linear: (ev, c, t, _a, v, ts) => {
    if (v.length < 2) return undefined;
    const duration = ev.evalScalar(c.args[1] as Expr, t);
    // The intercept is at the evaluation time, even under `@` (as Prometheus computes it).
    const [slope, intercept] = linearRegression(v, ts, t);
    return slope * duration + intercept;
  },
  holt_winters: (ev, c, t, _a, v) => {
    const sf = ev.evalScalar(c.args[1] as Expr, t);
    const tf = ev.evalScalar(c.args[2] as Expr, t);
    if (sf <= 0 || sf >= 1)
      throw new PromQLEvalError(`invalid smoothing factor. Expected: 0 < sf < 1, got: ${sf.toFixed(6)}`);
    if (tf <= 0 || tf >= 1)
      throw new PromQLEvalError(`invalid trend factor. Expected: 0 < tf < 1, got: ${tf.toFixed(6)}`);
    if (v.length < 2) return undefined;
    let s0 = 0;
    let s1 = v[0] as number;
    let b = (v[1] as number) - s1;
    for (let i = 1; i < v.length; i++) {
      const x = sf * (v[i] as number);
      if (i - 1 > 0) b = tf * (s1 - s0) + (1 - tf) * b;
      const y = (1 - sf) * (s1 + b);
      s0 = s1;
      s1 = x + y;
    }
    return s1;
  },
  resets: (_e, _c, _t, _a, v) => {
    let n = 0;
    for (let i = 1; i < v.length; i++) if ((v[i] as number) < (v[i - 1] as number)) n++;
    return n;
  },
  changes: (_e, _c, _t, _a, v) => {
    let n = 0;
    for (let i = 1; i < v.length; i++) {
      const cur = v[i] as number;
      const prev = v[i - 1] as number;
      if (!(cur === prev || (Number.isNaN(cur) && Number.isNaN(prev)))) n++;
    }
    return n;
  },
  avg_over_time: (_e, _c, _t, _a, v) => {
    let mean = 0;
    let count = 0;
    for (const x of v) {
      count++;
      if (mean === Infinity || mean === -Infinity) {
        if ((x === Infinity || x === -Infinity) && mean > 0 === x > 0) continue;
        if (Number.isFinite(x)) continue;
      }
      mean += x / count - mean / count;
    }
    return mean;
  },
  count_over_time: (_e, _c, _t, _a, v) => v.length,
  last_over_time: (_e, _c, _t, _a, v) => v[v.length - 1],
  present_over_time: () => 1,
  max_over_time: (_e, _c, _t, _a, v) => {
    let max = v[0] as number;
    for (const x of v) if (x > max || Number.isNaN(max)) max = x;
    return max;
  },
  min_over_time: (_e, _c, _t, _a, v) => {
    let min = v[0] as number;
    for (const x of v) if (x < min || Number.isNaN(min)) min = x;
    return min;
  },
  sum_over_time: (_e, _c, _t, _a, v) => {
    let sum = 0;
    let c = 0;
    for (const x of v) [sum, c] = kahanSumInc(x, sum, c);
    return sum === Infinity || sum === -Infinity ? sum : sum + c;
  },
  quantile_over_time: (ev, c, t, _a, v) => quantile(ev.evalScalar(c.args[0] as Expr, t), [...v], ev.guard),
  stddev_over_time: (_e, _c, _t, _a, v) => Math.sqrt(variance(v)),
  stdvar_over_time: (_e, _c, _t, _a, v) => variance(v),
};

function kahanSumInc(inc: number, sum: number, c: number): [number, number] {
  const t = sum + inc;
  if (t === Infinity || t === -Infinity) return [t, 0];
  if (Math.abs(sum) >= Math.abs(inc)) return [t, c + (sum - t + inc)];
  return [t, c + (inc - t + sum)];
}

function variance(v: Samples): number {
  let count = 0;
  let mean = 0;
  let aux = 0;
  for (const x of v) {
    count++;
    const delta = x - mean;
    mean += delta / count;
    aux += delta * (x - mean);
  }
  return aux / count;
}

/**
 * Prometheus's extrapolatedRate (rate, increase, delta) over samples [lo, hi) of `v`/`ts`.
 * Index-based so that a range query's series-at-a-time pass (rangeeval.ts) can slide a window
 * over a series' arrays without a view per step; the per-step path passes the whole window.
 */
export function extrapolatedRate(
  a: { rangeStartMs: number; rangeEndMs: number; rangeMs: number },
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

function instantValue(v: Samples, ts: Samples, isRate: boolean): number | undefined {
  const n = v.length;
  if (n < 2) return undefined;
  const last = v[n - 1] as number;
  const prev = v[n - 2] as number;
  let result = isRate && last < prev ? last : last - prev;
  const interval = (ts[n - 1] as number) - (ts[n - 2] as number);
  if (interval === 0) return undefined;
  if (isRate) result /= interval / 1000;
  return result;
}

function linearRegression(v: Samples, ts: Samples, interceptTime: number): [number, number] {
  let n = 0;
  let sumX = 0;
  let cX = 0;
  let sumY = 0;
  let cY = 0;
  let sumXY = 0;
  let cXY = 0;
  let sumX2 = 0;
  let cX2 = 0;
  const initY = v[0] as number;
  let constY = true;
  for (let i = 0; i < v.length; i++) {
    const y = v[i] as number;
    if (constY && i > 0 && y !== initY) constY = false;
    n += 1;
    const x = ((ts[i] as number) - interceptTime) / 1000;
    [sumX, cX] = kahanSumInc(x, sumX, cX);
    [sumY, cY] = kahanSumInc(y, sumY, cY);
    [sumXY, cXY] = kahanSumInc(x * y, sumXY, cXY);
    [sumX2, cX2] = kahanSumInc(x * x, sumX2, cX2);
  }
  if (constY) {
    if (initY === Infinity || initY === -Infinity) return [Number.NaN, Number.NaN];
    return [0, initY];
  }
  sumX += cX;
  sumY += cY;
  sumXY += cXY;
  sumX2 += cX2;
  const covXY = sumXY - (sumX * sumY) / n;
  const varX = sumX2 - (sumX * sumX) / n;
  const slope = covXY / varX;
  const intercept = sumY / n - (slope * sumX) / n;
  return [slope, intercept];
}

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

function unwrapParens(e: Expr): Expr {
  return e.type === "ParenExpr" ? unwrapParens(e.expr) : e;
}

/** Labels for absent() / absent_over_time(): the selector's equality matchers, unless a name repeats. */
function absentLabels(e: Expr): Labels {
  let matchers: LabelMatcher[];
  if (e.type === "VectorSelector") matchers = e.matchers;
  else if (e.type === "MatrixSelector") matchers = e.selector.matchers;
  else return [];
  let ls: Labels = [];
  const empty: string[] = [];
  for (const m of matchers) {
    if (m.name === METRIC_NAME) continue;
    if (m.type === "=" && labelValue(ls, m.name) === "") ls = setLabel(ls, m.name, m.value);
    else empty.push(m.name);
  }
  return removeLabels(ls, empty);
}

/** Evaluates a function call at time t. */
export function callFunction(ev: Evaluator, call: Call, t: number): Value {
  const name = call.func;
  const args = call.args;
  const vector = (samples: Sample[]): Value => {
    checkUniqueLabelsets(samples, ev.guard);
    return { type: "vector", samples };
  };

  const rangeFn = OVER_RANGE[name];
  if (rangeFn !== undefined) {
    const idx = name === "quantile_over_time" ? 1 : 0;
    const arg = ev.rangeArg(args[idx] as Expr, t);
    const out: Sample[] = [];
    for (const s of arg.series) {
      if (s.values.length === 0) continue;
      ev.guard.tick(s.values.length);
      const value = rangeFn(ev, call, t, arg, s.values, s.timestamps);
      // As Prometheus counts: the outputs so far, this series' window (on top of a subquery's
      // points, held until the call is done) and this series' output.
      ev.guard.peek(out.length + s.values.length + (value === undefined ? 0 : 1));
      if (value === undefined) continue;
      out.push({ labels: name === "last_over_time" ? s.labels : dropMetricName(s.labels), value });
    }
    return vector(out);
  }

  const simple = SIMPLE[name];
  if (simple !== undefined) {
    return vector(
      ev
        .evalVector(args[0] as Expr, t)
        .map((s) => ({ labels: dropMetricName(s.labels), value: simple(s.value) })),
    );
  }

  const date = DATE[name];
  if (date !== undefined) {
    if (args.length === 0)
      return {
        type: "vector",
        samples: [{ labels: [], value: date(new Date(Math.trunc(t / 1000) * 1000)) }],
      };
    return vector(
      ev.evalVector(args[0] as Expr, t).map((s) => ({
        labels: dropMetricName(s.labels),
        value: Number.isFinite(s.value) ? date(new Date(Math.trunc(s.value) * 1000)) : Number.NaN,
      })),
    );
  }

  switch (name) {
    case "time":
      return { type: "scalar", value: t / 1000 };
    case "pi":
      return { type: "scalar", value: Math.PI };
    case "vector":
      return { type: "vector", samples: [{ labels: [], value: ev.evalScalar(args[0] as Expr, t) }] };
    case "scalar": {
      const v = ev.evalVector(args[0] as Expr, t);
      return { type: "scalar", value: v.length === 1 ? (v[0] as Sample).value : Number.NaN };
    }
    case "timestamp": {
      // A selector argument yields its samples' own timestamps; anything else was computed at t.
      const arg = unwrapParens(args[0] as Expr);
      if (arg.type === "VectorSelector") {
        return vector(
          ev
            .selectVector(arg, t)
            .map((s) => ({ labels: dropMetricName(s.labels), value: s.timestampMs / 1000 })),
        );
      }
      return vector(
        ev.evalVector(arg, t).map((s) => ({ labels: dropMetricName(s.labels), value: t / 1000 })),
      );
    }
    case "absent": {
      const v = ev.evalVector(args[0] as Expr, t);
      if (v.length > 0) return { type: "vector", samples: [] };
      return { type: "vector", samples: [{ labels: absentLabels(args[0] as Expr), value: 1 }] };
    }
    case "absent_over_time": {
      const arg = ev.rangeArg(args[0] as Expr, t);
      if (arg.series.some((s) => s.values.length > 0)) return { type: "vector", samples: [] };
      return { type: "vector", samples: [{ labels: absentLabels(args[0] as Expr), value: 1 }] };
    }
    case "round": {
      const toNearest = args.length > 1 ? ev.evalScalar(args[1] as Expr, t) : 1;
      const inv = 1 / toNearest;
      return vector(
        ev.evalVector(args[0] as Expr, t).map((s) => ({
          labels: dropMetricName(s.labels),
          value: Math.floor(s.value * inv + 0.5) / inv,
        })),
      );
    }
    case "clamp": {
      const vec = ev.evalVector(args[0] as Expr, t);
      const min = ev.evalScalar(args[1] as Expr, t);
      const max = ev.evalScalar(args[2] as Expr, t);
      if (max < min) return { type: "vector", samples: [] };
      return vector(
        vec.map((s) => ({ labels: dropMetricName(s.labels), value: goMax(min, goMin(max, s.value)) })),
      );
    }
    case "clamp_min": {
      const vec = ev.evalVector(args[0] as Expr, t);
      const min = ev.evalScalar(args[1] as Expr, t);
      return vector(vec.map((s) => ({ labels: dropMetricName(s.labels), value: goMax(min, s.value) })));
    }
    case "clamp_max": {
      const vec = ev.evalVector(args[0] as Expr, t);
      const max = ev.evalScalar(args[1] as Expr, t);
      return vector(vec.map((s) => ({ labels: dropMetricName(s.labels), value: goMin(max, s.value) })));
    }
    case "sort":
    case "sort_desc": {
      const vec = [...ev.evalVector(args[0] as Expr, t)];
      // Ascending (or descending), NaN last; stable like Go's sort on short slices.
      const asc = name === "sort";
      insertionSort(
        vec,
        (a, b) => {
          if (Number.isNaN(b.value)) return !Number.isNaN(a.value);
          if (Number.isNaN(a.value)) return false;
          return asc ? a.value < b.value : a.value > b.value;
        },
        ev.guard,
      );
      return vector(vec);
    }
    case "label_replace":
      return vector(labelReplace(ev, args, t));
    case "label_join":
      return vector(labelJoin(ev, args, t));
    case "histogram_quantile":
      return vector(
        histogramQuantile(ev.evalScalar(args[0] as Expr, t), ev.evalVector(args[1] as Expr, t), ev.guard),
      );
    case "histogram_count":
    case "histogram_sum":
    case "histogram_fraction":
      // Native histograms only: float samples yield nothing.
      return { type: "vector", samples: [] };
    default:
      throw new PromQLEvalError(`function ${JSON.stringify(name)} is not supported`);
  }
}

function goMax(a: number, b: number): number {
  if (a === Infinity || b === Infinity) return Infinity;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.NaN;
  return Math.max(a, b);
}

function goMin(a: number, b: number): number {
  if (a === -Infinity || b === -Infinity) return -Infinity;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.NaN;
  return Math.min(a, b);
}

function labelReplace(ev: Evaluator, args: Expr[], t: number): Sample[] {
  const vec = ev.evalVector(args[0] as Expr, t);
  const dst = ev.evalString(args[1] as Expr, t);
  const repl = ev.evalString(args[2] as Expr, t);
  const src = ev.evalString(args[3] as Expr, t);
  const regexStr = ev.evalString(args[4] as Expr, t);
  // Prometheus compiles "^(?:" + regex + ")$" (Go RE2, linear time on re2js) and expands the
  // replacement with Go's regexp.Expand (`$1`, `${1}`, `$name`; `$1x` names the group "1x").
  let re: ReturnType<typeof compileRE2>;
  try {
    re = compileRE2(regexStr);
  } catch {
    throw new PromQLEvalError(`invalid regular expression in label_replace(): ${regexStr}`);
  }
  if (!isValidLabelName(dst))
    throw new PromQLEvalError(`invalid destination label name in label_replace(): ${dst}`);
  return vec.map((s) => {
    const m = re.exec(labelValue(s.labels, src));
    if (m === null) return s;
    return { labels: setLabel(s.labels, dst, re.expand(repl, m)), value: s.value };
  });
}

function labelJoin(ev: Evaluator, args: Expr[], t: number): Sample[] {
  const vec = ev.evalVector(args[0] as Expr, t);
  const dst = ev.evalString(args[1] as Expr, t);
  const sep = ev.evalString(args[2] as Expr, t);
  const srcs = args.slice(3).map((a) => ev.evalString(a, t));
  for (const src of srcs) {
    if (!isValidLabelName(src))
      throw new PromQLEvalError(`invalid source label name in label_join(): ${src}`);
  }
  if (!isValidLabelName(dst))
    throw new PromQLEvalError(`invalid destination label name in label_join(): ${dst}`);
  return vec.map((s) => ({
    labels: setLabel(s.labels, dst, srcs.map((src) => labelValue(s.labels, src)).join(sep)),
    value: s.value,
  }));
}

interface Bucket {
  upperBound: number;
  count: number;
}

function histogramQuantile(q: number, vec: Sample[], guard: QueryGuard): Sample[] {
  const groups = new Map<string, { labels: Labels; buckets: Bucket[] }>();
  for (const s of vec) {
    guard.tick(1);
    const upperBound = parseGoFloat(labelValue(s.labels, "le"));
    // No or malformed `le`: not a bucket, skipped.
    if (upperBound === undefined) continue;
    // Grouped with the metric name (two histograms never merge); the name is dropped from the output.
    const key = labelsKey(removeLabels(s.labels, ["le"]));
    const labels = removeLabels(s.labels, ["le", METRIC_NAME]);
    let g = groups.get(key);
    if (!g) {
      g = { labels, buckets: [] };
      groups.set(key, g);
    }
    g.buckets.push({ upperBound, count: s.value });
  }
  const out = [...groups.values()].map((g) => {
    guard.tick(g.buckets.length);
    return { labels: g.labels, value: bucketQuantile(q, g.buckets) };
  });
  checkUniqueLabelsets(out, guard);
  return out;
}

function bucketQuantile(q: number, raw: Bucket[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  // Stable, like Go's sort.Sort on up to 12 elements (insertion sort), so equal bounds coalesce in input order.
  const sorted = [...raw].sort((a, b) => a.upperBound - b.upperBound);
  const n = sorted.length;
  const ub = n <= SCRATCH_UB.length ? SCRATCH_UB : new Float64Array(n);
  const cnt = n <= SCRATCH_CNT.length ? SCRATCH_CNT : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ub[i] = (sorted[i] as Bucket).upperBound;
    cnt[i] = (sorted[i] as Bucket).count;
  }
  return sortedBucketQuantile(q, ub, cnt, n);
}

const SCRATCH_UB = new Float64Array(64);
const SCRATCH_CNT = new Float64Array(64);

/**
 * Prometheus's bucketQuantile after its sort, on parallel arrays of numbers (rewritten in place):
 * the per-step path and the range path's per-step loop (rangeeval.ts) share it, so both give the
 * same bits. `q` must be in [0, 1]; ub/cnt hold n buckets sorted by upper bound.
 */
export function sortedBucketQuantile(q: number, ub: Float64Array, cnt: Float64Array, n0: number): number {
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
