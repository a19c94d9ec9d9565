import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { evaluateRange, evaluateRangeStepwise } from "../../src/promql/engine.js";
import { parseTestFile } from "../../src/promql/testfile.js";
import type { MatrixValue } from "../../src/promql/value.js";
import { labelsFromObject, labelsKey, SeriesStore } from "../../src/tsdb/index.js";

/**
 * The range plan (src/promql/rangeeval.ts) evaluates supported nodes over all steps at once; it
 * must give exactly what the per-step evaluator gives: same series, same timestamps, the same
 * bits in every value (NaN equal to NaN), or the same error.
 */
type Outcome = { error: string } | { series: string[] };

function outcome(f: () => MatrixValue): Outcome {
  try {
    const m = f();
    return {
      series: m.series.map((s) => {
        const vals = s.values.map((v, i) => {
          const bits = new DataView(new Float64Array([v]).buffer).getBigUint64(0).toString(16);
          return `${s.timestamps[i]}=${Number.isNaN(v) ? "NaN" : bits}`;
        });
        return `${labelsKey(s.labels)} ${vals.join(" ")}`;
      }),
    };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function compare(store: SeriesStore, expr: string, start: number, end: number, step: number): void {
  const planned = outcome(() => evaluateRange(expr, start, end, step, store));
  const stepwise = outcome(() => evaluateRangeStepwise(expr, start, end, step, store));
  expect(planned, `${expr} [${start}, ${end}] step ${step}`).toEqual(stepwise);
}

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const confDir = join(process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance"), "promql");

describe("range plan equals per-step evaluation", () => {
  it.skipIf(!existsSync(confDir))(
    "on every eval of Prometheus's PromQL test files, over several windows",
    () => {
      let compared = 0;
      for (const name of readdirSync(confDir).filter((f) => f.endsWith(".test"))) {
        let store = new SeriesStore({ maxSeries: 1_000_000 });
        for (const cmd of parseTestFile(readFileSync(join(confDir, name), "utf8"), name)) {
          if (cmd.kind === "clear") store = new SeriesStore({ maxSeries: 1_000_000 });
          else if (cmd.kind === "load") {
            for (const s of cmd.series) {
              const ref = store.getOrCreate(labelsFromObject(s.labels)) as number;
              for (const p of s.samples) {
                if (p.value === "stale") store.appendStale(ref, p.t);
                else store.appendRef(ref, p.t, p.value);
              }
            }
          } else {
            const at = cmd.atMs;
            for (const [start, end, step] of [
              [at - 60_000, at + 60_000, 60_000],
              [at - 600_000, at + 300_000, 37_000],
              [Math.max(0, at - 3_600_000), at, 433_000],
              [0, at + 120_000, 15_000],
            ] as const) {
              compare(store, cmd.expr, start, end, step);
              compared++;
            }
          }
        }
      }
      expect(compared).toBeGreaterThan(1500);
    },
  );

  it("on awkward data: staleness, gaps, resets, NaN, name-only duplicates, odd buckets", () => {
    const store = new SeriesStore({ maxSeries: 1000 });
    const add = (labels: Record<string, string>, points: Array<[number, number | "stale"]>) => {
      const ref = store.getOrCreate(labelsFromObject(labels)) as number;
      for (const [t, v] of points) {
        if (v === "stale") store.appendStale(ref, t);
        else store.appendRef(ref, t, v);
      }
    };
    const series = (f: (i: number) => number | "stale" | undefined, n = 240, every = 15_000) => {
      const out: Array<[number, number | "stale"]> = [];
      for (let i = 0; i < n; i++) {
        const v = f(i);
        if (v !== undefined) out.push([i * every + (i % 3) * 7, v]);
      }
      return out;
    };
    for (const job of ["a", "b"]) {
      for (const le of ["0.1", "0.5", "1", "1.0", "+Inf", "bogus"]) {
        const k = Number(le === "+Inf" ? 10 : le === "bogus" ? 3 : le) * (job === "a" ? 1 : 2);
        add(
          { __name__: "h_bucket", job, le },
          series((i) => (i === 120 ? "stale" : i > 60 && i < 70 ? undefined : Math.floor(i * k) % 500)),
        );
      }
      add(
        { __name__: "h2_bucket", job, le: "+Inf" },
        series((i) => i * 3),
      );
      add(
        { __name__: "h2_bucket", job, le: "1" },
        series((i) => (i % 50 === 0 ? 0 : i)),
      );
      add(
        { __name__: "nanb_bucket", job, le: "NaN" },
        series((i) => i),
      );
      add(
        { __name__: "nanb_bucket", job, le: "+Inf" },
        series((i) => i),
      );
      add(
        { __name__: "c_total", job },
        series((i) => (i % 40 === 39 ? "stale" : (i * 7) % 90)),
      );
      add(
        { __name__: "d_total", job },
        series((i) => (i < 100 ? i * 2 : undefined)),
      );
      add(
        { __name__: "g", job },
        series((i) => (i % 17 === 0 ? Number.NaN : Math.sin(i) * 1e3)),
      );
    }
    // Two series that differ only in their name: rate() of both collides after the name is dropped.
    add(
      { __name__: "x_total", job: "a" },
      series((i) => i, 100),
    );
    add({ __name__: "y_total", job: "a" }, series((i) => i, 240).slice(150));
    // Groups whose order of first appearance changes between steps: k="a" is opened by row 0
    // while that series lasts, by row 3 afterwards. (0.1 + 0.2) + 0.3 !== (0.2 + 0.3) + 0.1.
    add(
      { __name__: "o", i: "0", k: "a" },
      series((i) => (i < 100 ? 0 : undefined)),
    );
    add(
      { __name__: "o", i: "1", k: "b" },
      series(() => 0.2),
    );
    add(
      { __name__: "o", i: "2", k: "c" },
      series(() => 0.3),
    );
    add(
      { __name__: "o", i: "3", k: "a" },
      series(() => 0.1),
    );
    const queries = [
      "sum(sum by (k) (o))",
      "sum by (k) (o)",
      "sum(histogram_quantile(0.5, sum by (le, job) (rate(h_bucket[2m]))))",
      "histogram_quantile(0.9, sum by (le, job) (rate(h_bucket[2m])))",
      "histogram_quantile(0.5, rate(h_bucket[5m]))",
      "histogram_quantile(0.5, rate(h2_bucket[1m]))",
      "histogram_quantile(1.5, h_bucket)",
      "histogram_quantile(NaN, h_bucket)",
      "histogram_quantile(0.5, nanb_bucket)",
      'histogram_quantile(0.3, {__name__=~"h.*_bucket"})',
      "sum by (job) (rate(c_total[1m]))",
      "sum without (job) (increase(c_total[90s] offset 1m))",
      "avg(g)",
      "max by (job) (g)",
      "min(g)",
      'count by (job) ({__name__=~".+"})',
      'group by (__name__) ({__name__=~".+"})',
      "stddev(g)",
      "stdvar by (job) (delta(g[3m]))",
      'sum(rate({__name__=~"[xy]_total"}[1m]))',
      'rate({__name__=~"[xy]_total"}[1m])',
      "sum by (job) (d_total) + on (job) sum by (job) (c_total)",
      "sum(rate(c_total[1m] @ 1000))",
      "irate(c_total[1m])",
      "idelta(g[1m])",
      "deriv(g[2m])",
      "resets(c_total[5m])",
      "changes(g[5m])",
      "avg_over_time(g[1m])",
      "sum_over_time(g[2m])",
      "max_over_time(g[2m])",
      "min_over_time(g[2m])",
      "count_over_time(c_total[1m])",
      "last_over_time(c_total[1m])",
      "present_over_time(d_total[1m])",
      "stddev_over_time(g[5m])",
      "stdvar_over_time(g[5m])",
      "quantile_over_time(0.5, g[5m])",
      "sum(sum_over_time(g[1m:15s]))",
      "rate(c_total[5m:30s])",
      "g offset 2m",
      "-sum(g)",
      "topk(1, sum by (job) (g))",
    ];
    for (const q of queries) {
      compare(store, q, 0, 3_600_000, 15_000);
      compare(store, q, 100_000, 3_000_000, 61_000);
      compare(store, q, 1_234, 1_234, 1_000);
    }
  });
});
