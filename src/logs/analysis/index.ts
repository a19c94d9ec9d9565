// Public surface of the log analysis capability, and its composition for the app: the analyzer
// behind the log tap, one anomaly detector per series, the metrics they export, the per-minute
// figures read from the embedded store, and a JSON snapshot that survives restarts.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Counter, Gauge, type Registry } from "prom-client";
import { evaluateInstant } from "../../promql/index.js";
import type { SeriesStore } from "../../tsdb/index.js";
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
  /** The store the per-minute metric figures come from (set once it exists). */
  useStore(store: SeriesStore): void;
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

function instant(
  store: SeriesStore,
  expr: string,
  at: number,
): Array<{ labels: Map<string, string> | Record<string, string>; value: number }> {
  const v = evaluateInstant(expr, at, store);
  if (v.type === "vector") return v.samples as never;
  if (v.type === "scalar") return [{ labels: {}, value: v.value }];
  return [];
}

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
  now?: () => number;
  onError?: (err: unknown) => void;
}): LogAnalysis {
  const now = opts.now ?? Date.now;
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
  let store: SeriesStore | undefined;
  const metricMinute = (): MetricMinute => {
    if (!store) return {};
    const at = now();
    const one = (expr: string) => instant(store as SeriesStore, expr, at)[0]?.value;
    return {
      requestsPerSecond: one("sum(rate(http_requests_total[1m]))"),
      errorRatio: one(
        'sum(rate(http_requests_total{status_code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))',
      ),
      p95LatencySeconds: one(
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))",
      ),
    };
  };
  const routeMinutes = (): RouteMinute[] => {
    if (!store) return [];
    const at = now();
    const s = store;
    const byRoute = (expr: string) => {
      const m = new Map<string, number>();
      for (const x of instant(s, expr, at)) {
        const r = labelOf(x.labels, "route");
        if (r !== undefined) m.set(r, x.value);
      }
      return m;
    };
    const requests = byRoute("sum by (route) (increase(http_requests_total[1m]))");
    const errors = byRoute('sum by (route) (increase(http_requests_total{status_code=~"5.."}[1m]))');
    const mean = byRoute(
      "sum by (route) (rate(http_request_duration_seconds_sum[1m])) / sum by (route) (rate(http_request_duration_seconds_count[1m]))",
    );
    const p95 = byRoute(
      "histogram_quantile(0.95, sum by (route, le) (rate(http_request_duration_seconds_bucket[1m])))",
    );
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

  let timer: NodeJS.Timeout | undefined;
  let lastSavedMinute = Math.floor(now() / 60_000);
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
  return {
    analyzer,
    detectors,
    useStore(s) {
      store = s;
    },
    start() {
      timer = setInterval(() => {
        try {
          analyzer.tick();
          const minute = Math.floor(now() / 60_000);
          if (minute !== lastSavedMinute) {
            lastSavedMinute = minute;
            save();
          }
        } catch (err) {
          opts.onError?.(err);
        }
      }, 5_000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      analyzer.drain();
      save();
    },
    save,
  };
}
