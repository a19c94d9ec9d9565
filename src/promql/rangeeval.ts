// Range queries evaluated node-at-a-time over all steps, for the node kinds dashboards lean on:
// instant and matrix selectors, range functions over a matrix selector, simple aggregations and
// histogram_quantile. The per-step evaluator (engine.ts) stays the reference: every node computed
// here must give, at every step, exactly the vector (labels, values, order) the per-step path
// would give, or be left to that path.
//
// Why: evaluating `histogram_quantile(0.95, sum by (le, route) (rate(x_bucket[5m])))` once per
// step redid per step what only depends on the series: label work (dropMetricName, group keys,
// histogram grouping by labels without `le`, parsing `le`), a binary search and two subarray views
// per series and step, and object allocation per sample. Here a series is visited once: a sliding
// window of sample indices moves over the steps (both window ends only move forward), output label
// sets and group indices are computed once per series, and the per-step work is arithmetic on
// Float64Arrays. Prometheus's own engine (rangeEval) evaluates a range query this way too.
//
// How it plugs in: `precompute` walks the expression and fills a cache of step matrices for the
// nodes it supports (skipping anything inside a subquery, which evaluates at other times). When
// the root is cached the result is read straight from it; otherwise the per-step evaluator runs
// and, for a cached node, takes that step's vector from the cache instead of recomputing it.
// Anything unsupported, or any doubt (an `@` modifier, duplicate output label sets that the
// per-step path may reject, a group order that differs between steps, an error), makes a node
// return null, so it and its ancestors are left to the per-step path. A limit error (timeout,
// cancellation, max-samples: limits.ts) is not such a doubt: it ends the query.
//
// Limits: every loop ticks the query's guard by the cells it visits. A node's present cells are
// its points, counted as Prometheus counts a node's matrix in a range evaluation; a node's matrix
// is dropped from the cache (and its points released) once its parent's is computed, since the
// per-step path never reads below a cached node.

import {
  type AggregateKind,
  type CompiledMatcher,
  isStaleMarker,
  type Labels,
  labelsKey,
  labelValue,
  METRIC_NAME,
  type SeriesData,
} from "../tsdb/index.js";
import type { AggregateExpr, Call, Expr, MatrixSelector, VectorSelector } from "./ast.js";
import { type CallContext, OVER_RANGE } from "./function-implementations.js";
import {
  aggregationAdd,
  aggregationCells,
  aggregationOpen,
  aggregationResult,
  type CounterDrops,
  extrapolatedRate,
  isKernelAggregation,
  prometheusBucketQuantile,
  type RangeWindow,
} from "./kernels.js";
import { dropMetricName, keepLabels, removeLabels } from "./labelset.js";
import { isLimitError, type QueryGuard } from "./limits.js";
import { compileLabelMatcher } from "./regex.js";
import type { Sample } from "./value.js";
import { parseGoFloat } from "./value.js";

/**
 * One node's instant vectors at every step. Row r is in the vector at step k when
 * present[r * steps + k] is 1; at each step the vector's elements are the present rows in row
 * order (that is the invariant every producer here keeps).
 */
export interface StepMatrix {
  labels: Labels[];
  values: Float64Array;
  present: Uint8Array;
  /** Present cells: the points counted against max-samples while the matrix is cached. */
  points: number;
}

// Beyond this many row-steps a node's dense matrices would cost more memory than the per-step
// path's output: leave such a node to it.
const MAX_CELLS = 10_000_000;

// Range functions with no argument besides the range vector (those with a scalar argument evaluate
// it per step; they stay on the per-step path).
const SIMPLE_RANGE_FNS = new Set([
  "rate",
  "increase",
  "delta",
  "irate",
  "idelta",
  "deriv",
  "resets",
  "changes",
  "avg_over_time",
  "count_over_time",
  "last_over_time",
  "present_over_time",
  "max_over_time",
  "min_over_time",
  "sum_over_time",
  "stddev_over_time",
  "stdvar_over_time",
]);

/**
 * What the plan reads from the evaluator (engine.ts's Evaluator provides it): the query's guard,
 * its lookback and the store's series through the evaluator's one selection path.
 */
export interface PlanSource {
  readonly guard: QueryGuard;
  readonly lookbackMs: number;
  selectSeries(
    matchers: CompiledMatcher[],
    minT: number,
    maxT: number,
    aggregate?: AggregateKind,
  ): SeriesData[];
  downsampledRead(func: string, ms: MatrixSelector): { kind: AggregateKind; func: string } | undefined;
}

