import { describe, expect, it } from "vitest";
import { bucketQuantile } from "../../src/metrics/quantile.js";
import { prometheusBucketQuantile } from "../../src/promql/kernels.js";
import { mulberry32 as prng } from "../support/prng.js";

// The two bucket quantiles (src/metrics/quantile.ts documents why there are two): they agree on
// what the registry produces and differ exactly where the comment there says.

const LES = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Infinity];

function prom(q: number, les: readonly number[], cumulative: readonly number[]): number {
  return prometheusBucketQuantile(q, Float64Array.from(les), Float64Array.from(cumulative), les.length);
}

describe("the registry's bucket quantile and Prometheus's", () => {
  it("agree (to the last bits) on registry histograms for 0 < q <= 1", () => {
    const rand = prng(7);
    let compared = 0;
    for (let h = 0; h < 500; h++) {
      const cumulative: number[] = [];
      let c = 0;
      // Some buckets empty, some not; now and then no observation below +Inf.
      for (let i = 0; i < LES.length; i++) {
        if (rand() < 0.6) c += Math.floor(rand() * 50);
        cumulative.push(c);
      }
      for (const q of [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1, rand()]) {
        const a = bucketQuantile(q, LES, cumulative);
        const b = prom(q, LES, cumulative);
        if (Number.isNaN(b)) expect(a).toBeNaN();
        else expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(b)));
        compared++;
      }
    }
    expect(compared).toBe(4_000);
  });

  it("differ where documented", () => {
    const cum = [0, 10, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20];
    expect(bucketQuantile(-0.1, LES, cum)).toBeNaN();
    expect(prom(-0.1, LES, cum)).toBe(-Infinity);
    expect(bucketQuantile(1.1, LES, cum)).toBeNaN();
    expect(prom(1.1, LES, cum)).toBe(Infinity);
    // q = 0, empty first bucket.
    expect(bucketQuantile(0, LES, cum)).toBe(0.005);
    expect(prom(0, LES, cum)).toBeNaN();
    // No +Inf bucket.
    expect(bucketQuantile(0.5, [1, 2], [5, 10])).toBe(1);
    expect(prom(0.5, [1, 2], [5, 10])).toBeNaN();
    // Decreasing counts: made monotonic by Prometheus's only.
    expect(prom(0.5, [1, 2, 3, Infinity], [4, 2, 6, 10])).toBe(2.5);
    expect(bucketQuantile(0.5, [1, 2, 3, Infinity], [4, 2, 6, 10])).toBe(2.75);
  });
});
