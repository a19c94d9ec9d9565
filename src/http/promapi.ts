// Prometheus 2.42's HTTP query API (`web/api/v1/api.go`) over the embedded store, so Grafana can use the
// app itself as a Prometheus data source in embedded mode. Response shapes, error types, status codes
// and error messages follow Prometheus; the known differences are listed in the plugin's doc comment.

import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  type Expr,
  evaluateInstant,
  evaluateRange,
  exprType,
  formatFloatPlain,
  PromQLEvalError,
  PromQLParseError,
  parseDuration,
  parseExpr,
  type Value,
  type ValueType,
} from "../promql/index.js";
import {
  type CompiledMatcher,
  compareLabels,
  compileMatcher,
  isStaleMarker,
  type Labels,
  labelsKey,
  labelsToObject,
  type SeriesStore,
} from "../tsdb/index.js";
import { monitoringAuth } from "./auth.js";

/** What the rule engine offers the API; each method returns the response's `data` object. */
export interface RulesProvider {
  /** `{ groups: [...] }` as Prometheus's /api/v1/rules; `type` is the validated filter, if any. */
  rules(query: { type?: "alert" | "record" }): unknown;
  /** `{ alerts: [...] }` as Prometheus's /api/v1/alerts. */
  alerts(): unknown;
}

export interface PromApiOptions {
  /** The store queries read from. */
  store: SeriesStore;
  /** Wall clock in ms: the default `time` of instant queries. Default Date.now. */
  now?: () => number;
  /** How far back an instant selector looks. Default 5 m (the engine's default). */
  lookbackMs?: number;
  /** Bearer token required on every route (MONITORING_TOKEN); undefined leaves the API open. */
  token?: string;
  /** Serves /rules and /alerts; without one they answer empty lists. */
  rules?: RulesProvider;
  /** Applied to every response body (the app's secret scrubber). */
  scrub?: (text: string) => string;
  /** Upper bound on evaluation time, like Prometheus's --query.timeout. Default 2 m. */
  queryTimeoutMs?: number;
  /** For /status/runtimeinfo. Default: when the plugin was registered. */
  startedAt?: number;
  /** Reported as `revision` by /status/buildinfo. */
  appVersion?: string;
  /** Monotonic ms used to measure evaluation time (tests inject one). Default performance.now. */
  clock?: () => number;
  /** Where the API lives. Default /monitoring/api/v1. */
  prefix?: string;
}

/** The Prometheus version whose API (and PromQL) this mirrors; Grafana reads it from buildinfo. */
export const PROMETHEUS_API_VERSION = "2.42.0";

type ErrorType = "bad_data" | "execution" | "timeout" | "canceled" | "internal" | "not_found";

const STATUS: Record<ErrorType, number> = {
  bad_data: 400,
  execution: 422,
  timeout: 503,
  canceled: 503,
  internal: 500,
  not_found: 404,
};

/** An error answered in Prometheus's shape: `{"status":"error","errorType":…,"error":…}`. */
export class ApiError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const badData = (message: string) => new ApiError("bad_data", message);
const invalidParam = (name: string, message: string) =>
  badData(`invalid parameter ${JSON.stringify(name)}: ${message}`);

// Prometheus's minTime/maxTime, clamped to what a JS Date holds; the defaults of start/end.
const MIN_TIME_MS = -8.64e15;
const MAX_TIME_MS = 8.64e15;
// Go's `minTime.Format(time.RFC3339Nano)` / maxTime: clients send these to mean "unbounded".
const MIN_TIME_FORMATTED = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED = "292277025-08-18T07:12:54.999999999Z";
const MAX_POINTS = 11_000;
const DEFAULT_QUERY_TIMEOUT_MS = 120_000;

const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Go's math.Round: halves away from zero. */
const goRound = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

/**
 * Prometheus's `parseTime`: unix seconds with decimals (rounded to ms) or RFC 3339 (truncated to ms).
 * Returns ms since the epoch, or undefined.
 */
