import { Counter, Gauge, Histogram, Registry, Summary } from "prom-client";
import { describe, expect, it } from "vitest";
import { InlineEngine } from "../../src/engine/index.js";
import {
  formatFloat,
  isStaleMarker,
  labelsToObject,
  Sampler,
  type SamplerOptions,
  SeriesStore,
} from "../../src/tsdb/index.js";
import type { ScrapeBatch, ScrapeSink } from "../../src/tsdb/sampler.js";
import { ManualClock } from "../support/clock.js";

const T0 = 1_700_000_000_000;
const ALL = Number.MAX_SAFE_INTEGER;

describe("formatFloat", () => {
  it("renders like Go's FormatFloat(v, 'f', -1, 64) with Prometheus infinities", () => {
    expect([0.005, 1, 2.5, 10, 0.1, 1e-7, 1.5e-10, 1e21, -2.5e22, 123456.789].map(formatFloat)).toEqual([
      "0.005",
      "1",
      "2.5",
      "10",
      "0.1",
      "0.0000001",
      "0.00000000015",
      "1000000000000000000000",
      "-25000000000000000000000",
      "123456.789",
    ]);
    expect(formatFloat(Number.POSITIVE_INFINITY)).toBe("+Inf");
    expect(formatFloat(Number.NEGATIVE_INFINITY)).toBe("-Inf");
  });
});

/** The sampler posting into an in-process engine over `store` (the worker's host, in this thread). */
function sampling(registry: Registry, store = new SeriesStore(), extra: Partial<SamplerOptions> = {}) {
  const engine = new InlineEngine({ store });
  const sampler = new Sampler({ registry, sink: engine, ...extra });
  const scrape = async (t: number) => {
    const r = await sampler.scrapeOnce(t);
    if (!r.result) throw new Error("the in-process engine returns the store's result");
    return { ...r.result, sent: r.series, defined: r.defined };
  };
  return { engine, sampler, store, scrape };
}

