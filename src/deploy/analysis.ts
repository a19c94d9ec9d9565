// The regression analysis of a deployment: one look compares the new version's window (since the
// deploy) with its baseline (the same service before the deploy, or a baseline instance beside
// it) and says pass, fail or inconclusive, each check explained with its numbers. Pure: counts in,
// verdict out; the monitor (monitor.ts) queries, schedules and acts.
//
// Method (what Kayenta's judge does, plus the seed's absolute limit):
// - error_rate_limit: the seed's maxErrorRatePercent, decided by the exact one-sided binomial test
//   of "the 5xx share is over the limit" (stats.ts), so that a share hovering at the limit over a
//   few hundred requests does not flap: it fails only when it is over the limit beyond noise.
// - error_rate_vs_baseline: the conditional binomial test of two Poisson rates (stats.ts) finds the
//   new version's 5xx rate significantly higher AND the exact binomial test finds its share
//   significantly over the baseline's + minErrorRateIncreasePoints (both at alpha; the check's
//   pValue is the larger of the two). The second keeps ordinary drift (a 1.0 % service at 1.1 %
//   after a deploy) from failing once the windows are large enough for any difference to be
//   significant; it is a test rather than a comparison of the observed increase because over a
//   few hundred requests the share's noise alone is larger than a point.
// - latency: Mann-Whitney U on the histogram buckets (ties within a bucket get midranks, the
//   variance is tie-corrected; Kayenta's judge does the same on its metric samples) says whether
//   the new version is stochastically slower; that alone is not enough — with 100 k requests a 2 %
//   slowdown is significant — so latency fails only when the rank test agrees AND the p95 (linear
//   interpolation in the bucket, as histogram_quantile) or the mean is past its threshold. The
//   rank test in turn keeps a noisy p95 of a few hundred requests from failing on its own.
// - Too few requests (either side, < minRequests), no baseline, a missing histogram or garbage
//   from the source (NaN, negative, errors > requests, unsorted buckets) make the check
//   inconclusive with the reason: never a crash, never a silent pass.
//
// Multiple looks. The monitor looks every interval at the cumulative window since the deploy, so
// the same deploy is tested ~15 times and the looks are strongly correlated. Two settings hold the
// false rollbacks down: alpha, per test and look (so it is far below the 1 % wanted per deploy),
// and RegressionJudge's consecutiveFailures (a regression is decided only after that many failing
// looks with no passing look between them; an inconclusive look neither breaks nor extends the
// run). Measured, a second failing look bought little: consecutive cumulative windows share most
// of their data, so a chance excursion tends to last as long as a real regression's first signal,
// while the latency gate (a p95 from a few thousand requests is noisy) flips between looks and
// delays real detections; a lower alpha with one look did better on both counts.
//
// DEFAULT_ANALYSIS: chosen with `npx tsx bench/deploy-decisions.ts --tune` (seed 1: a grid of
// 4,800 settings — alpha 0.001–0.02, 1–4 consecutive failures, minRequests 100–800, minimum
// increase 0.1–0.5 points, p95 +15–30 %, mean +30–200 % — each judged on the same 1,000 deploys
// per row) and measured on other draws (seed 2, the figures in bench/README.md "Issue 14").
// 30 min of baseline, a look every 60 s for 15 min, lognormal + Pareto latency (median 40 ms, p95
// 260 ms, p99 1.1 s), 5xx 1 % × U(0.8, 1.2) per deploy. Seed 2, 1,000 deploys per row:
//   false rollbacks of healthy deploys: 1.0 % at 5 req/s, 0.6 % at 20, 0.0 % at 100 (seed's rule 0);
//   2× the 5xx share at 20 req/s: 99.1 % detected within 5 min, median 2 min (seed's rule: 0 %);
//   every latency × 1.5 (p95 +50 %) at 20 req/s: 99.6 % within 5 min, median 1 min (seed's: 0 %).
// Limits: a new version that really differs a little (5xx × U(0.9, 1.1), latency × U(0.95, 1.05))
// is rolled back in 2.2–4.6 % of deploys at 5–20 req/s (seeds 1 and 2) — mostly latency: the rank test rightly finds
// the 5 % slowdown and the p95 of a few thousand requests, interpolated in the 250–500 ms bucket,
// is noisy enough to pass +20 %. minErrorRateIncreasePoints 0.1 is low because 2× a 0.8 % share
// must be caught within 5 min at 20 req/s; raise it for services whose 5xx share drifts more.

