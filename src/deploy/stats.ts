// The statistics of the deployment analysis (analysis.ts): pure functions, no dependencies.
//
// - Normal tail: erfc by the Chebyshev fit of Numerical Recipes (`erfcc`, fractional error
//   < 1.2e-7 everywhere), so a one-sided p-value keeps its relative precision far in the tail.
// - Mann-Whitney U on two histograms over the same buckets, as Kayenta's judge does: every
//   observation of a bucket ties with the others of that bucket, so each gets the bucket's midrank;
//   the variance is tie-corrected and the normal approximation has a continuity correction. The
//   counts of a latency window are in the hundreds at least, where the approximation is good.
// - Error proportions, new version against baseline: the conditional binomial test for two
//   Poisson rates (Przyborowski & Wilenski). 5xx are rare (~1 %), so each version's error count is
//   Poisson with a mean proportional to its requests; given the total k of errors, the new
//   version's share of them is Binomial(k, n_new / (n_new + n_base)) when the rates are equal.
//   Chosen over the pooled two-proportion z-test because it is exact at small counts (a canary
//   with 3 errors is common in its first minute, where the z-test's p-values are badly off), and
//   over Fisher's exact test because it is the same idea for rates and costs O(√k), not O(k). For
//   1 % shares the two give nearly the same p-values (it is slightly conservative).
// - A share against a fixed limit: the exact binomial tail P(X ≥ k | n, limit).
// Binomial tails are summed exactly (pmf recurrence from the starting term, stopped once the terms
// are negligible), so no switch to an approximation is needed at any count.
//
// The histogram quantile is not here: src/metrics/quantile.ts's bucketQuantile (Prometheus's
// linear interpolation inside the bucket) serves the analysis, validated histograms only.

/** erfc(x), fractional error < 1.2e-7 (Numerical Recipes, 2nd ed., `erfcc`). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Standard normal CDF Φ(z). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** Standard normal upper tail 1 − Φ(z), computed directly (precise for large z). */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = LANCZOS[0] as number;
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

function logBinomialPmf(k: number, n: number, p: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log1p(-p);
}

