import { Counter, Histogram, type Registry } from "prom-client";
import { GuardedChildren, type GuardLogger } from "./guard.js";

const LABELS = ["operation", "table"] as const;

interface Child {
  observe(seconds: number): void;
  error(): void;
}

/** Database query metrics of DESIGN.md's contract: duration and errors by operation and table. */
export class DbMetrics {
  readonly duration: Histogram<(typeof LABELS)[number]>;
  readonly errors: Counter<(typeof LABELS)[number]>;
  private readonly children: GuardedChildren<Child>;

  constructor(
    registry: Registry,
    buckets: number[],
    maxSeries: number,
    overflow: Counter<"metric">,
    logger?: GuardLogger,
  ) {
    this.duration = new Histogram({
      name: "db_query_duration_seconds",
      help: "Database query duration by operation and table, in seconds (failed queries included)",
      labelNames: LABELS,
      buckets,
      registers: [registry],
    });
    this.errors = new Counter({
      name: "db_query_errors_total",
      help: "Database queries that failed, by operation and table",
      labelNames: LABELS,
      registers: [registry],
    });
    const duration = this.duration;
    const errors = this.errors;
    this.children = new GuardedChildren<Child>(
      "db_query_duration_seconds",
      LABELS,
      maxSeries,
      (labels) => {
        const h = duration.labels(labels);
        const e = errors.labels(labels);
        return { observe: (s) => h.observe(s), error: () => e.inc() };
      },
      overflow,
      logger,
    );
  }

  /** Record one query; `failed` also counts it in db_query_errors_total. */
  record(operation: string, table: string, seconds: number, failed: boolean): void {
    const child = this.children.get(`${operation}\u0001${table}`, () => ({ operation, table }));
    child.observe(seconds);
    if (failed) child.error();
  }
}
