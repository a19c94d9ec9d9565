// A store holding what the generated SLO rules read, at the default intervals: `routes` × 6 statuses
// of http_requests_total and the latency histogram's _count, le="0.5" bucket and _sum over the
// longest raw window (6 h 5 min at 5 s), and 30 d of the two 5m recordings per SLO at the 15 s rule
// interval (what the long windows sum). Shared by test/slo/limits.test.ts and bench/slo-rules.ts.
import { labelsFromObject, SeriesStore } from "../../src/tsdb/index.js";

export const SLO_STORE_END = Date.UTC(2026, 0, 31);
/** The raw counters' span (the longest raw window, 6 h, and a rate's 5 min). */
export const SLO_STORE_RAW_MS = 6 * 3_600_000 + 300_000;
export const DAYS_30 = 30 * 86_400_000;
const RAW_MS = SLO_STORE_RAW_MS;

export function sloStore(opts: { routes: number; scrapeMs: number; evalMs: number }): SeriesStore {
  const END = SLO_STORE_END;
  const s = new SeriesStore({ retentionMs: DAYS_30 + 86_400_000, maxSeries: 100_000 });
  for (let r = 0; r < opts.routes; r++) {
    for (const status_code of ["200", "201", "400", "401", "404", "500"]) {
      const base = { method: "GET", route: `/api/v1/r${r}`, status_code };
      const series = [
        labelsFromObject({ __name__: "http_requests_total", ...base }),
        labelsFromObject({ __name__: "http_request_duration_seconds_count", ...base }),
        labelsFromObject({ __name__: "http_request_duration_seconds_bucket", ...base, le: "0.5" }),
        labelsFromObject({ __name__: "http_request_duration_seconds_sum", ...base }),
      ];
      let i = 0;
      for (let t = END - RAW_MS; t <= END; t += opts.scrapeMs, i++)
        for (const [k, l] of series.entries()) s.append(l, t, i * (k === 2 ? 9 : 10));
    }
  }
  for (const slo of ["availability", "latency"]) {
    const errors = labelsFromObject({ __name__: "tug_slo:errors:rate5m", service: "tug-api", slo });
    const requests = labelsFromObject({ __name__: "tug_slo:requests:rate5m", service: "tug-api", slo });
    for (let t = END - DAYS_30; t <= END; t += opts.evalMs) {
      s.append(errors, t, 0.01);
      s.append(requests, t, 10);
    }
  }
  return s;
}
