import { performance } from "node:perf_hooks";
import type { DbMetrics } from "../../metrics/db.js";
import type { HistogramSeries } from "../../metrics/series.js";
import { describeStatement, oneLine, type StatementInfo } from "./sql.js";
import type { Database, Driver, QueryLogger, QueryResult, Row } from "./types.js";

export type { QueryLogger };

export interface InstrumentOptions {
  metrics?: DbMetrics;
  logger?: QueryLogger;
  slowQueryThresholdMs: number;
}

/**
 * The one database adapter: every statement passes through `run`, which times it, records
 * db_query_duration_seconds / db_query_errors_total by operation and table, and logs slow
 * queries (statement text only: parameters may hold secrets).
 */
export class InstrumentedDatabase implements Database {
  readonly dialect: Database["dialect"];
  private readonly info = new Map<string, StatementInfo & { series: HistogramSeries | undefined }>();

  constructor(
    private readonly driver: Driver,
    private readonly opts: InstrumentOptions,
  ) {
    this.dialect = driver.dialect;
  }

  /** Operation, table and metric series of a statement, worked out once per SQL text. */
  private describe(sql: string): StatementInfo & { series: HistogramSeries | undefined } {
    let info = this.info.get(sql);
    if (!info) {
      const d = describeStatement(sql);
      info = { ...d, series: this.opts.metrics?.series(d.operation, d.table) };
      if (this.info.size < 1000) this.info.set(sql, info);
    }
    return info;
  }

  private async run<T>(
    exec: Driver["exec"],
    sql: string,
    params: readonly unknown[],
    log: QueryLogger | undefined,
  ): Promise<QueryResult<T>> {
    const start = performance.now();
    let failed = false;
    try {
      return (await exec(sql, params)) as QueryResult<T>;
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      const ms = performance.now() - start;
      const { operation, table, series } = this.describe(sql);
      if (series) {
        series.observe(ms / 1000);
        if (failed) series.errors++;
      }
      if (ms >= this.opts.slowQueryThresholdMs && this.opts.slowQueryThresholdMs > 0) {
        (log ?? this.opts.logger)?.warn(
          {
            event: "slow_query",
            operation,
            table,
            durationMs: Math.round(ms * 1000) / 1000,
            sql: oneLine(sql),
            failed,
          },
          "slow query",
        );
      }
    }
  }

  query<T = Row>(sql: string, params: readonly unknown[] = [], log?: QueryLogger): Promise<QueryResult<T>> {
    return this.run<T>((s, p) => this.driver.exec(s, p), sql, params, log);
  }

  transaction<T>(fn: (tx: Database) => Promise<T>): Promise<T> {
    return this.driver.transaction((exec) => {
      const tx: Database = {
        dialect: this.dialect,
        query: <R = Row>(sql: string, params: readonly unknown[] = [], log?: QueryLogger) =>
          this.run<R>(exec, sql, params, log),
        transaction: () => Promise.reject(new Error("nested transactions are not supported")),
        close: () => Promise.resolve(),
      };
      return fn(tx);
    });
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
