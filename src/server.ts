// The composition root: the app is its capabilities (src/app/*.ts), listed once, in start order.
// The lifecycle (src/core/lifecycle.ts) builds them in this order, starts their units in this
// order and stops them in the reverse order; see docs/architecture.md, "How a capability plugs in".

import type { App, AppCapability, AppContext, AppOptions } from "./app/context.js";
import { dashboard } from "./app/dashboard.js";
import { database, migrations, sessions } from "./app/database.js";
import { deployments } from "./app/deployments.js";
import { engine, rules, sampler } from "./app/engine.js";
import { faults } from "./app/faults.js";
import { health, monitoringEndpoints } from "./app/health.js";
import { apiRoutes, httpServer, readiness } from "./app/http.js";
import { logAnalysis } from "./app/log-analysis.js";
import { logging } from "./app/logging.js";
import { liveness, metrics } from "./app/metrics.js";
import { notifier } from "./app/notifier.js";
import { LifecycleRunner } from "./core/lifecycle.js";

export type { App, AppCapability, AppContext, AppOptions } from "./app/context.js";

/**
 * The app's capabilities in start order (stop runs in reverse). A capability builds from what
 * those before it built; its units start after theirs and stop before theirs. The HTTP server
 * listens early (the probes answer during start-up); readiness is last, so that at stop the
 * server drains and closes before anything it serves from stops.
 */
export const CAPABILITIES: readonly AppCapability[] = [
  logging,
  liveness,
  metrics,
  database,
  httpServer,
  sessions,
  migrations,
  health,
  faults,
  notifier,
  engine,
  rules,
  sampler,
  logAnalysis,
  deployments,
  dashboard,
  monitoringEndpoints,
  apiRoutes,
];

/**
 * The capabilities AppOptions.omit may leave out: monitoring's parts that neither the API nor the
 * monitoring endpoints need (health is not one: without it there are no /monitoring routes).
 */
export const OMITTABLE: ReadonlySet<string> = new Set([
  "faults",
  "notifier",
  "engine",
  "rules",
  "sampler",
  "log analysis",
  "deployments",
  "dashboard",
]);

/** The composition root: builds everything from the configuration. */
export async function buildApp(opts: AppOptions): Promise<App> {
  const { config } = opts;
  const ctx: AppContext = {
    opts,
    config,
    now: opts.now,
    timers: opts.timers,
    monitoring: opts.monitoring ?? true,
    startedAt: (opts.now ?? Date.now)(),
    state: { phase: "starting", closing: false, drainDelayMs: 0 },
    notes: [],
  };
  // The lifecycle logs through the logger the first capability builds.
  const lifecycle = new LifecycleRunner({ log: (level, fields, msg) => ctx.logger?.[level](fields, msg) });
  // Extra capabilities start before the app turns ready, and stop after it drained.
  const omit = new Set(opts.omit ?? []);
  for (const name of omit) {
    if (!OMITTABLE.has(name)) {
      throw new Error(`buildApp: cannot omit "${name}"; omittable: ${[...OMITTABLE].join(", ")}`);
    }
  }
  await lifecycle.build(
    [...CAPABILITIES.filter((c) => !omit.has(c.name)), ...(opts.capabilities ?? []), readiness],
    ctx,
  );
  // Built by the capabilities above whatever the configuration.
  const fail = (what: string): never => {
    throw new Error(`buildApp: no capability built ${what}`);
  };
  const appLogger = ctx.appLogger ?? fail("the logger");
  const logger = appLogger.logger;
  const stop = async (drainDelayMs: number) => {
    ctx.state.drainDelayMs = drainDelayMs;
    await lifecycle.stop();
    logger.info("shutdown complete");
    // The logs close last: the lifecycle logs through them.
    await appLogger.close();
  };
  let stopped: Promise<void> | undefined;
  return {
    fastify: ctx.fastify ?? fail("the HTTP server"),
    config,
    service: ctx.service ?? fail("the service's description"),
    logger,
    metrics: ctx.metrics,
    health: ctx.health,
    engine: ctx.engine,
    notifier: ctx.notifier,
    deployments: ctx.deployments,
    db: ctx.db ?? fail("the database"),
    sessions: ctx.sessions ?? fail("the session store"),
    lifecycle: () => ctx.state.phase,
    units: () => lifecycle.names(),
    notes: () => [...ctx.notes],
    flushLogsSync: () => appLogger.flushSync(),
    async listen() {
      await lifecycle.start();
      return ctx.state.address ?? fail("a listening address");
    },
    shutdown(o = {}) {
      const delay =
        o.drainDelayMs ?? config.shutdown.drainDelayMs ?? (config.environment === "development" ? 0 : 5000);
      stopped ??= stop(delay);
      return stopped;
    },
    close() {
      stopped ??= stop(0);
      return stopped;
    },
  };
}
