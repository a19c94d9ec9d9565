import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { Redis } from "ioredis";
import { createAlertmanagerForwarder, createChannels } from "./alerts/channels/index.js";
import {
  createNotifierMetrics,
  fingerprint,
  loadAlertmanagerConfig,
  Notifier,
  type NotifierEvents,
  openStateDb,
  type StateDb,
} from "./alerts/notify/index.js";
import { loadRuleFile, RuleFileError } from "./alerts/rules/index.js";
import { type Database, DbError, migrate } from "./api/db/index.js";
import {
  apiPlugin,
  DatabaseSessionStore,
  openDatabase,
  RedisSessionStore,
  type SessionStore,
} from "./api/index.js";
import { type Config, ConfigError, redactConfig } from "./core/config/index.js";
import { externalUrl, resolveInstallPath } from "./core/install.js";
import { type Engine, EngineClient, type EngineSettings, InlineEngine } from "./engine/index.js";
import {
  databaseCheck,
  eventLoopCheck,
  HealthRunner,
  LivenessMonitor,
  redisCheck,
  resourceChecks,
  type ServiceInfo,
  targetCheck,
} from "./health/index.js";
import { alertRoutes } from "./http/alerts.js";
import { trackConnections } from "./http/connections.js";
import { fastifyErrorOptions, installErrorHandling } from "./http/errors.js";
import { logRoutes } from "./http/logs.js";
import { debugInfo, type Lifecycle, monitoringRoutes } from "./http/monitoring.js";
import { promApiRoutes } from "./http/promapi.js";
import { accessLogger } from "./logs/access.js";
import { createLogAnalysis, type LogAnalysis } from "./logs/analysis/index.js";
import { type AppLogger, createLogger, type FileSink, type Logger } from "./logs/logger.js";
import { createScrubber, secretValues } from "./logs/redact.js";
import { createRotatingFile } from "./logs/rotation.js";
import { bindDefaultMetrics } from "./metrics/defaults.js";
import { createMetrics, type Metrics, MetricsSummary } from "./metrics/index.js";
import { registerEngineMetrics } from "./metrics/tsdb.js";
import { Sampler } from "./tsdb/index.js";

export interface AppOptions {
  config: Config;
  /** false builds the same API with no monitoring at all (the benchmark's baseline). */
  monitoring?: boolean;
  /** Use this logger instead of building one from the configuration. */
  logger?: Logger;
  /** The log file sink (default: the rotating file of `log.*`). */
  fileSink?: (config: Config) => FileSink;
  now?: () => number;
  /** Extra plugins registered before the API (the benchmark's fastify-metrics variant). */
  plugins?: Array<(app: FastifyInstance) => Promise<void> | void>;
}

