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
const OVER_RANGE: Record<string, RangeFn> = {
  rate: (_e, _c, _t, a, v, ts) => extrapolatedRate(a, v, ts, true, true),
  increase: (_e, _c, _t, a, v, ts) => extrapolatedRate(a, v, ts, true, false),
  delta: (_e, _c, _t, a, v, ts) => extrapolatedRate(a, v, ts, false, false),
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
  quantile_over_time: (ev, c, t, _a, v) => quantile(ev.evalScalar(c.args[0] as Expr, t), [...v]),
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

/** Prometheus's extrapolatedRate: rate, increase and delta. */
function extrapolatedRate(
  a: RangeArg,
  v: Samples,
  ts: Samples,
  isCounter: boolean,
  isRate: boolean,
): number | undefined {
  const n = v.length;
  if (n < 2) return undefined;
  const first = v[0] as number;
  const last = v[n - 1] as number;
  let result = last - first;
  if (isCounter) {
    let prev = 0;
    for (const x of v) {
      if (x < prev) result += prev;
      prev = x;
    }
  }
  let durationToStart = ((ts[0] as number) - a.rangeStartMs) / 1000;
  const durationToEnd = (a.rangeEndMs - (ts[n - 1] as number)) / 1000;
  const sampledInterval = ((ts[n - 1] as number) - (ts[0] as number)) / 1000;
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
  result *= interval / sampledInterval;
  if (isRate) result /= a.rangeMs / 1000;
  return result;
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
export function quantile(q: number, values: number[]): number {
  if (values.length === 0 || Number.isNaN(q)) return Number.NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  values.sort((a, b) => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : -1) : Number.isNaN(b) ? 1 : a - b));
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
    checkUniqueLabelsets(samples);
    return { type: "vector", samples };
  };

  const rangeFn = OVER_RANGE[name];
  if (rangeFn !== undefined) {
    const idx = name === "quantile_over_time" ? 1 : 0;
    const arg = ev.rangeArg(args[idx] as Expr, t);
    const out: Sample[] = [];
    for (const s of arg.series) {
      if (s.values.length === 0) continue;
      const value = rangeFn(ev, call, t, arg, s.values, s.timestamps);
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
      insertionSort(vec, (a, b) => {
        if (Number.isNaN(b.value)) return !Number.isNaN(a.value);
        if (Number.isNaN(a.value)) return false;
        return asc ? a.value < b.value : a.value > b.value;
      });
      return vector(vec);
    }
    case "label_replace":
      return vector(labelReplace(ev, args, t));
    case "label_join":
      return vector(labelJoin(ev, args, t));
    case "histogram_quantile":
      return vector(histogramQuantile(ev.evalScalar(args[0] as Expr, t), ev.evalVector(args[1] as Expr, t)));
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
  let re: RegExp;
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
    return { labels: setLabel(s.labels, dst, expandTemplate(repl, m)), value: s.value };
  });
}

/** Go's regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`; unknown groups expand to "". */
function expandTemplate(template: string, m: RegExpExecArray): string {
  let out = "";
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const rest = template.slice(i + 1);
    if (rest.startsWith("$")) {
      out += "$";
      i += 2;
      continue;
    }
    const braced = /^\{([A-Za-z0-9_]+)\}/.exec(rest);
    const bare = /^[A-Za-z0-9_]+/.exec(rest);
    const name = braced ? braced[1] : bare ? bare[0] : undefined;
    if (name === undefined) {
      // Go copies a malformed `$` reference... as nothing but the dollar itself.
      out += "$";
      i++;
      continue;
    }
    i += 1 + (braced ? braced[0].length : (bare as RegExpExecArray)[0].length);
    if (/^\d+$/.test(name)) out += m[Number(name)] ?? "";
    else out += m.groups?.[name] ?? "";
  }
  return out;
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

function histogramQuantile(q: number, vec: Sample[]): Sample[] {
  const groups = new Map<string, { labels: Labels; buckets: Bucket[] }>();
  for (const s of vec) {
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
  const out = [...groups.values()].map((g) => ({ labels: g.labels, value: bucketQuantile(q, g.buckets) }));
  checkUniqueLabelsets(out);
  return out;
}

function bucketQuantile(q: number, raw: Bucket[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = [...raw].sort((a, b) => a.upperBound - b.upperBound);
  if ((sorted[sorted.length - 1] as Bucket).upperBound !== Infinity) return Number.NaN;
  // Coalesce buckets with the same upper bound, then force the counts to be monotonic.
  const buckets: Bucket[] = [];
  for (const b of sorted) {
    const last = buckets[buckets.length - 1];
    if (last && last.upperBound === b.upperBound) last.count += b.count;
    else buckets.push({ ...b });
  }
  let max = -Infinity;
  for (const b of buckets) {
    if (b.count > max) max = b.count;
    else if (b.count < max) b.count = max;
  }
  if (buckets.length < 2) return Number.NaN;
  const observations = (buckets[buckets.length - 1] as Bucket).count;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  let b = 0;
  while (b < buckets.length - 1 && !((buckets[b] as Bucket).count >= rank)) b++;
  if (b === buckets.length - 1) return (buckets[buckets.length - 2] as Bucket).upperBound;
  if (b === 0 && (buckets[0] as Bucket).upperBound <= 0) return (buckets[0] as Bucket).upperBound;
  let bucketStart = 0;
  const bucketEnd = (buckets[b] as Bucket).upperBound;
  let count = (buckets[b] as Bucket).count;
  if (b > 0) {
    const prev = buckets[b - 1] as Bucket;
    bucketStart = prev.upperBound;
    count -= prev.count;
    rank -= prev.count;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}
