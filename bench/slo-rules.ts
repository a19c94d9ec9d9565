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
import type { SeriesStore } from "../src/tsdb/index.js";
import { SLO_STORE_END, sloStore } from "../test/support/slo-store.js";

const { values } = parseArgs({
  options: { routes: { type: "string", default: "10" }, rounds: { type: "string", default: "15" } },
});
const ROUTES = Number(values.routes);
const ROUNDS = Number(values.rounds);
const END = SLO_STORE_END;
const SCRAPE_MS = 5_000;
const EVAL_MS = 15_000;

const store = (): SeriesStore => sloStore({ routes: ROUTES, scrapeMs: SCRAPE_MS, evalMs: EVAL_MS });

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
