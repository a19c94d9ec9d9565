// PromQL evaluator with Prometheus 2.42's semantics (`promql/engine.go`): lookback delta, staleness,
// offset and @, subqueries aligned to absolute multiples of their step, vector matching, aggregations.
// A range query evaluates the nodes rangeeval.ts supports once over all steps (series at a time) and
// the rest once per step; a subquery evaluates its inner expression once per subquery step. Pure: an
// expression and a store in, a value out. Every loop that grows with its input ticks the query's
// QueryGuard (limits.ts), which stops evaluation at its deadline or cancellation and counts the
// samples held against max-samples.

import {
  type AggregateKind,
  type CompiledMatcher,
  isStaleMarker,
  type Labels,
  labelsKey,
  METRIC_NAME,
  type Queryable,
  type SeriesData,
} from "../tsdb/index.js";
import type {
  AggregateExpr,
  AtModifier,
  BinaryExpr,
  BinaryOp,
  Call,
  Expr,
  MatrixSelector,
  SubqueryExpr,
  ValueType,
  VectorMatching,
  VectorSelector,
} from "./ast.js";
import { type CallContext, callFunction, type FunctionArg } from "./function-implementations.js";
import { FUNCTIONS } from "./function-signatures.js";
import {
  aggregationAdd,
  aggregationCells,
  aggregationCellsWithRoom,
  aggregationOpen,
  aggregationResult,
  checkUniqueLabelsets,
  insertionSort,
  isKernelAggregation,
  type KernelAggregation,
  quantile,
  type RangeArg,
  type RangeArgSeries,
} from "./kernels.js";
import {
  dropMetricName,
  formatLabels,
  isValidLabelName,
  keepLabels,
  matchLabels,
  matchSignature,
  removeLabels,
  setLabel,
} from "./labelset.js";
import { QueryGuard, type QueryLimits } from "./limits.js";
import { parseExpr } from "./parse.js";
import { RangePlan, type StepMatrix } from "./rangeeval.js";
import { compileLabelMatcher } from "./regex.js";
import {
  formatFloatPlain,
  type MatrixValue,
  PromQLEvalError,
  type RangeSeries,
  type Sample,
  type Value,
} from "./value.js";

export interface EngineOptions {
  /** How far back an instant selector looks for a sample. Default 5 m. */
  lookbackDeltaMs?: number;
  /** Step of a subquery written without one (`x[5m:]`). Default 1 m, as in Prometheus's test engine. */
  noStepSubqueryIntervalMs?: number;
  /** Timeout, cancellation and max-samples of this evaluation (limits.ts). Default: none. */
  limits?: QueryLimits;
}

export const DEFAULT_LOOKBACK_DELTA_MS = 300_000;
export const DEFAULT_SUBQUERY_INTERVAL_MS = 60_000;

/** Evaluates an instant query at `timeMs`. Throws PromQLParseError or PromQLEvalError. */
export function evaluateInstant(
  expr: Expr | string,
  timeMs: number,
  store: Queryable,
  opts: EngineOptions = {},
): Value {
  const e = typeof expr === "string" ? parseExpr(expr) : expr;
  const ev = new Evaluator(store, timeMs, timeMs, opts);
  // As Prometheus: a query whose context is already done does not start.
  ev.guard.poll();
  return ev.eval(e, timeMs);
}

/** Evaluates a range query: one series per label set, a point per step where it has a value. */
export function evaluateRange(
  expr: Expr | string,
  startMs: number,
  endMs: number,
  stepMs: number,
  store: Queryable,
  opts: EngineOptions = {},
): MatrixValue {
  return rangeQuery(expr, startMs, endMs, stepMs, store, opts, true);
}

/** evaluateRange with every node evaluated once per step: the reference the range plan is tested against. */
export function evaluateRangeStepwise(
  expr: Expr | string,
  startMs: number,
  endMs: number,
  stepMs: number,
  store: Queryable,
  opts: EngineOptions = {},
): MatrixValue {
  return rangeQuery(expr, startMs, endMs, stepMs, store, opts, false);
}

