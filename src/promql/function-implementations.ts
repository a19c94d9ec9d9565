// PromQL functions of Prometheus 2.42 for float samples (`promql/functions.go`). As there, a
// function receives its arguments already evaluated (instant vectors, scalars, strings, range
// vectors with their window) plus their expressions (absent() reads its selector's matchers);
// it never evaluates anything itself, so this module does not depend on the evaluator. Loops
// over a vector tick the query's guard (limits.ts).

import { type Labels, labelsKey, labelValue, METRIC_NAME } from "../tsdb/index.js";
import type { Expr, LabelMatcher } from "./ast.js";
import {
  checkUniqueLabelsets,
  extrapolatedRate,
  incrementalMean,
  insertionSort,
  kahanSumInc,
  prometheusBucketQuantile,
  quantile,
  type RangeArg,
  type RangeWindow,
  type Samples,
} from "./kernels.js";
import { dropMetricName, isValidLabelName, removeLabels, setLabel } from "./labelset.js";
import type { QueryGuard } from "./limits.js";
import { compileRE2 } from "./regex.js";
import {
  PromQLEvalError,
  parseGoFloat,
  type Sample,
  type ScalarValue,
  type StringValue,
  type Value,
  type VectorValue,
} from "./value.js";

/** An evaluated argument: a scalar, a string, an instant vector, or a range vector and its window. */
export type FunctionArg = ScalarValue | StringValue | VectorValue | { type: "range"; range: RangeArg };

/** An instant vector's sample that carries its own timestamp: timestamp() of a selector reads it. */
export interface TimestampedSample extends Sample {
  timestampMs: number;
}

/** What a call is evaluated with besides its arguments. */
export interface CallContext {
  /** The evaluation time (ms). */
  t: number;
  guard: QueryGuard;
}

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

/**
 * A function over one series' window of a range vector: `params` are its scalar arguments (in
 * order, the range vector left out). undefined = no output for that series.
 */
export type RangeFn = (
  v: Samples,
  ts: Samples,
  window: RangeWindow,
  ctx: CallContext,
  params: readonly number[],
) => number | undefined;

