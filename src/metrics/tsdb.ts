// The embedded monitoring engine's own metrics, on the app's registry: the store's figures
// (tsdb_*, from the copy the engine worker reports every second, so a scrape never waits for
// the worker) and the API thread's view of the engine (tug_engine_*: queries by outcome and
// duration, the queue, worker restarts, the worker's heap and event-loop utilisation) and the
// rule engine's evaluations (rule_*, Prometheus's prometheus_rule_* under the app's names).

import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type {
  EngineObserver,
  EngineStats,
  QueryOutcome,
  RestartReason,
  RuleGroupEvaluation,
} from "../engine/protocol.js";
import type { DurableStats } from "../tsdb/index.js";

/** What the metrics read from the engine at scrape time. */
export interface EngineMetricsSource {
  stats(): EngineStats | undefined;
  queueLength(): number;
  /** The worker's event-loop utilisation since the previous call (0–1); absent in process. */
  utilization?(): number | undefined;
}

const OUTCOMES: QueryOutcome[] = [
  "success",
  "bad_data",
  "execution",
  "timeout",
  "canceled",
  "rejected",
  "unavailable",
  "internal",
];
const REASONS: RestartReason[] = ["oom", "crash", "unresponsive", "exit", "startup"];

/** Prometheus's rule_group label value: the group's file and name (names are unique per file only). */
export function ruleGroupLabel(e: Pick<RuleGroupEvaluation, "file" | "group">): string {
  return `${e.file};${e.group}`;
}

/**
 * Registers the engine's metrics; returns the observer the engine reports queries, restarts and
 * rule group evaluations to.
 */
export function registerEngineMetrics(
  registry: Registry,
  source: () => EngineMetricsSource | undefined,
): EngineObserver {
  const stats = () => source()?.stats();
  new Gauge({
    name: "tsdb_series",
    help: "Series held by the embedded time-series store",
    registers: [registry],
    collect() {
      this.set(stats()?.series ?? 0);
    },
  });
  new Gauge({
    name: "tsdb_samples",
    help: "Samples held by the embedded time-series store",
    registers: [registry],
    collect() {
      this.set(stats()?.samples ?? 0);
    },
  });
  new Gauge({
    name: "tsdb_memory_bytes",
    help: "Estimated memory held by the embedded time-series store, in bytes",
    registers: [registry],
    collect() {
      this.set(stats()?.bytes ?? 0);
    },
  });
  // The store keeps running totals (from zero again after a worker restart); the counter catches
  // up with them at each scrape and never goes back.
  const seen = { series_limit: 0, out_of_order: 0, duplicate: 0, invalid: 0 };
  new Counter({
    name: "tsdb_appends_refused_total",
    help: "Appends refused by the embedded store, by reason (series_limit, out_of_order, duplicate, invalid)",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      const c = stats()?.counters;
      const now = {
        series_limit: c?.seriesRefusedTotal ?? 0,
        out_of_order: c?.outOfOrderTotal ?? 0,
        duplicate: c?.duplicateTotal ?? 0,
        invalid: c?.invalidTotal ?? 0,
      };
      for (const reason of Object.keys(now) as Array<keyof typeof now>) {
        const delta = now[reason] >= seen[reason] ? now[reason] - seen[reason] : now[reason];
        this.inc({ reason }, delta);
        seen[reason] = now[reason];
      }
    },
  });
  registerDurableMetrics(registry, () => stats()?.durable);
  const queries = new Counter({
    name: "tug_engine_queries_total",
    help: "Queries run by the monitoring engine (PromQL API, federation, log analysis), by outcome (success, bad_data, execution, timeout, canceled, rejected, unavailable, internal)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  for (const outcome of OUTCOMES) queries.inc({ outcome }, 0);
  const duration = new Histogram({
    name: "tug_engine_query_duration_seconds",
    help: "Time from a query's arrival to its answer, queue included",
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 120],
    registers: [registry],
  });
  new Gauge({
    name: "tug_engine_query_queue_length",
    help: "Queries waiting for the monitoring engine (not counting the one running)",
    registers: [registry],
    collect() {
      this.set(source()?.queueLength() ?? 0);
    },
  });
  const restarts = new Counter({
    name: "tug_engine_restarts_total",
    help: "Engine worker replacements, by reason (oom, crash, unresponsive, exit, startup); each loses the in-memory store",
    labelNames: ["reason"],
    registers: [registry],
  });
  for (const reason of REASONS) restarts.inc({ reason }, 0);
  new Gauge({
    name: "tug_engine_worker_heap_bytes",
    help: "V8 heap in use by the monitoring engine's thread, in bytes",
    registers: [registry],
    collect() {
      this.set(stats()?.heapUsedBytes ?? 0);
    },
  });
  new Gauge({
    name: "tug_engine_worker_utilization_ratio",
    help: "Share of time the engine worker's event loop was busy since the previous scrape (0-1)",
    registers: [registry],
    collect() {
      const u = source()?.utilization?.();
      if (u !== undefined) this.set(u);
    },
  });
  const ruleEvaluations = new Counter({
    name: "rule_evaluations_total",
    help: "Rule evaluations, by rule group (file;name)",
    labelNames: ["rule_group"],
    registers: [registry],
  });
  const ruleFailures = new Counter({
    name: "rule_evaluation_failures_total",
    help: "Rule evaluations that failed, by rule group (file;name); each is logged at warn (at most once a minute per rule)",
    labelNames: ["rule_group"],
    registers: [registry],
  });
  const ruleDuration = new Gauge({
    name: "rule_group_last_duration_seconds",
    help: "Duration of the last evaluation of each rule group (file;name), in seconds",
    labelNames: ["rule_group"],
    registers: [registry],
  });
  const ruleMissed = new Counter({
    name: "rule_group_iterations_missed_total",
    help: "Ticks of each rule group (file;name) skipped because an evaluation started late or outlasted the interval",
    labelNames: ["rule_group"],
    registers: [registry],
  });
  return {
    query(outcome, seconds) {
      queries.inc({ outcome });
      duration.observe(seconds);
    },
    restart(reason) {
      restarts.inc({ reason });
    },
    ruleGroup(e) {
      const labels = { rule_group: ruleGroupLabel(e) };
      ruleEvaluations.inc(labels, e.evaluations);
      // Both series exist from a group's first evaluation, failing or not.
      ruleFailures.inc(labels, e.failures.length);
      ruleMissed.inc(labels, e.missedIterations);
      ruleDuration.set(labels, e.durationMs / 1000);
    },
  };
}

