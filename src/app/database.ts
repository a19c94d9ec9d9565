// The app's data: the database (opened at build, closed last but the logs), the session store
// (Redis when configured, else the database) and the schema migrations, which run once the
// server listens so that the probes answer while the database is still out of reach.

import { Redis } from "ioredis";
import { DbError, migrate } from "../api/db/index.js";
import { DatabaseSessionStore, openDatabase, RedisSessionStore } from "../api/index.js";
import { type AppCapability, need } from "./context.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const database: AppCapability = {
  name: "database",
  build(ctx) {
    const { config } = ctx;
    const logger = need(ctx, "logger", "database");
    const db = openDatabase({
      url: config.database.url,
      poolSize: config.database.poolSize,
      connectTimeoutMs: config.database.connectTimeoutMs,
      statementTimeoutMs: config.database.statementTimeoutMs,
      slowQueryThresholdMs: config.database.slowQueryThresholdMs,
      metrics: ctx.metrics?.db,
      logger,
    });
    ctx.db = db;
    return [
      {
        name: "database",
        stop: () => db.close().catch((err) => logger.error({ err }, "closing the database failed")),
      },
    ];
  },
};

export const sessions: AppCapability = {
  name: "sessions",
  build(ctx) {
    const { config } = ctx;
    const logger = need(ctx, "logger", "sessions");
    if (!config.redis.url) {
      ctx.sessions = new DatabaseSessionStore(need(ctx, "db", "sessions"), ctx.now);
      return [];
    }
    const redis = new Redis(config.redis.url, {
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
    ctx.redis = redis;
    ctx.sessions = new RedisSessionStore(redis, config.redis.keyPrefix, ctx.now);
    return [
      {
        name: "redis",
        // Health and sessions report Redis as down until it is up: start-up does not wait for it.
        start: () => redis.connect().catch(() => undefined),
        // quit waits for the server's answer; a Redis that is gone gets a plain disconnect.
        stop: () => redis.quit().catch(() => redis.disconnect()),
      },
    ];
  },
};

export const migrations: AppCapability = {
  name: "migrations",
  build(ctx) {
    const db = need(ctx, "db", "migrations");
    const logger = need(ctx, "logger", "migrations");
    /** Migrations, retried while the database is unreachable (the probes answer meanwhile). */
    const migrateWithRetry = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const applied = await migrate(db);
          if (applied.length > 0) logger.info({ versions: applied }, "database migrations applied");
          return;
        } catch (err) {
          if (!(err instanceof DbError && err.kind === "unavailable") || ctx.state.phase !== "starting")
            throw err;
          const waitMs = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
          logger.warn(
            { attempt, retryInMs: waitMs, err: { message: err.message } },
            "database unreachable at start-up",
          );
          await sleep(waitMs);
        }
      }
    };
    // Unbounded by design: the app must not turn ready without its schema, and each attempt logs.
    return [{ name: "migrations", start: migrateWithRetry, startTimeoutMs: Number.POSITIVE_INFINITY }];
  },
};
