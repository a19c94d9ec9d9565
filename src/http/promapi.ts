// Prometheus 2.42's HTTP query API (`web/api/v1/api.go`) over the embedded engine, so Grafana can use the
// app itself as a Prometheus data source in embedded mode. Response shapes, error types, status codes
// and error messages follow Prometheus; the known differences are listed in the plugin's doc comment.
// This is the HTTP side only (parameters, limits on them, the envelope): queries are parsed, evaluated
// and rendered by the engine (src/engine/, a worker thread), which this awaits with the request's
// deadline and abandons when the client goes away.

import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  ENGINE_ERROR_STATUS,
  type Engine,
  EngineError,
  type OpName,
  type RequestOf,
  type ResultOf,
} from "../engine/protocol.js";
import { parseDuration } from "../promql/index.js";
import { monitoringAuth } from "./auth.js";
import { parseForm } from "./form.js";

export { formatTimestamp, renderQueryData } from "../engine/queries.js";

/** What the rule engine offers the API; each method returns the response's `data` object. */
export interface RulesProvider {
  /**
   * `{ groups: [...] }` as Prometheus's /api/v1/rules (or the complete body as bytes); `type` is
   * the validated filter, if any.
   */
  rules(query: { type?: "alert" | "record" }): unknown;
  /** `{ alerts: [...] }` as Prometheus's /api/v1/alerts (or the complete body as bytes). */
  alerts(): unknown;
}

/**
 * A provider (or the engine) may answer with the complete response body as bytes — rendered,
 * scrubbed and encoded in the engine's thread — which is sent as it is.
 */
export type ResponseBody = Uint8Array;

export interface PromApiOptions {
  /** The engine queries run in (a worker, or in process); only `run` and `retentionMs` are used. */
  engine: Pick<Engine, "run" | "retentionMs">;
  /** Wall clock in ms: the default `time` of instant queries. Default Date.now. */
  now?: () => number;
  /** How far back an instant selector looks. Default 5 m (the engine's default). */
  lookbackMs?: number;
  /** Bearer token required on every route (MONITORING_TOKEN); undefined leaves the API open. */
  token?: string;
  /** Serves /rules and /alerts; without one they answer empty lists. */
  rules?: RulesProvider;
  /** Applied to every response body rendered here (the engine scrubs its own with its `secrets`). */
  scrub?: (text: string) => string;
  /** Upper bound on a query's time, queue included, like Prometheus's --query.timeout. Default 2 m. */
  queryTimeoutMs?: number;
  /** A range query with more steps than this is refused, as Prometheus does at 11,000. Default 11,000. */
  maxPointsPerSeries?: number;
  /** For /status/runtimeinfo. Default: when the plugin was registered. */
  startedAt?: number;
  /** Reported as `revision` by /status/buildinfo. */
  appVersion?: string;
  /**
   * Monotonic ms measuring a query's time from its arrival (tests inject one): an answer that
   * arrives after the deadline is refused with 503 timeout too. Default performance.now.
   */
  clock?: () => number;
  /** Where the API lives. Default /monitoring/api/v1. */
  prefix?: string;
  /** The embedded scrape target (the app's own registry) for /targets; none before it listens. */
  target?: () => EmbeddedTarget | undefined;
}

/** What /targets says of the one target the embedded store samples: the app itself. */
export interface EmbeddedTarget {
  job: string;
  instance: string;
  /** Where Prometheus would scrape the same metrics. */
  scrapeUrl: string;
  intervalMs: number;
  /** The last scrape: when, how long its main-thread part took, whether the registry was read. */
  lastScrapeAtMs: number | undefined;
  lastScrapeDurationMs: number;
  lastScrapeOk: boolean | undefined;
}

/** The Prometheus version whose API (and PromQL) this mirrors; Grafana reads it from buildinfo. */
export const PROMETHEUS_API_VERSION = "2.42.0";

// The engine's error types and their statuses (one table, src/engine/protocol.ts), and the API's own.
const STATUS = { ...ENGINE_ERROR_STATUS, not_found: 404 } as const;
type ErrorType = keyof typeof STATUS;

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
const DEFAULT_LOOKBACK_MS = 300_000;
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
 * status/runtimeinfo. GET and form-encoded POST. Every query runs in the engine with a deadline of
 * min(`timeout`, queryTimeoutMs) counted from the request's arrival (queue time included, as in
 * Prometheus), is cancelled at that deadline (503 timeout) or when the client disconnects, and is
 * refused with 503 unavailable when the engine's queue is full. Known differences from Prometheus 2.42:
 * - /label/:name/values also accepts POST (Prometheus: 405).
 * - A step below 1 ms is refused as a zero step (Prometheus fails with a division by zero).
 * - match[] that is not a bare selector (`up + 1`) gets a generic parse message.
 * - series/labels/label values with start/end keep series with any sample (a staleness marker counts)
 *   in [start, end]; Prometheus's head block answers at chunk granularity (more series, never fewer).
 */