export const OVER_RANGE: Record<string, RangeFn> = {
  rate: (v, ts, w) => extrapolatedRate(w, v, ts, 0, v.length, true, true),
  increase: (v, ts, w) => extrapolatedRate(w, v, ts, 0, v.length, true, false),
  delta: (v, ts, w) => extrapolatedRate(w, v, ts, 0, v.length, false, false),
  irate: (v, ts) => instantValue(v, ts, true),
  idelta: (v, ts) => instantValue(v, ts, false),
  deriv: (v, ts) => {
    if (v.length < 2) return undefined;
    return linearRegression(v, ts, ts[0] as number)[0];
  },
  predict_linear: (v, ts, _w, ctx, [duration = Number.NaN]) => {
    if (v.length < 2) return undefined;
    // The intercept is at the evaluation time, even under `@` (as Prometheus computes it).
    const [slope, intercept] = linearRegression(v, ts, ctx.t);
    return slope * duration + intercept;
  },
  holt_winters: (v, _ts, _w, _ctx, [sf = Number.NaN, tf = Number.NaN]) => {
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
  resets: (v) => {
    let n = 0;
    for (let i = 1; i < v.length; i++) if ((v[i] as number) < (v[i - 1] as number)) n++;
    return n;
  },
  changes: (v) => {
    let n = 0;
    for (let i = 1; i < v.length; i++) {
      const cur = v[i] as number;
      const prev = v[i - 1] as number;
      if (!(cur === prev || (Number.isNaN(cur) && Number.isNaN(prev)))) n++;
    }
    return n;
  },
  avg_over_time: (v) => {
    let mean = 0;
    let count = 0;
    for (const x of v) mean = incrementalMean(mean, ++count, x);
    return mean;
  },
  count_over_time: (v) => v.length,
  last_over_time: (v) => v[v.length - 1],
  present_over_time: () => 1,
  max_over_time: (v) => {
    let max = v[0] as number;
    for (const x of v) if (x > max || Number.isNaN(max)) max = x;
    return max;
  },
  min_over_time: (v) => {
    let min = v[0] as number;
    for (const x of v) if (x < min || Number.isNaN(min)) min = x;
    return min;
  },
  sum_over_time: (v) => {
    let sum = 0;
    let c = 0;
    for (const x of v) [sum, c] = kahanSumInc(x, sum, c);
    return sum === Infinity || sum === -Infinity ? sum : sum + c;
  },
  quantile_over_time: (v, _ts, _w, ctx, [q = Number.NaN]) => quantile(q, [...v], ctx.guard),
  stddev_over_time: (v) => Math.sqrt(variance(v)),
  stdvar_over_time: (v) => variance(v),
};

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

/** The instant vector argument i (the evaluator checked the types against the signature). */
function vectorArg(args: readonly FunctionArg[], i: number): Sample[] {
  const a = args[i];
  if (a?.type !== "vector") throw new PromQLEvalError(`expected instant vector, got ${a?.type ?? "nothing"}`);
  return a.samples;
}

function scalarArg(args: readonly FunctionArg[], i: number): number {
  const a = args[i];
  if (a?.type !== "scalar") throw new PromQLEvalError(`expected scalar, got ${a?.type ?? "nothing"}`);
  return a.value;
}

function stringArg(args: readonly FunctionArg[], i: number): string {
  const a = args[i];
  if (a?.type !== "string") throw new PromQLEvalError(`expected string, got ${a?.type ?? "nothing"}`);
  return a.value;
}

function rangeArg(args: readonly FunctionArg[], i: number): RangeArg {
  const a = args[i];
  if (a?.type !== "range") throw new PromQLEvalError(`expected range vector, got ${a?.type ?? "nothing"}`);
  return a.range;
}

/**
 * Calls the function `name` with its evaluated arguments `args` (in order) whose expressions are
 * `exprs`, at ctx.t.
 */
export function callFunction(
  name: string,
  args: readonly FunctionArg[],
  exprs: readonly Expr[],
  ctx: CallContext,
): Value {
  const guard = ctx.guard;
  const t = ctx.t;
  const vector = (samples: Sample[]): Value => {
    checkUniqueLabelsets(samples, guard);
    return { type: "vector", samples };
  };

  const rangeFn = OVER_RANGE[name];
  if (rangeFn !== undefined) {
    const rangeIdx = name === "quantile_over_time" ? 1 : 0;
    const arg = rangeArg(args, rangeIdx);
    const params: number[] = [];
    for (let i = 0; i < args.length; i++) if (i !== rangeIdx) params.push(scalarArg(args, i));
    const out: Sample[] = [];
    for (const s of arg.series) {
      if (s.values.length === 0) continue;
      guard.tick(s.values.length);
      const value = rangeFn(s.values, s.timestamps, arg, ctx, params);
      // As Prometheus counts: the outputs so far, this series' window (on top of a subquery's
      // points, held until the call is done) and this series' output.
      guard.peek(out.length + s.values.length + (value === undefined ? 0 : 1));
      if (value === undefined) continue;
      out.push({ labels: name === "last_over_time" ? s.labels : dropMetricName(s.labels), value });
    }
    return vector(out);
  }

  const simple = SIMPLE[name];
  if (simple !== undefined) {
    return vector(mapVector(vectorArg(args, 0), guard, (s) => simple(s.value)));
  }

  const date = DATE[name];
  if (date !== undefined) {
    if (args.length === 0)
      return {
        type: "vector",
        samples: [{ labels: [], value: date(new Date(Math.trunc(t / 1000) * 1000)) }],
      };
    return vector(
      mapVector(vectorArg(args, 0), guard, (s) =>
        Number.isFinite(s.value) ? date(new Date(Math.trunc(s.value) * 1000)) : Number.NaN,
      ),
    );
  }

  switch (name) {
    case "time":
      return { type: "scalar", value: t / 1000 };
    case "pi":
      return { type: "scalar", value: Math.PI };
    case "vector":
      return { type: "vector", samples: [{ labels: [], value: scalarArg(args, 0) }] };
    case "scalar": {
      const v = vectorArg(args, 0);
      return { type: "scalar", value: v.length === 1 ? (v[0] as Sample).value : Number.NaN };
    }
    case "timestamp":
      // A selector's samples carry their own timestamps; anything else was computed at t.
      return vector(
        mapVector(vectorArg(args, 0), guard, (s) =>
          "timestampMs" in s ? (s as TimestampedSample).timestampMs / 1000 : t / 1000,
        ),
      );
    case "absent": {
      if (vectorArg(args, 0).length > 0) return { type: "vector", samples: [] };
      return { type: "vector", samples: [{ labels: absentLabels(exprs[0] as Expr), value: 1 }] };
    }
    case "absent_over_time": {
      if (rangeArg(args, 0).series.some((s) => s.values.length > 0)) return { type: "vector", samples: [] };
      return { type: "vector", samples: [{ labels: absentLabels(exprs[0] as Expr), value: 1 }] };
    }
    case "round": {
      const vec = vectorArg(args, 0);
      const toNearest = args.length > 1 ? scalarArg(args, 1) : 1;
      const inv = 1 / toNearest;
      return vector(mapVector(vec, guard, (s) => Math.floor(s.value * inv + 0.5) / inv));
    }
    case "clamp": {
      const vec = vectorArg(args, 0);
      const min = scalarArg(args, 1);
      const max = scalarArg(args, 2);
      if (max < min) return { type: "vector", samples: [] };
      return vector(mapVector(vec, guard, (s) => goMax(min, goMin(max, s.value))));
    }
    case "clamp_min": {
      const min = scalarArg(args, 1);
      return vector(mapVector(vectorArg(args, 0), guard, (s) => goMax(min, s.value)));
    }
    case "clamp_max": {
      const max = scalarArg(args, 1);
      return vector(mapVector(vectorArg(args, 0), guard, (s) => goMin(max, s.value)));
    }
    case "sort":
    case "sort_desc": {
      const vec = [...vectorArg(args, 0)];
      // Ascending (or descending), NaN last; stable like Go's sort on short slices.
      const asc = name === "sort";
      insertionSort(
        vec,
        (a, b) => {
          if (Number.isNaN(b.value)) return !Number.isNaN(a.value);
          if (Number.isNaN(a.value)) return false;
          return asc ? a.value < b.value : a.value > b.value;
        },
        guard,
      );
      return vector(vec);
    }
    case "label_replace":
      return vector(
        labelReplace(
          vectorArg(args, 0),
          stringArg(args, 1),
          stringArg(args, 2),
          stringArg(args, 3),
          stringArg(args, 4),
          guard,
        ),
      );
    case "label_join": {
      const srcs: string[] = [];
      for (let i = 3; i < args.length; i++) srcs.push(stringArg(args, i));
      return vector(labelJoin(vectorArg(args, 0), stringArg(args, 1), stringArg(args, 2), srcs, guard));
    }
    case "histogram_quantile":
      return vector(histogramQuantile(scalarArg(args, 0), vectorArg(args, 1), guard));
    case "histogram_count":
    case "histogram_sum":
    case "histogram_fraction":
      // Native histograms only: float samples yield nothing.
      return { type: "vector", samples: [] };
    default:
      throw new PromQLEvalError(`function ${JSON.stringify(name)} is not supported`);
  }
}

/** Each sample's value mapped, the metric name dropped (the instant-vector functions' shape). */
function mapVector(vec: readonly Sample[], guard: QueryGuard, f: (s: Sample) => number): Sample[] {
  guard.tick(vec.length);
  return vec.map((s) => ({ labels: dropMetricName(s.labels), value: f(s) }));
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

function labelReplace(
  vec: readonly Sample[],
  dst: string,
  repl: string,
  src: string,
  regexStr: string,
  guard: QueryGuard,
): Sample[] {
  // Prometheus compiles "^(?:" + regex + ")$" (Go RE2, linear time on re2js) and expands the
  // replacement with Go's regexp.Expand (`$1`, `${1}`, `$name`; `$1x` names the group "1x").
  let re: ReturnType<typeof compileRE2>;
  try {
    re = compileRE2(regexStr);
  } catch {
    // The RE2 syntax error itself is replaced by Prometheus's message, which names the pattern.
    throw new PromQLEvalError(`invalid regular expression in label_replace(): ${regexStr}`);
  }
  if (!isValidLabelName(dst))
    throw new PromQLEvalError(`invalid destination label name in label_replace(): ${dst}`);
  const out: Sample[] = [];
  for (const s of vec) {
    // A match is linear in the value's length: count it with the sample.
    const value = labelValue(s.labels, src);
    guard.tick(1 + (value.length >>> 6));
    const m = re.exec(value);
    out.push(m === null ? s : { labels: setLabel(s.labels, dst, re.expand(repl, m)), value: s.value });
  }
  return out;
}

function labelJoin(
  vec: readonly Sample[],
  dst: string,
  sep: string,
  srcs: readonly string[],
  guard: QueryGuard,
): Sample[] {
  for (const src of srcs) {
    if (!isValidLabelName(src))
      throw new PromQLEvalError(`invalid source label name in label_join(): ${src}`);
  }
  if (!isValidLabelName(dst))
    throw new PromQLEvalError(`invalid destination label name in label_join(): ${dst}`);
  const out: Sample[] = [];
  for (const s of vec) {
    guard.tick(1 + srcs.length);
    out.push({
      labels: setLabel(s.labels, dst, srcs.map((src) => labelValue(s.labels, src)).join(sep)),
      value: s.value,
    });
  }
  return out;
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
    return { labels: g.labels, value: groupQuantile(q, g.buckets) };
  });
  checkUniqueLabelsets(out, guard);
  return out;
}

/** The group's buckets sorted by bound (stably) into scratch arrays, then Prometheus's bucket quantile. */
function groupQuantile(q: number, raw: Bucket[]): number {
  // Stable, like Go's sort.Sort on up to 12 elements (insertion sort), so equal bounds coalesce in input order.
  const sorted = [...raw].sort((a, b) => a.upperBound - b.upperBound);
  const n = sorted.length;
  const ub = n <= SCRATCH_UB.length ? SCRATCH_UB : new Float64Array(n);
  const cnt = n <= SCRATCH_CNT.length ? SCRATCH_CNT : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ub[i] = (sorted[i] as Bucket).upperBound;
    cnt[i] = (sorted[i] as Bucket).count;
  }
  return prometheusBucketQuantile(q, ub, cnt, n);
}

const SCRATCH_UB = new Float64Array(64);
const SCRATCH_CNT = new Float64Array(64);
