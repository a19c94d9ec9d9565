// The query side of Prometheus 2.42's HTTP API (`web/api/v1/api.go`) over a SeriesStore, run
// where the store is (the engine worker): parsing the query and the match[] selectors, evaluating
// under the query's limits, and rendering the response's `data` as JSON text — so that neither a
// huge query string nor a huge result is ever parsed or serialised on the API's thread. The HTTP
// side (parameters, status codes, the envelope) stays in src/http/promapi.ts.

import {
  type EngineOptions,
  type Expr,
  evaluateInstant,
  evaluateRange,
  exprType,
  formatFloatPlain,
  PromQLParseError,
  parseExpr,
  type Value,
  type ValueType,
} from "../promql/index.js";
import type { QueryGuard, QueryLimits } from "../promql/limits.js";
import {
  type CompiledMatcher,
  compareLabels,
  compileMatcher,
  isStaleMarker,
  type Labels,
  labelsKey,
  labelsToObject,
  type Storage,
} from "../tsdb/index.js";
import { EngineError, type EngineOps, type LabelObject } from "./protocol.js";

/** What one query may use: the evaluator's limits, and the guard for the metadata loops. */
export interface QueryContext {
  limits: QueryLimits;
  guard: QueryGuard;
  /** Engine options of every query (the lookback), before the request's own. */
  engine: EngineOptions;
}

type Req<K extends keyof EngineOps> = EngineOps[K]["req"];

const badData = (message: string) => new EngineError("bad_data", message);
const invalidParam = (name: string, message: string) =>
  badData(`invalid parameter ${JSON.stringify(name)}: ${message}`);

/** jsonutil.MarshalTimestamp: ms as seconds with up to three decimals (`1700000000.120`). */
export function formatTimestamp(ms: number): string {
  let t = ms;
  let out = "";
  if (t < 0) {
    out = "-";
    t = -t;
  }
  out += String(Math.floor(t / 1000));
  const fraction = t % 1000;
  if (fraction !== 0) out += `.${String(fraction).padStart(3, "0")}`;
  return out;
}

const point = (ms: number, v: number) => `[${formatTimestamp(ms)},"${formatFloatPlain(v)}"]`;
const metric = (labels: Labels) => JSON.stringify(labelsToObject(labels));

/** The `data` of a query response, as JSON text: `{"resultType":…,"result":…}`. */
export function renderQueryData(v: Value, timeMs: number): string {
  let result: string;
  switch (v.type) {
    case "scalar":
      result = point(timeMs, v.value);
      break;
    case "string":
      result = `[${formatTimestamp(timeMs)},${JSON.stringify(v.value)}]`;
      break;
    case "vector":
      result = `[${v.samples.map((s) => `{"metric":${metric(s.labels)},"value":${point(timeMs, s.value)}}`).join(",")}]`;
      break;
    case "matrix":
      result = `[${v.series
        .map((s) => {
          const values: string[] = [];
          for (let i = 0; i < s.timestamps.length; i++) {
            values.push(point(s.timestamps[i] as number, s.values[i] as number));
          }
          return `{"metric":${metric(s.labels)},"values":[${values.join(",")}]}`;
        })
        .join(",")}]`;
      break;
  }
  return `{"resultType":"${v.type}","result":${result}}`;
}

const DOCUMENTED_TYPE: Record<ValueType, string> = {
  scalar: "scalar",
  vector: "instant vector",
  matrix: "range vector",
  string: "string",
};

/** Parses a query; Prometheus answers an empty one with "no expression found in input". */
export function parseQuery(query: string): Expr {
  if (query.trim() === "") {
    throw new PromQLParseError("no expression found in input", { start: 0, end: 0 }, query);
  }
  return parseExpr(query);
}

/** The `query` parameter parsed, a parse error answered as Prometheus does. */
function parseQueryParam(query: string): Expr {
  try {
    return parseQuery(query);
  } catch (err) {
    if (err instanceof PromQLParseError) throw invalidParam("query", err.message);
    throw err;
  }
}

