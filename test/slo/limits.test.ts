import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseRuleFile } from "../../src/alerts/rules/index.js";
import { configSchema } from "../../src/core/config/index.js";
import { evaluateInstant, PromQLSampleLimitError } from "../../src/promql/index.js";
import type { SeriesStore } from "../../src/tsdb/index.js";
import { DAYS_30, SLO_STORE_RAW_MS as RAW_MS, SLO_STORE_END, sloStore } from "../support/slo-store.js";

/**
 * The generated SLO rules within the embedded engine's limits at the default scrape interval
 * (5 s) and rule interval (15 s): 60 /api series (10 routes × 6 statuses) of raw counters over the
 * longest raw window (6 h), and 30 d of the 5m recordings the long windows sum. Every rule
 * evaluates under the default engine.maxSamples; the peaks of the two heaviest are measured by
 * bisection on the limit (the evaluator counts what it holds at once, as Prometheus does).
 */
const config = configSchema.parse({});
const SCRAPE_MS = config.tsdb.scrapeIntervalMs;
const EVAL_MS = config.alerts.evaluationIntervalMs;
const MAX_SAMPLES = config.engine.maxSamples;
const END = SLO_STORE_END;

const store = (): SeriesStore => sloStore({ routes: 10, scrapeMs: SCRAPE_MS, evalMs: EVAL_MS });

/** The smallest maxSamples under which `expr` evaluates (bisection). */
function peak(expr: string, s: SeriesStore): number {
  let lo = 1;
  let hi = MAX_SAMPLES;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    try {
      evaluateInstant(expr, END, s, { limits: { maxSamples: mid } });
      hi = mid;
    } catch (e) {
      if (!(e instanceof PromQLSampleLimitError)) throw e;
      lo = mid + 1;
    }
  }
  return lo;
}

describe("monitoring/slo_rules.yml within the engine's limits", () => {
  it("evaluates every rule under engine.maxSamples at the default intervals", { timeout: 120_000 }, () => {
    const s = store();
    const text = readFileSync(new URL("../../monitoring/slo_rules.yml", import.meta.url), "utf8");
    const rules = parseRuleFile(text, "slo_rules.yml").flatMap((g) => g.rules);
    for (const r of rules) {
      expect(
        () => evaluateInstant(r.parsed, END, s, { limits: { maxSamples: MAX_SAMPLES } }),
        r.name,
      ).not.toThrow();
    }
    const raw = rules.find((r) => r.name === "tug_slo:error_ratio:rate6h" && r.labels.slo === "availability");
    const month = rules.find(
      (r) => r.name === "tug_slo:error_ratio:rate30d" && r.labels.slo === "availability",
    );
    const rawPeak = peak(raw?.expr ?? "", s);
    const monthPeak = peak(month?.expr ?? "", s);
    console.log(
      `slo rules: peak samples ${rawPeak} (6h over 60 raw series), ${monthPeak} (30d over the 5m recordings); engine.maxSamples ${MAX_SAMPLES}`,
    );
    // The 30 d ratio reads the recorded series (one series' 172,800 points at a time), not the
    // raw counters (518,400 points per series at 5 s).
    expect(monthPeak).toBeLessThan(2 * (DAYS_30 / EVAL_MS + 2));
    // A rate over a range holds one series' points at a time: the raw 6 h window costs about one
    // series' worth whatever the number of routes.
    expect(rawPeak).toBeLessThan(2 * (RAW_MS / SCRAPE_MS));
    expect(monthPeak * 50).toBeLessThan(MAX_SAMPLES);
  });
});