describe("Sampler", () => {
  it("stores histogram series with __name__ from metricName and le labels", async () => {
    const registry = new Registry();
    const h = new Histogram({
      name: "req_seconds",
      help: "h",
      labelNames: ["route"],
      buckets: [0.005, 1, 2.5],
      registers: [registry],
    });
    h.observe({ route: "/a" }, 0.7);
    const { store, scrape } = sampling(registry);
    const r = await scrape(T0);
    expect(r).toEqual({ ok: true, appended: 6, rejected: 0, staleMarked: 0, sent: 6, defined: 6 });
    // A second scrape sends the same series by ref only.
    expect(await scrape(T0 + 5_000)).toMatchObject({ appended: 6, sent: 6, defined: 0 });
    const buckets = store.select([{ name: "__name__", type: "=", value: "req_seconds_bucket" }], 0, ALL);
    expect(buckets.map((s) => [labelsToObject(s.labels).le, s.values[0]])).toEqual([
      ["+Inf", 1],
      ["0.005", 0],
      ["1", 1],
      ["2.5", 1],
    ]);
    expect(labelsToObject(buckets[0]?.labels ?? [])).toEqual({
      __name__: "req_seconds_bucket",
      le: "+Inf",
      route: "/a",
    });
    expect(store.labelValues("__name__")).toEqual([
      "req_seconds_bucket",
      "req_seconds_count",
      "req_seconds_sum",
    ]);
    const [sum] = store.select([{ name: "__name__", type: "=", value: "req_seconds_sum" }], 0, ALL);
    expect(sum?.values[0]).toBeCloseTo(0.7);
  });

  it("renders summary quantiles and counters under the family name", async () => {
    const registry = new Registry();
    new Summary({ name: "lat", help: "s", percentiles: [0.5, 0.99], registers: [registry] }).observe(3);
    new Counter({ name: "hits_total", help: "c", registers: [registry] }).inc(2);
    const { store, scrape } = sampling(registry);
    await scrape(T0);
    expect(store.labelValues("quantile")).toEqual(["0.5", "0.99"]);
    expect(store.select([{ name: "__name__", type: "=", value: "lat" }], 0, ALL)).toHaveLength(2);
    expect(store.select([{ name: "__name__", type: "=", value: "hits_total" }], 0, ALL)[0]?.values[0]).toBe(
      2,
    );
  });

  it("appends a stale marker when a series disappears, and resumes when it returns", async () => {
    const registry = new Registry();
    const g = new Gauge({ name: "users_active", help: "g", labelNames: ["window"], registers: [registry] });
    g.set({ window: "5m" }, 3);
    g.set({ window: "1h" }, 7);
    const { store, scrape } = sampling(registry);
    await scrape(T0);
    g.remove({ window: "5m" });
    const r = await scrape(T0 + 5_000);
    expect(r.staleMarked).toBe(1);
    expect((await scrape(T0 + 10_000)).staleMarked).toBe(0); // no second marker for an already-gone series
    g.set({ window: "5m" }, 4);
    await scrape(T0 + 15_000);

    const sel = (w: string) =>
      store.select(
        [
          { name: "__name__", type: "=", value: "users_active" },
          { name: "window", type: "=", value: w },
        ],
        0,
        ALL,
      )[0];
    const gone = sel("5m");
    expect(Array.from(gone?.timestamps ?? [])).toEqual([T0, T0 + 5_000, T0 + 15_000]);
    expect(gone?.values[0]).toBe(3);
    expect(isStaleMarker(gone?.values[1] as number)).toBe(true);
    expect(gone?.values[2]).toBe(4);
    const kept = sel("1h");
    expect(kept?.values.length).toBe(4);
    expect(Array.from(kept?.values ?? []).some(isStaleMarker)).toBe(false);
  });

  it("keeps staleness per source: the sampler's scrape leaves another source's series alone", async () => {
    const registry = new Registry();
    new Gauge({ name: "g", help: "g", registers: [registry] }).set(1);
    const { engine, store, scrape } = sampling(registry);
    await scrape(T0);
    const other = (t: number, refs: number[]): ScrapeBatch => ({
      source: "other",
      timeMs: t,
      ok: true,
      reset: false,
      defs: t === T0 + 1_000 ? [1, 2].map((ref) => ({ ref, labels: ["__name__", `o${ref}`] })) : [],
      forget: [],
      refs: Int32Array.from(refs),
      values: Float64Array.from(refs.map((r) => r * 10)),
    });
    // The other source uses ref numbers the sampler also uses: refs are per source too.
    expect(await engine.ingest(other(T0 + 1_000, [1, 2]))).toMatchObject({
      appended: 2,
      staleMarked: 0,
    });
    expect(await scrape(T0 + 5_000)).toMatchObject({ appended: 1, staleMarked: 0 });
    // Its own scrape without o2 marks o2 stale, and only o2.
    expect(await engine.ingest(other(T0 + 6_000, [1]))).toMatchObject({
      staleMarked: 1,
    });
    // (read from the Float64Array itself: a stale marker is a NaN whose payload a copy may lose)
    const values = (name: string) => {
      const v = store.select([{ name: "__name__", type: "=", value: name }], 0, ALL)[0]?.values ?? [];
      return Array.from({ length: v.length }, (_, i) => (isStaleMarker(v[i] as number) ? "stale" : v[i]));
    };
    expect(values("o1")).toEqual([10, 10]);
    expect(values("o2")).toEqual([20, "stale"]);
    expect(values("g")).toEqual([1, 1]);
  });

  it("marks every series stale when a scrape fails, without rejecting", async () => {
    const registry = new Registry();
    let fail = false;
    new Gauge({
      name: "g",
      help: "g",
      registers: [registry],
      collect() {
        if (fail) throw new Error("boom");
        this.set(1);
      },
    });
    const errors: unknown[] = [];
    const { sampler, scrape } = sampling(registry, new SeriesStore(), { onError: (e) => errors.push(e) });
    await scrape(T0);
    fail = true;
    const r = await scrape(T0 + 5_000);
    expect(r).toMatchObject({ ok: false, staleMarked: 1 });
    expect(errors).toHaveLength(1);
    expect(sampler.stats()).toMatchObject({ scrapesTotal: 2, scrapeFailuresTotal: 1 });
  });

  it("counts samples refused by the series cap", async () => {
    const registry = new Registry();
    const g = new Gauge({ name: "g", help: "g", labelNames: ["i"], registers: [registry] });
    for (let i = 0; i < 5; i++) g.set({ i: String(i) }, i);
    const { engine, store, scrape } = sampling(registry, new SeriesStore({ maxSeries: 3 }));
    expect(await scrape(T0)).toMatchObject({ appended: 3, rejected: 2 });
    expect(store.counters().seriesRefusedTotal).toBe(2);
    expect(engine.stats()).toMatchObject({ samplesRejectedTotal: 2 });
  });

  it("sends labels once per series and engine: refs after that, everything again for a new engine", async () => {
    const registry = new Registry();
    const g = new Gauge({ name: "g", help: "g", labelNames: ["i"], registers: [registry] });
    g.set({ i: "a" }, 1);
    g.set({ i: "b" }, 2);
    const batches: ScrapeBatch[] = [];
    let generation = 1;
    const sink: ScrapeSink = {
      ingest: (b, gen) => {
        expect(gen).toBe(generation);
        batches.push(b);
        return undefined;
      },
      generation: () => generation,
    };
    const sampler = new Sampler({ registry, sink, forgetAfterScrapes: 2 });
    await sampler.scrapeOnce(T0);
    await sampler.scrapeOnce(T0 + 5_000);
    const [first, second] = batches;
    expect(first).toMatchObject({ reset: true, ok: true });
    expect(first?.defs.map((d) => d.labels)).toEqual([
      ["__name__", "g", "i", "a"],
      ["__name__", "g", "i", "b"],
    ]);
    expect(second).toMatchObject({ reset: false, defs: [] });
    expect(Array.from(second?.refs ?? [])).toEqual(Array.from(first?.refs ?? []));
    expect(Array.from(second?.values ?? [])).toEqual([1, 2]);
    generation = 2; // the worker was replaced: it knows no refs
    await sampler.scrapeOnce(T0 + 10_000);
    expect(batches[2]).toMatchObject({ reset: true });
    expect(batches[2]?.defs).toHaveLength(2);
    // A series gone for longer than forgetAfterScrapes is forgotten (checked every 16 scrapes).
    g.remove({ i: "a" });
    for (let k = 3; k < 16; k++) await sampler.scrapeOnce(T0 + k * 5_000);
    const forgotten = batches.flatMap((b) => b.forget);
    expect(forgotten).toEqual([batches[2]?.defs.find((d) => d.labels[3] === "a")?.ref]);
  });

  it("scrapes on an unref'd timer with the injected clock", async () => {
    const registry = new Registry();
    new Gauge({ name: "g", help: "g", registers: [registry] }).set(1);
    const clock = new ManualClock(T0 + 0.4);
    const { sampler, store } = sampling(registry, new SeriesStore(), {
      intervalMs: 1_000,
      now: clock.now,
      timers: clock,
    });
    sampler.start();
    expect(clock.size).toBe(1);
    expect(clock.refed).toBe(0);
    await clock.advanceAsync(1_000);
    await clock.advanceAsync(1_000);
    sampler.stop();
    expect(clock.size).toBe(0);
    expect(Array.from(store.select([], 0, ALL)[0]?.timestamps ?? [])).toEqual([T0 + 1_000, T0 + 2_000]);
  });
});
