import { randomUUID } from "node:crypto";
import { dirname, resolve } from "node:path";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { Redis } from "ioredis";
import { type Database, migrate } from "./api/db/index.js";
import {
  apiPlugin,
  DatabaseSessionStore,
  openDatabase,
  RedisSessionStore,
  type SessionStore,
} from "./api/index.js";
import type { Config } from "./core/config/index.js";
import { installErrorHandling } from "./http/errors.js";
import { monitoringRoutes } from "./http/monitoring.js";
import { createLogger, type Logger } from "./logs/logger.js";
import { bindDefaultMetrics } from "./metrics/defaults.js";
import { createMetrics, type Metrics, MetricsSummary } from "./metrics/index.js";

export interface AppOptions {
  config: Config;
  /** false builds the same API with no monitoring at all (the benchmark's baseline). */
  monitoring?: boolean;
  logger?: Logger;
  now?: () => number;
  /** Extra plugins registered before the API (the benchmark's fastify-metrics variant). */
  plugins?: Array<(app: FastifyInstance) => Promise<void> | void>;
}

export interface App {
  fastify: FastifyInstance;
  config: Config;
  logger: Logger;
  metrics: Metrics | undefined;
  db: Database;
  sessions: SessionStore;
  /** Listen on the configured host and port; returns the address. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The composition root: builds everything from the configuration. */
export async function buildApp(opts: AppOptions): Promise<App> {
  const { config } = opts;
  const monitoring = opts.monitoring ?? true;
  const appLogger = opts.logger
    ? { logger: opts.logger, flush: () => undefined }
    : createLogger({ level: config.log.level, filePath: config.log.filePath, stdout: config.log.stdout });
  const logger = appLogger.logger;

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
  const applied = await migrate(db);
  if (applied.length > 0) logger.info({ versions: applied }, "database migrations applied");

  let redis: Redis | undefined;
  let sessions: SessionStore;
  if (config.redis.url) {
    redis = new Redis(config.redis.url, {
      keyPrefix: undefined,
      commandTimeout: config.redis.commandTimeoutMs,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    redis.on("error", (err) => logger.warn({ err: { message: err.message } }, "redis connection error"));
    try {
      await redis.connect();
    } catch (err) {
      // Sessions answer 503 until Redis is back; ioredis keeps reconnecting.
      logger.error({ err: { message: (err as Error).message } }, "redis is unreachable at start-up");
    }
    sessions = new RedisSessionStore(redis, config.redis.keyPrefix, opts.now);
  } else {
    sessions = new DatabaseSessionStore(db, opts.now);
  }

  const fastify: FastifyInstance = Fastify({
    loggerInstance: logger as unknown as FastifyBaseLogger,
    // Fastify's own two lines per request are off: the access log is ours.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    trustProxy: config.server.trustProxy,
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers["x-request-id"];
      return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
  });
  fastify.addHook("onRequest", (req, reply, done) => {
    reply.header("x-request-id", req.id);
    done();
  });
  installErrorHandling(fastify);
  // A JSON API: a text/plain body is refused with 415 rather than parsed as a string.
  fastify.removeContentTypeParser("text/plain");

  let summary: MetricsSummary | undefined;
  let ready = false;
  if (metrics) {
    metrics.http.install(fastify);
    summary = new MetricsSummary({
      registry: metrics.registry,
      system: metrics.system,
      users: metrics.users,
      windowSeconds: config.metrics.summaryWindowSeconds,
      now: opts.now,
    });
    await fastify.register(monitoringRoutes, {
      metrics,
      summary,
      token: config.monitoring.token,
      isReady: () => ready,
    });
  }
  for (const plugin of opts.plugins ?? []) await plugin(fastify);
  await fastify.register(apiPlugin, {
    db,
    sessions,
    sessionTtlSeconds: config.api.sessionTtlSeconds,
    passwordMinLength: config.api.passwordMinLength,
    tracker: metrics?.users,
    now: opts.now,
  });

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    ready = false;
    metrics?.system.stop();
    summary?.stop();
    await fastify.close();
    await db.close();
    if (redis) await redis.quit().catch(() => redis?.disconnect());
    appLogger.flush();
  };

  return {
    fastify,
    config,
    logger,
    metrics,
    db,
    sessions,
    async listen() {
      if (metrics) {
        await metrics.system.start();
        summary?.start();
        bindDefaultMetrics(metrics);
      }
      const address = await fastify.listen({ host: config.server.host, port: config.server.port });
      ready = true;
      return address;
    },
    close,
  };
}
