import { describe, expect, it } from "vitest";
import {
  binomialSf,
  logGamma,
  mannWhitneyGreater,
  normalCdf,
  normalSf,
  proportionAboveLimit,
  rateIncreaseTest,
} from "../../src/deploy/stats.js";
import { mulberry32 } from "../support/prng.js";

// Reference values from SciPy 1.17.1 (python3, numpy); each call is written beside its value.

/** Relative closeness: |a − b| ≤ tol·|b|. */
function close(a: number, b: number, tol: number): void {
  expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(tol * Math.abs(b));
}

describe("normal distribution", () => {
  it("Φ matches scipy.special.ndtr to ~1e-7", () => {
    // special.ndtr(z) for z in [-3, -1.5, 0, 0.5, 1.959963984540054, 4]
    const cases: [number, number][] = [
      [-3, 0.0013498980316300933],
      [-1.5, 0.06680720126885807],
      [0, 0.5],
      [0.5, 0.6914624612740131],
      [1.959963984540054, 0.975],
      [4, 0.9999683287581669],
    ];
    for (const [z, want] of cases) expect(Math.abs(normalCdf(z) - want)).toBeLessThan(1e-7);
  });

  it("the upper tail keeps its relative precision far out", () => {
    close(normalSf(6), 9.865876450376946e-10, 2e-7); // stats.norm.sf(6)
    close(normalSf(8), 6.22096057427174e-16, 2e-7); // stats.norm.sf(8)
    expect(normalSf(-40)).toBe(1);
  });

  it("ln Γ matches scipy.special.gammaln", () => {
    close(logGamma(0.5), 0.5723649429247, 1e-12); // gammaln(0.5)
    close(logGamma(100.5), 361.43554046777757, 1e-13); // gammaln(100.5)
    close(logGamma(1e6), 12815504.569147611, 1e-13); // gammaln(1e6)
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 13);
  });
});

describe("binomial tail", () => {
  it("matches scipy.stats.binomtest(..., alternative='greater') and binom.sf", () => {
    close(binomialSf(3, 10, 0.1), 0.0701908264, 1e-9); // binomtest(3, 10, 0.1).pvalue
    close(binomialSf(40, 500, 0.05), 0.002700957181704901, 1e-9); // binomtest(40, 500, 0.05)
    close(binomialSf(120, 1000, 0.1), 0.021996144965794422, 1e-9); // binomtest(120, 1000, 0.1)
    close(binomialSf(5000, 100_000, 0.05), 0.5020259614598019, 1e-9); // binom.sf(4999, 100000, 0.05)
    close(binomialSf(1, 100, 0.01), 0.6339676587267705, 1e-12); // binom.sf(0, 100, 0.01)
    close(binomialSf(2, 100, 0.03), 0.8053778799341645, 1e-12); // binom.sf(1, 100, 0.03)
  });

  it("equals the sum of the pmf by hand on a small case, and has the right edges", () => {
    // P(X ≥ 2 | n = 3, p = ½) = (3 + 1) / 8.
    expect(binomialSf(2, 3, 0.5)).toBeCloseTo(0.5, 15);
    expect(binomialSf(0, 5, 0.3)).toBe(1);
    expect(binomialSf(6, 5, 0.3)).toBe(0);
    expect(binomialSf(1, 5, 0)).toBe(0);
    expect(binomialSf(5, 5, 1)).toBe(1);
    expect(() => binomialSf(1.5, 5, 0.3)).toThrow(/whole number/);
    expect(() => binomialSf(1, 5, Number.NaN)).toThrow(/p must be/);
  });

  it("a share against a fixed limit", () => {
    const r = proportionAboveLimit(40, 500, 0.05);
    expect(r.share).toBe(0.08);
    close(r.pValue, 0.002700957181704901, 1e-9);
    expect(proportionAboveLimit(0, 0, 0.05).pValue).toBe(1);
    expect(() => proportionAboveLimit(6, 5, 0.05)).toThrow(/6 events out of 5/);
  });
});

