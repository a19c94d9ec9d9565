import { describe, expect, it } from "vitest";
import {
  isStaleMarker,
  labelsFromObject,
  labelsKey,
  type Matcher,
  SeriesStore,
  StaleNaN,
} from "../../src/tsdb/index.js";

const T0 = 1_700_000_000_000;

function names(store: SeriesStore, matchers: Matcher[]): string[] {
  return store.select(matchers, 0, Number.MAX_SAFE_INTEGER).map((s) => {
    const o = Object.fromEntries(s.labels.map((l) => [l.name, l.value]));
    return `${o.__name__}:${o.method ?? ""}`;
  });
}

function fixture(): SeriesStore {
  const store = new SeriesStore();
  for (const [name, method] of [
    ["http_requests_total", "GET"],
    ["http_requests_total", "POST"],
    ["http_requests_total", ""],
    ["db_query_errors_total", "GET"],
  ] as const) {
    expect(store.append(labelsFromObject({ __name__: name, method }), T0, 1)).toBe("ok");
  }
  return store;
}

describe("labels", () => {
  it("sorts, drops empty values and gives equal sets equal keys", () => {
    const a = labelsFromObject({ b: "2", __name__: "x", a: "1", c: "" });
    expect(a.map((l) => l.name)).toEqual(["__name__", "a", "b"]);
    expect(labelsKey(a)).toBe(labelsKey(labelsFromObject({ a: "1", __name__: "x", b: "2" })));
    // Length prefixes keep values with separator-like characters apart.
    expect(labelsKey(labelsFromObject({ a: "1:b", b: "" }))).not.toBe(
      labelsKey(labelsFromObject({ a: "1" })),
    );
  });
});

describe("SeriesStore matchers", () => {
  const store = fixture();
  it("=", () => {
    expect(names(store, [{ name: "__name__", type: "=", value: "http_requests_total" }])).toEqual([
      "http_requests_total:",
      "http_requests_total:GET",
      "http_requests_total:POST",
    ]);
  });
  it("!=", () => {
    expect(
      names(store, [
        { name: "__name__", type: "=", value: "http_requests_total" },
        { name: "method", type: "!=", value: "GET" },
      ]),
    ).toEqual(["http_requests_total:", "http_requests_total:POST"]);
  });
  it("=~ is fully anchored", () => {
    expect(names(store, [{ name: "method", type: "=~", value: "G" }])).toEqual([]);
    expect(names(store, [{ name: "method", type: "=~", value: "G.*" }])).toEqual([
      "db_query_errors_total:GET",
      "http_requests_total:GET",
    ]);
    expect(names(store, [{ name: "__name__", type: "=~", value: "http_.*|db_.*_total" }])).toHaveLength(4);
    expect(names(store, [{ name: "__name__", type: "=~", value: "requests" }])).toEqual([]);
  });
  it("!~", () => {
    expect(
      names(store, [
        { name: "__name__", type: "=", value: "http_requests_total" },
        { name: "method", type: "!~", value: "GET|POST" },
      ]),
    ).toEqual(["http_requests_total:"]);
  });
  it("a matcher on a missing label compares against the empty string", () => {
    const http: Matcher = { name: "__name__", type: "=", value: "http_requests_total" };
    expect(names(store, [http, { name: "method", type: "=", value: "" }])).toEqual(["http_requests_total:"]);
    expect(names(store, [http, { name: "method", type: "=~", value: ".*" }])).toHaveLength(3);
    expect(names(store, [http, { name: "method", type: "=~", value: ".+" }])).toHaveLength(2);
    expect(names(store, [http, { name: "nope", type: "!=", value: "x" }])).toHaveLength(3);
    expect(names(store, [{ name: "nope", type: "=", value: "x" }])).toEqual([]);
  });
  it("supports a leading (?i) flag and rejects invalid regexes", () => {
    expect(names(store, [{ name: "method", type: "=~", value: "(?i)get" }])).toHaveLength(2);
    expect(() => store.select([{ name: "a", type: "=~", value: "(" }], 0, 1)).toThrow(/invalid regex/);
  });
  it("lists label names and values", () => {
    expect(store.labelNames()).toEqual(["__name__", "method"]);
    expect(store.labelValues("method")).toEqual(["GET", "POST"]);
    expect(store.labelValues("nope")).toEqual([]);
  });
});

