// Public surface of the log analysis capability, and its composition for the app: the analyzer
// behind the log tap, one anomaly detector per series, the metrics they export, the per-minute
// figures queried from the embedded engine, and a JSON snapshot that survives restarts.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Counter, Gauge, type Registry } from "prom-client";
import { systemClock, systemTimers, type TimerHandle, type Timers } from "../../core/clock.js";
import type { Engine } from "../../engine/protocol.js";
import type { MinerSnapshot } from "../patterns/index.js";
import { LogAnalyzer, type MetricMinute, type RouteMinute } from "./analyzer.js";
import { AnomalyRegistry, type AnomalyRegistryState } from "./anomaly.js";

export {
  type AnomalyPoint,
  LogAnalyzer,
  type MetricMinute,
  type RouteMinute,
  type TemplateStats,
} from "./analyzer.js";
export { ANOMALY_THRESHOLD, AnomalyDetector, AnomalyRegistry } from "./anomaly.js";
export { type ErrorGroup, ErrorTracker, topFrame } from "./errors.js";
export { SlowQueries, sqlPattern } from "./slowqueries.js";
export { RouteTrends, slopePerHour } from "./trends.js";

export interface LogAnalysis {
  analyzer: LogAnalyzer;
  detectors: AnomalyRegistry;
  /** The engine the per-minute metric figures are queried from (set once it exists). */
  useEngine(engine: Pick<Engine, "run">): void;
  start(): void;
  /** Stops the timers and writes the snapshot. */
  stop(): void;
  save(): void;
}

interface Snapshot {
  version: 1;
  analyzer: ReturnType<LogAnalyzer["toJSON"]>;
  detectors: AnomalyRegistryState;
}

/** Time allowed to each per-minute query (they queue behind the API's queries in the engine). */
const MINUTE_QUERY_TIMEOUT_MS = 10_000;

/** The PromQL expressions of the per-minute figures (exported for tests that stand in for the engine). */
export const QUERIES = {
  requestsPerSecond: "sum(rate(http_requests_total[1m]))",
  // `or vector(0)`: a minute with traffic and no 5xx is a ratio of 0, not a missing point (an app
  // that never failed would otherwise have no error-ratio series to learn until its first 5xx).
  errorRatio:
    '(sum(rate(http_requests_total{status_code=~"5.."}[1m])) or vector(0)) / sum(rate(http_requests_total[1m]))',
  p95LatencySeconds: "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))",
  routeRequests: "sum by (route) (increase(http_requests_total[1m]))",
  routeErrors: 'sum by (route) (increase(http_requests_total{status_code=~"5.."}[1m]))',
  routeMean:
    "sum by (route) (rate(http_request_duration_seconds_sum[1m])) / sum by (route) (rate(http_request_duration_seconds_count[1m]))",
  routeP95: "histogram_quantile(0.95, sum by (route, le) (rate(http_request_duration_seconds_bucket[1m])))",
} as const;

type Figures = {
  -readonly [K in keyof typeof QUERIES]?: Array<{ labels: Record<string, string>; value: number }>;
};

function labelOf(labels: unknown, name: string): string | undefined {
  if (labels instanceof Map) return labels.get(name);
  if (Array.isArray(labels))
    return (labels as Array<{ name: string; value: string }>).find((l) => l.name === name)?.value;
  return (labels as Record<string, string>)[name];
}

