import type { DbMetrics } from "../../metrics/db.js";
import { InstrumentedDatabase, type QueryLogger } from "./instrumented.js";
import { PostgresDriver } from "./postgres.js";
import { SqliteDriver } from "./sqlite.js";
import type { Database } from "./types.js";

export { migrate } from "./migrations.js";
export type { Database, QueryLogger, QueryResult, Row } from "./types.js";
export { DbError } from "./types.js";

export interface OpenDatabaseOptions {
  url: string;
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  slowQueryThresholdMs: number;
  metrics?: DbMetrics;
  logger?: QueryLogger & { error(obj: object, msg: string): void };
}

/** Open the database named by `url` (sqlite:<path> or postgres://…) behind the instrumented adapter. */
export function openDatabase(opts: OpenDatabaseOptions): Database {
  const driver = opts.url.startsWith("sqlite:")
    ? new SqliteDriver(opts.url.slice("sqlite:".length))
    : new PostgresDriver({
        url: opts.url,
        poolSize: opts.poolSize,
        connectTimeoutMs: opts.connectTimeoutMs,
        statementTimeoutMs: opts.statementTimeoutMs,
        onError: (err) =>
          opts.logger?.error({ err: { message: err.message } }, "idle PostgreSQL connection failed"),
      });
  return new InstrumentedDatabase(driver, {
    metrics: opts.metrics,
    logger: opts.logger,
    slowQueryThresholdMs: opts.slowQueryThresholdMs,
  });
}
