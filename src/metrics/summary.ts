import type { MetricObjectWithValues, MetricValue, Registry } from "prom-client";
import { systemClock, systemTimers, type TimerHandle, type Timers } from "../core/clock.js";
import { bucketQuantile } from "./quantile.js";
import type { SystemMetrics } from "./system.js";
import type { UserActivityMonitor } from "./users.js";

interface HistAgg {
  count: number;
  sum: number;
  errors: number;
  clientErrors: number;
  les: number[];
  buckets: number[];
}

type Aggregates = Map<string, HistAgg>;

interface Snapshot {
  t: number;
  http: Aggregates;
  db: Aggregates;
}

const OVERALL = "";

type Family = MetricObjectWithValues<MetricValue<string>>;

/** Fold a histogram family into cumulative buckets per key (and the overall key ""). */
function aggregate(
  hist: Family | undefined,
  keyOf: (labels: Record<string, string | number>) => string,
  classify: (labels: Record<string, string | number>) => "server" | "client" | null,
  errors?: Family,
): Aggregates {
  const out: Aggregates = new Map();
  const get = (key: string): HistAgg => {
    let a = out.get(key);
    if (!a) {
      a = emptyAgg();
      out.set(key, a);
    }
    return a;
  };
  for (const v of hist?.values ?? []) {
    const name = (v as { metricName?: string }).metricName ?? "";
    const labels = v.labels as Record<string, string | number>;
    for (const key of [OVERALL, keyOf(labels)]) {
      const a = get(key);
      if (name.endsWith("_bucket")) {
        const le = labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(labels.le);
        let i = a.les.indexOf(le);
        if (i < 0) {
          a.les.push(le);
          a.buckets.push(0);
          i = a.les.length - 1;
        }
        a.buckets[i] = (a.buckets[i] ?? 0) + v.value;
      } else if (name.endsWith("_count")) {
        a.count += v.value;
        const kind = classify(labels);
        if (kind === "server") a.errors += v.value;
        else if (kind === "client") a.clientErrors += v.value;
      } else if (name.endsWith("_sum")) a.sum += v.value;
    }
  }
  if (errors) {
    for (const v of errors.values ?? []) {
      const labels = v.labels as Record<string, string | number>;
      get(OVERALL).errors += v.value;
      get(keyOf(labels)).errors += v.value;
    }
  }
  for (const a of out.values()) {
    const order = a.les.map((_, i) => i).sort((x, y) => (a.les[x] as number) - (a.les[y] as number));
    a.les = order.map((i) => a.les[i] as number);
    a.buckets = order.map((i) => a.buckets[i] as number);
  }
  return out;
}

function minus(now: HistAgg, before: HistAgg | undefined): HistAgg {
  if (!before) return now;
  return {
    count: now.count - before.count,
    sum: now.sum - before.sum,
    errors: now.errors - before.errors,
    clientErrors: now.clientErrors - before.clientErrors,
    les: now.les,
    buckets: now.buckets.map((b, i) => {
      const j = before.les.indexOf(now.les[i] as number);
      return b - (j >= 0 ? (before.buckets[j] as number) : 0);
    }),
  };
}

const round = (v: number, digits = 6) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : null);

function percentiles(a: HistAgg) {
  return {
    p50: round(bucketQuantile(0.5, a.les, a.buckets)),
    p95: round(bucketQuantile(0.95, a.les, a.buckets)),
    p99: round(bucketQuantile(0.99, a.les, a.buckets)),
  };
}

async function family(registry: Registry, name: string): Promise<Family | undefined> {
  const m = registry.getSingleMetric(name);
  return m ? ((await m.get()) as Family) : undefined;
}

export interface SummaryDeps {
  registry: Registry;
  system: SystemMetrics;
  users: UserActivityMonitor;
  windowSeconds: number;
  /** Wall clock, ms since the epoch. Default the system clock. */
  now?: () => number;
  /** The snapshot interval. Default the system timers. */
  timers?: Timers;
  startedAt?: number;
}

/**
 * The readable summary behind /monitoring/metrics/json. Rates and percentiles cover the last
 * `windowSeconds` (or the time since start when shorter): snapshots of the HTTP and database
 * histograms are taken from the registry on a timer, and the newest reading is compared with
 * the oldest snapshot inside the window.
 */
export class MetricsSummary {
  private readonly snapshots: Snapshot[] = [];
  private timer: TimerHandle | undefined;
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly startedAt: number;

  constructor(private readonly deps: SummaryDeps) {
    this.now = deps.now ?? systemClock.now;
    this.timers = deps.timers ?? systemTimers;
    this.startedAt = deps.startedAt ?? this.now();
  }

  private async read(): Promise<Snapshot> {
    const { registry } = this.deps;
    const [http, db, dbErrors] = await Promise.all([
      family(registry, "http_request_duration_seconds"),
      family(registry, "db_query_duration_seconds"),
      family(registry, "db_query_errors_total"),
    ]);
    return {
      t: this.now(),
      http: aggregate(
        http,
        (l) => `${l.method} ${l.route}`,
        (l) => {
          const code = Number(l.status_code);
          return code >= 500 ? "server" : code >= 400 ? "client" : null;
        },
      ),
      db: aggregate(
        db,
        (l) => `${l.operation} ${l.table}`,
        () => null,
        dbErrors,
      ),
    };
  }