/** The app's log analysis: created before the logger (it is the logger's tap). */
export function createLogAnalysis(opts: {
  registry: Registry;
  stateFile: string;
  maxTemplates: number;
  /** Wall clock, ms since the epoch. Default the system clock. */
  now?: () => number;
  /** The 5 s analysis tick. Default the system timers. */
  timers?: Timers;
  onError?: (err: unknown) => void;
}): LogAnalysis {
  const now = opts.now ?? systemClock.now;
  const timers = opts.timers ?? systemTimers;
  let snapshot: Snapshot | undefined;
  try {
    snapshot = JSON.parse(readFileSync(opts.stateFile, "utf8")) as Snapshot;
    if (snapshot?.version !== 1) snapshot = undefined;
  } catch {
    snapshot = undefined; // first start, or an unreadable snapshot: start fresh
  }
  const anomaliesTotal = new Counter({
    name: "log_anomalies_total",
    help: "Points scored anomalous (score ≥ 0.5) by the streaming detectors, by series",
    labelNames: ["series"],
    registers: [opts.registry],
  });
  const detectorOpts = { maxSeries: 256, maxAnomalies: 500, now };
  let detectors: AnomalyRegistry;
  try {
    detectors = snapshot
      ? AnomalyRegistry.fromJSON(snapshot.detectors, detectorOpts)
      : new AnomalyRegistry(detectorOpts);
  } catch {
    detectors = new AnomalyRegistry(detectorOpts);
  }
  let engine: Pick<Engine, "run"> | undefined;
  // The engine answers asynchronously and the analyzer reads its figures synchronously when a
  // minute closes: the figures are fetched first (see tickOnce) and read from here.
  let figures: Figures = {};
  const fetchFigures = async (e: Pick<Engine, "run">): Promise<Figures> => {
    const at = now();
    const out: Figures = {};
    // One at a time: they take one place in the engine's bounded queue, not seven.
    for (const k of Object.keys(QUERIES) as Array<keyof typeof QUERIES>) {
      try {
        out[k] = await e.run(
          { op: "samples", query: QUERIES[k], timeMs: at },
          { timeoutMs: MINUTE_QUERY_TIMEOUT_MS },
        );
      } catch (err) {
        opts.onError?.(err); // this minute goes without the figure
      }
    }
    return out;
  };
  const metricMinute = (): MetricMinute => ({
    requestsPerSecond: figures.requestsPerSecond?.[0]?.value,
    errorRatio: figures.errorRatio?.[0]?.value,
    p95LatencySeconds: figures.p95LatencySeconds?.[0]?.value,
  });
  const routeMinutes = (): RouteMinute[] => {
    const byRoute = (samples: Figures[keyof Figures]) => {
      const m = new Map<string, number>();
      for (const x of samples ?? []) {
        const r = labelOf(x.labels, "route");
        if (r !== undefined) m.set(r, x.value);
      }
      return m;
    };
    const requests = byRoute(figures.routeRequests);
    const errors = byRoute(figures.routeErrors);
    const mean = byRoute(figures.routeMean);
    const p95 = byRoute(figures.routeP95);
    return [...requests].map(([route, n]) => ({
      route,
      requests: n,
      errors: errors.get(route) ?? 0,
      meanLatency: mean.get(route) ?? Number.NaN,
      p95Latency: p95.get(route) ?? Number.NaN,
    }));
  };
  const analyzer = new LogAnalyzer({
    anomalies: { score: (series, value, atMs) => detectors.observe(series, value, atMs) },
    ...(snapshot?.analyzer.miner ? { minerSnapshot: snapshot.analyzer.miner as MinerSnapshot } : {}),
    maxSignatures: opts.maxTemplates,
    now,
    metricMinute,
    routeMinutes,
    onAnomaly: (a) => anomaliesTotal.inc({ series: a.series }),
  });
  if (snapshot) analyzer.restore(snapshot.analyzer);
  analyzer.trends.markDeployment(now());

  new Gauge({
    name: "anomaly_score",
    help: "Latest anomaly score (0-1; anomalous at ≥ 0.5) of each analysed series: log levels, busiest log templates, request rate, error ratio, p95 latency",
    labelNames: ["series"],
    registers: [opts.registry],
    collect() {
      this.reset();
      for (const s of detectors.scores()) this.set({ series: s.series }, s.score);
    },
  });
  new Gauge({
    name: "anomaly_learning_points",
    help: "Points (minutes) each analysed series still needs before it is scored; its anomaly_score is 0 until then because it is new, not because it is normal",
    labelNames: ["series"],
    registers: [opts.registry],
    collect() {
      this.reset();
      for (const s of detectors.scores()) this.set({ series: s.series }, s.pointsToLearn);
    },
  });
  const seenLevels: Record<string, number> = {};
  new Counter({
    name: "log_lines_total",
    help: "Log lines written by the app, by level",
    labelNames: ["level"],
    registers: [opts.registry],
    collect() {
      for (const [level, n] of Object.entries(analyzer.counts().levels)) {
        const d = n - (seenLevels[level] ?? 0);
        if (d > 0) this.inc({ level }, d);
        seenLevels[level] = n;
      }
    },
  });
  new Gauge({
    name: "log_templates",
    help: "Distinct message templates seen in the app's logs",
    registers: [opts.registry],
    collect() {
      this.set(analyzer.counts().templates);
    },
  });
  new Gauge({
    name: "log_error_groups",
    help: "Error groups (template, error type, top stack frame) in the app's logs, by status",
    labelNames: ["status"],
    registers: [opts.registry],
    collect() {
      this.reset();
      for (const st of ["new", "regressed", "ongoing"] as const) this.set({ status: st }, 0);
      for (const g of analyzer.errorGroups()) this.inc({ status: g.status });
    },
  });

  let timer: TimerHandle | undefined;
  let lastSavedMinute = Math.floor(now() / 60_000);
  let fetchedMinute = Math.floor(now() / 60_000);
  let ticking = false;
  const save = () => {
    try {
      const data: Snapshot = { version: 1, analyzer: analyzer.toJSON(), detectors: detectors.toJSON() };
      mkdirSync(dirname(opts.stateFile), { recursive: true });
      const tmp = `${opts.stateFile}.tmp`;
      writeFileSync(tmp, JSON.stringify(data));
      renameSync(tmp, opts.stateFile);
    } catch (err) {
      opts.onError?.(err);
    }
  };
  /** One tick; when a minute has closed, its metric figures are fetched from the engine first. */
  const tickOnce = async () => {
    if (ticking) return; // a slow engine must not pile ticks up
    ticking = true;
    try {
      const minute = Math.floor(now() / 60_000);
      if (minute !== fetchedMinute) {
        fetchedMinute = minute;
        figures = engine ? await fetchFigures(engine) : {};
      }
      analyzer.tick();
      if (minute !== lastSavedMinute) {
        lastSavedMinute = minute;
        save();
      }
    } catch (err) {
      opts.onError?.(err);
    } finally {
      ticking = false;
    }
  };
  return {
    analyzer,
    detectors,
    useEngine(e) {
      engine = e;
    },
    start() {
      timer = timers.setInterval(() => void tickOnce(), 5_000).unref();
    },
    stop() {
      if (timer) timers.clearInterval(timer);
      timer = undefined;
      analyzer.drain();
      save();
    },
    save,
  };
}