import { bucketQuantile } from "../metrics/quantile.js";
import { mannWhitneyGreater, proportionAboveLimit, rateIncreaseTest } from "./stats.js";
import type {
  AnalysisSettings,
  CheckName,
  CheckResult,
  CumulativeHistogram,
  Decision,
  Verdict,
  WindowCounts,
} from "./types.js";

export const DEFAULT_ANALYSIS: AnalysisSettings = {
  maxErrorRatePercent: 5,
  minRequests: 500,
  alpha: 0.001,
  minErrorRateIncreasePoints: 0.1,
  maxP95IncreasePercent: 20,
  maxMeanIncreasePercent: 40,
  consecutiveFailures: 1,
};

/** Bad settings are the caller's mistake (configuration is validated before it gets here). */
export function checkSettings(s: AnalysisSettings): void {
  const bad = (name: string, v: number, want: string) => {
    throw new RangeError(`analysis settings: ${name} must be ${want}, got ${v}`);
  };
  if (!(s.maxErrorRatePercent > 0 && s.maxErrorRatePercent <= 100))
    bad("maxErrorRatePercent", s.maxErrorRatePercent, "in (0, 100]");
  if (!(Number.isInteger(s.minRequests) && s.minRequests >= 1))
    bad("minRequests", s.minRequests, "a whole number ≥ 1");
  if (!(s.alpha > 0 && s.alpha < 0.5)) bad("alpha", s.alpha, "in (0, 0.5)");
  if (!(s.minErrorRateIncreasePoints >= 0 && s.minErrorRateIncreasePoints <= 100))
    bad("minErrorRateIncreasePoints", s.minErrorRateIncreasePoints, "in [0, 100]");
  if (!(s.maxP95IncreasePercent >= 0 && Number.isFinite(s.maxP95IncreasePercent)))
    bad("maxP95IncreasePercent", s.maxP95IncreasePercent, "a number ≥ 0");
  if (!(s.maxMeanIncreasePercent >= 0 && Number.isFinite(s.maxMeanIncreasePercent)))
    bad("maxMeanIncreasePercent", s.maxMeanIncreasePercent, "a number ≥ 0");
  if (!(Number.isInteger(s.consecutiveFailures) && s.consecutiveFailures >= 1))
    bad("consecutiveFailures", s.consecutiveFailures, "a whole number ≥ 1");
  if (s.maxBurnRate !== undefined && !(s.maxBurnRate > 0 && Number.isFinite(s.maxBurnRate)))
    bad("maxBurnRate", s.maxBurnRate, "a number > 0");
  const objective = s.sloObjective;
  if (s.maxBurnRate !== undefined && !(objective !== undefined && objective > 0 && objective < 1))
    bad("sloObjective", objective ?? Number.NaN, "in (0, 1) when maxBurnRate is set");
}

// ---------------------------------------------------------------------------------------------
// Formatting: every explanation carries its numbers.

const pct = (ratio: number) => `${(ratio * 100).toFixed(2)} %`;
const ms = (seconds: number) => `${(seconds * 1000).toFixed(1)} ms`;
const signedPoints = (ratio: number) => `${ratio >= 0 ? "+" : ""}${(ratio * 100).toFixed(2)} points`;
const signed = (percent: number) => `${percent >= 0 ? "+" : ""}${percent.toFixed(1)} %`;
function pv(p: number): string {
  if (p === 0) return "p < 1e-300";
  return p < 1e-3 ? `p = ${p.toExponential(1)}` : `p = ${p.toPrecision(2)}`;
}

// ---------------------------------------------------------------------------------------------
// Reading the inputs: garbage becomes a reason, not an exception.

type Problem = { problem: string };
const isProblem = (x: unknown): x is Problem => typeof x === "object" && x !== null && "problem" in x;

interface Counts {
  requests: number;
  errors: number;
}

function readCounts(w: WindowCounts | null | undefined, who: string): Counts | Problem {
  if (!w) return { problem: `no window for the ${who}` };
  const { requests, errors, startMs, endMs } = w;
  if (!(Number.isFinite(startMs) && Number.isFinite(endMs) && endMs >= startMs))
    return { problem: `the ${who}'s window is invalid (start ${startMs}, end ${endMs})` };
  if (!(Number.isFinite(requests) && requests >= 0))
    return { problem: `the ${who}'s request count is ${requests} (not a count)` };
  if (!(Number.isFinite(errors) && errors >= 0))
    return { problem: `the ${who}'s 5xx count is ${errors} (not a count)` };
  const r = Math.round(requests);
  const e = Math.round(errors);
  if (e > r) return { problem: `the ${who} has more 5xx (${e}) than requests (${r})` };
  return { requests: r, errors: e };
}