describe("SeriesStore samples", () => {
  const up = labelsFromObject({ __name__: "up" });

  it("selects the samples in [minT, maxT] across chunks and delta widths", () => {
    const store = new SeriesStore();
    const ts: number[] = [];
    let t = T0;
    for (let i = 0; i < 1000; i++) {
      t += i % 97 === 0 ? 100_000 : 5_000 + (i % 3); // some gaps too wide for 16-bit deltas
      ts.push(t);
      expect(store.append(up, t, i)).toBe("ok");
    }
    const [all] = store.select([{ name: "__name__", type: "=", value: "up" }], 0, Number.MAX_SAFE_INTEGER);
    expect(Array.from(all?.timestamps ?? [])).toEqual(ts);
    expect(Array.from(all?.values ?? [])).toEqual(ts.map((_, i) => i));
    const lo = ts[300] as number;
    const hi = ts[700] as number;
    const [part] = store.select([{ name: "__name__", type: "=", value: "up" }], lo, hi);
    expect(part?.timestamps.length).toBe(401);
    expect(part?.values[0]).toBe(300);
    expect(store.select([{ name: "__name__", type: "=", value: "up" }], 0, T0)).toEqual([]);
  });

  it("rejects out-of-order, duplicate and non-integral timestamps without throwing", () => {
    const store = new SeriesStore();
    expect(store.append(up, T0 + 10, 1)).toBe("ok");
    expect(store.append(up, T0 + 5, 2)).toBe("out_of_order");
    expect(store.append(up, T0 + 10, 3)).toBe("duplicate");
    expect(store.append(up, T0 + 10.5, 3)).toBe("invalid_timestamp");
    expect(store.sampleCount()).toBe(1);
    expect(store.counters()).toMatchObject({ outOfOrderTotal: 1, duplicateTotal: 1, invalidTotal: 1 });
  });

  it("refuses series beyond maxSeries and counts them", () => {
    const store = new SeriesStore({ maxSeries: 2 });
    for (let i = 0; i < 5; i++) store.append(labelsFromObject({ __name__: "m", i }), T0, i);
    expect(store.seriesCount()).toBe(2);
    expect(store.append(labelsFromObject({ __name__: "m", i: 0 }), T0 + 1, 1)).toBe("ok");
    expect(store.append(labelsFromObject({ __name__: "m", i: 9 }), T0 + 1, 1)).toBe("series_limit");
    expect(store.counters().seriesRefusedTotal).toBe(4);
  });

  it("gc drops samples older than retention, then empty series", () => {
    const store = new SeriesStore({ retentionMs: 60_000 });
    const old = labelsFromObject({ __name__: "old" });
    store.append(old, T0, 1);
    for (let i = 0; i <= 100; i++) store.append(up, T0 + i * 5_000, i);
    const r = store.gc(T0 + 100 * 5_000);
    expect(r).toEqual({ droppedSamples: 1 + 88, droppedSeries: 1 });
    expect(store.seriesCount()).toBe(1);
    expect(store.sampleCount()).toBe(13);
    expect(store.labelValues("__name__")).toEqual(["up"]);
    const [s] = store.select([{ name: "__name__", type: "=", value: "up" }], 0, Number.MAX_SAFE_INTEGER);
    expect(s?.timestamps[0]).toBe(T0 + 88 * 5_000);
    expect(Array.from(s?.values ?? [])).toEqual(Array.from({ length: 13 }, (_, i) => 88 + i));
    // Appending after a compaction keeps working.
    expect(store.append(up, T0 + 101 * 5_000, 101)).toBe("ok");
    expect(store.select([], 0, Number.MAX_SAFE_INTEGER)[0]?.values.at(-1)).toBe(101);
  });

  it("keeps the stale marker's bit pattern through a round trip", () => {
    const store = new SeriesStore();
    store.append(up, T0, 1);
    expect(store.appendStale(up, T0 + 1)).toBe("ok");
    expect(store.appendStale(labelsKey(up), T0 + 1)).toBe("duplicate");
    expect(store.append(up, T0 + 3, Number.NaN)).toBe("ok");
    const [s] = store.select([{ name: "__name__", type: "=", value: "up" }], 0, Number.MAX_SAFE_INTEGER);
    const v = s?.values ?? new Float64Array();
    expect(isStaleMarker(v[1] as number)).toBe(true);
    expect(isStaleMarker(v[2] as number)).toBe(false);
    expect(Number.isNaN(v[2])).toBe(true);
    expect(isStaleMarker(StaleNaN)).toBe(true);
    expect(isStaleMarker(Number.NaN)).toBe(false);
    expect(isStaleMarker(1)).toBe(false);
    expect(store.appendStale(labelsFromObject({ __name__: "nope" }), T0)).toBe("not_found");
  });
});