function checkBinomial(k: number, n: number, p: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`binomial: n must be a whole number ≥ 0, got ${n}`);
  if (!Number.isInteger(k)) throw new RangeError(`binomial: k must be a whole number, got ${k}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`binomial: p must be in [0, 1], got ${p}`);
}

/** Sum of pmf terms starting at j (inclusive) while stepping by `dir`, until negligible. */
function tailSum(j: number, n: number, p: number, dir: 1 | -1): number {
  let term = Math.exp(logBinomialPmf(j, n, p));
  let sum = term;
  const odds = p / (1 - p);
  for (;;) {
    if (dir === 1) {
      if (j >= n) break;
      term *= ((n - j) / (j + 1)) * odds;
      j++;
    } else {
      if (j <= 0) break;
      term *= j / (n - j + 1) / odds;
      j--;
    }
    sum += term;
    if (term <= sum * 1e-17) break;
  }
  return sum;
}

/** P(X ≥ k) for X ~ Binomial(n, p), exact (summed). */
export function binomialSf(k: number, n: number, p: number): number {
  checkBinomial(k, n, p);
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p === 0) return 0;
  if (p === 1) return 1;
  // Sum from k away from the mode, where the terms only fall: from k upwards when k lies above
  // the mean, else the lower tail P(X ≤ k − 1) from k − 1 downwards.
  if (k > n * p) return Math.min(1, tailSum(k, n, p, 1));
  return Math.min(1, Math.max(0, 1 - tailSum(k - 1, n, p, -1)));
}

export interface ProportionTest {
  /** The observed share k / n (NaN when n = 0). */
  share: number;
  pValue: number;
}

/**
 * One-sided exact test that a proportion exceeds a fixed limit: H0 share ≤ limit,
 * p = P(X ≥ k | Binomial(n, limit)). `limit` is a ratio in [0, 1].
 */
export function proportionAboveLimit(k: number, n: number, limit: number): ProportionTest {
  checkBinomial(k, n, limit);
  if (k > n) throw new RangeError(`proportion: ${k} events out of ${n} trials`);
  return { share: n > 0 ? k / n : Number.NaN, pValue: n > 0 ? binomialSf(k, n, limit) : 1 };
}

export interface RateComparison {
  /** Error shares of the baseline and the new version. */
  baselineShare: number;
  canaryShare: number;
  /** Share of all errors expected from the new version when the rates are equal. */
  expectedFraction: number;
  pValue: number;
}

/**
 * One-sided conditional binomial test that the new version's error rate per request exceeds the
 * baseline's: given k = kb + kc errors, p = P(X ≥ kc | Binomial(k, nc / (nb + nc))). No errors at
 * all: p = 1.
 */
export function rateIncreaseTest(kb: number, nb: number, kc: number, nc: number): RateComparison {
  for (const [name, v] of [
    ["baseline errors", kb],
    ["baseline requests", nb],
    ["new errors", kc],
    ["new requests", nc],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`rate test: ${name} must be a whole number ≥ 0, got ${v}`);
  }
  if (kb > nb || kc > nc)
    throw new RangeError(`rate test: more errors than requests (${kb}/${nb}, ${kc}/${nc})`);
  if (nb === 0 || nc === 0) throw new RangeError("rate test: a side with no requests");
  const expectedFraction = nc / (nb + nc);
  return {
    baselineShare: kb / nb,
    canaryShare: kc / nc,
    expectedFraction,
    pValue: binomialSf(kc, kb + kc, expectedFraction),
  };
}

export interface MannWhitney {
  /** U of the new version: pairs (new, baseline) where the new one is larger, ties counting ½. */
  u: number;
  n1: number;
  n2: number;
  meanU: number;
  /** Tie-corrected standard deviation of U under H0 (0 when every observation is in one bucket). */
  sdU: number;
  /** (U − mean − ½) / sd; NaN when sd is 0. */
  z: number;
  /** One-sided p-value for "the new version is stochastically larger" (slower); NaN when sd is 0. */
  pValue: number;
  /** U / (n1·n2): P(new > baseline) + ½ P(tie), 0.5 when they are alike. */
  effect: number;
}

/**
 * Mann-Whitney U test on per-bucket counts over the same buckets (`baseline[i]` and `canary[i]`
 * count bucket i, buckets ascending). One-sided: is the new version (canary) slower? Normal
 * approximation with tie correction and continuity correction — the same as SciPy's
 * `mannwhitneyu(canary, baseline, alternative="greater", method="asymptotic")`.
 */
export function mannWhitneyGreater(baseline: readonly number[], canary: readonly number[]): MannWhitney {
  if (baseline.length !== canary.length) {
    throw new RangeError(`Mann-Whitney: ${baseline.length} baseline buckets vs ${canary.length} new ones`);
  }
  let n1 = 0;
  let n2 = 0;
  let u = 0;
  let ties = 0;
  for (let i = 0; i < baseline.length; i++) {
    const b = baseline[i] as number;
    const c = canary[i] as number;
    if (!(b >= 0 && c >= 0 && Number.isFinite(b) && Number.isFinite(c))) {
      throw new RangeError(`Mann-Whitney: bucket ${i} has counts ${b} and ${c}`);
    }
    // Each new observation in bucket i beats the n1 baseline ones below and ties the b in it.
    u += c * (n1 + b / 2);
    n1 += b;
    n2 += c;
    const t = b + c;
    ties += t * (t * t - 1);
  }
  const n = n1 + n2;
  const meanU = (n1 * n2) / 2;
  const variance = n > 1 ? ((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1))) : 0;
  const sdU = variance > 0 ? Math.sqrt(variance) : 0;
  const z = sdU > 0 ? (u - meanU - 0.5) / sdU : Number.NaN;
  return {
    u,
    n1,
    n2,
    meanU,
    sdU,
    z,
    pValue: sdU > 0 ? normalSf(z) : Number.NaN,
    effect: n1 > 0 && n2 > 0 ? u / (n1 * n2) : Number.NaN,
  };
}
