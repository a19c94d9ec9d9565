/**
 * Readiness probe latency under load: GET /monitoring/health/ready with 200 concurrent
 * connections on loopback, against GET /monitoring/health/live (the cheapest route of the
 * same app) measured in the same run as the baseline. Target: ready p99 below 5 ms.
 *
 *   npx tsx bench/ready.ts [--duration 10] [--connections 200]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { startBenchChild } from "./variants.js";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "200" },
    warmup: { type: "string", default: "2" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmup = Number(values.warmup);

const { child, ready } = await startBenchChild("monitored");

function run(path: string, seconds: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url: `${ready.url}${path}`, connections, duration: seconds }, (err, r) =>
      err ? reject(err) : resolve(r),
    );
  });
}

const rows: Array<{
  route: string;
  reqPerSec: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
}> = [];
for (const path of ["/monitoring/health/live", "/monitoring/health/ready"]) {
  process.stdout.write(`warming up ${path} (${warmup} s)...\n`);
  await run(path, warmup);
  process.stdout.write(`measuring ${path}: ${connections} connections, ${duration} s...\n`);
  const r = await run(path, duration);
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${path}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  rows.push({
    route: path,
    reqPerSec: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    non2xx: r.non2xx,
  });
}
child.kill("SIGTERM");

const [live, readyRow] = rows as [(typeof rows)[0], (typeof rows)[0]];
console.log("\nroute                          req/s     p50 ms  p99 ms  max ms");
for (const r of rows) {
  console.log(
    `${r.route.padEnd(28)} ${Math.round(r.reqPerSec).toLocaleString("en-US").padStart(8)}  ${String(r.p50).padStart(6)}  ${String(r.p99).padStart(6)}  ${String(r.max).padStart(6)}`,
  );
}
const ratio = readyRow.p99 / Math.max(live.p99, 1);
console.log(`\nready p99 / live p99 = ${ratio.toFixed(2)}`);
console.log(`${readyRow.p99 < 5 ? "PASS" : "MISS"}  /monitoring/health/ready p99 < 5 ms: ${readyRow.p99} ms`);
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./results/ready-probe.json", import.meta.url),
  `${JSON.stringify({ date: new Date().toISOString(), connections, duration, rows, ratio }, null, 2)}\n`,
);
process.exit(0);