function rangeQuery(
  expr: Expr | string,
  startMs: number,
  endMs: number,
  stepMs: number,
  store: Queryable,
  opts: EngineOptions,
  usePlan: boolean,
): MatrixValue {
  const e = typeof expr === "string" ? parseExpr(expr) : expr;
  const t = exprType(e);
  if (t !== "scalar" && t !== "vector") {
    const name = t === "matrix" ? "range vector" : t;
    throw new PromQLEvalError(
      `invalid expression type ${JSON.stringify(name)} for range query, must be Scalar or instant Vector`,
    );
  }
  if (!(stepMs > 0))
    throw new PromQLEvalError("zero or negative query resolution step widths are not accepted");
  if (endMs < startMs) throw new PromQLEvalError("end timestamp must not be before start time");
  const ev = new Evaluator(store, startMs, endMs, opts);
  const g = ev.guard;
  g.poll();
  // Node-at-a-time over all steps where rangeeval.ts supports the nodes (see there why); the
  // per-step loop below covers the rest and reads the precomputed nodes' vectors.
  if (usePlan) {
    const times: number[] = [];
    for (let ts = startMs; ts <= endMs; ts += stepMs) {
      times.push(ts);
      g.tick(1);
    }
    const plan = new RangePlan(ev, times);
    const root = plan.precompute(e);
    if (root !== null) return { type: "matrix", series: matrixSeries(root, times, g) };
    ev.plan = plan;
  }
  // Each step's output stays held (eval counts it), so the result's points add up as in
  // Prometheus's rangeEval.
  const series = collectSteps(startMs, endMs, stepMs, g, (ts) => {
    const v = ev.eval(e, ts);
    return v.type === "scalar" ? [{ labels: [], value: v.value }] : asVector(v, "query");
  });
  return { type: "matrix", series };
}

/** A precomputed root's rows as a range query's series (rows hold distinct label sets), sorted by labels. */
function matrixSeries(m: StepMatrix, times: readonly number[], g: QueryGuard): RangeSeries[] {
  const n = times.length;
  const out: RangeSeries[] = [];
  for (let r = 0; r < m.labels.length; r++) {
    g.tick(n);
    const timestamps: number[] = [];
    const values: number[] = [];
    for (let k = 0; k < n; k++) {
      const i = r * n + k;
      if (m.present[i] !== 1) continue;
      timestamps.push(times[k] as number);
      values.push(m.values[i] as number);
    }
    if (timestamps.length > 0) out.push({ labels: m.labels[r] as Labels, timestamps, values });
  }
  return out.sort((x, y) => {
    g.tick(1);
    return compareLabelSets(x.labels, y.labels);
  });
}

/** Evaluate at every step from `first` to `end` and gather the points into series, sorted by labels. */
function collectSteps(
  first: number,
  end: number,
  step: number,
  g: QueryGuard,
  at: (ts: number) => Sample[],
): RangeSeries[] {
  const out = new Map<string, RangeSeries>();
  for (let ts = first; ts <= end; ts += step) {
    g.tick(1);
    for (const s of at(ts)) {
      g.tick(1);
      const key = labelsKey(s.labels);
      let series = out.get(key);
      if (!series) {
        series = { labels: s.labels, timestamps: [], values: [] };
        out.set(key, series);
      }
      series.timestamps.push(ts);
      series.values.push(s.value);
    }
  }
  return [...out.values()].sort((x, y) => {
    g.tick(1);
    return compareLabelSets(x.labels, y.labels);
  });
}

/** The static type of an expression (parser.Expr.Type()). */
export function exprType(e: Expr): ValueType {
  switch (e.type) {
    case "NumberLiteral":
      return "scalar";
    case "StringLiteral":
      return "string";
    case "VectorSelector":
    case "AggregateExpr":
      return "vector";
    case "MatrixSelector":
    case "SubqueryExpr":
      return "matrix";
    case "ParenExpr":
    case "UnaryExpr":
      return exprType(e.expr);
    case "BinaryExpr":
      return exprType(e.lhs) === "scalar" && exprType(e.rhs) === "scalar" ? "scalar" : "vector";
    case "Call":
      return FUNCTIONS[e.func]?.returnType ?? "vector";
  }
}

function compareLabelSets(a: Labels, b: Labels): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y) break;
    if (x.name !== y.name) return x.name < y.name ? -1 : 1;
    if (x.value !== y.value) return x.value < y.value ? -1 : 1;
  }
  return a.length - b.length;
}

function asVector(v: Value, what: string): Sample[] {
  if (v.type !== "vector") throw new PromQLEvalError(`${what}: expected instant vector, got ${v.type}`);
  return v.samples;
}

/** The `*_over_time` functions that stay exact on the downsampled tier, and the aggregate each reads. */
const DOWNSAMPLED_AGGREGATE: Record<string, AggregateKind | undefined> = {
  min_over_time: "min",
  max_over_time: "max",
  sum_over_time: "sum",
  count_over_time: "count",
};

function unwrapParens(e: Expr | undefined): Expr | undefined {
  let x = e;
  while (x?.type === "ParenExpr") x = x.expr;
  return x;
}

