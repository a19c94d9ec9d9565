// The monitoring engine: store, PromQL and rules in a worker thread (in process when a clock is
// injected: a function cannot cross threads), so that no query or rule evaluation can hold the
// API's thread; Prometheus's HTTP API over it; the rules' wiring to the notifier and to external
// Alertmanagers; and the sampler that feeds it the registry.

import { createAlertmanagerForwarder } from "../alerts/channels/index.js";
import { loadRuleFile, RuleFileError } from "../alerts/rules/index.js";
import { ConfigError } from "../core/config/index.js";
import { resolveInstallPath } from "../core/install.js";
import { type Engine, EngineClient, type EngineSettings, InlineEngine } from "../engine/index.js";
import { alertRoutes } from "../http/alerts.js";
import { promApiRoutes } from "../http/promapi.js";
import { createScrubber } from "../logs/redact.js";
import { registerEngineMetrics } from "../metrics/tsdb.js";
import { Sampler } from "../tsdb/index.js";
import { type AppCapability, type AppContext, need } from "./context.js";
import { linkBase, tsdbFolder } from "./paths.js";

/**
 * The app as a scrape target, labelled as the stack's Prometheus labels it (job `tug-api` in
 * monitoring/prometheus.yml, instance host:port), once the server listens.
 */
function selfTarget(ctx: AppContext): { job: string; instance: string } | undefined {
  const a = ctx.state.address;
  return a ? { job: "tug-api", instance: a.replace(/^\w+:\/\//, "") } : undefined;
}

/** The rule files, each checked here too: an invalid one stops start-up with its file:line message. */
function checkedRuleFiles(ctx: AppContext): string[] {
  const ruleFiles = ctx.config.alerts.ruleFiles.map((f) => resolveInstallPath(f));
  for (const f of ruleFiles) {
    try {
      loadRuleFile(f);
    } catch (err) {
      if (err instanceof RuleFileError) throw new ConfigError(err.message);
      throw err;
    }
  }
  return ruleFiles;
}

function createEngine(ctx: AppContext): Engine {
  const { config } = ctx;
  const logger = need(ctx, "logger", "engine");
  const folder = tsdbFolder(config);
  const settings: EngineSettings = {
    retentionMs: config.tsdb.retentionMs,
    storage: folder
      ? {
          path: folder,
          rawRetentionMs: config.tsdb.rawRetentionMs,
          downsampledRetentionMs: config.tsdb.downsampledRetentionMs,
          maxBytes: config.tsdb.maxBytes,
          blockRangeMs: config.tsdb.blockRangeMs,
        }
      : undefined,
    maxSeries: config.tsdb.maxSeries,
    ruleFiles: checkedRuleFiles(ctx),
    evaluationIntervalMs: config.alerts.evaluationIntervalMs,
    externalLabels: config.alerts.externalLabels,
    // Alerts link back to the app (Prometheus's generatorURL form: <external URL>/graph?g0.expr=…).
    externalURL: linkBase(config),
    maxSamples: config.engine.maxSamples,
    // Response bodies are rendered and scrubbed in the engine.
    secrets: need(ctx, "secrets", "engine"),
  };
  const observer = registerEngineMetrics(need(ctx, "metrics", "engine").registry, () => ctx.engine);
  return ctx.now
    ? new InlineEngine({
        ...settings,
        now: ctx.now,
        queryTimeoutMs: config.engine.queryTimeoutMs,
        observer,
        log: (level, fields, msg) => logger[level](fields, msg),
      })
    : new EngineClient({
        settings,
        queryTimeoutMs: config.engine.queryTimeoutMs,
        maxQueuedQueries: config.engine.maxQueuedQueries,
        watchdogGraceMs: config.engine.watchdogGraceMs,
        memoryLimitMb: config.engine.memoryLimitMb,
        logger,
        observer,
        testHooks: process.env.NODE_ENV === "test",
      });
}

export const engine: AppCapability = {
  name: "engine",
  async build(ctx) {
    if (!ctx.metrics) return [];
    const { config } = ctx;
    const e = createEngine(ctx);
    ctx.engine = e;
    // Prometheus's HTTP API over the embedded engine: Grafana can use the app as a data source.
    await need(ctx, "fastify", "engine").register(promApiRoutes, {
      engine: e,
      now: ctx.now,
      token: config.monitoring.token,
      scrub: createScrubber(need(ctx, "secrets", "engine")),
      startedAt: ctx.startedAt,
      appVersion: need(ctx, "service", "engine").releaseId,
      queryTimeoutMs: config.engine.queryTimeoutMs,
      maxPointsPerSeries: config.engine.maxPointsPerSeries,
      target: () => {
        const t = selfTarget(ctx);
        const s = ctx.sampler;
        if (!t || !s) return undefined;
        const stats = s.stats();
        return {
          ...t,
          scrapeUrl: `${ctx.state.address}/monitoring/metrics`,
          intervalMs: s.intervalMs,
          lastScrapeAtMs: stats.lastScrapeAtMs,
          lastScrapeDurationMs: stats.lastScrapeDurationMs,
          lastScrapeOk: stats.lastScrapeOk,
        };
      },
      rules: {
        rules: (q: { type?: "alert" | "record" }) => e.run({ op: "rules", ...q }),
        alerts: () => e.run({ op: "alerts" }),
      },
    });
    return [{ name: "engine", start: () => e.start(), stop: () => e.stop() }];
  },
};

/** Where the rule engine meets the notifier (and the external Alertmanagers): only here. */
export const rules: AppCapability = {
  name: "rules",
  async build(ctx) {
    const e = ctx.engine;
    if (!e) return [];
    const { config } = ctx;
    const notifications = config.notifications;
    const logger = need(ctx, "logger", "rules");
    const n = ctx.notifier;
    if (n) {
      e.onNotify((alerts) => {
        try {
          n.receive(alerts);
        } catch (err) {
          logger.error({ err }, "the notifier refused alerts from the rule engine");
        }
      });
      e.onChange((c) => {
        if (c.to === "pending") n.recordHistory("pending", c.labels, { rule: c.rule, group: c.group });
      });
      await need(ctx, "fastify", "rules").register(alertRoutes, {
        notifier: n,
        ruleAlerts: () => e.alerts().alerts,
        limits: notifications.limits,
        token: config.monitoring.token,
        now: ctx.now,
      });
    }
    if (notifications.forwardTo.length > 0) {
      // Prometheus's notifier: every alert batch also goes to the real Alertmanagers; the rule
      // engine re-sends firing alerts every minute, which is what makes this best-effort safe.
      const forwarder = createAlertmanagerForwarder(notifications.forwardTo, {
        timeoutMs: notifications.channelTimeoutMs,
      });
      e.onNotify((alerts) => {
        forwarder.send(alerts, AbortSignal.timeout(notifications.channelTimeoutMs)).then(
          (r) => {
            if (!r.ok) logger.warn({ error: r.error }, "forwarding alerts to Alertmanager failed");
          },
          (err: unknown) => logger.warn({ err }, "forwarding alerts to Alertmanager failed"),
        );
      });
    }
    return [];
  },
};

/** The registry, sampled into the engine every `tsdb.scrapeIntervalMs`. */
export const sampler: AppCapability = {
  name: "sampler",
  build(ctx) {
    const { engine: e, metrics } = ctx;
    if (!e || !metrics) return [];
    const logger = need(ctx, "logger", "sampler");
    const s = new Sampler({
      registry: metrics.registry,
      sink: e,
      intervalMs: ctx.config.tsdb.scrapeIntervalMs,
      now: ctx.now,
      timers: ctx.timers,
      onError: (err) => logger.warn({ err }, "sampling the registry failed"),
      // `up` and its companions, labelled as the stack's Prometheus labels this app's target.
      target: () => selfTarget(ctx),
    });
    ctx.sampler = s;
    return [{ name: "sampler", start: () => s.start(), stop: () => s.stop() }];
  },
};
