import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseRuleFile } from "../../src/alerts/rules/index.js";
import { configSchema } from "../../src/core/config/index.js";
import { evaluateInstant, PromQLSampleLimitError } from "../../src/promql/index.js";
import { labelsFromObject, SeriesStore } from "../../src/tsdb/index.js";

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
const END = Date.UTC(2026, 0, 31);
const RAW_MS = 6 * 3_600_000 + 300_000;
const DAYS_30 = 30 * 86_400_000;

function store(): SeriesStore {
  const s = new SeriesStore({ retentionMs: DAYS_30 + 86_400_000, maxSeries: 10_000 });
  const statuses = ["200", "201", "400", "401", "404", "500"];
  for (let r = 0; r < 10; r++) {
    for (const status_code of statuses) {
      const base = { method: "GET", route: `/api/v1/r${r}`, status_code };
      const series = [
        labelsFromObject({ __name__: "http_requests_total", ...base }),
        labelsFromObject({ __name__: "http_request_duration_seconds_count", ...base }),
        labelsFromObject({ __name__: "http_request_duration_seconds_bucket", ...base, le: "0.5" }),
      ];
      let i = 0;
      for (let t = END - RAW_MS; t <= END; t += SCRAPE_MS, i++)
        for (const [k, l] of series.entries()) s.append(l, t, i * (k === 2 ? 9 : 10));
    }
  }
  for (const slo of ["availability", "latency"]) {
    const errors = labelsFromObject({ __name__: "tug_slo:errors:rate5m", service: "tug-api", slo });
    const requests = labelsFromObject({ __name__: "tug_slo:requests:rate5m", service: "tug-api", slo });
    for (let t = END - DAYS_30; t <= END; t += EVAL_MS) {
      s.append(errors, t, 0.01);
      s.append(requests, t, 10);
    }
  }
  return s;
}

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