/** Evaluates expressions at one timestamp at a time; holds the query's start and end for `@ start()`/`end()`. */
export class Evaluator {
  readonly lookbackMs: number;
  readonly subqueryStepMs: number;
  /** This evaluation's limits and sample count: every loop below ticks it. */
  readonly guard: QueryGuard;
  /** A range query's precomputed nodes (rangeeval.ts): their vectors at the query's steps. */
  plan: RangePlan | undefined;

  /**
   * Each selector's series, read from the store once per query over every step's window (as
   * Prometheus does); the steps then take views of it. Re-selecting per step cost a range
   * query 23 % of its time in the store's match, sort and copy (bench/promql.ts profile).
   */
  /** The downsampled aggregate each selector reads (see downsampledRead); none: the last points. */
  private readonly aggregates = new Map<VectorSelector, AggregateKind>();

  private readonly selections = new Map<
    VectorSelector,
    { minT: number; maxT: number; series: SeriesData[] }
  >();

  constructor(
    readonly store: Queryable,
    readonly startMs: number,
    readonly endMs: number,
    opts: EngineOptions = {},
  ) {
    this.lookbackMs = opts.lookbackDeltaMs ?? DEFAULT_LOOKBACK_DELTA_MS;
    this.subqueryStepMs = opts.noStepSubqueryIntervalMs ?? DEFAULT_SUBQUERY_INTERVAL_MS;
    this.guard = new QueryGuard(opts.limits);
  }

  /**
   * Evaluates `e` at `t`. Samples its children held are released once it has its value, which
   * stays held (counted) until the caller's own eval returns: Prometheus's currentSamples.
   */
  eval(e: Expr, t: number): Value {
    const g = this.guard;
    const held = g.samples;
    g.tick(1);
    const v = this.evalNode(e, t);
    g.samples = held;
    g.add(
      v.type === "vector" ? v.samples.length : v.type === "scalar" ? 1 : v.type === "matrix" ? points(v) : 0,
    );
    return v;
  }

  private evalNode(e: Expr, t: number): Value {
    if (this.plan !== undefined) {
      const samples = this.plan.vectorAt(e, t);
      if (samples !== undefined) return { type: "vector", samples };
    }
    switch (e.type) {
      case "NumberLiteral":
        return { type: "scalar", value: e.value };
      case "StringLiteral":
        return { type: "string", value: e.value };
      case "ParenExpr":
        return this.eval(e.expr, t);
      case "VectorSelector":
        return {
          type: "vector",
          samples: this.selectVector(e, t).map((s) => ({ labels: s.labels, value: s.value })),
        };
      case "MatrixSelector":
      case "SubqueryExpr":
        return {
          type: "matrix",
          series: this.rangeArg(e, t).series.map((s) => ({
            labels: s.labels,
            timestamps: Array.from(s.timestamps),
            values: Array.from(s.values),
          })),
        };
      case "UnaryExpr": {
        const v = this.eval(e.expr, t);
        if (e.op === "+") return v;
        if (v.type === "scalar") return { type: "scalar", value: -v.value };
        const samples = asVector(v, "unary expression").map((s) => ({
          labels: dropMetricName(s.labels),
          value: -s.value,
        }));
        checkUniqueLabelsets(samples, this.guard);
        return { type: "vector", samples };
      }
      case "BinaryExpr":
        return this.binary(e, t);
      case "AggregateExpr":
        return { type: "vector", samples: this.aggregate(e, t) };
      case "Call":
        return this.call(e, t);
    }
  }

  /**
   * A function call: its arguments evaluated in order, as its signature types them (a range
   * vector with its window), then the function (function-implementations.ts) called with them.
   */
  /**
   * Where a `*_over_time` function's window reaches before the store's raw samples (the durable
   * store's downsampled tier, docs/storage.md): the aggregate its selector should read and the
   * function to apply to it (counting sums the windows' counts). Undefined when the query reads
   * raw samples only, which keeps Prometheus's arithmetic bit for bit.
   */
  downsampledRead(func: string, ms: MatrixSelector): { kind: AggregateKind; func: string } | undefined {
    const kind = DOWNSAMPLED_AGGREGATE[func];
    if (kind === undefined || this.store.rawStart === undefined) return undefined;
    const vs = ms.selector;
    const earliest = this.refTime(vs.at, vs.offsetMs, this.startMs) - ms.rangeMs;
    if (earliest >= this.store.rawStart()) return undefined;
    return { kind, func: kind === "count" ? "sum_over_time" : func };
  }

