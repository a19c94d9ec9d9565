// Deployment monitoring (monitoring on): the monitor (src/deploy/), its history in
// `deployments.db` beside the other state, /monitoring/deployments, its metrics
// (`deployments_total`, `deployment_in_progress`, `tug_build_info`), the log trends' "before the
// last deployment" marker, and the outcome told to the team through the notifier.

import { Counter, Gauge } from "prom-client";
import { createAlertmanagerForwarder } from "../alerts/channels/index.js";
import type { PostableAlert } from "../alerts/wire.js";
import type { Config } from "../core/config/index.js";
import type { DeploymentConfig } from "../deploy/config.js";
import { DeploymentMonitor } from "../deploy/monitor.js";
import { promqlSources } from "../deploy/source.js";
import { DeploymentStore } from "../deploy/store.js";
import { deploymentRoutes } from "../http/deployments.js";
import { type AppCapability, type AppContext, need } from "./context.js";
import { linkBase, stateFileBeside } from "./paths.js";

/** Each query of the analysis (they run in the engine worker or in Prometheus). */
const QUERY_TIMEOUT_MS = 10_000;

function storeFile(config: Config): string {
  return config.database.url === "sqlite::memory:"
    ? ":memory:"
    : stateFileBeside(config, undefined, "deployments.db");
}

function sources(config: Config) {
  return (c: DeploymentConfig) =>
    promqlSources(c, {
      timeoutMs: QUERY_TIMEOUT_MS,
      ...(config.monitoring.token ? { defaultToken: config.monitoring.token } : {}),
    });
}

/** The outcome to the team: the embedded notifier, else the configured Alertmanagers, else the log. */
function teller(ctx: AppContext) {
  const logger = need(ctx, "logger", "deployments");
  const n = ctx.config.notifications;
  const forwarder =
    n.forwardTo.length > 0
      ? createAlertmanagerForwarder(n.forwardTo, { timeoutMs: n.channelTimeoutMs })
      : undefined;
  return async (alert: PostableAlert) => {
    if (ctx.notifier) {
      ctx.notifier.receive([alert]);
      return;
    }
    if (forwarder) {
      const r = await forwarder.send([alert], AbortSignal.timeout(n.channelTimeoutMs * 2));
      if (r.ok) return;
      logger.error({ alert: alert.labels, error: r.error }, "telling Alertmanager about a deployment failed");
    }
    logger.warn(
      { alert: alert.labels, description: alert.annotations?.description },
      "deployment outcome (no notifier or Alertmanager took it)",
    );
  };
}

function registerMetrics(ctx: AppContext, monitor: () => DeploymentMonitor | undefined) {
  const registry = need(ctx, "metrics", "deployments").registry;
  const service = need(ctx, "service", "deployments");
  const finished = new Counter({
    name: "deployments_total",
    help: "Deployments watched to their end, by environment and outcome (succeeded, failed, rolled_back, rollback_failed, aborted, inconclusive, interrupted)",
    labelNames: ["environment", "outcome"],
    registers: [registry],
  });
  new Gauge({
    name: "deployment_in_progress",
    help: "Deployments being watched or rolled back right now",
    registers: [registry],
    collect() {
      this.set(monitor()?.inProgress ?? 0);
    },
  });
  new Gauge({
    name: "tug_build_info",
    help: "Always 1: the running build's version and release, the Node.js version and the environment",
    labelNames: ["version", "release", "node_version", "environment"],
    registers: [registry],
  }).set(
    {
      version: service.version,
      release: service.releaseId,
      node_version: process.version,
      environment: ctx.config.environment,
    },
    1,
  );
  return finished;
}

export const deployments: AppCapability = {
  name: "deployments",
  async build(ctx) {
    const { config } = ctx;
    if (!ctx.metrics) return [];
    const logger = need(ctx, "logger", "deployments");
    const store = new DeploymentStore(storeFile(config));
    let monitor: DeploymentMonitor | undefined;
    const finished = registerMetrics(ctx, () => monitor);
    const marker = ctx.logAnalysis?.analyzer.trends;
    monitor = new DeploymentMonitor({
      store,
      sources: sources(config),
      notify: teller(ctx),
      defaultEnvironment: config.environment,
      service: config.service.name,
      ...(config.notifications.webhookSigningSecret
        ? { signingSecret: config.notifications.webhookSigningSecret }
        : {}),
      // The monitor links to <externalURL>/monitoring/#/deployments/<id>; linkBase ends in /monitoring.
      externalURL: linkBase(config).replace(/\/monitoring\/?$/, ""),
      ...(config.monitoring.token ? { token: config.monitoring.token } : {}),
      ...(ctx.now ? { now: ctx.now } : {}),
      log: (level, fields, msg) => logger[level](fields, msg),
      events: {
        started: (r) => marker?.markDeployment(r.startedAt),
        finished: (r) => finished.inc({ environment: r.environment, outcome: r.outcome ?? "interrupted" }),
      },
    });
    // The log trends compare with the time before the last recorded deployment, when there is one.
    const last = store.lastStart(config.environment);
    if (last !== undefined) marker?.markDeployment(last);
    ctx.deployments = { monitor, store };
    await need(ctx, "fastify", "deployments").register(deploymentRoutes, {
      monitor,
      store,
      token: config.monitoring.token,
    });
    const m = monitor;
    return [
      {
        name: "deployments",
        start: () => m.resume(),
        stop: async () => {
          await m.stop();
          store.close();
        },
      },
    ];
  },
};
