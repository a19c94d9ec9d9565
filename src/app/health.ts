// Health: the checks (database, Redis, resources, event loop, configured targets) refreshed on
// their interval, and the monitoring endpoints that serve them with the metrics and the status
// summary (probes, /monitoring/*).

import type { Notifier } from "../alerts/notify/index.js";
import { redactConfig } from "../core/config/index.js";
import {
  databaseCheck,
  eventLoopCheck,
  HealthRunner,
  redisCheck,
  resourceChecks,
  targetCheck,
} from "../health/index.js";
import { debugInfo, monitoringRoutes } from "../http/monitoring.js";
import { createScrubber } from "../logs/redact.js";
import { sloStatus } from "../slo/index.js";
import { type AppCapability, need } from "./context.js";

export const health: AppCapability = {
  name: "health",
  build(ctx) {
    const { config, metrics } = ctx;
    if (!metrics) return [];
    const logger = need(ctx, "logger", "health");
    const db = need(ctx, "db", "health");
    const timeoutMs = config.health.timeoutMs;
    const runner = new HealthRunner({
      registry: metrics.registry,
      cacheTtlMs: config.health.cacheTtlMs,
      defaultTimeoutMs: timeoutMs,
      now: ctx.now,
      onError: (name, err) => logger.warn({ check: name, err }, "health check threw"),
    });
    runner.add(
      databaseCheck(() => db.query("SELECT 1"), db.dialect, {
        timeoutMs,
        warnMs: config.health.databaseWarnMs,
      }),
    );
    const redis = ctx.redis;
    if (redis) runner.add(redisCheck(() => redis.ping(), { timeoutMs, critical: true }));
    for (const spec of resourceChecks(metrics.system, {
      timeoutMs,
      memory: config.health.memory,
      cpu: config.health.cpu,
      disk: config.health.disk,
    })) {
      runner.add(spec);
    }
    const eventLoop = eventLoopCheck({ timeoutMs, ...config.health.eventLoop });
    runner.add(eventLoop);
    const targets = [...config.health.targets];
    const smtp = config.notifications.smtp;
    if (smtp.host && !targets.some((t) => t.name === "smtp")) {
      targets.push({ name: "smtp", url: `tcp://${smtp.host}:${smtp.port}`, critical: false });
    }
    for (const t of targets) runner.add(targetCheck(t, timeoutMs));
    ctx.health = runner;
    return [
      {
        name: "health",
        start: async () => {
          await runner.refresh();
          runner.start(config.health.intervalMs);
        },
        stop: () => {
          runner.stop();
          eventLoop.stop();
        },
      },
    ];
  },
};

/** Probes, metrics, status and debug endpoints under /health and /monitoring. */
export const monitoringEndpoints: AppCapability = {
  name: "monitoring endpoints",
  async build(ctx) {
    const { config, metrics, health: runner, summary } = ctx;
    if (!metrics || !runner || !summary) return [];
    const fastify = need(ctx, "fastify", "monitoring endpoints");
    const service = need(ctx, "service", "monitoring endpoints");
    const notifier: Notifier | undefined = ctx.notifier;
    const engine = ctx.engine;
    const debugEnabled = config.monitoring.debugInfo ?? config.environment !== "production";
    await fastify.register(monitoringRoutes, {
      metrics,
      summary,
      health: runner,
      liveness: need(ctx, "liveness", "monitoring endpoints"),
      token: config.monitoring.token,
      service,
      environment: config.environment,
      startedAt: ctx.startedAt,
      lifecycle: () => ctx.state.phase,
      scrub: createScrubber(need(ctx, "secrets", "monitoring endpoints")),
      debugInfo: debugEnabled ? debugInfo(redactConfig(config), service, ctx.startedAt) : undefined,
      alertSummary: notifier
        ? () => ({ pending: engine?.alerts().pending ?? 0, ...notifier.summary() })
        : undefined,
      // Built by a later capability (src/app/deployments.ts): read when the status is asked for.
      deployment: () => ctx.deployments?.monitor.status() ?? null,
      // monitoring/slo_rules.yml's tug_slo_* recordings, by one query in the engine worker
      slo: engine ? () => sloStatus(engine) : undefined,
      scrapeRendersPerSecond: config.metrics.scrapeRendersPerSecond,
    });
    return [];
  },
};