/**
 * The durable store's figures (docs/storage.md): its folder's size, its faults and its
 * background work. Counters catch up with the store's running totals at each scrape (which
 * start from zero again in a new engine worker) and never go back.
 */
function registerDurableMetrics(registry: Registry, durable: () => DurableStats | undefined): void {
  new Gauge({
    name: "tsdb_disk_bytes",
    help: "Bytes of the embedded store's folder, by part (blocks, wal)",
    labelNames: ["part"],
    registers: [registry],
    collect() {
      const d = durable();
      if (!d) return;
      this.set({ part: "blocks" }, d.blockBytes);
      this.set({ part: "wal" }, d.walBytes);
    },
  });
  new Gauge({
    name: "tsdb_blocks",
    help: "Blocks of the embedded store on disk (raw and downsampled)",
    registers: [registry],
    collect() {
      const d = durable();
      if (d) this.set(d.blocks);
    },
  });
  new Gauge({
    name: "tsdb_disk_failing",
    help: "1 while the embedded store cannot write to its folder (samples are kept in memory), else 0",
    registers: [registry],
    collect() {
      const d = durable();
      if (d) this.set(d.diskFailing ? 1 : 0);
    },
  });
  new Gauge({
    name: "tsdb_persisted_until_timestamp_seconds",
    help: "Newest sample time the embedded store's blocks hold (older samples survive losing the write-ahead log)",
    registers: [registry],
    collect() {
      const d = durable();
      if (d && Number.isFinite(d.persistedUpToMs)) this.set(d.persistedUpToMs / 1000);
    },
  });
  const totals: Array<[string, string, (d: DurableStats) => number]> = [
    [
      "tsdb_wal_corruptions_total",
      "Damaged write-ahead log records found at start-up (the rest of their segment is skipped)",
      (d) => d.walCorruptions,
    ],
    [
      "tsdb_block_corruptions_total",
      "Store blocks or chunks that failed their checksums",
      (d) => d.blockCorruptions,
    ],
    [
      "tsdb_write_failures_total",
      "Failed writes of the embedded store to its folder (disk full, I/O error)",
      (d) => d.writeFailures,
    ],
    ["tsdb_compactions_total", "Blocks written by the embedded store", (d) => d.compactions],
  ];
  for (const [name, help, read] of totals) {
    let seen = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const d = durable();
        if (!d) return;
        const now = read(d);
        this.inc(now >= seen ? now - seen : now);
        seen = now;
      },
    });
  }
}
