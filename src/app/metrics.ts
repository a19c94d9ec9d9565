// Metrics: the prom-client registry and its collectors (monitoring on), the system sampler, the
// status summary's windows and the default metrics' bindings; and the liveness monitor (always).

import { dirname, resolve } from "node:path";
import { LivenessMonitor } from "../health/index.js";
import { bindDefaultMetrics } from "../metrics/defaults.js";
import { createMetrics, MetricsSummary } from "../metrics/index.js";
import { type AppCapability, need } from "./context.js";

export const liveness: AppCapability = {
  name: "liveness",
  build(ctx) {
    const l = new LivenessMonitor(ctx.config.health.livenessMaxBlockMs);
    ctx.liveness = l;
    return [{ name: "liveness", start: () => l.start(), stop: () => l.stop() }];
  },
};

export const metrics: AppCapability = {
  name: "metrics",
  build(ctx) {
    if (!ctx.monitoring) return [];
    const { config } = ctx;
    const dataPath = config.database.url.startsWith("sqlite:") ? config.database.url.slice(7) : ".";
    const m = createMetrics({
      maxSeriesPerMetric: config.metrics.maxSeriesPerMetric,
      httpDurationBuckets: config.metrics.httpDurationBuckets,
      dbDurationBuckets: config.metrics.dbDurationBuckets,
      defaultMetrics: config.metrics.defaultMetrics,
      systemPaths: [
        dataPath === ":memory:" ? "." : dirname(resolve(dataPath)),
        dirname(resolve(config.log.filePath)),
        ...config.metrics.diskPaths,
      ],
      systemSampleIntervalMs: config.metrics.systemSampleIntervalMs,
      logger: need(ctx, "logger", "metrics"),
      now: ctx.now,
    });
    const summary = new MetricsSummary({
      registry: m.registry,
      system: m.system,
      users: m.users,
      windowSeconds: config.metrics.summaryWindowSeconds,
      now: ctx.now,
    });
    ctx.metrics = m;
    ctx.summary = summary;
    return [
      { name: "system metrics", start: () => m.system.start(), stop: () => m.system.stop() },
      { name: "metrics summary", start: () => summary.start(), stop: () => summary.stop() },
      { name: "default metrics", start: () => bindDefaultMetrics(m) },
    ];
  },
};
