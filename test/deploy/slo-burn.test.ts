// Budget burn as a deployment criterion (issue 18, part 5): maxBurnRate fails a new version whose
// 5xx share, as a burn rate of the availability SLO's error budget, is over it beyond noise.
import { describe, expect, it } from "vitest";
import { analyse, checkSettings, DEFAULT_ANALYSIS } from "../../src/deploy/analysis.js";
import { analysisSettings, DEFAULT_SLO_OBJECTIVE, parseDeploymentConfig } from "../../src/deploy/config.js";
import type { WindowCounts } from "../../src/deploy/types.js";
import { loadSloFile } from "../../src/slo/index.js";

const window = (requests: number, errors: number): WindowCounts => ({
  startMs: 0,
  endMs: 900_000,
  requests,
  errors,
  latency: null,
  latencySumSeconds: null,
});
const parse = (extra: Record<string, unknown>) =>
  parseDeploymentConfig(
    { version: "2.0.0", healthCheckUrl: "http://127.0.0.1:8000/monitoring/health", ...extra },
    { environment: "staging", now: 0 },
  );
const burnCheck = (v: ReturnType<typeof analyse>) => v.checks.find((c) => c.check === "slo_burn_rate");

describe("maxBurnRate", () => {
  it("defaults its objective to the TUG API's availability SLO in monitoring/slos.yml", () => {
    const spec = loadSloFile(new URL("../../monitoring/slos.yml", import.meta.url).pathname);
    const api = spec.services.find((s) => s.name === "tug-api");
    expect(api?.objectives.find((o) => o.sli.kind === "availability")?.objective).toBe(DEFAULT_SLO_OBJECTIVE);
    const s = analysisSettings(parse({ maxBurnRate: 14.4 }), DEFAULT_ANALYSIS);
    expect(s).toMatchObject({ maxBurnRate: 14.4, sloObjective: DEFAULT_SLO_OBJECTIVE });
    expect(analysisSettings(parse({ maxBurnRate: 6, sloObjective: 0.99 }), DEFAULT_ANALYSIS)).toMatchObject({
      maxBurnRate: 6,
      sloObjective: 0.99,
    });
  });

  it("fails a version burning 30× that the 5 % limit and the baseline comparison let through", () => {
    const s = analysisSettings(parse({ maxBurnRate: 14.4 }), DEFAULT_ANALYSIS);
    // The service burned as fast before: only the budget says this is too much.
    const v = analyse(window(20_000, 580), window(2_000, 60), s);
    const byName = Object.fromEntries(v.checks.map((c) => [c.check, c.outcome]));
    expect(byName).toMatchObject({
      error_rate_limit: "pass",
      error_rate_vs_baseline: "pass",
      slo_burn_rate: "fail",
    });
    expect(v.outcome).toBe("fail");
    expect(burnCheck(v)?.canary).toBeCloseTo(30, 6);
    expect(v.reason).toMatch(
      /^burn rate 30\.0× of the 99\.9 % availability SLO \(5xx share 3\.00 %, 60 of 2000\) is over maxBurnRate 14\.4× \(p = /,
    );
  });

  it("passes a version within it, and one above it only by noise", () => {
    const s = analysisSettings(parse({ maxBurnRate: 14.4 }), DEFAULT_ANALYSIS);
    expect(burnCheck(analyse(window(20_000, 200), window(2_000, 20), s))).toMatchObject({
      outcome: "pass",
      canary: 10,
    });
    // 1.6 % of 600 requests: over 1.44 %, not beyond noise at α 0.001
    const noisy = burnCheck(analyse(window(20_000, 200), window(600, 10), s));
    expect(noisy?.outcome).toBe("pass");
    expect(noisy?.explanation).toMatch(/above maxBurnRate but not beyond noise/);
  });

  it("is inconclusive with too few requests, and absent unless asked for", () => {
    const s = analysisSettings(parse({ maxBurnRate: 14.4 }), DEFAULT_ANALYSIS);
    expect(burnCheck(analyse(window(20_000, 200), window(100, 50), s))?.outcome).toBe("inconclusive");
    expect(burnCheck(analyse(window(20_000, 200), window(2_000, 60), DEFAULT_ANALYSIS))).toBeUndefined();
  });

  it("refuses bad values, naming the field", () => {
    for (const [input, field] of [
      [{ maxBurnRate: -1 }, "maxBurnRate"],
      [{ maxBurnRate: 14.4, sloObjective: 1.5 }, "sloObjective"],
      [{ max_burn_rate: 0 }, "maxBurnRate"],
    ] as const) {
      expect(() => parse(input)).toThrow(expect.objectContaining({ code: "VALIDATION_FAILED" }));
      try {
        parse(input);
      } catch (e) {
        expect(JSON.stringify((e as { details?: unknown }).details)).toContain(field);
      }
    }
    expect(() => checkSettings({ ...DEFAULT_ANALYSIS, maxBurnRate: 2 })).toThrow(
      /sloObjective must be in \(0, 1\)/,
    );
  });
});
