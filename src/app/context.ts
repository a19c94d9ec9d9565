// What the app's capabilities share: the options `buildApp` was given and the parts built so far.
// Each capability (src/app/*.ts) reads the parts it needs from the context and adds its own; the
// composition root (src/server.ts) lists the capabilities once, in start order.

import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import type { Notifier } from "../alerts/notify/index.js";
import type { Database } from "../api/db/index.js";
import type { SessionStore } from "../api/index.js";
import type { Timers } from "../core/clock.js";
import type { Config } from "../core/config/index.js";
import type { Capability } from "../core/lifecycle.js";
import type { DeploymentMonitor } from "../deploy/monitor.js";
import type { DeploymentStore } from "../deploy/store.js";
import type { Engine } from "../engine/index.js";
import type { HealthRunner, LivenessMonitor, ServiceInfo } from "../health/index.js";
import type { ConnectionTracker } from "../http/connections.js";
import type { Lifecycle } from "../http/monitoring.js";
import type { LogAnalysis } from "../logs/analysis/index.js";
import type { AppLogger, FileSink, Logger } from "../logs/logger.js";
import type { Metrics, MetricsSummary } from "../metrics/index.js";
import type { Sampler } from "../tsdb/index.js";

export interface AppOptions {
  config: Config;
  /** false builds the same API with no monitoring at all (the benchmark's baseline). */
  monitoring?: boolean;
  /** Use this logger instead of building one from the configuration. */
  logger?: Logger;
  /** The log file sink (default: the rotating file of `log.*`). */
  fileSink?: (config: Config) => FileSink;
  now?: () => number;
  /**
   * Scheduling of the registry's scrapes and the log analysis's tick (default the system's): with
   * `now`, a test drives the app's minutes with a manual clock instead of waiting for them.
   */
  timers?: Timers;
  /** Extra plugins registered before the API (the benchmark's fastify-metrics variant). */
  plugins?: Array<(app: FastifyInstance) => Promise<void> | void>;
  /**
   * More capabilities, built after the listed ones and started before the app turns ready
   * (stopped after it drains): how a test, or a tool embedding the app, plugs one in.
   */
  capabilities?: AppCapability[];
  /**
   * Optional monitoring capabilities left out, by name (OMITTABLE in src/server.ts): how a
   * benchmark measures what each one costs (`BENCH_OMIT`, bench/README.md).
   */
  omit?: readonly string[];
}

export interface App {
  fastify: FastifyInstance;
  config: Config;
  /** Name, version and release of the running service. */
  service: ServiceInfo;
  logger: Logger;
  metrics: Metrics | undefined;
  health: HealthRunner | undefined;
  /**
   * The embedded monitoring engine (store, PromQL, rules; monitoring on): a worker thread, or in
   * process when a clock is injected.
   */
  engine: Engine | undefined;
  /** The embedded Alertmanager-compatible notifier (monitoring and notifications on). */
  notifier: Notifier | undefined;
  /** The deployment monitor and its history (monitoring on; docs/deployments.md). */
  deployments: { monitor: DeploymentMonitor; store: DeploymentStore } | undefined;
  db: Database;
  sessions: SessionStore;
  lifecycle(): Lifecycle;
  /** The lifecycle's units in start order (stop runs them in reverse). */
  units(): string[];
  /** What the capabilities found not configured yet (see AppContext.notes). */
  notes(): string[];
  /** Write buffered log lines out synchronously (just before process.exit). */
  flushLogsSync(): void;
  /** Listen, then finish start-up (migrations, first checks) and turn ready; returns the address. */
  listen(): Promise<string>;
  /**
   * Graceful stop: readiness fails at once; after `drainDelayMs` the server stops accepting,
   * in-flight requests finish, connections to the database and Redis close, logs flush.
   */
  shutdown(opts?: { drainDelayMs?: number }): Promise<void>;
  /** Immediate stop (tests): no drain delay. */
  close(): Promise<void>;
}

/** The readiness state and what the drain needs, shared by the HTTP capabilities. */
export interface AppState {
  phase: Lifecycle;
  /** Responses carry `connection: close` once the drain is over and the server closes. */
  closing: boolean;
  /** Set by `shutdown()`/`close()` before the lifecycle stops. */
  drainDelayMs: number;
  /** The bound address, once listening. */
  address?: string;
}

export interface AppContext {
  readonly opts: AppOptions;
  readonly config: Config;
  readonly now: (() => number) | undefined;
  readonly timers: Timers | undefined;
  readonly monitoring: boolean;
  readonly startedAt: number;
  readonly state: AppState;
  /**
   * What is not configured yet and how to configure it, one line each (a notification channel
   * without its secret, a placeholder receiver…): the start-up summary lists them.
   */
  readonly notes: string[];
  // Built by the capabilities, in the order they are listed:
  secrets?: string[];
  appLogger?: AppLogger;
  logger?: Logger;
  service?: ServiceInfo;
  liveness?: LivenessMonitor;
  metrics?: Metrics;
  summary?: MetricsSummary;
  db?: Database;
  fastify?: FastifyInstance;
  /** The HTTP server's sockets and in-flight requests (src/http/connections.ts). */
  connections?: ConnectionTracker;
  redis?: Redis;
  sessions?: SessionStore;
  health?: HealthRunner;
  notifier?: Notifier;
  engine?: Engine;
  sampler?: Sampler;
  logAnalysis?: LogAnalysis;
  deployments?: { monitor: DeploymentMonitor; store: DeploymentStore };
}

export type AppCapability = Capability<AppContext>;

type Built = Exclude<
  keyof AppContext,
  "opts" | "config" | "now" | "timers" | "monitoring" | "startedAt" | "state"
>;

/** A part an earlier capability must have built; a clear error when the list is out of order. */
export function need<K extends Built>(ctx: AppContext, key: K, by: string): NonNullable<AppContext[K]> {
  const v = ctx[key];
  if (v === undefined || v === null)
    throw new Error(`capability ${by} needs ${key}, built by a capability listed before it`);
  return v as NonNullable<AppContext[K]>;
}
