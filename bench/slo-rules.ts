/**
 * What monitoring/slo_rules.yml costs the engine worker per evaluation, against
 * monitoring/alert_rules.yml on the same store (the baseline, measured in the same run, rounds
 * interleaved so that the machine's load hits both alike):
 *   - store: N routes × 6 statuses of http_requests_total and the latency histogram's _count and
 *     le="0.5" bucket, 6 h 5 min at the default 5 s scrape, and 30 d of the two 5m recordings per
 *     SLO at the default 15 s rule interval (what the long windows sum);
 *   - a round evaluates every rule of one file once (`evaluateInstant`, as the rule engine does);
 *   - reported: median and min ms per round, the share of one core at the 15 s interval, and the
 *     ratio SLO / alert rules.
 *
 *   npx tsx bench/slo-rules.ts [--routes 10] [--rounds 15]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type GroupDef, parseRuleFile } from "../src/alerts/rules/index.js";
import { evaluateInstant } from "../src/promql/index.js";
import { labelsFromObject, SeriesStore } from "../src/tsdb/index.js";

const { values } = parseArgs({
  options: { routes: { type: "string", default: "10" }, rounds: { type: "string", default: "15" } },
});
const ROUTES = Number(values.routes);
const ROUNDS = Number(values.rounds);
const END = Date.UTC(2026, 0, 31);
const RAW_MS = 6 * 3_600_000 + 300_000;
const DAYS_30 = 30 * 86_400_000;
const SCRAPE_MS = 5_000;
const EVAL_MS = 15_000;

function store(): SeriesStore {
  const s = new SeriesStore({ retentionMs: DAYS_30 + 86_400_000, maxSeries: 100_000 });
  for (let r = 0; r < ROUTES; r++) {
    for (const status_code of ["200", "201", "400", "401", "404", "500"]) {
      const base = { method: "GET", route: `/api/v1/r${r}`, status_code };
      const series = [
        labelsFromObject({ __name__: "http_requests_total", ...base }),
        labelsFromObject({ __name__: "http_request_duration_seconds_count", ...base }),
        labelsFromObject({ __name__: "http_request_duration_seconds_bucket", ...base, le: "0.5" }),
        labelsFromObject({ __name__: "http_request_duration_seconds_sum", ...base }),
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

const rulesOf = (file: string) =>
  parseRuleFile(readFileSync(new URL(`../monitoring/${file}`, import.meta.url), "utf8"), file).flatMap(
    (g: GroupDef) => g.rules,
  );

const s = store();
const targets = { alert_rules: rulesOf("alert_rules.yml"), slo_rules: rulesOf("slo_rules.yml") };
const times: Record<string, number[]> = { alert_rules: [], slo_rules: [] };
for (let round = 0; round < ROUNDS + 2; round++) {
  const order =
    round % 2 === 0 ? (["alert_rules", "slo_rules"] as const) : (["slo_rules", "alert_rules"] as const);
  for (const name of order) {
    const t0 = performance.now();
    for (const r of targets[name]) evaluateInstant(r.parsed, END, s, {});
    if (round >= 2) times[name]?.push(performance.now() - t0); // two warm-up rounds
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
for (const [name, t] of Object.entries(times)) {
  console.log(
    `${name}: ${targets[name as keyof typeof targets].length} rules, median ${median(t).toFixed(1)} ms (min ${Math.min(...t).toFixed(1)}) per evaluation; ${((median(t) / EVAL_MS) * 100).toFixed(2)} % of a core at 15 s`,
  );
}
console.log(
  `slo_rules / alert_rules: ${(median(times.slo_rules as number[]) / median(times.alert_rules as number[])).toFixed(1)}× (${ROUTES * 6} series per metric, load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]})`,
);