  private call(e: Call, t: number): Value {
    let func = e.func;
    const first = unwrapParens(e.args[0]);
    if (first?.type === "MatrixSelector") {
      const ds = this.downsampledRead(func, first);
      if (ds) {
        this.aggregates.set(first.selector, ds.kind);
        func = ds.func;
      }
    }
    const sig = FUNCTIONS[e.func];
    if (sig === undefined) throw new PromQLEvalError(`function ${JSON.stringify(e.func)} is not supported`);
    const types = sig.argTypes;
    const args: FunctionArg[] = [];
    for (let i = 0; i < e.args.length; i++) {
      const a = e.args[i] as Expr;
      const type = types[Math.min(i, types.length - 1)];
      if (type === "matrix") args.push({ type: "range", range: this.rangeArg(a, t) });
      else if (e.func === "timestamp") args.push(this.timestampArg(a, t));
      else {
        const v = this.eval(a, t);
        if (v.type === "matrix") throw new PromQLEvalError(`expected ${type}, got ${v.type}`);
        args.push(v);
      }
    }
    const ctx: CallContext = { t, guard: this.guard };
    return callFunction(func, args, e.args, ctx);
  }

  /** timestamp()'s argument: a selector's samples with their own timestamps, else the vector. */
  private timestampArg(e: Expr, t: number): FunctionArg {
    let arg = e;
    while (arg.type === "ParenExpr") arg = arg.expr;
    if (arg.type === "VectorSelector") return { type: "vector", samples: this.selectVector(arg, t) };
    return { type: "vector", samples: this.evalVector(arg, t) };
  }

  evalVector(e: Expr, t: number): Sample[] {
    return asVector(this.eval(e, t), "expression");
  }

  evalScalar(e: Expr, t: number): number {
    const v = this.eval(e, t);
    if (v.type !== "scalar") throw new PromQLEvalError(`expected scalar, got ${v.type}`);
    return v.value;
  }

  evalString(e: Expr, t: number): string {
    const v = this.eval(e, t);
    if (v.type !== "string") throw new PromQLEvalError(`expected string, got ${v.type}`);
    return v.value;
  }

  /** The time a selector or subquery reads at: its `@` time (or the evaluation time) minus its offset. */
  refTime(at: AtModifier | null, offsetMs: number, t: number): number {
    let base = t;
    if (at !== null)
      base = at.kind === "start" ? this.startMs : at.kind === "end" ? this.endMs : at.timestampMs;
    return base - offsetMs;
  }

  /**
   * The store's series matching `matchers` with their samples in [minT, maxT]: the one place
   * evaluation reads the store. The store ticks the query's guard as it matches, sorts and copies
   * (about 0.1 s per million samples), so a deadline or a cancellation stops a big selection
   * while it runs.
   */
  selectSeries(
    matchers: CompiledMatcher[],
    minT: number,
    maxT: number,
    aggregate?: AggregateKind,
  ): SeriesData[] {
    const series = this.store.select(matchers, minT, maxT, this.guard, aggregate ? { aggregate } : undefined);
    this.guard.tick(series.length);
    return series;
  }

  private matchers(vs: VectorSelector): CompiledMatcher[] {
    return vs.matchers.map(compileLabelMatcher);
  }

  /** The selector's samples in [minT, maxT] (views into a per-query selection). */
  private select(vs: VectorSelector, minT: number, maxT: number, t: number): SeriesData[] {
    let sel = this.selections.get(vs);
    if (!sel || minT < sel.minT || maxT > sel.maxT) {
      // Later steps read later windows: fetch up to where the last step will read.
      const lo = sel ? Math.min(sel.minT, minT) : minT;
      const hi = Math.max(sel?.maxT ?? maxT, maxT + Math.max(0, this.endMs - t));
      sel = {
        minT: lo,
        maxT: hi,
        series: this.selectSeries(this.matchers(vs), lo, hi, this.aggregates.get(vs)),
      };
      this.selections.set(vs, sel);
    }
    if (sel.minT === minT && sel.maxT === maxT) return sel.series;
    const g = this.guard;
    const out: SeriesData[] = [];
    for (const s of sel.series) {
      g.tick(1);
      const ts = s.timestamps;
      const from = lowerBound(ts, minT);
      const to = upperBound(ts, maxT);
      if (to > from)
        out.push({
          labels: s.labels,
          timestamps: ts.subarray(from, to),
          values: s.values.subarray(from, to),
        });
    }
    return out;
  }