export async function promApiRoutes(app: FastifyInstance, opts: PromApiOptions): Promise<void> {
  const { engine } = opts;
  const prefix = opts.prefix ?? "/monitoring/api/v1";
  const now = opts.now ?? Date.now;
  const clock = opts.clock ?? (() => performance.now());
  const startedAt = opts.startedAt ?? now();
  const lookbackMs = opts.lookbackMs;
  const maxTimeoutMs = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const maxPoints = opts.maxPointsPerSeries ?? MAX_POINTS;

  app.addHook("onRequest", monitoringAuth(opts.token, new Set()));
  // parseForm, not URLSearchParams: 50-70 ms of the event loop for a 1 MB body (see form.ts).
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "buffer" }, (_req, body, done) =>
    done(null, parseForm(body as Buffer)),
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
    else if (err instanceof EngineError) {
      if (err.type === "internal") req.log.error({ err }, "query API: the engine failed");
      e = new ApiError(err.type, err.message);
    } else {
      req.log.error({ err }, "query API: unexpected error");
      e = new ApiError("internal", err instanceof Error ? err.message : String(err));
    }
    send(
      reply,
      STATUS[e.type],
      `{"status":"error","errorType":"${e.type}","error":${JSON.stringify(e.message)}}`,
    );
  };
  /** The engine's complete body, as it is (a view of the transferred bytes, no copy). */
  const sendBody = (reply: FastifyReply, body: ResponseBody, type = "application/json") => {
    reply
      .code(200)
      .type(type)
      .header("cache-control", "no-store")
      .send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  };
  /**
   * One route for GET and POST; `handle` returns the `data` as JSON text or the engine's complete
   * body, or throws ApiError.
   */
  const route = (
    path: string,
    methods: ("GET" | "POST")[],
    handle: (
      p: URLSearchParams,
      req: FastifyRequest,
      reply: FastifyReply,
    ) => string | ResponseBody | Promise<string | ResponseBody>,
  ) => {
    app.route({
      method: methods,
      url: `${prefix}${path}`,
      handler: async (req, reply) => {
        try {
          const data = await handle(formParams(req), req, reply);
          if (typeof data === "string") send(reply, 200, `{"status":"success","data":${data}}`);
          else sendBody(reply, data);
        } catch (err) {
          fail(req, reply, err);
        }
        return reply;
      },
    });
  };

  /**
   * The request's engine call: deadline min(`timeout`, queryTimeoutMs) from now (the handler's
   * start, which is the request's arrival for this API), cancelled when the client disconnects.
   */
  const runner = (p: URLSearchParams, reply: FastifyReply) => {
    let timeoutMs = maxTimeoutMs;
    if ((p.get("timeout") ?? "") !== "") timeoutMs = Math.min(timeoutMs, durationParam(p, "timeout"));
    const arrivedAt = performance.now();
    const begin = clock();
    return async <K extends OpName>(req: RequestOf<K>): Promise<ResultOf<K>> => {
      const abort = new AbortController();
      const res = reply.raw;
      // The response closes before it is written only when the client went away.
      const onClose = () => {
        if (!res.writableEnded) abort.abort();
      };
      res.once("close", onClose);
      try {
        const out = await engine.run(req, { timeoutMs, signal: abort.signal, arrivedAt });
        if (clock() - begin > timeoutMs)
          throw new ApiError("timeout", "query timed out in expression evaluation");
        return out;
      } finally {
        res.off("close", onClose);
      }
    };
  };

  route("/query", ["GET", "POST"], (p, _req, reply) => {
    const timeMs = timeParam(p, "time", now());
    const run = runner(p, reply);
    return run({
      op: "query",
      query: p.get("query") ?? "",
      timeMs,
      ...(lookbackMs === undefined ? {} : { lookbackMs }),
    });
  });

  route("/query_range", ["GET", "POST"], (p, _req, reply) => {
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
    if (Math.floor((endMs - startMs) / stepMs) > maxPoints) {
      throw badData(
        `exceeded maximum resolution of ${maxPoints.toLocaleString("en-US")} points per timeseries. Try decreasing the query resolution (?step=XX)`,
      );
    }
    const run = runner(p, reply);
    return run({
      op: "query_range",
      query: p.get("query") ?? "",
      startMs,
      endMs,
      stepMs: Math.trunc(stepMs),
      ...(lookbackMs === undefined ? {} : { lookbackMs }),
    });
  });

  const unbounded = (p: URLSearchParams) => !p.get("start") && !p.get("end");

  route("/series", ["GET", "POST"], (p, _req, reply) => {
    const match = p.getAll("match[]");
    if (match.length === 0) throw badData("no match[] parameter provided");
    const startMs = timeParam(p, "start", MIN_TIME_MS);
    const endMs = timeParam(p, "end", MAX_TIME_MS);
    return runner(p, reply)({ op: "series", match, startMs, endMs, unbounded: unbounded(p) });
  });

  route("/labels", ["GET", "POST"], (p, _req, reply) => {
    const startMs = timeParam(p, "start", MIN_TIME_MS);
    const endMs = timeParam(p, "end", MAX_TIME_MS);
    const match = p.getAll("match[]");
    return runner(p, reply)({ op: "labels", match, startMs, endMs, unbounded: unbounded(p) });
  });

  route("/label/:name/values", ["GET", "POST"], (p, req, reply) => {
    const { name } = req.params as { name: string };
    if (!LABEL_NAME_RE.test(name)) throw badData(`invalid label name: ${JSON.stringify(name)}`);
    const startMs = timeParam(p, "start", MIN_TIME_MS);
    const endMs = timeParam(p, "end", MAX_TIME_MS);
    const match = p.getAll("match[]");
    return runner(p, reply)({ op: "label_values", name, match, startMs, endMs, unbounded: unbounded(p) });
  });

  route("/query_exemplars", ["GET", "POST"], async (p, _req, reply) => {
    timeParam(p, "start", MIN_TIME_MS);
    timeParam(p, "end", MAX_TIME_MS);
    await runner(p, reply)({ op: "parse", query: p.get("query") ?? "" });
    return "[]"; // the store keeps no exemplars
  });

  const providerJson = (v: unknown) => (v instanceof Uint8Array ? v : JSON.stringify(v));

  route("/rules", ["GET"], async (p) => {
    const type = (p.get("type") ?? "").toLowerCase();
    if (type !== "" && type !== "alert" && type !== "record") {
      throw invalidParam("type", `not supported value ${JSON.stringify(type)}`);
    }
    if (!opts.rules) return `{"groups":[]}`;
    return providerJson(await opts.rules.rules(type === "" ? {} : { type }));
  });

  route("/alerts", ["GET"], async () => {
    if (!opts.rules) return `{"alerts":[]}`;
    return providerJson(await opts.rules.alerts());
  });

  // Prometheus's /targets for the one target the embedded store samples (the app's own registry),
  // so "is it being scraped?" has the same answer in both modes.
  route("/targets", ["GET"], (p) => {
    const state = p.get("state") ?? "any";
    if (!["any", "active", "dropped"].includes(state))
      throw invalidParam("state", `not supported value ${JSON.stringify(state)}`);
    const t = opts.target?.();
    const active =
      t && state !== "dropped"
        ? [
            {
              discoveredLabels: {
                __address__: t.instance,
                __metrics_path__: "/monitoring/metrics",
                __scheme__: "http",
                job: t.job,
              },
              labels: { instance: t.instance, job: t.job },
              scrapePool: t.job,
              scrapeUrl: t.scrapeUrl,
              globalUrl: t.scrapeUrl,
              lastError: t.lastScrapeOk === false ? "the registry could not be read" : "",
              lastScrape:
                t.lastScrapeAtMs === undefined
                  ? "0001-01-01T00:00:00Z"
                  : new Date(t.lastScrapeAtMs).toISOString(),
              lastScrapeDuration: t.lastScrapeDurationMs / 1000,
              health: t.lastScrapeOk === undefined ? "unknown" : t.lastScrapeOk ? "up" : "down",
              scrapeInterval: formatDurationMs(t.intervalMs),
              scrapeTimeout: formatDurationMs(t.intervalMs),
            },
          ]
        : [];
    return JSON.stringify({ activeTargets: active, droppedTargets: [] });
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
      storageRetention: formatDurationMs(engine.retentionMs),
    }),
  );

  // Alerts link to `<external URL>/graph?g0.expr=…` as Prometheus's do; until the built-in
  // dashboard serves a graph page, the link answers with the expression's current value.
  app.get<{ Querystring: Record<string, string | undefined> }>("/monitoring/graph", async (req, reply) => {
    const expr = req.query["g0.expr"];
    if (!expr) return reply.redirect(`${prefix}/rules`);
    return reply.redirect(`${prefix}/query?query=${encodeURIComponent(expr)}`);
  });

  // Prometheus's /federate: the latest sample of every matching series, with its timestamp,
  // so a real Prometheus can pull the embedded store (honor_labels, honor_timestamps).
  // Our extension: `history=<duration>` also sends the earlier samples of that window, so a
  // scraper that missed a scrape (a timeout under load) still receives every sample;
  // Prometheus ignores the ones it already holds.
  app.get("/monitoring/federate", async (req, reply) => {
    try {
      const p = formParams(req);
      const historyMs = p.get("history") ? parseDurationMs(p.get("history") as string) : 0;
      const text = await runner(
        p,
        reply,
      )({
        op: "federate",
        match: p.getAll("match[]"),
        timeMs: now(),
        lookbackMs: lookbackMs ?? DEFAULT_LOOKBACK_MS,
        historyMs,
      });
      sendBody(reply, text, "text/plain; version=0.0.4; charset=utf-8");
      return reply;
    } catch (err) {
      return fail(req, reply, err);
    }
  });
}
