// The built-in live dashboard (monitoring on; docs/dashboard.md): its browser code bundled at
// start-up, the live hub that evaluates each watched view once per refresh interval through the
// engine worker and pushes it to every open page, its routes, and the cross-site check on every
// mutating /monitoring route.

import { Counter, Gauge } from "prom-client";
import { type Bundle, buildBundle } from "../dashboard/bundle.js";
import { LiveHub } from "../dashboard/hub.js";
import { renderChecks } from "../health/index.js";
import { dashboardRoutes } from "../http/dashboard.js";
import { createScrubber } from "../logs/redact.js";
import { type AppCapability, type AppContext, need } from "./context.js";

/** Bounds of the live hub (docs/dashboard.md). */
export const DASHBOARD_LIMITS = {
  maxClients: 200,
  maxSeriesPerPanel: 500,
  queryTimeoutMs: 10_000,
  /** Route drill-downs and custom time ranges evaluated at once (presets are views × ranges). */
  maxParamGroups: 16,
};

/** The overview's non-PromQL part, computed once per evaluation for every page watching it. */
function overviewExtra(ctx: AppContext) {
  const scrub = createScrubber(need(ctx, "secrets", "dashboard"));
  const service = need(ctx, "service", "dashboard");
  return async () => {
    const report = await ctx.health?.report();
    const now = Date.now();
    const extra = {
      service: service.serviceId,
      version: service.releaseId,
      environment: ctx.config.environment,
      state: ctx.state.phase,
      uptimeSeconds: Math.round((now - ctx.startedAt) / 1000),
      status: report?.status ?? "unknown",
      checks: report ? renderChecks(report.results) : {},
      // As /monitoring/status counts them: the rules' pending, the notifier's firing (posted ones too).
      alerts: {
        pending: ctx.engine?.alerts().pending ?? 0,
        firing: ctx.notifier?.summary().firing ?? ctx.engine?.alerts().firing ?? 0,
      },
      deployment: ctx.deployments?.monitor.status() ?? null,
    };
    // Check outputs may quote a driver's error: the same scrubbing as /monitoring/status.
    return JSON.parse(scrub(JSON.stringify(extra))) as unknown;
  };
}

export const dashboard: AppCapability = {
  name: "dashboard",
  async build(ctx) {
    const { config } = ctx;
    const engine = ctx.engine;
    if (!ctx.metrics || !engine) return [];
    const fastify = need(ctx, "fastify", "dashboard");
    const logger = need(ctx, "logger", "dashboard");
    const service = need(ctx, "service", "dashboard");
    const evaluations = new Counter({
      name: "dashboard_evaluations_total",
      help: "Evaluations of a dashboard view's panels by the live hub (one per refresh interval per watched view and range, whatever the number of pages)",
      labelNames: ["view"],
      registers: [ctx.metrics.registry],
    });
    // Parts whose panels the page shows only when configured (Redis: its health check's latency).
    const features = ctx.redis && ctx.health ? ["redis"] : [];
    const hub = new LiveHub({
      features: new Set(features),
      engine,
      scrapeIntervalMs: config.tsdb.scrapeIntervalMs,
      ...DASHBOARD_LIMITS,
      ...(ctx.now ? { now: ctx.now } : {}),
      extras: { overview: overviewExtra(ctx) },
      onEvaluation: (view) => evaluations.inc({ view }),
      onError: (err) => logger.warn({ err }, "dashboard: a live evaluation failed"),
    });
    new Gauge({
      name: "dashboard_live_clients",
      help: "Pages listening to the dashboard's live stream (bounded by its maxClients)",
      registers: [ctx.metrics.registry],
      collect() {
        this.set(hub.listeners);
      },
    });
    let bundle: Promise<Bundle> | undefined;
    const getBundle = () => {
      bundle ??= buildBundle();
      return bundle;
    };
    await fastify.register(dashboardRoutes, {
      hub,
      bundle: getBundle,
      token: config.monitoring.token,
      environment: config.environment,
      retentionMs: engine.retentionMs,
      scrapeIntervalMs: config.tsdb.scrapeIntervalMs,
      service: { name: service.serviceId, version: service.releaseId },
      streamOpened: (req, status) => ctx.metrics?.http.streamOpened(req, status),
      features,
      ...(ctx.now ? { now: ctx.now } : {}),
    });
    return [
      {
        name: "dashboard",
        // Bundled at start so the first page is served at once; a failure is logged and each
        // page request answers it (the rest of the app runs without the dashboard).
        start: async () => {
          const started = performance.now();
          try {
            const b = await getBundle();
            logger.info(
              { ms: Math.round(performance.now() - started), js: b.js.gzip.length, css: b.css.gzip.length },
              "dashboard bundled",
            );
          } catch (err) {
            logger.error({ err }, "dashboard: bundling the browser code failed; /monitoring/ answers 500");
          }
        },
        stop: () => hub.stop(),
      },
    ];
  },
};