interface Histogram {
  le: number[];
  cumulative: number[];
}

/** A cumulative histogram checked and rounded; small decreases (extrapolated increase() of each
 * bucket, rounded) flattened as histogram_quantile does, larger ones refused. */
function readHistogram(h: CumulativeHistogram | null | undefined, who: string): Histogram | Problem {
  if (!h) return { problem: `no latency histogram for the ${who}` };
  const { le, cumulative } = h;
  if (!Array.isArray(le) || !Array.isArray(cumulative) || le.length !== cumulative.length)
    return { problem: `the ${who}'s histogram has ${le?.length} bounds and ${cumulative?.length} counts` };
  if (le.length < 2) return { problem: `the ${who}'s histogram has ${le.length} bucket(s)` };
  if (le[le.length - 1] !== Number.POSITIVE_INFINITY)
    return { problem: `the ${who}'s histogram does not end with le="+Inf" (last le ${le[le.length - 1]})` };
  for (let i = 0; i < le.length; i++) {
    const b = le[i] as number;
    if (Number.isNaN(b) || (i > 0 && !(b > (le[i - 1] as number))))
      return { problem: `the ${who}'s histogram bounds are not ascending (le ${le[i - 1]} then ${b})` };
    const c = cumulative[i] as number;
    if (!(Number.isFinite(c) && c >= 0))
      return { problem: `the ${who}'s histogram count at le=${b} is ${c}` };
  }
  const rounded = cumulative.map((c) => Math.round(c));
  const total = rounded[rounded.length - 1] as number;
  const tolerance = Math.max(1, total * 0.005);
  let max = 0;
  for (let i = 0; i < rounded.length; i++) {
    const c = rounded[i] as number;
    if (c < max - tolerance)
      return { problem: `the ${who}'s cumulative counts fall from ${max} to ${c} at le=${le[i]}` };
    if (c < max) rounded[i] = max;
    else max = c;
  }
  return { le: [...le], cumulative: rounded };
}

const sameBound = (a: number, b: number) =>
  a === b ||
  (Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b)));

interface Aligned {
  le: number[];
  baseline: number[];
  canary: number[];
  /** Bounds of each side not in the other, left out of the comparison. */
  dropped: number;
}

/** Both histograms on the bounds they share (a cumulative count at a bound is exact, so dropping
 * a bound merges two buckets); fewer than 2 finite shared bounds: nothing to compare. */
function alignBuckets(b: Histogram, c: Histogram): Aligned | Problem {
  const le: number[] = [];
  const bc: number[] = [];
  const cc: number[] = [];
  let j = 0;
  for (let i = 0; i < b.le.length; i++) {
    const bound = b.le[i] as number;
    while (j < c.le.length && (c.le[j] as number) < bound && !sameBound(c.le[j] as number, bound)) j++;
    if (j < c.le.length && sameBound(c.le[j] as number, bound)) {
      le.push(bound);
      bc.push(b.cumulative[i] as number);
      cc.push(c.cumulative[j] as number);
    }
  }
  if (le.length < 3)
    return {
      problem: `the histograms share ${le.length - 1} finite bucket bound(s) (baseline le ${b.le.join(",")}; new ${c.le.join(",")})`,
    };
  return { le, baseline: bc, canary: cc, dropped: b.le.length + c.le.length - 2 * le.length };
}

const perBucket = (cumulative: readonly number[]) =>
  cumulative.map((c, i) => c - (i === 0 ? 0 : (cumulative[i - 1] as number)));

// ---------------------------------------------------------------------------------------------
// The checks.

function inconclusive(check: CheckName, explanation: string, extra: Partial<CheckResult> = {}): CheckResult {
  return { check, outcome: "inconclusive", explanation, ...extra };
}

/** Canary and (when needed) baseline counts, or why the error checks cannot run. */
function enoughRequests(c: Counts | Problem, b: Counts | Problem | null, s: AnalysisSettings): string | null {
  if (isProblem(c)) return c.problem;
  if (c.requests < s.minRequests)
    return `the new version served ${c.requests} requests, fewer than the ${s.minRequests} needed`;
  if (b === null) return null;
  if (isProblem(b)) return b.problem;
  if (b.requests === 0) return "the baseline served no requests";
  if (b.requests < s.minRequests)
    return `the baseline served ${b.requests} requests, fewer than the ${s.minRequests} needed`;
  return null;
}

