import { Counter, Gauge, type Registry } from "prom-client";
import type { SeriesStore } from "../tsdb/index.js";

/** The embedded store's own figures, on the app's registry (read at scrape time). */
export function registerStoreMetrics(registry: Registry, store: SeriesStore): void {
  new Gauge({
    name: "tsdb_series",
    help: "Series held by the embedded time-series store",
    registers: [registry],
    collect() {
      this.set(store.seriesCount());
    },
  });
  new Gauge({
    name: "tsdb_samples",
    help: "Samples held by the embedded time-series store",
    registers: [registry],
    collect() {
      this.set(store.sampleCount());
    },
  });
  new Gauge({
    name: "tsdb_memory_bytes",
    help: "Estimated memory held by the embedded time-series store, in bytes",
    registers: [registry],
    collect() {
      this.set(store.bytesUsed());
    },
  });
  // The store keeps running totals; the counter catches up with them at each scrape.
  const seen = { series_limit: 0, out_of_order: 0, duplicate: 0, invalid: 0 };
  new Counter({
    name: "tsdb_appends_refused_total",
    help: "Appends refused by the embedded store, by reason (series_limit, out_of_order, duplicate, invalid)",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      const c = store.counters();
      const now = {
        series_limit: c.seriesRefusedTotal,
        out_of_order: c.outOfOrderTotal,
        duplicate: c.duplicateTotal,
        invalid: c.invalidTotal,
      };
      for (const reason of Object.keys(now) as Array<keyof typeof now>) {
        const delta = now[reason] - seen[reason];
        this.inc({ reason }, Math.max(delta, 0));
        seen[reason] = now[reason];
      }
    },
  });
}
