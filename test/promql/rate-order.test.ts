import { expect, it } from "vitest";
import { evaluateInstant, evaluateRange } from "../../src/promql/engine.js";
import { labelsFromObject, SeriesStore } from "../../src/tsdb/index.js";

/**
 * rate() must round like Prometheus 2.42's Go code (extrapolatedRate: one factor, divided by the
 * range, then one multiplication): histogram_quantile turns a last-bit difference into another
 * bucket when the rank ties a bucket's count. 99 of 100 observations below 0.5 ms, 10 scrapes
 * over [10s]; the expected values are what Prometheus 2.42 answered for these exact samples
 * (backfilled with promtool). Scaling then dividing gave the opposite answer in all three.
 */
const BOUNDS = ["0.0005", "0.001", "0.0025", "0.005", "+Inf"];
const INC = [99, 99, 100, 100, 100];
const BASE = [5000, 5100, 5200, 5300, 5400];
const T = 1_800_000_010_000;
const CASES: Array<[string, number[], number]> = [
  ["a", [-9887, -8884, -7888, -6885, -5889, -4886, -3883, -2887, -1884, -888], 0.0005],
  ["b", [-10000, -9000, -8000, -7000, -6000, -5000, -4000, -3000, -2000, -1000], 0.001000000000000024],
  ["c", [-9741, -8741, -7741, -6741, -5741, -4741, -3741, -2741, -1741, -741], 0.001000000000000024],
];

it("histogram_quantile over rate ties a bucket boundary the way Prometheus 2.42 does", () => {
  const store = new SeriesStore({ retentionMs: 86_400_000 });
  for (const [name, offsets] of CASES) {
    BOUNDS.forEach((le, b) => {
      const ref = store.getOrCreate(
        labelsFromObject({ __name__: "db_query_duration_seconds_bucket", case: name, le }),
      ) as number;
      offsets.forEach((o, k) => {
        store.appendRef(ref, T + o, (BASE[b] as number) + Math.floor(((INC[b] as number) * k) / 9));
      });
    });
  }
  const q = "histogram_quantile(0.99, rate(db_query_duration_seconds_bucket[10s]))";
  const v = evaluateInstant(q, T, store);
  const got = v.type === "vector" ? v.samples.map((s) => [s.labels[0]?.value, s.value]) : [];
  expect(got.sort()).toEqual(CASES.map(([name, , want]) => [name, want]));
  const r = evaluateRange(q, T - 1000, T, 1000, store);
  expect(r.series.map((s) => [s.labels[0]?.value, s.values[s.values.length - 1]])).toEqual(
    CASES.map(([name, , want]) => [name, want]),
  );
});