function errorRateLimit(c: Counts | Problem, s: AnalysisSettings): CheckResult {
  const check = "error_rate_limit";
  const limit = s.maxErrorRatePercent / 100;
  const why = enoughRequests(c, null, s);
  if (why !== null || isProblem(c))
    return inconclusive(check, `5xx share limit: ${why}`, { threshold: limit });
  const t = proportionAboveLimit(c.errors, c.requests, limit);
  const base = { check, canary: t.share, canaryN: c.requests, pValue: t.pValue, threshold: limit } as const;
  const share = `5xx share ${pct(t.share)} (${c.errors} of ${c.requests})`;
  if (t.pValue < s.alpha)
    return {
      ...base,
      outcome: "fail",
      explanation: `${share} is over the limit ${pct(limit)} (${pv(t.pValue)} < α ${s.alpha})`,
    };
  const how = t.share > limit ? "is above the limit but not beyond noise" : "is within the limit";
  return {
    ...base,
    outcome: "pass",
    explanation: `${share} ${how} ${pct(limit)} (${pv(t.pValue)} ≥ α ${s.alpha})`,
  };
}

/**
 * slo_burn_rate: the new version's 5xx share over its window, as a burn rate of the availability
 * SLO's error budget (share / (1 − objective)), against maxBurnRate; decided like the absolute
 * limit, by the one-sided binomial test of "the share is over maxBurnRate × (1 − objective)", so
 * that a few unlucky requests do not fail it.
 */
function sloBurnRate(
  c: Counts | Problem,
  s: AnalysisSettings,
  maxBurnRate: number,
  objective: number,
): CheckResult {
  const check = "slo_burn_rate";
  const budget = Number((1 - objective).toPrecision(12));
  const limit = Math.min(1, maxBurnRate * budget);
  const slo = `the ${Number((objective * 100).toPrecision(10))} % availability SLO`;
  const why = enoughRequests(c, null, s);
  if (why !== null || isProblem(c))
    return inconclusive(check, `burn rate of ${slo}: ${why}`, { threshold: maxBurnRate });
  const t = proportionAboveLimit(c.errors, c.requests, limit);
  const burn = t.share / budget;
  const base = {
    check,
    canary: burn,
    canaryN: c.requests,
    pValue: t.pValue,
    threshold: maxBurnRate,
  } as const;
  const what = `burn rate ${burn.toFixed(1)}× of ${slo} (5xx share ${pct(t.share)}, ${c.errors} of ${c.requests})`;
  if (t.pValue < s.alpha)
    return {
      ...base,
      outcome: "fail",
      explanation: `${what} is over maxBurnRate ${maxBurnRate}× (${pv(t.pValue)} < α ${s.alpha})`,
    };
  const how = t.share > limit ? "is above maxBurnRate but not beyond noise" : "is within maxBurnRate";
  return {
    ...base,
    outcome: "pass",
    explanation: `${what} ${how} ${maxBurnRate}× (${pv(t.pValue)} ≥ α ${s.alpha})`,
  };
}

function errorRateVsBaseline(b: Counts | Problem, c: Counts | Problem, s: AnalysisSettings): CheckResult {
  const check = "error_rate_vs_baseline";
  const threshold = s.minErrorRateIncreasePoints / 100;
  const why = enoughRequests(c, b, s);
  if (why !== null || isProblem(c) || isProblem(b))
    return inconclusive(check, `5xx share vs baseline: ${why}`, { threshold });
  const t = rateIncreaseTest(b.errors, b.requests, c.errors, c.requests);
  const increase = t.canaryShare - t.baselineShare;
  // "At least minErrorRateIncreasePoints higher" is tested too, not read off the point estimate:
  // with a few hundred requests the share's noise alone is larger than a point.
  const floor = Math.min(1, t.baselineShare + threshold);
  const byMargin = proportionAboveLimit(c.errors, c.requests, floor);
  const base = {
    check,
    canary: t.canaryShare,
    baseline: t.baselineShare,
    canaryN: c.requests,
    baselineN: b.requests,
    statistic: increase,
    pValue: Math.max(t.pValue, byMargin.pValue),
    threshold,
  } as const;
  const text =
    `5xx share ${pct(t.canaryShare)} (${c.errors} of ${c.requests}) vs baseline ${pct(t.baselineShare)} ` +
    `(${b.errors} of ${b.requests}): ${signedPoints(increase)}; higher: ${pv(t.pValue)}, ` +
    `over ${pct(floor)} (baseline + ${s.minErrorRateIncreasePoints} points): ${pv(byMargin.pValue)}`;
  if (t.pValue < s.alpha && byMargin.pValue < s.alpha)
    return {
      ...base,
      outcome: "fail",
      explanation: `${text}; both < α ${s.alpha}: higher than the baseline`,
    };
  const because =
    t.pValue >= s.alpha
      ? `not significantly higher (α ${s.alpha})`
      : `higher, but not significantly by ${s.minErrorRateIncreasePoints} points or more (α ${s.alpha})`;
  return { ...base, outcome: "pass", explanation: `${text}: ${because}` };
}