export interface App {
  fastify: FastifyInstance;
  config: Config;
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
  db: Database;
  sessions: SessionStore;
  lifecycle(): Lifecycle;
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

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/** A state file: as configured, else beside the SQLite database, else under ./data. */
function stateFileBeside(config: Config, configured: string | undefined, name: string): string {
  if (configured) return configured;
  const url = config.database.url;
  if (url.startsWith("sqlite:") && url !== "sqlite::memory:")
    return join(dirname(url.slice("sqlite:".length)), name);
  return join("./data", name);
}

/** The log file of `log.*`: rotated by size and day, kept by count and age, gzipped. */
function rotatingFileSink(config: Config): FileSink {
  const r = config.log.rotation;
  return createRotatingFile({
    filePath: config.log.filePath,
    maxSizeBytes: r.maxSizeBytes,
    daily: r.daily,
    maxFiles: r.maxFiles,
    maxAgeDays: r.maxAgeDays,
    compress: r.compress,
    onError: (err) => process.stderr.write(`tug: log file error: ${err.message}\n`),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The composition root: builds everything from the configuration. */
export async function buildApp(opts: AppOptions): Promise<App> {
  const { config } = opts;
  const now = opts.now ?? Date.now;
  const startedAt = now();
  const monitoring = opts.monitoring ?? true;
  const secrets = secretValues(
    [
      config.monitoring.token,
      config.notifications.smtp.password,
      config.notifications.slackWebhookUrl,
      config.notifications.webhookSigningSecret,
      config.monitoring.grafanaAdminPassword,
    ],
    [config.database.url, config.redis.url, ...config.health.targets.map((t) => t.url)],
  );
  let logAnalysis: LogAnalysis | undefined;
  let appLogger: AppLogger;
  if (opts.logger) {
    const given = opts.logger;
    appLogger = {
      logger: given,
      flush: async () => undefined,
      close: async () => undefined,
      flushSync: () => given.flush(),
    };
  } else {
    const sink = opts.fileSink ? opts.fileSink(config) : rotatingFileSink(config);
    appLogger = createLogger({
      level: config.log.level,
      stdout: config.log.stdout,
      file: sink,
      secrets,
      // Lines written before the analysis exists (the first start-up lines) are not analysed.
      tap: (line) => logAnalysis?.analyzer.tap(line),
    });
  }
  const logger = appLogger.logger;
  if (config.environment === "production" && config.monitoring.grafanaAdminPassword === "admin123") {
    logger.warn(
      { event: "insecure_default", setting: "GRAFANA_ADMIN_PASSWORD" },
      "GRAFANA_ADMIN_PASSWORD is the documented development default: set a strong password for the stack's Grafana",
    );
  }
  const version = packageVersion();
  const service: ServiceInfo = {
    serviceId: config.service.name,
    version: version.split(".")[0] ?? "0",
    releaseId: config.service.releaseId ?? version,
    description: "TUG API",
  };

  const dataPath = config.database.url.startsWith("sqlite:") ? config.database.url.slice(7) : ".";
  const metrics = monitoring
    ? createMetrics({
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
        logger,
        now: opts.now,
      })
    : undefined;

  const db = openDatabase({
    url: config.database.url,
    poolSize: config.database.poolSize,
    connectTimeoutMs: config.database.connectTimeoutMs,
    statementTimeoutMs: config.database.statementTimeoutMs,
    slowQueryThresholdMs: config.database.slowQueryThresholdMs,
    metrics: metrics?.db,
    logger,
  });

  let redis: Redis | undefined;
  let sessions: SessionStore;
  if (config.redis.url) {
    redis = new Redis(config.redis.url, {
      commandTimeout: config.redis.commandTimeoutMs,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
      // Keep trying, but never faster than every 2 s: a dead Redis must not flood the logs.
      retryStrategy: (times) => Math.min(200 * times, 2000),
    });
    let redisDown = false;
    redis.on("error", (err) => {
      if (!redisDown) logger.warn({ err: { message: err.message } }, "redis connection error");
      redisDown = true;
    });
    redis.on("ready", () => {
      if (redisDown) logger.info("redis connection restored");
      redisDown = false;
    });
    sessions = new RedisSessionStore(redis, config.redis.keyPrefix, opts.now);
  } else {
    sessions = new DatabaseSessionStore(db, opts.now);
  }

  const linkBase = externalUrl(config);
  if (metrics && config.log.analysis.enabled) {
    logAnalysis = createLogAnalysis({
      registry: metrics.registry,
      stateFile: stateFileBeside(config, config.log.analysis.stateFile, "log-analysis.json"),
      maxTemplates: config.log.analysis.maxTemplates,
      now: opts.now,
      onError: (err) => process.stderr.write(`tug: log analysis: ${(err as Error).message}\n`),
    });
  }

  // The monitoring engine: store, PromQL and rules in a worker thread, so that no query or rule
  // evaluation can hold this thread; the registry stays here and is sampled into it.
  let engine: Engine | undefined;
  let sampler: Sampler | undefined;
  if (metrics) {
    const ruleFiles = config.alerts.ruleFiles.map((f) => resolveInstallPath(f));
    for (const f of ruleFiles) {
      try {
        loadRuleFile(f); // checked here too: an invalid rule file stops start-up
      } catch (err) {
        // An invalid rule file stops start-up with its one-line file:line message.
        if (err instanceof RuleFileError) throw new ConfigError(err.message);
        throw err;
      }
    }
    const settings: EngineSettings = {
      retentionMs: config.tsdb.retentionMs,
      maxSeries: config.tsdb.maxSeries,
      ruleFiles,
      evaluationIntervalMs: config.alerts.evaluationIntervalMs,
      externalLabels: config.alerts.externalLabels,
      // Alerts link back to the app (Prometheus's generatorURL form: <external URL>/graph?g0.expr=…).
      externalURL: linkBase,
      maxSamples: config.engine.maxSamples,
      // Response bodies are rendered and scrubbed in the engine.
      secrets,
    };
    const observer = registerEngineMetrics(metrics.registry, () => engine);
    // An injected clock cannot cross to a worker: the engine then runs in process (tests only).
    engine = opts.now
      ? new InlineEngine({
          ...settings,
          now: opts.now,
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
    sampler = new Sampler({
      registry: metrics.registry,
      sink: engine,
      intervalMs: config.tsdb.scrapeIntervalMs,
      now: opts.now,
      onError: (err) => logger.warn({ err }, "sampling the registry failed"),
    });
    logAnalysis?.useEngine(engine);
  }

  let notifier: Notifier | undefined;
  let notifierDb: StateDb | undefined;
  const notifications = config.notifications;
  if (engine && metrics && notifications.enabled) {
    const { config: amConfig, warnings } = loadAlertmanagerConfig(
      resolveInstallPath(notifications.alertmanagerConfig),
      {
        slackWebhookUrl: notifications.slackWebhookUrl,
        smtp: notifications.smtp,
      },
    );
    for (const w of warnings) logger.warn({ file: notifications.alertmanagerConfig }, w);
    notifierDb = openStateDb(
      config.database.url === "sqlite::memory:" && !notifications.stateFile
        ? ":memory:"
        : stateFileBeside(config, notifications.stateFile, "notifier.db"),
    );
    const nm = createNotifierMetrics(metrics.registry);
    const log: NotifierEvents = {
      failed: (row, error, retryAt) =>
        logger.warn(
          {
            receiver: row.receiver,
            integration: row.integration,
            attempts: row.attempts + 1,
            error,
            retryAt: new Date(retryAt).toISOString(),
          },
          "notification delivery failed; will retry",
        ),
      rejected: (row, error) =>
        logger.error(
          { receiver: row.receiver, integration: row.integration, error },
          "notification refused by the receiver; not retried",
        ),
      expired: (row, lastError) =>
        logger.error(
          { receiver: row.receiver, integration: row.integration, groupKey: row.groupKey, lastError },
          "notification given up after the retry expiry",
        ),
      coalesced: (row, into) =>
        logger.info(
          { receiver: row.receiver, integration: row.integration, into: into.id },
          "rate limit: notification coalesced",
        ),
      refused: (r) =>
        logger.warn(
          { refused: r.refused, since: r.since, example: r.example },
          "the notifier refused alerts",
        ),
    };
    const both = <K extends keyof NotifierEvents>(k: K) =>
      ((...args: unknown[]) => {
        for (const e of [nm.events, log]) (e[k] as ((...a: unknown[]) => void) | undefined)?.(...args);
      }) as NotifierEvents[K];
    notifier = new Notifier({
      config: amConfig,
      limits: notifications.limits,
      db: notifierDb,
      createChannels: (r) =>
        createChannels(r, {
          timeoutMs: notifications.channelTimeoutMs,
          ...(notifications.webhookSigningSecret
            ? { signingSecret: notifications.webhookSigningSecret }
            : {}),
        }),
      externalURL: linkBase,
      initialBackoffMs: notifications.retry.initialBackoffMs,
      maxBackoffMs: notifications.retry.maxBackoffMs,
      expiryMs: notifications.retry.expiryMs,
      ratePerMinute: notifications.rateLimitPerMinute,
      ruleValue: (labels) => {
        const fp = fingerprint(labels);
        return engine?.alerts().alerts.find((a) => fingerprint(a.labels) === fp)?.value;
      },
      now: opts.now,
      events: {
        queued: both("queued"),
        delivered: both("delivered"),
        failed: both("failed"),
        rejected: both("rejected"),
        expired: both("expired"),
        coalesced: both("coalesced"),
        refused: both("refused"),
      },
    });
    nm.bind(notifier);
    const n = notifier;
    engine.onNotify((alerts) => {
      try {
        n.receive(alerts);
      } catch (err) {
        logger.error({ err }, "the notifier refused alerts from the rule engine");
      }
    });
    engine.onChange((c) => {
      if (c.to === "pending") n.recordHistory("pending", c.labels, { rule: c.rule, group: c.group });
    });
  }
  if (engine && notifications.forwardTo.length > 0) {
    // Prometheus's notifier: every alert batch also goes to the real Alertmanagers; the rule
    // engine re-sends firing alerts every minute, which is what makes this best-effort safe.
    const forwarder = createAlertmanagerForwarder(notifications.forwardTo, {
      timeoutMs: notifications.channelTimeoutMs,
    });
    engine.onNotify((alerts) => {
      forwarder.send(alerts, AbortSignal.timeout(notifications.channelTimeoutMs)).then(
        (r) => {
          if (!r.ok) logger.warn({ error: r.error }, "forwarding alerts to Alertmanager failed");
        },
        (err: unknown) => logger.warn({ err }, "forwarding alerts to Alertmanager failed"),
      );
    });
  }

  let health: HealthRunner | undefined;
  let eventLoop: ReturnType<typeof eventLoopCheck> | undefined;
  const liveness = new LivenessMonitor(config.health.livenessMaxBlockMs);
  if (metrics) {
    const timeoutMs = config.health.timeoutMs;
    health = new HealthRunner({
      registry: metrics.registry,
      cacheTtlMs: config.health.cacheTtlMs,
      defaultTimeoutMs: timeoutMs,
      now: opts.now,
      onError: (name, err) => logger.warn({ check: name, err }, "health check threw"),
    });
    health.add(
      databaseCheck(() => db.query("SELECT 1"), db.dialect, {
        timeoutMs,
        warnMs: config.health.databaseWarnMs,
      }),
    );
    if (redis) {
      const r = redis;
      health.add(redisCheck(() => r.ping(), { timeoutMs, critical: true }));
    }
    for (const spec of resourceChecks(metrics.system, {
      timeoutMs,
      memory: config.health.memory,
      cpu: config.health.cpu,
      disk: config.health.disk,
    })) {
      health.add(spec);
    }
    eventLoop = eventLoopCheck({ timeoutMs, ...config.health.eventLoop });
    health.add(eventLoop);
    const targets = [...config.health.targets];
    const smtp = config.notifications.smtp;
    if (smtp.host && !targets.some((t) => t.name === "smtp")) {
      targets.push({ name: "smtp", url: `tcp://${smtp.host}:${smtp.port}`, critical: false });
    }
    for (const t of targets) health.add(targetCheck(t, timeoutMs));
  }

  let state: Lifecycle = "starting";
  const fastify: FastifyInstance = Fastify({
    ...fastifyErrorOptions(),
    loggerInstance: logger as unknown as FastifyBaseLogger,
    // Fastify's own two lines per request are off: the access log is ours.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    trustProxy: config.server.trustProxy,
    requestIdHeader: false,
    // Requests that arrive on an open connection while we drain are served, not refused:
    // responses then carry `connection: close` so clients reconnect elsewhere.
    return503OnClosing: false,
    forceCloseConnections: "idle",
    genReqId: (req) => {
      const incoming = req.headers["x-request-id"];
      return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
  });
  let closing = false;
  const connections = trackConnections(fastify.server);
  fastify.addHook("onRequest", (req, reply, done) => {
    reply.header("x-request-id", req.id);
    if (closing) reply.header("connection", "close");
    done();
  });
  installErrorHandling(fastify);
  // A JSON API: a text/plain body is refused with 415 rather than parsed as a string.
  fastify.removeContentTypeParser("text/plain");

  const scrub = createScrubber(secrets);
  let summary: MetricsSummary | undefined;
  if (metrics && health) {
    metrics.http.install(fastify, accessLogger(config.log.access));
    summary = new MetricsSummary({
      registry: metrics.registry,
      system: metrics.system,
      users: metrics.users,
      windowSeconds: config.metrics.summaryWindowSeconds,
      now: opts.now,
    });
    const debugEnabled = config.monitoring.debugInfo ?? config.environment !== "production";
    await fastify.register(monitoringRoutes, {
      metrics,
      summary,
      health,
      liveness,
      token: config.monitoring.token,
      service,
      environment: config.environment,
      startedAt,
      lifecycle: () => state,
      scrub,
      debugInfo: debugEnabled ? debugInfo(redactConfig(config), service, startedAt) : undefined,
      alertSummary: notifier
        ? () => {
            const n = notifier as Notifier;
            const pending = engine?.alerts().pending ?? 0;
            return { pending, ...n.summary() };
          }
        : undefined,
    });
    if (logAnalysis) {
      await fastify.register(logRoutes, {
        analyzer: logAnalysis.analyzer,
        logFile: config.log.filePath,
        token: config.monitoring.token,
      });
    }
    if (notifier && engine) {
      const e = engine;
      await fastify.register(alertRoutes, {
        notifier,
        ruleAlerts: () => e.alerts().alerts,
        limits: notifications.limits,
        token: config.monitoring.token,
        now: opts.now,
      });
    }
    if (engine) {
      // Prometheus's HTTP API over the embedded engine: Grafana can use the app as a data source.
      const e = engine;
      await fastify.register(promApiRoutes, {
        engine: e,
        now: opts.now,
        token: config.monitoring.token,
        scrub,
        startedAt,
        appVersion: service.releaseId,
        queryTimeoutMs: config.engine.queryTimeoutMs,
        maxPointsPerSeries: config.engine.maxPointsPerSeries,
        rules: {
          rules: (q: { type?: "alert" | "record" }) => e.run({ op: "rules", ...q }),
          alerts: () => e.run({ op: "alerts" }),
        },
      });
    }
  }
  for (const plugin of opts.plugins ?? []) await plugin(fastify);
  await fastify.register(apiPlugin, {
    db,
    sessions,
    sessionTtlSeconds: config.api.sessionTtlSeconds,
    passwordMinLength: config.api.passwordMinLength,
    loginThrottle: config.api.loginThrottle,
    tracker: metrics?.users,
    now: opts.now,
  });

  /** Migrations, retried while the database is unreachable (the probes answer meanwhile). */
  const migrateWithRetry = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await migrate(db);
        if (applied.length > 0) logger.info({ versions: applied }, "database migrations applied");
        return;
      } catch (err) {
        if (!(err instanceof DbError && err.kind === "unavailable") || state !== "starting") throw err;
        const waitMs = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
        logger.warn(
          { attempt, retryInMs: waitMs, err: { message: err.message } },
          "database unreachable at start-up",
        );
        await sleep(waitMs);
      }
    }
  };

  let stopped: Promise<void> | undefined;
  const stopEverything = async (drainDelayMs: number) => {
    state = "draining";
    logger.info({ drainDelayMs }, "shutdown: readiness now fails; draining");
    if (drainDelayMs > 0) await sleep(drainDelayMs);
    closing = true;
    const closed = fastify.close();
    // Sockets opened but never used (a client's spare keep-alive connection) would hold close().
    connections.closeIdle();
    await closed;
    state = "stopped";
    metrics?.system.stop();
    sampler?.stop();
    await engine?.stop();
    await notifier?.stop(5_000);
    logAnalysis?.stop();
    notifierDb?.close();
    summary?.stop();
    health?.stop();
    eventLoop?.stop();
    liveness.stop();
    await db.close().catch((err) => logger.error({ err }, "closing the database failed"));
    if (redis) await redis.quit().catch(() => redis?.disconnect());
    logger.info("shutdown complete");
    await appLogger.close();
  };

  return {
    fastify,
    config,
    logger,
    metrics,
    health,
    engine,
    notifier,
    db,
    sessions,
    lifecycle: () => state,
    flushLogsSync: () => appLogger.flushSync(),
    async listen() {
      liveness.start();
      if (metrics) await metrics.system.start();
      summary?.start();
      if (metrics) bindDefaultMetrics(metrics);
      const address = await fastify.listen({ host: config.server.host, port: config.server.port });
      if (redis) await redis.connect().catch(() => undefined); // health and sessions report it until it is up
      await migrateWithRetry();
      if (health) {
        await health.refresh();
        health.start(config.health.intervalMs);
      }
      engine?.start();
      sampler?.start();
      logAnalysis?.start();
      notifier?.start();
      if (state === "starting") state = "ready";
      return address;
    },
    shutdown(o = {}) {
      const delay =
        o.drainDelayMs ?? config.shutdown.drainDelayMs ?? (config.environment === "development" ? 0 : 5000);
      stopped ??= stopEverything(delay);
      return stopped;
    },
    close() {
      stopped ??= stopEverything(0);
      return stopped;
    },
  };
}