  /** Keep a snapshot every window/20 so the window slides in small steps. */
  start(): void {
    const every = Math.max(1000, (this.deps.windowSeconds * 1000) / 20);
    this.timer = this.timers
      .setInterval(() => {
        this.read()
          .then((s) => {
            this.snapshots.push(s);
            const horizon = s.t - this.deps.windowSeconds * 1000;
            while (this.snapshots.length > 1 && (this.snapshots[1] as Snapshot).t <= horizon)
              this.snapshots.shift();
          })
          // A failed read (a collect function threw) skips one snapshot; build() reads the
          // registry itself and reports the error to its caller.
          .catch(() => undefined);
      }, every)
      .unref();
  }

  stop(): void {
    if (this.timer) this.timers.clearInterval(this.timer);
  }

  async build(opts: { families?: boolean } = {}) {
    const cur = await this.read();
    const horizon = cur.t - this.deps.windowSeconds * 1000;
    const base = this.snapshots.find((s) => s.t >= horizon);
    const since = base?.t ?? this.startedAt;
    const elapsed = Math.max(0.001, (cur.t - since) / 1000);

    const httpAll = minus(cur.http.get(OVERALL) ?? emptyAgg(), base?.http.get(OVERALL));
    const routes = [...cur.http.entries()]
      .filter(([k]) => k !== OVERALL)
      .map(([key, agg]) => {
        const w = minus(agg, base?.http.get(key));
        const [method, route] = splitKey(key);
        return {
          method,
          route,
          requestsTotal: agg.count,
          requestRatePerSecond: round(w.count / elapsed),
          errorRatio: w.count > 0 ? round(w.errors / w.count) : null,
          latencySeconds: percentiles(w),
        };
      })
      .sort((a, b) => (b.requestRatePerSecond ?? 0) - (a.requestRatePerSecond ?? 0));

    const dbAll = minus(cur.db.get(OVERALL) ?? emptyAgg(), base?.db.get(OVERALL));
    const queries = [...cur.db.entries()]
      .filter(([k]) => k !== OVERALL)
      .map(([key, agg]) => {
        const w = minus(agg, base?.db.get(key));
        const [operation, table] = splitKey(key);
        return {
          operation,
          table,
          queriesTotal: agg.count,
          errorsTotal: agg.errors,
          queryRatePerSecond: round(w.count / elapsed),
          meanSeconds: w.count > 0 ? round(w.sum / w.count) : null,
          latencySeconds: percentiles(w),
        };
      })
      .sort((a, b) => b.queriesTotal - a.queriesTotal);

    const registry = this.deps.registry;
    const byLabel = async (name: string, label: string) => {
      const f = await family(registry, name);
      const out: Record<string, number> = {};
      for (const v of f?.values ?? []) {
        const k = String((v.labels as Record<string, string>)[label] ?? "");
        out[k] = (out[k] ?? 0) + v.value;
      }
      return out;
    };
    const single = async (name: string) => (await family(registry, name))?.values?.[0]?.value ?? null;
    const sys = this.deps.system.snapshot;

    return {
      generatedAt: new Date(cur.t).toISOString(),
      uptimeSeconds: round((cur.t - this.startedAt) / 1000, 3),
      windowSeconds: round(elapsed, 3),
      http: {
        requestsTotal: (cur.http.get(OVERALL) ?? emptyAgg()).count,
        requestRatePerSecond: round(httpAll.count / elapsed),
        errorRatio: httpAll.count > 0 ? round(httpAll.errors / httpAll.count) : null,
        clientErrorRatio: httpAll.count > 0 ? round(httpAll.clientErrors / httpAll.count) : null,
        inFlight: await single("http_requests_in_flight"),
        latencySeconds: percentiles(httpAll),
        routes,
      },
      database: {
        queriesTotal: (cur.db.get(OVERALL) ?? emptyAgg()).count,
        errorsTotal: (cur.db.get(OVERALL) ?? emptyAgg()).errors,
        queryRatePerSecond: round(dbAll.count / elapsed),
        errorRatio: dbAll.count > 0 ? round(dbAll.errors / dbAll.count) : null,
        latencySeconds: percentiles(dbAll),
        queries,
      },
      system: {
        cpuUsageRatio: round(sys.cpuUsageRatio),
        memoryUsageRatio: round(sys.memoryUsageRatio),
        memoryTotalBytes: sys.memoryTotalBytes,
        memoryAvailableBytes: sys.memoryAvailableBytes,
        loadAverage: { "1m": sys.load[0], "5m": sys.load[1], "15m": sys.load[2] },
        disks: sys.disks.map((d) => ({ ...d, usageRatio: round(d.usageRatio) })),
        process: {
          residentMemoryBytes: await single("process_resident_memory_bytes"),
          heapUsedBytes: process.memoryUsage().heapUsed,
          cpuSecondsTotal: await single("process_cpu_seconds_total"),
          eventLoopLagSeconds: await single("nodejs_eventloop_lag_seconds"),
          eventLoopLagP99Seconds: await single("nodejs_eventloop_lag_p99_seconds"),
        },
      },
      users: {
        active: this.deps.users.activeCounts(),
        registrationsTotal: await byLabel("user_registrations_total", "method"),
        loginsTotal: await byLabel("user_logins_total", "outcome"),
        featureUsageTotal: await byLabel("feature_usage_total", "feature"),
      },
      cardinality: { overflowTotal: await byLabel("metrics_cardinality_overflow_total", "metric") },
      ...(opts.families === false ? {} : { families: await registry.getMetricsAsJSON() }),
    };
  }
}

function emptyAgg(): HistAgg {
  return { count: 0, sum: 0, errors: 0, clientErrors: 0, les: [], buckets: [] };
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf(" ");
  return [key.slice(0, i), key.slice(i + 1)];
}
