import { describe, expect, it } from "vitest";
import { analyse, checkSettings, DEFAULT_ANALYSIS, RegressionJudge } from "../../src/deploy/analysis.js";
import type {
  AnalysisSettings,
  CheckName,
  CheckResult,
  Verdict,
  WindowCounts,
} from "../../src/deploy/types.js";

// The app's HTTP latency buckets (seconds).
const LE = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Number.POSITIVE_INFINITY];
const MID = [0.003, 0.008, 0.018, 0.038, 0.075, 0.18, 0.38, 0.75, 1.8, 3.8, 7.5, 15];
// Share of requests per bucket: median in the 0.05 bucket, a long tail.
const SHAPE = [0.02, 0.05, 0.15, 0.3, 0.25, 0.15, 0.04, 0.02, 0.01, 0.005, 0.003, 0.002];
// The same one bucket slower.
const SLOWER = [0, 0.02, 0.05, 0.15, 0.3, 0.25, 0.15, 0.04, 0.02, 0.01, 0.005, 0.005];

function window(requests: number, errors: number, shape: number[] = SHAPE, minutes = 5): WindowCounts {
  const perBucket = shape.map((f) => Math.round(f * requests));
  perBucket[perBucket.length - 1] =
    (perBucket.at(-1) as number) + requests - perBucket.reduce((a, b) => a + b, 0);
  let acc = 0;
  const cumulative = perBucket.map((c) => {
    acc += c;
    return acc;
  });
  return {
    startMs: 0,
    endMs: minutes * 60_000,
    requests,
    errors,
    latency: { le: [...LE], cumulative },
    latencySumSeconds: perBucket.reduce((a, c, i) => a + c * (MID[i] as number), 0),
  };
}

// Fixed settings, so that retuning DEFAULT_ANALYSIS (bench/deploy-decisions.ts) leaves these alone.
const S: AnalysisSettings = {
  maxErrorRatePercent: 5,
  minRequests: 300,
  alpha: 0.01,
  minErrorRateIncreasePoints: 0.5,
  maxP95IncreasePercent: 20,
  maxMeanIncreasePercent: 25,
  consecutiveFailures: 2,
};

const BASELINE = window(36_000, 360, SHAPE, 30);
const check = (v: Verdict, name: CheckName) => v.checks.find((c) => c.check === name) as CheckResult;
const outcomes = (v: Verdict) => Object.fromEntries(v.checks.map((c) => [c.check, c.outcome]));