interface LatencyInputs {
  aligned: Aligned;
  baselineTotal: number;
  canaryTotal: number;
  baselineSum: number | null;
  canarySum: number | null;
}

function latencyInputs(b: WindowCounts, c: WindowCounts, s: AnalysisSettings): LatencyInputs | Problem {
  const ch = readHistogram(c?.latency, "new version");
  if (isProblem(ch)) return ch;
  const bh = readHistogram(b?.latency, "baseline");
  if (isProblem(bh)) return bh;
  const aligned = alignBuckets(bh, ch);
  if (isProblem(aligned)) return aligned;
  const canaryTotal = aligned.canary[aligned.canary.length - 1] as number;
  const baselineTotal = aligned.baseline[aligned.baseline.length - 1] as number;
  if (canaryTotal < s.minRequests)
    return {
      problem: `the new version's histogram counts ${canaryTotal} requests, fewer than the ${s.minRequests} needed`,
    };
  if (baselineTotal < s.minRequests)
    return {
      problem: `the baseline's histogram counts ${baselineTotal} requests, fewer than the ${s.minRequests} needed`,
    };
  const sum = (v: number | null | undefined) =>
    typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null;
  return {
    aligned,
    baselineTotal,
    canaryTotal,
    baselineSum: sum(b.latencySumSeconds),
    canarySum: sum(c.latencySumSeconds),
  };
}

function latencyChecks(b: WindowCounts, c: WindowCounts, s: AnalysisSettings): CheckResult[] {
  const input = latencyInputs(b, c, s);
  const names: CheckName[] = ["latency_rank", "latency_p95", "latency_mean"];
  if (isProblem(input)) return names.map((n) => inconclusive(n, `latency: ${input.problem}`));
  const { aligned, baselineTotal: nb, canaryTotal: nc } = input;
  const sizes = { canaryN: nc, baselineN: nb } as const;
  const mw = mannWhitneyGreater(perBucket(aligned.baseline), perBucket(aligned.canary));
  const merged = aligned.dropped > 0 ? ` (compared on ${aligned.le.length} shared bucket bounds)` : "";
  if (Number.isNaN(mw.pValue)) {
    const why = `latency: every request of both versions is in one bucket, nothing to rank${merged}`;
    return names.map((n) => inconclusive(n, why, sizes));
  }
  const slower = mw.pValue < s.alpha;
  // p95
  const p95b = bucketQuantile(0.95, aligned.le, aligned.baseline);
  const p95c = bucketQuantile(0.95, aligned.le, aligned.canary);
  const p95Inc = p95b > 0 ? ((p95c - p95b) / p95b) * 100 : Number.NaN;
  const p95Past = p95Inc > s.maxP95IncreasePercent;
  // mean
  const meanB = input.baselineSum === null ? null : input.baselineSum / nb;
  const meanC = input.canarySum === null ? null : input.canarySum / nc;
  const meanInc =
    meanB !== null && meanC !== null && meanB > 0 ? ((meanC - meanB) / meanB) * 100 : Number.NaN;
  const meanPast = meanInc > s.maxMeanIncreasePercent;

  const rankText =
    `Mann-Whitney U ${mw.u.toFixed(1)} (new ${nc} vs baseline ${nb} requests, z ${mw.z.toFixed(2)}, ${pv(mw.pValue)}, ` +
    `P(new slower) ${mw.effect.toFixed(3)})${merged}`;
  const rank: CheckResult = {
    check: "latency_rank",
    outcome: slower && (p95Past || meanPast) ? "fail" : "pass",
    explanation: !slower
      ? `${rankText}: not significantly slower (α ${s.alpha})`
      : p95Past || meanPast
        ? `${rankText} < α ${s.alpha}: slower, and past a threshold (p95 ${signed(p95Inc)}, mean ${Number.isNaN(meanInc) ? "n/a" : signed(meanInc)})`
        : `${rankText} < α ${s.alpha}: slower, but p95 ${signed(p95Inc)} and mean ${Number.isNaN(meanInc) ? "n/a" : signed(meanInc)} are within their thresholds`,
    statistic: mw.u,
    pValue: mw.pValue,
    threshold: s.alpha,
    canary: mw.effect,
    baseline: 0.5,
    ...sizes,
  };
  const p95: CheckResult = Number.isNaN(p95Inc)
    ? inconclusive("latency_p95", `latency p95: the baseline's p95 is ${ms(p95b)}, no relative change`, sizes)
    : {
        check: "latency_p95",
        outcome: slower && p95Past ? "fail" : "pass",
        explanation:
          `p95 ${ms(p95c)} vs baseline ${ms(p95b)} (${signed(p95Inc)}, threshold +${s.maxP95IncreasePercent} %; ` +
          `rank test ${pv(mw.pValue)}, α ${s.alpha})` +
          (slower && p95Past
            ? ": slower"
            : p95Past
              ? ": past the threshold, but the rank test does not find it slower"
              : ""),
        canary: p95c,
        baseline: p95b,
        statistic: p95Inc,
        pValue: mw.pValue,
        threshold: s.maxP95IncreasePercent,
        ...sizes,
      };
  const mean: CheckResult =
    meanB === null || meanC === null
      ? inconclusive(
          "latency_mean",
          `latency mean: no latency sum for the ${meanC === null ? "new version" : "baseline"}`,
          sizes,
        )
      : Number.isNaN(meanInc)
        ? inconclusive(
            "latency_mean",
            `latency mean: the baseline's mean is ${ms(meanB)}, no relative change`,
            sizes,
          )
        : {
            check: "latency_mean",
            outcome: slower && meanPast ? "fail" : "pass",
            explanation:
              `mean ${ms(meanC)} vs baseline ${ms(meanB)} (${signed(meanInc)}, threshold +${s.maxMeanIncreasePercent} %; ` +
              `rank test ${pv(mw.pValue)}, α ${s.alpha})` +
              (slower && meanPast
                ? ": slower"
                : meanPast
                  ? ": past the threshold, but the rank test does not find it slower"
                  : ""),
            canary: meanC,
            baseline: meanB,
            statistic: meanInc,
            pValue: mw.pValue,
            threshold: s.maxMeanIncreasePercent,
            ...sizes,
          };
  return [rank, p95, mean];
}