describe("conditional binomial test of two error rates", () => {
  it("matches binomtest(kc, kb + kc, nc / (nb + nc), alternative='greater')", () => {
    // binomtest(30, 390, 1200 / 37200, alternative="greater").pvalue
    close(rateIncreaseTest(360, 36_000, 30, 1200).pValue, 1.4159717638219252e-5, 1e-8);
    // binomtest(24, 60, 1200 / 37200, alternative="greater").pvalue
    close(rateIncreaseTest(36, 36_000, 24, 1200).pValue, 1.8745171104049645e-20, 1e-7);
  });

  it("no evidence gives p = 1; equal shares give no significance", () => {
    expect(rateIncreaseTest(0, 1000, 0, 100).pValue).toBe(1);
    expect(rateIncreaseTest(100, 10_000, 10, 1000).pValue).toBeGreaterThan(0.4);
    expect(() => rateIncreaseTest(0, 0, 1, 10)).toThrow(/no requests/);
    expect(() => rateIncreaseTest(5, 10, 11, 10)).toThrow(/more errors than requests/);
  });

  it("holds its level: under equal rates p < 0.05 in at most ~5 % of draws", () => {
    const rnd = mulberry32(7);
    const draw = (n: number, p: number) => {
      let k = 0;
      for (let i = 0; i < n; i++) if (rnd() < p) k++;
      return k;
    };
    let rejected = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      if (rateIncreaseTest(draw(3000, 0.01), 3000, draw(300, 0.01), 300).pValue < 0.05) rejected++;
    }
    // Exact tests of discrete counts are conservative: at most the level (with sampling slack).
    expect(rejected / trials).toBeLessThan(0.06);
    expect(rejected / trials).toBeGreaterThan(0.005);
  });
});

describe("Mann-Whitney U on bucket counts", () => {
  it("ties within a bucket by hand: midranks and the tie-corrected variance", () => {
    // baseline [3,1,0,2], new [0,2,3,1] (4 buckets, 6 + 6 observations, every bucket a tie of 3).
    // U = 2·(3 + 1/2) + 3·(4 + 0) + 1·(4 + 2/2) = 24; mean 18;
    // var = 6·6/12 · (13 − Σ(t³ − t)/(12·11)) = 3 · (13 − 96/132) = 36.8181…
    const r = mannWhitneyGreater([3, 1, 0, 2], [0, 2, 3, 1]);
    expect(r.u).toBe(24);
    expect(r.meanU).toBe(18);
    expect(r.sdU ** 2).toBeCloseTo(3 * (13 - 96 / 132), 12);
    expect(r.z).toBeCloseTo((24 - 18 - 0.5) / Math.sqrt(3 * (13 - 96 / 132)), 12);
    // mannwhitneyu(x, y, alternative="greater", use_continuity=True, method="asymptotic") with
    // x = np.repeat(np.arange(4), [0,2,3,1]), y = np.repeat(np.arange(4), [3,1,0,2]) → U 24.0
    close(r.pValue, 0.1823556685753142, 1e-6);
    expect(r.effect).toBeCloseTo(24 / 36, 15);
  });

  it("matches SciPy on larger histograms", () => {
    // x = new, y = baseline, expanded with np.repeat as above:
    const a = mannWhitneyGreater([10, 20, 30, 5, 0], [2, 10, 25, 12, 3]);
    expect(a.u).toBe(2280);
    close(a.pValue, 0.0002736676838075933, 1e-6);
    const b = mannWhitneyGreater([400, 300, 200, 80, 20], [350, 320, 210, 90, 30]);
    expect(b.u).toBe(528300);
    close(b.pValue, 0.01073610287388888, 1e-6);
  });

  it("a faster new version is not 'slower'; one bucket for all tells nothing", () => {
    expect(mannWhitneyGreater([2, 10, 25, 12, 3], [10, 20, 30, 5, 0]).pValue).toBeGreaterThan(0.99);
    const flat = mannWhitneyGreater([0, 50, 0], [0, 20, 0]);
    expect(flat.sdU).toBe(0);
    expect(flat.pValue).toBeNaN();
    expect(() => mannWhitneyGreater([1, 2], [1])).toThrow(/2 baseline buckets vs 1/);
    expect(() => mannWhitneyGreater([1, -2], [1, 1])).toThrow(/bucket 1/);
  });
});