  /** Instant selection: each series' latest sample in [ref - lookback, ref], none if it is a staleness marker. */
  selectVector(vs: VectorSelector, t: number): Array<Sample & { timestampMs: number }> {
    const ref = this.refTime(vs.at, vs.offsetMs, t);
    const out: Array<Sample & { timestampMs: number }> = [];
    for (const s of this.select(vs, ref - this.lookbackMs, ref, t)) {
      const i = s.values.length - 1;
      const v = s.values[i];
      const ts = s.timestamps[i];
      if (v === undefined || ts === undefined || isStaleMarker(v)) continue;
      out.push({ labels: s.labels, value: v, timestampMs: ts });
    }
    this.guard.tick(out.length);
    return out;
  }

  /** A range-vector argument: a matrix selector's or a subquery's points in [ref - range, ref]. */
  rangeArg(e: Expr, t: number): RangeArg {
    if (e.type === "ParenExpr") return this.rangeArg(e.expr, t);
    if (e.type === "MatrixSelector") {
      const vs = e.selector;
      const end = this.refTime(vs.at, vs.offsetMs, t);
      const start = end - e.rangeMs;
      const series: RangeArgSeries[] = [];
      const g = this.guard;
      for (const s of this.select(vs, start, end, t)) {
        g.tick(s.values.length);
        // Most windows hold no stale marker: then the store's views serve as they are.
        let stale = false;
        for (let i = 0; i < s.values.length && !stale; i++) stale = isStaleMarker(s.values[i] as number);
        if (!stale) {
          if (s.values.length > 0)
            series.push({ labels: s.labels, timestamps: s.timestamps, values: s.values });
          continue;
        }
        const timestamps: number[] = [];
        const values: number[] = [];
        for (let i = 0; i < s.values.length; i++) {
          const v = s.values[i] as number;
          if (isStaleMarker(v)) continue;
          timestamps.push(s.timestamps[i] as number);
          values.push(v);
        }
        if (values.length > 0) series.push({ labels: s.labels, timestamps, values });
      }
      return { series, rangeStartMs: start, rangeEndMs: end, rangeMs: e.rangeMs };
    }
    if (e.type === "SubqueryExpr") return this.subquery(e, t);
    throw new PromQLEvalError(`expected range vector, got ${exprType(e)}`);
  }

  private subquery(e: SubqueryExpr, t: number): RangeArg {
    const end = this.refTime(e.at, e.offsetMs, t);
    const start = end - e.rangeMs;
    const step = e.stepMs > 0 ? e.stepMs : this.subqueryStepMs;
    // Go's integer division truncates toward zero; then move to the first aligned time at or after start.
    let first = Math.trunc(start / step) * step;
    if (first < start) first += step;
    // Each step's vector stays held (eval counts it) until the subquery's consumer is done, as
    // Prometheus holds a subquery's matrix; 86.4 M one-point steps stop at max-samples.
    const series = collectSteps(first, end, step, this.guard, (ts) => this.evalVector(e.expr, ts));
    return { series, rangeStartMs: start, rangeEndMs: end, rangeMs: e.rangeMs };
  }

  private binary(e: BinaryExpr, t: number): Value {
    const lhs = this.eval(e.lhs, t);
    const rhs = this.eval(e.rhs, t);
    const op = e.op;
    if (lhs.type === "scalar" && rhs.type === "scalar") {
      const [value, keep] = elemBinop(op, lhs.value, rhs.value);
      return { type: "scalar", value: isComparison(op) ? (keep ? 1 : 0) : value };
    }
    let out: Sample[];
    const g = this.guard;
    if (lhs.type === "vector" && rhs.type === "scalar") {
      out = vectorScalarBinop(op, lhs.samples, rhs.value, false, e.returnBool);
      g.tick(lhs.samples.length);
    } else if (lhs.type === "scalar" && rhs.type === "vector") {
      out = vectorScalarBinop(op, rhs.samples, lhs.value, true, e.returnBool);
      g.tick(rhs.samples.length);
    } else if (lhs.type === "vector" && rhs.type === "vector") {
      const matching: VectorMatching = e.matching ?? {
        card: isSetOp(op) ? "many-to-many" : "one-to-one",
        on: false,
        labels: [],
        include: [],
      };
      if (op === "and") out = vectorAnd(lhs.samples, rhs.samples, matching, g);
      else if (op === "or") out = vectorOr(lhs.samples, rhs.samples, matching, g);
      else if (op === "unless") out = vectorUnless(lhs.samples, rhs.samples, matching, g);
      else out = vectorBinop(op, lhs.samples, rhs.samples, matching, e.returnBool, g);
    } else {
      throw new PromQLEvalError("binary expression must contain only scalar and instant vector types");
    }
    checkUniqueLabelsets(out, g);
    return { type: "vector", samples: out };
  }