// ---------------------------------------------------------------------------------------------

/** One look: every check of the new version's window against the baseline's. */
export function analyse(baseline: WindowCounts, canary: WindowCounts, s: AnalysisSettings): Verdict {
  checkSettings(s);
  const c = readCounts(canary, "new version");
  const b = readCounts(baseline, "baseline");
  const checks = [errorRateLimit(c, s), errorRateVsBaseline(b, c, s), ...latencyChecks(baseline, canary, s)];
  if (s.maxBurnRate !== undefined)
    checks.splice(1, 0, sloBurnRate(c, s, s.maxBurnRate, s.sloObjective ?? Number.NaN));
  const failed = checks.filter((k) => k.outcome === "fail");
  const open = checks.filter((k) => k.outcome === "inconclusive");
  const unique = (list: CheckResult[]) => [...new Set(list.map((k) => k.explanation))].join("; ");
  if (failed.length > 0) return { outcome: "fail", checks, reason: unique(failed) };
  if (open.length > 0) return { outcome: "inconclusive", checks, reason: `inconclusive: ${unique(open)}` };
  return { outcome: "pass", checks, reason: "all checks passed" };
}

/**
 * The monitor's judge over successive looks: a regression is decided after
 * `consecutiveFailures` failing looks with no passing look between them. A passing look resets
 * the count; an inconclusive one (a gap in the data, a source that answered garbage) leaves it as
 * it is — it neither clears the evidence of a regression nor adds to it. The monitor acts on the
 * first Decision whose `regression` is true.
 */
export class RegressionJudge {
  private failures = 0;

  constructor(private readonly settings: AnalysisSettings) {
    checkSettings(settings);
  }

  look(baseline: WindowCounts, canary: WindowCounts): Decision {
    const verdict = analyse(baseline, canary, this.settings);
    if (verdict.outcome === "fail") this.failures++;
    else if (verdict.outcome === "pass") this.failures = 0;
    return {
      verdict,
      consecutiveFailures: this.failures,
      regression: this.failures >= this.settings.consecutiveFailures,
    };
  }

  reset(): void {
    this.failures = 0;
  }
}
