import { Counter, collectDefaultMetrics, Registry } from "prom-client";
import type { Timers } from "../core/clock.js";
import { MetricsCollector } from "./custom.js";
import { DbMetrics } from "./db.js";
import type { GuardLogger } from "./guard.js";
import { HttpMetrics } from "./http.js";
import { SystemMetrics } from "./system.js";
import { UserActivityMonitor } from "./users.js";

export type { DefineOptions, MetricKind, MetricLabelValues } from "./custom.js";
export { MetricsCollector } from "./custom.js";
export { DbMetrics } from "./db.js";
export {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  renderOpenMetrics,
  wantsOpenMetrics,
} from "./exposition.js";
export { OVERFLOW_LABEL_VALUE } from "./guard.js";
export { HttpMetrics, UNMATCHED_ROUTE } from "./http.js";
export { bucketQuantile } from "./quantile.js";
export { ScrapeBudget, type ScrapeBudgetOptions } from "./scrape-budget.js";
export { MetricsSummary } from "./summary.js";
export { SystemMetrics } from "./system.js";
export { UserActivityMonitor } from "./users.js";

export interface MetricsOptions {
  registry?: Registry;
  maxSeriesPerMetric: number;
  httpDurationBuckets: number[];
  dbDurationBuckets: number[];
  defaultMetrics: boolean;
  systemPaths: string[];
  systemSampleIntervalMs: number;
  logger?: GuardLogger;
  now?: () => number;
  /** The system sampler's interval timer. Default the system timers. */
  timers?: Timers;
}

/** Every metric of one application instance, on one injected registry. */
export interface Metrics {
  registry: Registry;
  http: HttpMetrics;
  db: DbMetrics;
  system: SystemMetrics;
  users: UserActivityMonitor;
  custom: MetricsCollector;
  /** Scrapes of /monitoring/metrics by how they were answered (scrape-budget.ts). */
  scrapes: Counter<"render">;
}

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = opts.registry ?? new Registry();
  const overflow = new Counter({
    name: "metrics_cardinality_overflow_total",
    help: "Recordings folded into a metric's overflow series after it reached its series limit",
    labelNames: ["metric"],
    registers: [registry],
  });
  const scrapes = new Counter({
    name: "metrics_scrapes_total",
    help: "Scrapes of /monitoring/metrics: render=fresh rendered for the scrape, render=reused answered with the last render (at most 1 s old) past metrics.scrapeRendersPerSecond",
    labelNames: ["render"],
    registers: [registry],
  });
  for (const render of ["fresh", "reused"]) scrapes.inc({ render }, 0);
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const max = opts.maxSeriesPerMetric;
  return {
    registry,
    http: new HttpMetrics(registry, opts.httpDurationBuckets, max, overflow, opts.logger),
    db: new DbMetrics(registry, opts.dbDurationBuckets, max, overflow, opts.logger),
    system: new SystemMetrics(registry, opts.systemPaths, opts.systemSampleIntervalMs, opts.timers),
    users: new UserActivityMonitor(registry, max, overflow, opts.now, opts.logger),
    custom: new MetricsCollector(registry, max, overflow, opts.logger),
    scrapes,
  };
}