  private aggregate(e: AggregateExpr, t: number): Sample[] {
    const vec = this.evalVector(e.expr, t);
    const op = e.op;
    let k = 0;
    let q = 0;
    let valueLabel = "";
    let grouping = e.grouping;
    if (op === "topk" || op === "bottomk") {
      const p = this.evalScalar(e.param as Expr, t);
      if (!(p <= 9.223372036854776e18 && p >= -9.223372036854776e18)) {
        throw new PromQLEvalError(`Scalar value ${formatFloatPlain(p)} overflows int64`);
      }
      k = Math.trunc(p);
      if (k < 1) return [];
    } else if (op === "quantile") {
      q = this.evalScalar(e.param as Expr, t);
    } else if (op === "count_values") {
      valueLabel = this.evalString(e.param as Expr, t);
      if (!isValidLabelName(valueLabel))
        throw new PromQLEvalError(`invalid label name ${JSON.stringify(valueLabel)}`);
      if (!e.without) grouping = [...grouping, valueLabel];
    }

    // sum, avg, count, group, min, max, stddev, stdvar (and count_values, a count) go through the
    // aggregation kernel (kernels.ts) that the range plan uses too: one cell per group.
    const kernelOp = op === "count_values" ? "count" : isKernelAggregation(op) ? op : undefined;
    // Cells grow with the groups past 1,024 (a sum over a million series has one group).
    let cells = kernelOp === undefined ? undefined : aggregationCells(Math.min(vec.length, 1024));
    interface Group {
      labels: Labels;
      /** The group's kernel cell (its index in `order`). */
      cell: number;
      /** topk/bottomk: the group's heap; quantile: its values. */
      heap: Sample[];
      values: number[];
    }
    const groups = new Map<string, Group>();
    const order: Group[] = [];
    const guard = this.guard;
    for (const s of vec) {
      guard.tick(1);
      let metric = s.labels;
      if (op === "count_values") metric = setLabel(metric, valueLabel, formatFloatPlain(s.value));
      const groupLabels = e.without
        ? removeLabels(metric, [...grouping, METRIC_NAME])
        : keepLabels(metric, grouping);
      const key = labelsKey(groupLabels);
      const g = groups.get(key);
      const v = s.value;
      if (g === undefined) {
        const ng: Group = { labels: groupLabels, cell: order.length, heap: [], values: [] };
        if (cells !== undefined) {
          cells = aggregationCellsWithRoom(cells, ng.cell + 1);
          aggregationOpen(kernelOp as KernelAggregation, cells, ng.cell, v);
        } else if (op === "quantile") ng.values.push(v);
        else ng.heap.push({ labels: s.labels, value: v });
        groups.set(key, ng);
        order.push(ng);
        continue;
      }
      if (cells !== undefined) {
        aggregationAdd(kernelOp as KernelAggregation, cells, g.cell, v);
        continue;
      }
      switch (op) {
        case "topk":
          if (g.heap.length < k) heapPush(g.heap, { labels: s.labels, value: v }, lessTop);
          else if (
            (g.heap[0] as Sample).value < v ||
            (Number.isNaN((g.heap[0] as Sample).value) && !Number.isNaN(v))
          ) {
            g.heap[0] = { labels: s.labels, value: v };
            if (k > 1) heapFix0(g.heap, lessTop);
          }
          break;
        case "bottomk":
          if (g.heap.length < k) heapPush(g.heap, { labels: s.labels, value: v }, lessBottom);
          else if (
            (g.heap[0] as Sample).value > v ||
            (Number.isNaN((g.heap[0] as Sample).value) && !Number.isNaN(v))
          ) {
            g.heap[0] = { labels: s.labels, value: v };
            if (k > 1) heapFix0(g.heap, lessBottom);
          }
          break;
        case "quantile":
          g.values.push(v);
          break;
      }
    }
    const out: Sample[] = [];
    for (const g of order) {
      if (cells !== undefined) {
        out.push({
          labels: g.labels,
          value: aggregationResult(kernelOp as KernelAggregation, cells, g.cell),
        });
      } else if (op === "quantile") {
        out.push({ labels: g.labels, value: quantile(q, g.values, guard) });
      } else {
        const less = op === "topk" ? lessTop : lessBottom;
        // sort.Sort(sort.Reverse(heap)): insertion sort (what Go uses for short slices) with Less swapped.
        if (g.heap.length > 1) insertionSort(g.heap, (a, b) => less(b, a));
        for (const s of g.heap) out.push(s);
      }
    }
    return out;
  }
}