export function parseTimeMs(s: string): number | undefined {
  if (DECIMAL_RE.test(s)) {
    const t = Number(s);
    const sec = Math.trunc(t);
    const ms = sec * 1000 + goRound((t - sec) * 1000);
    return Number.isSafeInteger(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS ? ms : undefined;
  }
  if (s === MIN_TIME_FORMATTED) return MIN_TIME_MS;
  if (s === MAX_TIME_FORMATTED) return MAX_TIME_MS;
  const m = RFC3339_RE.exec(s);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, sec, 0);
  // Out-of-range fields (Feb 30, 24:00, :60) roll over in JS; Go rejects them.
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d)
    return undefined;
  if (h > 23 || mi > 59 || sec > 59) return undefined;
  let ms = date.getTime() + Math.floor(Number((m[7] ?? "").padEnd(9, "0").slice(0, 9)) / 1e6);
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    ms -= (m[8] === "-" ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  return Number.isFinite(ms) ? ms : undefined;
}

/** Prometheus's API `parseDuration`: float seconds or a duration like `15s`; ms (may be fractional). */
export function parseDurationMs(s: string): number {
  if (DECIMAL_RE.test(s)) {
    const ns = Number(s) * 1e9;
    if (ns > 2 ** 63 || ns < -(2 ** 63)) {
      throw new Error(`cannot parse ${JSON.stringify(s)} to a valid duration. It overflows int64`);
    }
    return Math.trunc(ns) / 1e6;
  }
  try {
    return parseDuration(s);
  } catch {
    throw new Error(`cannot parse ${JSON.stringify(s)} to a valid duration`);
  }
}

/** model.Duration's String(): `15d`, `1h30m`, `0s` (years and weeks only when exact). */
export function formatDurationMs(total: number): string {
  let ms = Math.trunc(total);
  if (ms === 0) return "0s";
  let out = "";
  const units: [string, number, boolean][] = [
    ["y", 365 * 86_400_000, true],
    ["w", 7 * 86_400_000, true],
    ["d", 86_400_000, false],
    ["h", 3_600_000, false],
    ["m", 60_000, false],
    ["s", 1000, false],
    ["ms", 1, false],
  ];
  for (const [unit, mult, exact] of units) {
    if (exact && ms % mult !== 0) continue;
    const v = Math.floor(ms / mult);
    if (v > 0) {
      out += `${v}${unit}`;
      ms -= v * mult;
    }
  }
  return out;
}

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