describe("analyse", () => {
  it("passes a new version like its baseline, every check explained", () => {
    const v = analyse(BASELINE, window(6000, 61), S);
    expect(v.outcome).toBe("pass");
    expect(v.reason).toBe("all checks passed");
    expect(v.checks.map((c) => c.check)).toEqual([
      "error_rate_limit",
      "error_rate_vs_baseline",
      "latency_rank",
      "latency_p95",
      "latency_mean",
    ]);
    for (const c of v.checks) {
      expect(c.outcome).toBe("pass");
      expect(c.pValue).toBeGreaterThanOrEqual(S.alpha);
      expect(c.canaryN).toBe(6000);
    }
    expect(check(v, "error_rate_limit").explanation).toMatch(
      /^5xx share 1\.02 % \(61 of 6000\) is within the limit 5\.00 %/,
    );
  });

  it("fails a clear error regression on both error checks, with the numbers", () => {
    const v = analyse(BASELINE, window(6000, 600), S);
    expect(v.outcome).toBe("fail");
    expect(outcomes(v)).toMatchObject({
      error_rate_limit: "fail",
      error_rate_vs_baseline: "fail",
      latency_rank: "pass",
    });
    const limit = check(v, "error_rate_limit");
    expect(limit).toMatchObject({ canary: 0.1, canaryN: 6000, threshold: 0.05 });
    expect(limit.pValue).toBeLessThan(1e-20);
    expect(limit.explanation).toMatch(
      /^5xx share 10\.00 % \(600 of 6000\) is over the limit 5\.00 % \(p = [\d.]+e-\d+ < α 0\.01\)$/,
    );
    const vs = check(v, "error_rate_vs_baseline");
    expect(vs).toMatchObject({ canary: 0.1, baseline: 0.01, canaryN: 6000, baselineN: 36_000 });
    expect(vs.statistic).toBeCloseTo(0.09, 12);
    expect(vs.explanation).toContain("vs baseline 1.00 % (360 of 36000): +9.00 points");
    expect(v.reason).toContain(limit.explanation);
    expect(v.reason).toContain(vs.explanation);
  });

  it("a share over the limit by noise only does not fail the limit check", () => {
    // 16 of 300 = 5.3 %: above 5 % but P(X ≥ 16 | 300, 0.05) ≈ 0.4.
    const v = analyse(window(36_000, 1800), window(300, 16), S);
    const limit = check(v, "error_rate_limit");
    expect(limit.outcome).toBe("pass");
    expect(limit.explanation).toContain("is above the limit but not beyond noise");
  });

  it("an increase that is significant but smaller than the minimum points passes", () => {
    // 1.0 % → 1.2 % over 60,000 requests: significant, but not by 0.5 points or more.
    const v = analyse(window(360_000, 3600), window(60_000, 720), S);
    const vs = check(v, "error_rate_vs_baseline");
    expect(vs.outcome).toBe("pass");
    expect(vs.explanation).toMatch(/higher: p = [\d.e-]+, over 1\.50 % \(baseline \+ 0\.5 points\)/);
    expect(vs.explanation).toContain("not significantly by 0.5 points or more");
  });

  it("fails a clear latency regression through the rank test and the p95", () => {
    const v = analyse(BASELINE, window(6000, 60, SLOWER), S);
    expect(v.outcome).toBe("fail");
    expect(outcomes(v)).toMatchObject({
      error_rate_limit: "pass",
      error_rate_vs_baseline: "pass",
      latency_rank: "fail",
      latency_p95: "fail",
      latency_mean: "fail",
    });
    const rank = check(v, "latency_rank");
    expect(rank.pValue).toBeLessThan(1e-10);
    expect(rank.canary).toBeGreaterThan(0.6); // P(new slower)
    expect(rank.explanation).toMatch(
      /^Mann-Whitney U [\d.]+ \(new 6000 vs baseline 36000 requests, z [\d.]+, p [=<] /,
    );
    const p95 = check(v, "latency_p95");
    // By hand: the baseline's cumulative share is 0.92 at 0.25 s and 0.96 at 0.5 s, so its p95 is
    // 0.25 + 0.25 · (0.95 − 0.92) / 0.04 = 0.4375 s; the new one's the same one bucket up, 0.875 s.
    expect(p95.baseline).toBeCloseTo(0.4375, 12);
    expect(p95.canary).toBeCloseTo(0.875, 12);
    expect(p95.statistic).toBeCloseTo(100, 9);
    expect(p95.explanation).toMatch(
      /^p95 875\.0 ms vs baseline 437\.5 ms \(\+100\.0 %, threshold \+\d+ %; rank test p < 1e-300, α 0\.01\): slower$/,
    );
  });

  it("a significant but small slowdown is within the thresholds: pass", () => {
    // 2 % of the requests move one bucket up, over a very large window: the rank test sees it.
    const shifted = SHAPE.map((f, i) => f - (i === 3 ? 0.02 : 0) + (i === 4 ? 0.02 : 0));
    const v = analyse(window(3_600_000, 36_000), window(600_000, 6000, shifted), S);
    const rank = check(v, "latency_rank");
    expect(rank.pValue).toBeLessThan(S.alpha);
    expect(rank.outcome).toBe("pass");
    expect(rank.explanation).toContain("slower, but p95 +0.0 % and mean");
    expect(v.outcome).toBe("pass");
  });

  it("too few requests, or none, is inconclusive — never a pass", () => {
    const few = analyse(BASELINE, window(120, 0), S);
    expect(few.outcome).toBe("inconclusive");
    for (const c of few.checks) expect(c.outcome).toBe("inconclusive");
    expect(few.reason).toContain(
      `the new version served 120 requests, fewer than the ${S.minRequests} needed`,
    );
    expect(few.reason).toContain("histogram counts 120 requests");

    const none = analyse(BASELINE, { ...window(0, 0), latency: null, latencySumSeconds: null }, S);
    expect(none.outcome).toBe("inconclusive");
    expect(none.reason).toContain("no latency histogram for the new version");

    const noBaseline = analyse(
      { ...window(0, 0), latency: null, latencySumSeconds: null },
      window(6000, 60),
      S,
    );
    expect(noBaseline.outcome).toBe("inconclusive");
    expect(outcomes(noBaseline)).toMatchObject({
      error_rate_limit: "pass",
      error_rate_vs_baseline: "inconclusive",
    });
    expect(check(noBaseline, "error_rate_vs_baseline").explanation).toContain(
      "the baseline served no requests",
    );
    expect(check(noBaseline, "latency_rank").explanation).toContain("no latency histogram for the baseline");
  });

  it("a failing check wins over an inconclusive one", () => {
    const v = analyse(BASELINE, { ...window(6000, 900), latency: null, latencySumSeconds: null }, S);
    expect(v.outcome).toBe("fail");
    expect(check(v, "latency_p95").outcome).toBe("inconclusive");
  });

  it("a missing latency sum leaves only the mean inconclusive", () => {
    const v = analyse(BASELINE, { ...window(6000, 60), latencySumSeconds: null }, S);
    expect(outcomes(v)).toMatchObject({
      latency_rank: "pass",
      latency_p95: "pass",
      latency_mean: "inconclusive",
    });
    expect(v.outcome).toBe("inconclusive");
    expect(v.reason).toContain("no latency sum for the new version");
  });

  it("garbage from a source is inconclusive with the reason, never a crash", () => {
    const good = window(6000, 60);
    const cases: [Partial<WindowCounts>, RegExp][] = [
      [{ requests: Number.NaN }, /request count is NaN/],
      [{ errors: -3 }, /5xx count is -3/],
      [{ errors: 7000 }, /more 5xx \(7000\) than requests \(6000\)/],
      [{ endMs: -1 }, /window is invalid \(start 0, end -1\)/],
      [
        { latency: { le: [0.1, 0.05, Number.POSITIVE_INFINITY], cumulative: [1, 2, 3] } },
        /not ascending \(le 0\.1 then 0\.05\)/,
      ],
      [{ latency: { le: [0.1, 1], cumulative: [1, 2] } }, /does not end with le="\+Inf"/],
      [{ latency: { le: [0.1, Number.POSITIVE_INFINITY], cumulative: [5] } }, /2 bounds and 1 counts/],
      [
        { latency: { le: [0.1, 1, Number.POSITIVE_INFINITY], cumulative: [3000, 100, 6000] } },
        /fall from 3000 to 100 at le=1/,
      ],
      [
        { latency: { le: [0.1, 1, Number.POSITIVE_INFINITY], cumulative: [1, Number.NaN, 6000] } },
        /count at le=1 is NaN/,
      ],
    ];
    for (const [bad, reason] of cases) {
      const v = analyse(BASELINE, { ...good, ...bad }, S);
      expect(v.outcome, JSON.stringify(bad)).toBe("inconclusive");
      expect(v.reason).toMatch(reason);
    }
    // A baseline of garbage too.
    const v = analyse({ ...BASELINE, requests: Number.POSITIVE_INFINITY }, good, S);
    expect(check(v, "error_rate_vs_baseline")).toMatchObject({ outcome: "inconclusive" });
    expect(v.reason).toContain("the baseline's request count is Infinity");
  });

  it("a cumulative count that dips by a rounding step is flattened, not refused", () => {
    const w = window(6000, 60);
    const cumulative = [...(w.latency?.cumulative ?? [])];
    cumulative[5] = (cumulative[4] as number) - 1; // extrapolated increase(), rounded
    const v = analyse(BASELINE, { ...w, latency: { le: [...LE], cumulative } }, S);
    expect(check(v, "latency_rank").outcome).toBe("pass");
  });

  it("different bucket bounds: compared on the shared ones, or inconclusive without enough", () => {
    // The new version's histogram lacks three of the bounds: drop them (merging buckets).
    const slow = window(6000, 60, SLOWER);
    const keep = [0, 1, 3, 5, 6, 7, 8, 9, 10, 11];
    const coarse = {
      ...slow,
      latency: {
        le: keep.map((i) => LE[i] as number),
        cumulative: keep.map((i) => slow.latency?.cumulative[i] as number),
      },
    };
    const v = analyse(BASELINE, coarse, S);
    expect(check(v, "latency_rank").outcome).toBe("fail");
    expect(check(v, "latency_rank").explanation).toContain("(compared on 10 shared bucket bounds)");

    const disjoint = {
      ...slow,
      latency: { le: [0.2, 0.3, Number.POSITIVE_INFINITY], cumulative: [10, 20, 6000] },
    };
    const d = analyse(BASELINE, disjoint, S);
    expect(check(d, "latency_rank").outcome).toBe("inconclusive");
    expect(d.reason).toContain("the histograms share 0 finite bucket bound(s)");
  });

  it("every request in one bucket: nothing to rank, inconclusive", () => {
    const one = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    const v = analyse(window(36_000, 360, one), window(6000, 60, one), S);
    expect(check(v, "latency_rank").outcome).toBe("inconclusive");
    expect(v.reason).toContain("every request of both versions is in one bucket");
  });

  it("refuses bad settings by name", () => {
    expect(() => checkSettings(DEFAULT_ANALYSIS)).not.toThrow();
    expect(() => analyse(BASELINE, BASELINE, { ...S, alpha: 0 })).toThrow(
      /alpha must be in \(0, 0\.5\), got 0/,
    );
    expect(() => new RegressionJudge({ ...S, consecutiveFailures: 0 })).toThrow(/consecutiveFailures/);
    expect(() => checkSettings({ ...S, minRequests: 2.5 })).toThrow(/minRequests/);
  });
});

describe("RegressionJudge", () => {
  const settings: AnalysisSettings = { ...S, consecutiveFailures: 3 };
  const pass = window(6000, 60);
  const fail = window(6000, 900);
  const unsure = window(100, 1);

  it("decides after the set number of failing looks; a pass resets, an inconclusive look does neither", () => {
    const judge = new RegressionJudge(settings);
    const seq = [fail, fail, pass, fail, unsure, fail, fail];
    const got = seq.map((w) => judge.look(BASELINE, w));
    expect(got.map((d) => d.verdict.outcome)).toEqual([
      "fail",
      "fail",
      "pass",
      "fail",
      "inconclusive",
      "fail",
      "fail",
    ]);
    expect(got.map((d) => d.consecutiveFailures)).toEqual([1, 2, 0, 1, 1, 2, 3]);
    expect(got.map((d) => d.regression)).toEqual([false, false, false, false, false, false, true]);
    judge.reset();
    expect(judge.look(BASELINE, fail)).toMatchObject({ consecutiveFailures: 1, regression: false });
  });

  it("with one failure allowed, the first failing look decides", () => {
    const judge = new RegressionJudge({ ...S, consecutiveFailures: 1 });
    expect(judge.look(BASELINE, pass).regression).toBe(false);
    const d = judge.look(BASELINE, fail);
    expect(d.regression).toBe(true);
    expect(d.verdict.reason).toContain("900 of 6000");
  });
});