// vectorByValueHeap / vectorByReverseValueHeap Less functions: NaN sorts as the smallest.
function lessTop(a: Sample, b: Sample): boolean {
  if (Number.isNaN(a.value)) return true;
  return a.value < b.value;
}

function lessBottom(a: Sample, b: Sample): boolean {
  if (Number.isNaN(a.value)) return true;
  return a.value > b.value;
}

function swap<T>(h: T[], i: number, j: number): void {
  const x = h[i] as T;
  h[i] = h[j] as T;
  h[j] = x;
}

// container/heap, as Go implements it, so ties resolve the same way.
function heapUp<T>(h: T[], j0: number, less: (a: T, b: T) => boolean): void {
  let j = j0;
  for (;;) {
    const i = Math.trunc((j - 1) / 2);
    if (i === j || !less(h[j] as T, h[i] as T)) break;
    swap(h, i, j);
    j = i;
  }
}

function heapDown<T>(h: T[], i0: number, n: number, less: (a: T, b: T) => boolean): boolean {
  let i = i0;
  for (;;) {
    const j1 = 2 * i + 1;
    if (j1 >= n) break;
    let j = j1;
    const j2 = j1 + 1;
    if (j2 < n && less(h[j2] as T, h[j1] as T)) j = j2;
    if (!less(h[j] as T, h[i] as T)) break;
    swap(h, i, j);
    i = j;
  }
  return i > i0;
}

function heapPush<T>(h: T[], x: T, less: (a: T, b: T) => boolean): void {
  h.push(x);
  heapUp(h, h.length - 1, less);
}

function heapFix0<T>(h: T[], less: (a: T, b: T) => boolean): void {
  if (!heapDown(h, 0, h.length, less)) heapUp(h, 0, less);
}

function isComparison(op: BinaryOp): boolean {
  return op === "==" || op === "!=" || op === ">" || op === "<" || op === ">=" || op === "<=";
}

function isSetOp(op: BinaryOp): boolean {
  return op === "and" || op === "or" || op === "unless";
}

function shouldDropMetricName(op: BinaryOp): boolean {
  return op === "+" || op === "-" || op === "*" || op === "/" || op === "%" || op === "^";
}

/** Go's math.Pow where it differs from `**`: 1^y = 1 and (-1)^±Inf = 1. */
export function goPow(x: number, y: number): number {
  if (x === 1) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return x ** y;
}

/** vectorElemBinop: the value and, for comparisons, whether the element is kept. */
function elemBinop(op: BinaryOp, l: number, r: number): [number, boolean] {
  switch (op) {
    case "+":
      return [l + r, true];
    case "-":
      return [l - r, true];
    case "*":
      return [l * r, true];
    case "/":
      return [l / r, true];
    case "^":
      return [goPow(l, r), true];
    case "%":
      return [l % r, true];
    case "atan2":
      return [Math.atan2(l, r), true];
    case "==":
      return [l, l === r];
    case "!=":
      return [l, l !== r];
    case ">":
      return [l, l > r];
    case "<":
      return [l, l < r];
    case ">=":
      return [l, l >= r];
    case "<=":
      return [l, l <= r];
    default:
      throw new PromQLEvalError(`operator ${JSON.stringify(op)} not allowed for Scalar operations`);
  }
}

function vectorScalarBinop(
  op: BinaryOp,
  vec: Sample[],
  scalar: number,
  swap: boolean,
  returnBool: boolean,
): Sample[] {
  const out: Sample[] = [];
  for (const s of vec) {
    let lv = s.value;
    let rv = scalar;
    if (swap) [lv, rv] = [rv, lv];
    let [value, keep] = elemBinop(op, lv, rv);
    // A comparison keeps the vector element's value even when the scalar is on the left.
    if (isComparison(op) && swap) value = rv;
    if (returnBool) {
      value = keep ? 1 : 0;
      keep = true;
    }
    if (!keep) continue;
    const labels = shouldDropMetricName(op) || returnBool ? dropMetricName(s.labels) : s.labels;
    out.push({ labels, value });
  }
  return out;
}