/** Parses `query`; Prometheus answers an empty one with "no expression found in input". */
function parseQuery(query: string): Expr {
  if (query.trim() === "") {
    throw new PromQLParseError("no expression found in input", { start: 0, end: 0 }, query);
  }
  return parseExpr(query);
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

/** Form values: the body's first (as Go's r.FormValue), then the URL's. */
function formParams(req: FastifyRequest): URLSearchParams {
  const q = req.url.indexOf("?");
  const url = new URLSearchParams(q >= 0 ? req.url.slice(q + 1) : "");
  if (!(req.body instanceof URLSearchParams)) return url;
  const merged = new URLSearchParams(req.body);
  for (const [k, v] of url) merged.append(k, v);
  return merged;
}

function timeParam(p: URLSearchParams, name: string, dflt: number): number {
  const raw = p.get(name);
  if (raw === null || raw === "") return dflt;
  const t = parseTimeMs(raw);
  if (t === undefined) {
    throw invalidParam(
      name,
      `Invalid time value for '${name}': cannot parse ${JSON.stringify(raw)} to a valid timestamp`,
    );
  }
  return t;
}

function requiredTime(p: URLSearchParams, name: string): number {
  const raw = p.get(name) ?? "";
  const t = parseTimeMs(raw);
  if (t === undefined) throw invalidParam(name, `cannot parse ${JSON.stringify(raw)} to a valid timestamp`);
  return t;
}

function durationParam(p: URLSearchParams, name: string): number {
  try {
    return parseDurationMs(p.get(name) ?? "");
  } catch (err) {
    throw invalidParam(name, (err as Error).message);
  }
}

/**
 * The /monitoring/api/v1 routes: query, query_range, series, labels, label/:name/values,
 * query_exemplars (always empty), rules and alerts (from `rules`, else empty), status/buildinfo and
 * status/runtimeinfo. GET and form-encoded POST. Known differences from Prometheus 2.42:
 * - `timeout` (and queryTimeoutMs) is checked after evaluation: the engine is synchronous and cannot
 *   be interrupted, so an over-long query still runs to the end, then answers 503 `timeout`.
 * - /label/:name/values also accepts POST (Prometheus: 405).
 * - A step below 1 ms is refused as a zero step (Prometheus fails with a division by zero).
 * - match[] that is not a bare selector (`up + 1`) gets a generic parse message.
 * - series/labels/label values with start/end keep series with any sample (a staleness marker counts)
 *   in [start, end]; Prometheus's head block answers at chunk granularity (more series, never fewer).
 */
export async function promApiRoutes(app: FastifyInstance, opts: PromApiOptions): Promise<void> {
  const { store } = opts;
  const prefix = opts.prefix ?? "/monitoring/api/v1";
  const now = opts.now ?? Date.now;
  const clock = opts.clock ?? (() => performance.now());
  const startedAt = opts.startedAt ?? now();
  const engine = opts.lookbackMs === undefined ? {} : { lookbackDeltaMs: opts.lookbackMs };
  const maxTimeoutMs = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;

  app.addHook("onRequest", monitoringAuth(opts.token, new Set()));
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) =>
    done(null, new URLSearchParams(body as string)),
  );

  const send = (reply: FastifyReply, code: number, body: string) => {
    reply
      .code(code)
      .type("application/json")
      .header("cache-control", "no-store")
      .send(opts.scrub ? opts.scrub(body) : body);
  };
  const fail = (req: FastifyRequest, reply: FastifyReply, err: unknown) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (err instanceof PromQLEvalError) e = new ApiError("execution", err.message);
    else {
      req.log.error({ err }, "query API: unexpected error");
      e = new ApiError("internal", err instanceof Error ? err.message : String(err));
    }
    send(
      reply,
      STATUS[e.type],
      `{"status":"error","errorType":"${e.type}","error":${JSON.stringify(e.message)}}`,
    );
  };
  /** One route for GET and POST; `handle` returns the `data` as JSON text, or throws ApiError. */
  const route = (
    path: string,
    methods: ("GET" | "POST")[],
    handle: (p: URLSearchParams, req: FastifyRequest) => string | Promise<string>,
  ) => {
    app.route({
      method: methods,
      url: `${prefix}${path}`,
      handler: async (req, reply) => {
        try {
          const data = await handle(formParams(req), req);
          send(reply, 200, `{"status":"success","data":${data}}`);
        } catch (err) {
          fail(req, reply, err);
        }
        return reply;
      },
    });
  };

  /** The evaluation deadline from `timeout` (bounded by queryTimeoutMs); checked after evaluating. */
  const deadline = (p: URLSearchParams) => {
    let timeoutMs = maxTimeoutMs;
    if ((p.get("timeout") ?? "") !== "") timeoutMs = Math.min(timeoutMs, durationParam(p, "timeout"));
    const begin = clock();
    return () => {
      if (clock() - begin > timeoutMs)
        throw new ApiError("timeout", "query timed out in expression evaluation");
    };
  };

  const parseQueryParam = (p: URLSearchParams): Expr => {
    try {
      return parseQuery(p.get("query") ?? "");
    } catch (err) {
      if (err instanceof PromQLParseError) throw invalidParam("query", err.message);
      throw err;
    }
  };

  route("/query", ["GET", "POST"], (p) => {
    const timeMs = timeParam(p, "time", now());
    const check = deadline(p);
    const expr = parseQueryParam(p);
    const v = evaluateInstant(expr, timeMs, store, engine);
    check();
    return renderQueryData(v, timeMs);
  });

  route("/query_range", ["GET", "POST"], (p) => {
    const startMs = requiredTime(p, "start");
    const endMs = requiredTime(p, "end");
    if (endMs < startMs) throw invalidParam("end", "end timestamp must not be before start time");
    const stepMs = durationParam(p, "step");
    // The engine steps in whole ms: a sub-ms step would never advance.
    if (!(stepMs > 0) || Math.trunc(stepMs) < 1) {
      throw invalidParam(
        "step",
        "zero or negative query resolution step widths are not accepted. Try a positive integer",
      );
    }
    if (Math.floor((endMs - startMs) / stepMs) > MAX_POINTS) {
      throw badData(
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
      );
    }
    const check = deadline(p);
    const expr = parseQueryParam(p);
    const t = exprType(expr);
    if (t !== "scalar" && t !== "vector") {
      throw badData(
        `invalid expression type ${JSON.stringify(DOCUMENTED_TYPE[t])} for range query, must be Scalar or instant Vector`,
      );
    }
    const v = evaluateRange(expr, startMs, endMs, Math.trunc(stepMs), store, engine);
    check();
    return renderQueryData(v, endMs);
  });

  /** Label sets of series matching any of the sets, with a sample in [start, end]; sorted, unique. */
  const seriesIn = (sets: CompiledMatcher[][], startMs: number, endMs: number): Labels[] => {
    const seen = new Map<string, Labels>();
    for (const set of sets.length > 0 ? sets : [[]]) {
      for (const s of store.select(set, startMs, endMs)) seen.set(labelsKey(s.labels), s.labels);
    }
    return [...seen.values()].sort(compareLabels);
  };
  const unbounded = (p: URLSearchParams) => !p.get("start") && !p.get("end");

  route("/series", ["GET", "POST"], (p) => {
    const match = p.getAll("match[]");
    if (match.length === 0) throw badData("no match[] parameter provided");
    const startMs = timeParam(p, "start", MIN_TIME_MS);
    const endMs = timeParam(p, "end", MAX_TIME_MS);
    const sets = parseMatchSets(match, true);
    let series: Labels[];
    if (unbounded(p)) {
      const seen = new Map<string, Labels>();
      for (const set of sets) for (const l of store.series(set)) seen.set(labelsKey(l), l);
      series = [...seen.values()];
    } else {
      series = seriesIn(sets, startMs, endMs);
    }
    series.sort(compareLabels);
    return `[${series.map(metric).join(",")}]`;
  });

  route("/labels", ["GET", "POST"], (p) => {
    const startMs = timeParam(p, "start", MIN_TIME_MS);
    const endMs = timeParam(p, "end", MAX_TIME_MS);
    const sets = parseMatchSets(p.getAll("match[]"), false);
    if (sets.length === 0 && unbounded(p)) return JSON.stringify(store.labelNames());
    const names = new Set<string>();
    for (const labels of seriesIn(sets, startMs, endMs)) for (const l of labels) names.add(l.name);
    return JSON.stringify([...names].sort());
  });

  route("/label/:name/values", ["GET", "POST"], (p, req) => {
    const { name } = req.params as { name: string };
    if (!LABEL_NAME_RE.test(name)) throw badData(`invalid label name: ${JSON.stringify(name)}`);
    const startMs = timeParam(p, "start", MIN_TIME_MS);
    const endMs = timeParam(p, "end", MAX_TIME_MS);
    const sets = parseMatchSets(p.getAll("match[]"), false);
    if (sets.length === 0 && unbounded(p)) return JSON.stringify(store.labelValues(name));
    const values = new Set<string>();
    for (const labels of seriesIn(sets, startMs, endMs)) {
      for (const l of labels) if (l.name === name) values.add(l.value);
    }
    return JSON.stringify([...values].sort());
  });

  route("/query_exemplars", ["GET", "POST"], (p) => {
    timeParam(p, "start", MIN_TIME_MS);
    timeParam(p, "end", MAX_TIME_MS);
    try {
      parseQuery(p.get("query") ?? "");
    } catch (err) {
      if (err instanceof PromQLParseError) throw badData(err.message);
      throw err;
    }
    return "[]"; // the store keeps no exemplars
  });

  route("/rules", ["GET"], async (p) => {
    const type = (p.get("type") ?? "").toLowerCase();
    if (type !== "" && type !== "alert" && type !== "record") {
      throw invalidParam("type", `not supported value ${JSON.stringify(type)}`);
    }
    if (!opts.rules) return `{"groups":[]}`;
    return JSON.stringify(await opts.rules.rules(type === "" ? {} : { type }));
  });

  route("/alerts", ["GET"], async () => {
    if (!opts.rules) return `{"alerts":[]}`;
    return JSON.stringify(await opts.rules.alerts());
  });

  route("/status/buildinfo", ["GET"], () =>
    JSON.stringify({
      version: PROMETHEUS_API_VERSION,
      revision: opts.appVersion ?? "unknown",
      branch: "tug-embedded",
      buildUser: "tug",
      buildDate: "",
      goVersion: `node${process.versions.node}`,
    }),
  );

  route("/status/runtimeinfo", ["GET"], () =>
    JSON.stringify({
      startTime: new Date(startedAt).toISOString(),
      CWD: process.cwd(),
      reloadConfigSuccess: true,
      lastConfigTime: new Date(startedAt).toISOString(),
      corruptionCount: 0,
      goroutineCount: 0,
      GOMAXPROCS: availableParallelism(),
      GOGC: "",
      GODEBUG: "",
      storageRetention: formatDurationMs(store.retentionMs),
    }),
  );

  // Prometheus's /federate: the latest sample of every matching series, with its timestamp,
  // so a real Prometheus can pull the embedded store (honor_labels, honor_timestamps).
  // Alerts link to `<external URL>/graph?g0.expr=…` as Prometheus's do; until the built-in
  // dashboard serves a graph page, the link answers with the expression's current value.
  app.get<{ Querystring: Record<string, string | undefined> }>("/monitoring/graph", async (req, reply) => {
    const expr = req.query["g0.expr"];
    if (!expr) return reply.redirect(`${prefix}/rules`);
    return reply.redirect(`${prefix}/query?query=${encodeURIComponent(expr)}`);
  });

  app.get("/monitoring/federate", async (req, reply) => {
    try {
      const p = formParams(req);
      const sets = parseMatchSets(p.getAll("match[]"), false);
      const t = now();
      const lookback = opts.lookbackMs ?? 300_000;
      // Our extension: `history=<duration>` also sends the earlier samples of that window, so a
      // scraper that missed a scrape (a timeout under load) still receives every sample;
      // Prometheus ignores the ones it already holds.
      const historyMs = p.get("history") ? parseDurationMs(p.get("history") as string) : 0;
      const byName = new Map<string, string[]>();
      const seen = new Set<string>();
      for (const set of sets) {
        for (const series of store.select(set, t - Math.max(lookback, historyMs), t)) {
          const key = labelsKey(series.labels);
          if (seen.has(key)) continue;
          seen.add(key);
          const last = series.values.length - 1;
          if (last < 0 || isStaleMarker(series.values[last] as number)) continue;
          const name = series.labels.find((l) => l.name === "__name__")?.value ?? "";
          const rest = series.labels
            .filter((l) => l.name !== "__name__")
            .map(
              (l) =>
                `${l.name}="${l.value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`,
            );
          const head = `${name}${rest.length ? `{${rest.join(",")}}` : ""}`;
          let first = last;
          while (
            first > 0 &&
            (series.timestamps[first - 1] as number) > t - historyMs &&
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
      reply.type("text/plain; version=0.0.4; charset=utf-8").header("cache-control", "no-store");
      return opts.scrub ? opts.scrub(text) : text;
    } catch (err) {
      return fail(req, reply, err);
    }
  });
}