describe("bytes per sample", () => {
  it("stays at or under 16 for 100 series × 720 samples (1 h at 5 s)", () => {
    const store = new SeriesStore();
    const series = Array.from({ length: 100 }, (_, i) =>
      labelsFromObject({
        __name__: "http_requests_total",
        method: i % 2 ? "GET" : "POST",
        route: `/api/v1/route${i}`,
        status_code: String(200 + (i % 5)),
      }),
    );
    for (let k = 0; k < 720; k++) {
      for (const l of series) store.append(l, T0 + k * 5_000 + (k % 3), k * 1.5);
    }
    expect(store.sampleCount()).toBe(72_000);
    const fresh = store.bytesUsed() / store.sampleCount();
    // Steady state: retention trims the front while new samples arrive.
    let worst = 0;
    for (let k = 720; k < 1_500; k++) {
      for (const l of series) store.append(l, T0 + k * 5_000, k);
      store.gc(T0 + k * 5_000);
      worst = Math.max(worst, store.bytesUsed() / store.sampleCount());
    }
    console.log(
      `tsdb bytes/sample: ${fresh.toFixed(2)} after 720 samples/series, worst ${worst.toFixed(2)} in steady state`,
    );
    expect(fresh).toBeLessThanOrEqual(16);
    expect(worst).toBeLessThanOrEqual(16);
  });
});

describe("select's work meter", () => {
  const store = new SeriesStore({ maxSeries: 2_000 });
  for (let i = 0; i < 1_000; i++)
    for (let k = 0; k < 10; k++) store.append(labelsFromObject({ __name__: "x", i: String(i) }), T0 + k, k);

  it("is ticked for every series and sample the selection visits", () => {
    let units = 0;
    const selected = store.select([{ name: "i", type: "=~", value: ".+" }], 0, T0 + 9, {
      tick: (n) => {
        units += n;
      },
    });
    expect(selected).toHaveLength(1_000);
    // 1,000 label values, 1,000 candidates, the sort's comparisons and 10,000 samples copied.
    expect(units).toBeGreaterThanOrEqual(12_000);
  });

  it("ends the selection when it throws (a query's deadline or cancellation)", () => {
    let units = 0;
    const stop = new Error("stop");
    const meter = {
      tick: (n: number) => {
        units += n;
        if (units > 500) throw stop;
      },
    };
    expect(() => store.select([{ name: "__name__", type: "=", value: "x" }], 0, T0 + 9, meter)).toThrow(stop);
    expect(units).toBeLessThan(1_000);
    // The store is unharmed: the next selection is whole.
    expect(store.select([{ name: "__name__", type: "=", value: "x" }], 0, T0 + 9)).toHaveLength(1_000);
  });
});