/** Prometheus's `parser.ParseMetricSelector`: a bare series selector, no range, offset or @. */
function parseSelector(text: string): CompiledMatcher[] {
  let e: Expr;
  try {
    e = parseQuery(text);
  } catch (err) {
    // Prometheus checks the non-empty rule after parsing, with its own message.
    if (err instanceof PromQLParseError && /at least one non-empty matcher/.test(err.reason)) {
      return [{ name: "__name__", type: "=~", value: ".*", matches: () => true }];
    }
    throw err;
  }
  if (e.type !== "VectorSelector" || e.offsetMs !== 0 || e.at !== null) {
    const inner = e.type === "MatrixSelector" ? e.selector : e.type === "VectorSelector" ? e : undefined;
    let at = inner ? inner.pos.end : 0;
    while (at < text.length && /\s/.test(text[at] as string)) at++;
    const rest = text.slice(at);
    const reason = rest.startsWith("[")
      ? 'unexpected "["'
      : rest.startsWith("offset")
        ? "unexpected <offset>"
        : rest.startsWith("@")
          ? "unexpected <@>"
          : 'expected a series selector such as up{job="api"}';
    throw new PromQLParseError(reason, { start: inner ? at : 0, end: text.length }, text);
  }
  return e.matchers.map((lm) => {
    const r = compileMatcher(lm);
    if (!r.ok) throw new PromQLParseError(r.error, e.pos, text);
    return r.matcher;
  });
}

/** Prometheus's `parseMatchersParam`: one matcher set per match[], none matching only the empty set. */
function parseMatchSets(values: string[], wrap: boolean): CompiledMatcher[][] {
  const fail = (msg: string) => (wrap ? invalidParam("match[]", msg) : badData(msg));
  const sets: CompiledMatcher[][] = [];
  for (const v of values) {
    try {
      sets.push(parseSelector(v));
    } catch (err) {
      throw fail((err as Error).message);
    }
  }
  for (const set of sets) {
    if (!set.some((m) => !m.matches(""))) throw fail("match[] must contain at least one non-empty matcher");
  }
  return sets;
}

function engineOptions(ctx: QueryContext, lookbackMs: number | undefined): EngineOptions {
  const opts: EngineOptions = { ...ctx.engine, limits: ctx.limits };
  if (lookbackMs !== undefined) opts.lookbackDeltaMs = lookbackMs;
  return opts;
}

/** /api/v1/query */
export function instantQuery(store: Storage, r: Req<"query">, ctx: QueryContext): string {
  const expr = parseQueryParam(r.query);
  const v = evaluateInstant(expr, r.timeMs, store, engineOptions(ctx, r.lookbackMs));
  ctx.guard.poll();
  return renderQueryData(v, r.timeMs);
}

/** /api/v1/query_range */
export function rangeQuery(store: Storage, r: Req<"query_range">, ctx: QueryContext): string {
  const expr = parseQueryParam(r.query);
  const t = exprType(expr);
  if (t !== "scalar" && t !== "vector") {
    throw badData(
      `invalid expression type ${JSON.stringify(DOCUMENTED_TYPE[t])} for range query, must be Scalar or instant Vector`,
    );
  }
  const v = evaluateRange(expr, r.startMs, r.endMs, r.stepMs, store, engineOptions(ctx, r.lookbackMs));
  ctx.guard.poll();
  return renderQueryData(v, r.endMs);
}

/** An instant query's samples as data (the log analysis' per-minute figures). */
export function instantSamples(
  store: Storage,
  r: Req<"samples">,
  ctx: QueryContext,
): Array<{ labels: LabelObject; value: number }> {
  const v = evaluateInstant(parseQueryParam(r.query), r.timeMs, store, engineOptions(ctx, undefined));
  if (v.type === "vector")
    return v.samples.map((s) => ({ labels: labelsToObject(s.labels), value: s.value }));
  if (v.type === "scalar") return [{ labels: {}, value: v.value }];
  return [];
}

/** /api/v1/query_exemplars validates its query (the store keeps no exemplars). */
export function checkQuery(query: string): null {
  try {
    parseQuery(query);
  } catch (err) {
    if (err instanceof PromQLParseError) throw badData(err.message);
    throw err;
  }
  return null;
}

