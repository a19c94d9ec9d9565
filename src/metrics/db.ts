import type { Counter, Registry } from "prom-client";
import type { GuardLogger } from "./guard.js";
import { HistogramFamily, type HistogramSeries, registerCounter, registerHistogram } from "./series.js";

const LABELS = ["operation", "table"] as const;

/**
 * Database query metrics of DESIGN.md's contract: db_query_duration_seconds and
 * db_query_errors_total, two views of one series store by operation and table.
 */
export class DbMetrics {
  readonly store: HistogramFamily;

  constructor(
    registry: Registry,
    buckets: number[],
    maxSeries: number,
    overflow: Counter<"metric">,
    logger?: GuardLogger,
  ) {
    this.store = new HistogramFamily(
      "db_query_duration_seconds",
      LABELS,
      buckets,
      maxSeries,
      overflow,
      logger,
    );
    registerHistogram(
      registry,
      "db_query_duration_seconds",
      "Database query duration by operation and table, in seconds (failed queries included)",
      this.store,
    );
    registerCounter(
      registry,
      "db_query_errors_total",
      "Database queries that failed, by operation and table",
      this.store,
      (s) => s.errors,
    );
  }

  /** The series of one operation and table; callers cache it per statement. */
  series(operation: string, table: string): HistogramSeries {
    return this.store.get(`${operation}\u0001${table}`, () => ({ operation, table }));
  }

  /** Record one query; `failed` also counts it in db_query_errors_total. */
  record(operation: string, table: string, seconds: number, failed: boolean): void {
    const s = this.series(operation, table);
    s.observe(seconds);
    if (failed) s.errors++;
  }
}