const NO_PARAMS: readonly number[] = [];

export class RangePlan {
  readonly steps: number;
  private readonly cache = new Map<Expr, StepMatrix>();

  constructor(
    private readonly ev: PlanSource,
    /** The step times, computed exactly as the per-step loop does (`ts += step`). */
    readonly times: readonly number[],
  ) {
    this.steps = times.length;
  }

  /** Fills the cache for the supported nodes of `root`; the root's matrix, or null. */
  precompute(root: Expr): StepMatrix | null {
    const held = this.ev.guard.samples;
    try {
      return this.node(root);
    } catch (err) {
      // Timeout, cancellation, max-samples: the query ends here, the per-step path would only
      // take as long again to reach the same limit.
      if (isLimitError(err)) throw err;
      // The per-step path reproduces the error (or shows there is none) in its own order.
      this.cache.clear();
      this.ev.guard.samples = held;
      return null;
    }
  }

  /** The cached vector of `e` at time `t`, if `e` was precomputed and `t` is a step time. */
  vectorAt(e: Expr, t: number): Sample[] | undefined {
    const m = this.cache.get(e);
    if (m === undefined) return undefined;
    const k = this.stepIndex(t);
    if (k < 0) return undefined;
    this.ev.guard.tick(m.labels.length);
    const out: Sample[] = [];
    const n = this.steps;
    for (let r = 0; r < m.labels.length; r++) {
      const i = r * n + k;
      if (m.present[i] === 1) out.push({ labels: m.labels[r] as Labels, value: m.values[i] as number });
    }
    return out;
  }

