import type { Counter, Registry } from "prom-client";
import { GuardedChildren, type GuardLogger } from "./guard.js";

/**
 * Histogram series whose hot path is arithmetic, exposed to prom-client as ordinary metric
 * families. Written here because prom-client's labelled path re-validates the labels and
 * rebuilds a hash string on every observe, even through a cached child: measured by
 * `npm run bench` (bench/run.ts) that was ~11 µs of the ~14 µs monitoring added to each
 * request, and this store brings the added cost to ~3 µs (docs in the closing note of the
 * service-foundation issue).
 */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot is above every bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  /** Observations that were failures (db_query_errors_total reads this). */
  errors = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > (b[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

/**
 * Every series of one histogram (a metric family: one name, one child per label set), bounded by
 * the cardinality guard. Current values only; the time-series store is src/tsdb's SeriesStore.
 */
export class HistogramFamily {
  readonly bounds: Float64Array;
  private readonly guarded: GuardedChildren<HistogramSeries>;
  private readonly all: HistogramSeries[] = [];

  constructor(
    readonly metricName: string,
    readonly labelNames: readonly string[],
    buckets: readonly number[],
    maxSeries: number,
    overflow: Counter<"metric">,
    logger?: GuardLogger,
  ) {
    this.bounds = Float64Array.from(buckets);
    this.guarded = new GuardedChildren(
      metricName,
      labelNames,
      maxSeries,
      (labels) => {
        const s = new HistogramSeries(labels, this.bounds);
        this.all.push(s);
        return s;
      },
      overflow,
      logger,
    );
  }

  /** The series for `key`; `labels` builds its label set only when it is new. */
  get(key: string, labels: () => Record<string, string>): HistogramSeries {
    return this.guarded.get(key, labels);
  }

  /** Number of series with their own label set (the overflow series excluded). */
  get size(): number {
    return this.guarded.size;
  }

  series(): readonly HistogramSeries[] {
    return this.all;
  }

  reset(): void {
    for (const s of this.all) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
      s.errors = 0;
    }
  }
}

type Value = { value: number; labels: Record<string, string | number>; metricName?: string };

/** The minimal metric interface prom-client's Registry uses (get, reset, name, help, type). */
interface RegistryMetric {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  labelNames: string[];
  get(): Promise<{ name: string; help: string; type: string; values: Value[]; aggregator: string }>;
  reset(): void;
}

function register(registry: Registry, metric: RegistryMetric): void {
  (registry as unknown as { registerMetric(m: RegistryMetric): void }).registerMetric(metric);
}

/** Register `store` on `registry` as a histogram family `name`. */
export function registerHistogram(
  registry: Registry,
  name: string,
  help: string,
  store: HistogramFamily,
): void {
  const les = [...store.bounds].map((b) => b as number | string);
  les.push("+Inf");
  register(registry, {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    labelNames: [...store.labelNames],
    async get() {
      const values: Value[] = [];
      for (const s of store.series()) {
        let cumulative = 0;
        for (let i = 0; i < les.length; i++) {
          cumulative += s.counts[i] as number;
          values.push({
            value: cumulative,
            labels: { ...s.labels, le: les[i] as string | number },
            metricName: `${name}_bucket`,
          });
        }
        values.push({ value: s.sum, labels: { ...s.labels }, metricName: `${name}_sum` });
        values.push({ value: s.count, labels: { ...s.labels }, metricName: `${name}_count` });
      }
      return { name, help, type: "histogram", values, aggregator: "sum" };
    },
    reset: () => store.reset(),
  });
}

/** Register a counter family `name` whose value per series is `pick(series)`. */
export function registerCounter(
  registry: Registry,
  name: string,
  help: string,
  store: HistogramFamily,
  pick: (s: HistogramSeries) => number,
): void {
  register(registry, {
    name,
    help,
    type: "counter",
    aggregator: "sum",
    labelNames: [...store.labelNames],
    async get() {
      const values = store.series().map((s) => ({ value: pick(s), labels: { ...s.labels } }));
      return { name, help, type: "counter", values, aggregator: "sum" };
    },
    reset: () => store.reset(),
  });
}
