// PromQL over the durable store's downsampled tier (docs/storage.md, "What a query reads"):
// min/max/sum/count_over_time over windows that reach before the raw samples read the matching
// aggregate and answer as the raw samples would, to the window: a window is in a range when its
// last sample is, so the answers are exact for ranges that end just before a window boundary
// (the times below: hh:mm:00 − 1 ms). Queries over raw samples alone take the unchanged path.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  evaluateInstant,
  evaluateRange,
  type MatrixValue,
  type VectorValue,
} from "../../src/promql/index.js";
import { DurableStore, labelsFromObject, SeriesStore } from "../../src/tsdb/index.js";

const M = 60_000;
const H = 60 * M;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % H);
const dir = mkdtempSync(join(tmpdir(), "tug-ds-promql-"));
let store: DurableStore;
const ref = new SeriesStore({ retentionMs: 1000 * H, maxSeries: 1000 });

beforeAll(() => {
  store = new DurableStore({ dir, blockRangeMs: H, rawRetentionMs: 2 * H, syncIntervalMs: H });
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const counters = [0, 0];
  for (let k = 0; k < 8 * 240; k++) {
    const t = T0 + k * 15_000 + (k % 5 === 2 ? 3 : 0);
    for (const [i, route] of ["/a", "/b"].entries()) {
      counters[i] = (counters[i] as number) + Math.floor(rnd() * 10);
      const gauge = labelsFromObject({ __name__: "mem", route });
      const counter = labelsFromObject({ __name__: "reqs_total", route });
      const g = Math.round(rnd() * 1000) / 4;
      for (const s of [store, ref]) {
        s.append(gauge, t, g);
        s.append(counter, t, counters[i] as number);
      }
    }
    store.gc(t);
  }
});

afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const exact = [
  "min_over_time(mem[1h])",
  "max_over_time(mem[1h])",
  "count_over_time(mem[1h])",
  "count_over_time(mem[30m])",
];

describe("PromQL on the downsampled tier", () => {
  it("has raw samples only for the last hours", () => {
    expect(store.rawStart()).toBeGreaterThan(T0 + 4 * H);
  });

  it("min, max and count over time answer as the raw samples, before and across the raw boundary", () => {
    for (const t of [T0 + 3 * H - 1, store.rawStart() + 30 * M - 1, T0 + 8 * H - 5 * M - 1]) {
      for (const q of exact) {
        const got = evaluateInstant(q, t, store) as VectorValue;
        const want = evaluateInstant(q, t, ref) as VectorValue;
        expect(got.samples, `${q} at ${(t - T0) / M} min`).toEqual(want.samples);
      }
      const sum = evaluateInstant("sum_over_time(mem[1h])", t, store) as VectorValue;
      const sumRef = evaluateInstant("sum_over_time(mem[1h])", t, ref) as VectorValue;
      // the same samples added in another order (window sums, then their sum)
      for (const [i, s] of sum.samples.entries())
        expect(s.value).toBeCloseTo(sumRef.samples[i]?.value as number, 6);
    }
  });

  it("a 6-hour range query at 5-minute steps (the range plan) agrees with the step-by-step reference", () => {
    for (const q of exact) {
      const got = evaluateRange(q, T0 + 2 * H - 1, T0 + 8 * H - 5 * M - 1, 5 * M, store) as MatrixValue;
      const want = evaluateRange(q, T0 + 2 * H - 1, T0 + 8 * H - 5 * M - 1, 5 * M, ref) as MatrixValue;
      expect(got.series, q).toEqual(want.series);
    }
  });

  it("other functions read the last point of each window: a rate is there, approximately", () => {
    const t = T0 + 3 * H - 1;
    const got = (evaluateInstant("rate(reqs_total[1h])", t, store) as VectorValue).samples;
    const want = (evaluateInstant("rate(reqs_total[1h])", t, ref) as VectorValue).samples;
    expect(got).toHaveLength(2);
    for (const [i, s] of got.entries())
      expect(Math.abs(s.value / (want[i]?.value as number) - 1)).toBeLessThan(0.05);
  });
});