  private stepIndex(t: number): number {
    // Step times are increasing: a binary search (only per-step fallbacks get here).
    let lo = 0;
    let hi = this.times.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const x = this.times[mid] as number;
      if (x === t) return mid;
      if (x < t) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private node(e: Expr): StepMatrix | null {
    let m: StepMatrix | null = null;
    switch (e.type) {
      case "ParenExpr":
        m = this.node(e.expr);
        break;
      case "VectorSelector":
        m = this.vectorSelector(e);
        break;
      case "AggregateExpr":
        m = this.aggregate(e);
        break;
      case "Call":
        m = this.call(e);
        break;
      case "SubqueryExpr":
        // Its inner expression runs at the subquery's own steps: nothing to precompute.
        return null;
      default:
        this.children(e);
        return null;
    }
    if (m !== null) this.cache.set(e, m);
    return m;
  }

  /** Forgets a child whose parent is now cached (with its parentheses) and releases its points. */
  private drop(e: Expr): void {
    const m = this.cache.get(e);
    if (m === undefined) return;
    for (let x = e; ; x = x.expr) {
      this.cache.delete(x);
      if (x.type !== "ParenExpr") break;
    }
    this.ev.guard.release(m.points);
  }

  /** Visits children so that supported subtrees under an unsupported node are still precomputed. */
  private children(e: Expr): void {
    switch (e.type) {
      case "UnaryExpr":
        this.node(e.expr);
        break;
      case "BinaryExpr":
        this.node(e.lhs);
        this.node(e.rhs);
        break;
      case "AggregateExpr":
        this.node(e.expr);
        if (e.param) this.node(e.param);
        break;
      case "Call":
        for (const a of e.args) this.node(a);
        break;
      case "MatrixSelector":
        break;
      default:
        break;
    }
  }

  private tooBig(rows: number): boolean {
    return rows * this.steps > MAX_CELLS;
  }

  /** Instant selection at each step: the latest sample in [ref - lookback, ref], unless stale. */
  private vectorSelector(vs: VectorSelector): StepMatrix | null {
    if (vs.at !== null) return null;
    const n = this.steps;
    const first = (this.times[0] as number) - vs.offsetMs;
    const last = (this.times[n - 1] as number) - vs.offsetMs;
    const series = this.ev.selectSeries(
      vs.matchers.map(compileLabelMatcher),
      first - this.ev.lookbackMs,
      last,
    );
    if (this.tooBig(series.length)) return null;
    const g = this.ev.guard;
    const labels: Labels[] = [];
    const values = new Float64Array(series.length * n);
    const present = new Uint8Array(series.length * n);
    let r = 0;
    let points = 0;
    for (const s of series) {
      const ts = s.timestamps;
      const vals = s.values;
      g.tick(n + ts.length);
      let hi = 0; // first sample after the step's reference time
      let count = 0;
      for (let k = 0; k < n; k++) {
        const ref = (this.times[k] as number) - vs.offsetMs;
        while (hi < ts.length && (ts[hi] as number) <= ref) hi++;
        const i = hi - 1;
        if (i < 0 || (ts[i] as number) < ref - this.ev.lookbackMs) continue;
        const v = vals[i] as number;
        if (isStaleMarker(v)) continue;
        values[r * n + k] = v;
        present[r * n + k] = 1;
        count++;
      }
      // The per-step path lists a series only at steps where it has a sample: rows never present
      // are dropped so row order stays the store's order of the series that do appear.
      if (count === 0) continue;
      g.add(count);
      points += count;
      labels.push(s.labels);
      r++;
    }
    return { labels, values: values.subarray(0, r * n), present: present.subarray(0, r * n), points };
  }

  private call(e: Call): StepMatrix | null {
    if (SIMPLE_RANGE_FNS.has(e.func)) {
      let arg = e.args[0] as Expr;
      while (arg.type === "ParenExpr") arg = arg.expr;
      if (arg.type !== "MatrixSelector") {
        this.children(e);
        return null;
      }
      return this.rangeFunction(e.func, arg);
    }
    if (e.func === "histogram_quantile") {
      const q = e.args[0] as Expr;
      const child = this.node(e.args[1] as Expr);
      if (q.type !== "NumberLiteral" || child === null) {
        this.node(q);
        return null;
      }
      const m = this.histogramQuantile(q.value, child);
      if (m !== null) this.drop(e.args[1] as Expr);
      return m;
    }
    this.children(e);
    return null;
  }

  /** A range function over a matrix selector: per series, one pass over the steps. */
  private rangeFunction(called: string, ms: MatrixSelector): StepMatrix | null {
    const ds = this.ev.downsampledRead(called, ms);
    const func = ds?.func ?? called;
    const vs = ms.selector;
    if (vs.at !== null) return null;
    const n = this.steps;
    const firstEnd = (this.times[0] as number) - vs.offsetMs;
    const lastEnd = (this.times[n - 1] as number) - vs.offsetMs;
    const series = this.ev.selectSeries(
      vs.matchers.map(compileLabelMatcher),
      firstEnd - ms.rangeMs,
      lastEnd,
      ds?.kind,
    );
    if (this.tooBig(series.length)) return null;
    const fn = OVER_RANGE[func];
    if (fn === undefined) return null;
    const isRate = func === "rate";
    const isExtrapolated = isRate || func === "increase" || func === "delta";
    const isCounter = func !== "delta";
    const window: RangeWindow = { rangeStartMs: 0, rangeEndMs: 0, rangeMs: ms.rangeMs };
    // Only the functions with scalar arguments read the context's time; none of them is here.
    const ctx: CallContext = { t: 0, guard: this.ev.guard };
    const labels: Labels[] = [];
    const keys = new Set<string>();
    const values = new Float64Array(series.length * n);
    const present = new Uint8Array(series.length * n);
    const g = this.ev.guard;
    let r = 0;
    let points = 0;
    for (const s of series) {
      let ts: Float64Array = s.timestamps;
      let vals: Float64Array = s.values;
      g.tick(n + 3 * vals.length);
      // A range function never sees staleness markers: dropping them from the whole series once
      // is the same as dropping them from each window.
      let stale = 0;
      for (let i = 0; i < vals.length; i++) if (isStaleMarker(vals[i] as number)) stale++;
      if (stale > 0) {
        const t2 = new Float64Array(vals.length - stale);
        const v2 = new Float64Array(vals.length - stale);
        let j = 0;
        for (let i = 0; i < vals.length; i++) {
          if (isStaleMarker(vals[i] as number)) continue;
          t2[j] = ts[i] as number;
          v2[j] = vals[i] as number;
          j++;
        }
        ts = t2;
        vals = v2;
      }
      // Counter drops found once per series: a window then adds only its own drops instead of
      // comparing every pair of samples again at every step (a 5 m window at a 15 s step sees
      // each pair 20 times).
      let drops: CounterDrops | undefined;
      if (isExtrapolated && isCounter) {
        let m = 0;
        for (let i = 1; i < vals.length; i++) if ((vals[i] as number) < (vals[i - 1] as number)) m++;
        const at = new Int32Array(m);
        m = 0;
        for (let i = 1; i < vals.length; i++) if ((vals[i] as number) < (vals[i - 1] as number)) at[m++] = i;
        drops = { at, from: 0 };
      }
      let lo = 0; // first sample at or after the window's start
      let hi = 0; // first sample after the window's end
      let count = 0;
      let widest = 0; // Prometheus holds one window of one series at a time
      for (let k = 0; k < n; k++) {
        const end = (this.times[k] as number) - vs.offsetMs;
        const start = end - ms.rangeMs;
        while (lo < ts.length && (ts[lo] as number) < start) lo++;
        while (hi < ts.length && (ts[hi] as number) <= end) hi++;
        if (hi <= lo) continue;
        if (hi - lo > widest) widest = hi - lo;
        let v: number | undefined;
        if (isExtrapolated) {
          window.rangeStartMs = start;
          window.rangeEndMs = end;
          if (drops !== undefined)
            while (drops.from < drops.at.length && (drops.at[drops.from] as number) <= lo) drops.from++;
          v = extrapolatedRate(window, vals, ts, lo, hi, isCounter, isRate, drops);
        } else {
          // Other functions take views, as on the per-step path. Each reads its whole window: a
          // day's window at every step is the work to count.
          g.tick(hi - lo);
          window.rangeStartMs = start;
          window.rangeEndMs = end;
          ctx.t = this.times[k] as number;
          v = fn(vals.subarray(lo, hi), ts.subarray(lo, hi), window, ctx, NO_PARAMS);
        }
        if (v === undefined) continue;
        values[r * n + k] = v;
        present[r * n + k] = 1;
        count++;
      }
      g.peek(widest);
      if (count === 0) continue;
      const out = func === "last_over_time" ? s.labels : dropMetricName(s.labels);
      const key = labelsKey(out);
      // Two series equal but for their name: the per-step path rejects them when both have a
      // value at a step (checkUniqueLabelsets). Leave that decision to it.
      if (keys.has(key)) {
        g.release(points);
        return null;
      }
      keys.add(key);
      g.add(count);
      points += count;
      labels.push(out);
      r++;
    }
    return { labels, values: values.subarray(0, r * n), present: present.subarray(0, r * n), points };
  }

  private aggregate(e: AggregateExpr): StepMatrix | null {
    const child = this.node(e.expr);
    const op = e.op;
    if (!isKernelAggregation(op) || child === null) {
      if (e.param) this.node(e.param);
      return null;
    }
    const n = this.steps;
    const gd = this.ev.guard;
    // Group of each input row, computed once (not per step).
    const groupOf = new Int32Array(child.labels.length);
    const groupLabels: Labels[] = [];
    const index = new Map<string, number>();
    const exclude = e.without ? [...e.grouping, METRIC_NAME] : [];
    for (let r = 0; r < child.labels.length; r++) {
      gd.tick(1);
      const ls = child.labels[r] as Labels;
      const gl = e.without ? removeLabels(ls, exclude) : keepLabels(ls, e.grouping);
      const key = labelsKey(gl);
      let g = index.get(key);
      if (g === undefined) {
        g = groupLabels.length;
        index.set(key, g);
        groupLabels.push(gl);
      }
      groupOf[r] = g;
    }
    const groups = groupLabels.length;
    if (this.tooBig(groups)) return null;
    const cells = aggregationCells(groups * n);
    // The row that opened each group at each step: the per-step path orders its output groups
    // by it.
    const opener = new Int32Array(groups * n).fill(-1);
    const cv = child.values;
    const cp = child.present;
    // Rows in order, then steps: within a step each group sees its members in row order, which
    // is the per-step path's order, so the kernel (kernels.ts, the per-step path's too) does
    // every floating-point operation in the same order.
    for (let r = 0; r < child.labels.length; r++) {
      gd.tick(n);
      const base = (groupOf[r] as number) * n;
      const rb = r * n;
      for (let k = 0; k < n; k++) {
        if (cp[rb + k] !== 1) continue;
        const v = cv[rb + k] as number;
        const i = base + k;
        if (opener[i] === -1) {
          opener[i] = r;
          aggregationOpen(op, cells, i, v);
        } else aggregationAdd(op, cells, i, v);
      }
    }
    const present = new Uint8Array(groups * n);
    const value = cells.value;
    let points = 0;
    gd.tick(groups * n);
    for (let i = 0; i < groups * n; i++) {
      if (opener[i] === -1) continue;
      present[i] = 1;
      points++;
      value[i] = aggregationResult(op, cells, i);
    }
    if (!sameOrderAtEveryStep(opener, groups, n, gd)) return null;
    gd.add(points);
    this.drop(e.expr);
    return { labels: groupLabels, values: value, present, points };
  }

  private histogramQuantile(q: number, child: StepMatrix): StepMatrix | null {
    const n = this.steps;
    // Buckets grouped once by their labels without `le` (the name stays in the key: two
    // histograms never merge); `le` parsed once.
    const groupRows: number[][] = [];
    const groupBounds: number[][] = [];
    const groupLabels: Labels[] = [];
    const index = new Map<string, number>();
    const outKeys = new Set<string>();
    const gd = this.ev.guard;
    for (let r = 0; r < child.labels.length; r++) {
      gd.tick(1);
      const ls = child.labels[r] as Labels;
      const ub = parseGoFloat(labelValue(ls, "le"));
      if (ub === undefined) continue;
      // NaN bounds make the per-step sort's comparator inconsistent: leave those to that path.
      if (Number.isNaN(ub)) return null;
      const key = labelsKey(removeLabels(ls, ["le"]));
      let g = index.get(key);
      if (g === undefined) {
        g = groupLabels.length;
        index.set(key, g);
        const out = removeLabels(ls, ["le", METRIC_NAME]);
        const ok = labelsKey(out);
        if (outKeys.has(ok)) return null; // checkUniqueLabelsets may reject: per-step path decides
        outKeys.add(ok);
        groupLabels.push(out);
        groupRows.push([]);
        groupBounds.push([]);
      }
      (groupRows[g] as number[]).push(r);
      (groupBounds[g] as number[]).push(ub);
    }
    const groups = groupLabels.length;
    if (this.tooBig(groups)) return null;
    // Each group's rows sorted by upper bound once, stably (as the per-step sort is): walking that
    // order and skipping absent rows gives each step's sorted buckets.
    const sortedRows: Int32Array[] = [];
    const sortedBounds: Float64Array[] = [];
    let widest = 0;
    for (let g = 0; g < groups; g++) {
      const rows = groupRows[g] as number[];
      const bounds = groupBounds[g] as number[];
      const order = rows.map((_, i) => i).sort((a, b) => (bounds[a] as number) - (bounds[b] as number));
      sortedRows.push(Int32Array.from(order, (i) => rows[i] as number));
      sortedBounds.push(Float64Array.from(order, (i) => bounds[i] as number));
      widest = Math.max(widest, rows.length);
    }
    const ub = new Float64Array(widest);
    const cnt = new Float64Array(widest);
    const values = new Float64Array(groups * n);
    const present = new Uint8Array(groups * n);
    const opener = new Int32Array(groups * n).fill(-1);
    const cv = child.values;
    const cp = child.present;
    let points = 0;
    for (let g = 0; g < groups; g++) {
      const rows = sortedRows[g] as Int32Array;
      const bounds = sortedBounds[g] as Float64Array;
      const members = groupRows[g] as number[];
      for (let k = 0; k < n; k++) {
        gd.tick(rows.length);
        let m = 0;
        for (let j = 0; j < rows.length; j++) {
          const i = (rows[j] as number) * n + k;
          if (cp[i] !== 1) continue;
          ub[m] = bounds[j] as number;
          cnt[m] = cv[i] as number;
          m++;
        }
        if (m === 0) continue;
        for (const r of members) {
          if (cp[r * n + k] === 1) {
            opener[g * n + k] = r;
            break;
          }
        }
        present[g * n + k] = 1;
        points++;
        values[g * n + k] = prometheusBucketQuantile(q, ub, cnt, m);
      }
    }
    if (!sameOrderAtEveryStep(opener, groups, n, gd)) return null;
    gd.add(points);
    return { labels: groupLabels, values, present, points };
  }
}

/**
 * True when, at every step, the groups present are ordered by the row that opened them: then the
 * per-step path's output order (groups in order of first appearance) is the matrix's row order.
 */
function sameOrderAtEveryStep(opener: Int32Array, groups: number, n: number, g: QueryGuard): boolean {
  for (let k = 0; k < n; k++) {
    g.tick(groups);
    let prev = -1;
    for (let g = 0; g < groups; g++) {
      const o = opener[g * n + k] as number;
      if (o === -1) continue;
      if (o < prev) return false;
      prev = o;
    }
  }
  return true;
}