function vectorBinop(
  op: BinaryOp,
  lhs0: Sample[],
  rhs0: Sample[],
  m: VectorMatching,
  returnBool: boolean,
  g: QueryGuard,
): Sample[] {
  if (lhs0.length === 0 || rhs0.length === 0) return [];
  let lhs = lhs0;
  let rhs = rhs0;
  // One-to-many is many-to-one with the sides swapped; values are swapped back below.
  if (m.card === "one-to-many") [lhs, rhs] = [rhs, lhs];
  const right = new Map<string, Sample>();
  for (const rs of rhs) {
    g.tick(1);
    const sig = matchSignature(rs.labels, m.on, m.labels);
    const dup = right.get(sig);
    if (dup !== undefined) {
      const oneSide = m.card === "one-to-many" ? "left" : "right";
      throw new PromQLEvalError(
        `found duplicate series for the match group ${formatLabels(matchLabels(rs.labels, m.on, m.labels))} on the ${oneSide} hand-side of the operation: [${formatLabels(rs.labels)}, ${formatLabels(dup.labels)}];many-to-many matching not allowed: matching labels must be unique on one side`,
      );
    }
    right.set(sig, rs);
  }
  const matched = new Map<string, Set<string> | null>();
  const out: Sample[] = [];
  for (const ls of lhs) {
    g.tick(1);
    const sig = matchSignature(ls.labels, m.on, m.labels);
    const rs = right.get(sig);
    if (rs === undefined) continue;
    let vl = ls.value;
    let vr = rs.value;
    if (m.card === "one-to-many") [vl, vr] = [vr, vl];
    let [value, keep] = elemBinop(op, vl, vr);
    if (returnBool) value = keep ? 1 : 0;
    else if (!keep) continue;
    let metric = resultMetric(ls.labels, rs.labels, op, m);
    if (returnBool) metric = dropMetricName(metric);
    const inserted = matched.get(sig);
    if (m.card === "one-to-one") {
      if (inserted !== undefined) {
        throw new PromQLEvalError(
          "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
        );
      }
      matched.set(sig, null);
    } else {
      const key = labelsKey(metric);
      let set = inserted;
      if (!set) {
        set = new Set();
        matched.set(sig, set);
      } else if (set.has(key)) {
        throw new PromQLEvalError("multiple matches for labels: grouping labels must ensure unique matches");
      }
      set.add(key);
    }
    out.push({ labels: metric, value });
  }
  return out;
}

function resultMetric(lhs: Labels, rhs: Labels, op: BinaryOp, m: VectorMatching): Labels {
  let ls = lhs;
  if (shouldDropMetricName(op)) ls = dropMetricName(ls);
  if (m.card === "one-to-one") ls = m.on ? keepLabels(ls, m.labels) : removeLabels(ls, m.labels);
  for (const name of m.include) {
    // Labels named in group_x(...) come from the "one" side.
    let v = "";
    for (const l of rhs) if (l.name === name) v = l.value;
    ls = setLabel(ls, name, v);
  }
  return ls;
}

/** The match signatures of a vector's elements (a set operation's one pass over each side). */
function signatures(v: Sample[], m: VectorMatching, g: QueryGuard): string[] {
  return v.map((s) => {
    g.tick(1);
    return matchSignature(s.labels, m.on, m.labels);
  });
}

function vectorAnd(lhs: Sample[], rhs: Sample[], m: VectorMatching, g: QueryGuard): Sample[] {
  if (lhs.length === 0 || rhs.length === 0) return [];
  const right = new Set(signatures(rhs, m, g));
  const sigs = signatures(lhs, m, g);
  return lhs.filter((_, i) => right.has(sigs[i] as string));
}

function vectorOr(lhs: Sample[], rhs: Sample[], m: VectorMatching, g: QueryGuard): Sample[] {
  if (lhs.length === 0) return [...rhs];
  if (rhs.length === 0) return [...lhs];
  const left = new Set(signatures(lhs, m, g));
  const sigs = signatures(rhs, m, g);
  return [...lhs, ...rhs.filter((_, i) => !left.has(sigs[i] as string))];
}

function vectorUnless(lhs: Sample[], rhs: Sample[], m: VectorMatching, g: QueryGuard): Sample[] {
  if (lhs.length === 0 || rhs.length === 0) return [...lhs];
  const right = new Set(signatures(rhs, m, g));
  const sigs = signatures(lhs, m, g);
  return lhs.filter((_, i) => !right.has(sigs[i] as string));
}

/** A matrix value's points (what Prometheus's Matrix.TotalSamples counts). */
function points(v: MatrixValue): number {
  let n = 0;
  for (const s of v.series) n += s.values.length;
  return n;
}

/** First index whose timestamp is >= t. */
function lowerBound(ts: Float64Array, t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ts[mid] as number) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose timestamp is > t. */
function upperBound(ts: Float64Array, t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ts[mid] as number) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