/** Label sets of series matching any of the sets, with a sample in [start, end]; sorted, unique. */
function seriesIn(
  store: Storage,
  sets: CompiledMatcher[][],
  r: TimeRangeLike,
  guard: QueryGuard,
  /** /series without start and end reads the index (series whether or not they hold samples). */
  indexOnly = false,
): Labels[] {
  const seen = new Map<string, Labels>();
  for (const set of sets.length > 0 ? sets : [[]]) {
    const selected = indexOnly
      ? store.series(set).map((labels) => ({ labels }))
      : store.select(set, r.startMs, r.endMs, guard);
    for (const s of selected) {
      guard.tick(1 + s.labels.length);
      seen.set(labelsKey(s.labels), s.labels);
    }
  }
  return [...seen.values()].sort(compareLabels);
}

interface TimeRangeLike {
  startMs: number;
  endMs: number;
  unbounded: boolean;
}

/** /api/v1/series */
export function seriesQuery(store: Storage, r: Req<"series">, ctx: QueryContext): string {
  const sets = parseMatchSets(r.match, true);
  const series = seriesIn(store, sets, r, ctx.guard, r.unbounded);
  return `[${series.map(metric).join(",")}]`;
}

/** /api/v1/labels */
export function labelNamesQuery(store: Storage, r: Req<"labels">, ctx: QueryContext): string {
  const sets = parseMatchSets(r.match, false);
  if (sets.length === 0 && r.unbounded) return JSON.stringify(store.labelNames());
  const names = new Set<string>();
  for (const labels of seriesIn(store, sets, r, ctx.guard)) for (const l of labels) names.add(l.name);
  return JSON.stringify([...names].sort());
}

/** /api/v1/label/:name/values */
export function labelValuesQuery(store: Storage, r: Req<"label_values">, ctx: QueryContext): string {
  const sets = parseMatchSets(r.match, false);
  if (sets.length === 0 && r.unbounded) return JSON.stringify(store.labelValues(r.name));
  const values = new Set<string>();
  for (const labels of seriesIn(store, sets, r, ctx.guard)) {
    for (const l of labels) if (l.name === r.name) values.add(l.value);
  }
  return JSON.stringify([...values].sort());
}

/**
 * Prometheus's /federate: the latest sample of every matching series, with its timestamp; with
 * our `historyMs`, the window's earlier samples too (oldest first).
 */
export function federateQuery(store: Storage, r: Req<"federate">, ctx: QueryContext): string {
  const sets = parseMatchSets(r.match, false);
  const t = r.timeMs;
  const byName = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const set of sets) {
    for (const series of store.select(set, t - Math.max(r.lookbackMs, r.historyMs), t, ctx.guard)) {
      ctx.guard.tick(series.values.length + series.labels.length);
      const key = labelsKey(series.labels);
      if (seen.has(key)) continue;
      seen.add(key);
      const last = series.values.length - 1;
      if (last < 0 || isStaleMarker(series.values[last] as number)) continue;
      const name = series.labels.find((l) => l.name === "__name__")?.value ?? "";
      const rest = series.labels
        .filter((l) => l.name !== "__name__")
        .map(
          (l) => `${l.name}="${l.value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`,
        );
      const head = `${name}${rest.length ? `{${rest.join(",")}}` : ""}`;
      let first = last;
      while (
        first > 0 &&
        (series.timestamps[first - 1] as number) > t - r.historyMs &&
        !isStaleMarker(series.values[first - 1] as number)
      ) {
        first--;
      }
      const line = Array.from(
        { length: last - first + 1 },
        (_, k) =>
          `${head} ${formatFloatPlain(series.values[first + k] as number)} ${series.timestamps[first + k]}`,
      ).join("\n");
      let lines = byName.get(name);
      if (!lines) {
        lines = [];
        byName.set(name, lines);
      }
      lines.push(line);
    }
  }
  let text = "";
  for (const name of [...byName.keys()].sort())
    text += `# TYPE ${name} untyped\n${(byName.get(name) ?? []).join("\n")}\n`;
  return text;
}
