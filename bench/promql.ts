/**
 * Embedded PromQL against a real Prometheus (2.42, Debian's package) holding the same data:
 *   (a) latency of `histogram_quantile(0.95, sum by (le, route) (rate(..._bucket[5m])))` as an
 *       instant query and as a 1 h range query at 15 s steps, both through HTTP on loopback with
 *       the same client, as a ratio embedded / Prometheus (target <= 1);
 *   (b) bytes per stored sample in the SeriesStore (target <= 16);
 *   (c) CPU share of one core spent evaluating monitoring/alert_rules.yml every 5 s (target < 1 %).
 * Data: 1 h at a 5 s interval for 100 routes (histogram with the app's default buckets, _sum,
 * _count, http_requests_total) plus the series the default rules read, from a seeded PRNG.
 * Prometheus gets it through `promtool tsdb create-blocks-from openmetrics`.
 *
 *   npx tsx bench/promql.ts [--warmup 5] [--runs 30] [--evals 200]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { loadRuleFile, RuleEngine } from "../src/alerts/rules/index.js";
import { InlineEngine } from "../src/engine/index.js";
import { promApiRoutes } from "../src/http/promapi.js";
import { labelsFromObject, SeriesStore } from "../src/tsdb/index.js";
import { ensurePackage, freePort } from "../test/support/services.js";

const { values: args } = parseArgs({
  options: {
    warmup: { type: "string", default: "5" },
    runs: { type: "string", default: "30" },
    evals: { type: "string", default: "200" },
  },
});
const WARMUP = Number(args.warmup);
const RUNS = Number(args.runs);
const EVALS = Number(args.evals);

const ROUTES = 100;
const STEP_MS = 5_000;
const HOUR_MS = 3_600_000;
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Number.POSITIVE_INFINITY];
const QUERY = "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))";
const RANGE_STEP_S = 15;
const TARGET_BYTES_PER_SAMPLE = 16;
const TARGET_CPU_SHARE = 0.01;

const here = fileURLToPath(new URL(".", import.meta.url));
const RESULTS_DIR = join(here, "results");
const RULES_FILE = join(here, "..", "monitoring", "alert_rules.yml");

const log = (msg: string) => process.stdout.write(`${msg}\n`);

// The last sample's time: a recent multiple of 5 s, so Prometheus's retention keeps it.
const T = Math.floor(Date.now() / STEP_MS) * STEP_MS - 60_000;
const FIRST = T - HOUR_MS + STEP_MS; // 720 samples per series in (T-1h, T]

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(20240601);
const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

// ---------------------------------------------------------------------------------------------
// 1. Data

interface GenSeries {
  name: string;
  labels: Record<string, string>;
  /** OpenMetrics family the series belongs to. */
  family: string;
  values: Float64Array;
}

function leText(le: number): string {
  return le === Number.POSITIVE_INFINITY ? "+Inf" : String(le);
}

function generate(): GenSeries[] {
  const n = HOUR_MS / STEP_MS;
  const out: GenSeries[] = [];
  for (let r = 0; r < ROUTES; r++) {
    const base = { method: "GET", route: `/r${r}`, status_code: "200" };
    const buckets = BUCKETS.map((le) => ({
      name: "http_request_duration_seconds_bucket",
      labels: { ...base, le: leText(le) },
      family: "http_request_duration_seconds",
      values: new Float64Array(n),
    }));
    const sum: GenSeries = {
      name: "http_request_duration_seconds_sum",
      labels: base,
      family: "http_request_duration_seconds",
      values: new Float64Array(n),
    };
    const count: GenSeries = {
      ...sum,
      name: "http_request_duration_seconds_count",
      values: new Float64Array(n),
    };
    const total: GenSeries = {
      name: "http_requests_total",
      labels: base,
      family: "http_requests",
      values: new Float64Array(n),
    };
    // A few requests per second per route; log-normal latency with a per-route median of 20–400 ms.
    const reqPerSec = 1 + (r % 5);
    const median = 0.02 * 20 ** ((r % 10) / 9);
    const cum = new Float64Array(BUCKETS.length);
    let s = 0;
    let c = 0;
    for (let i = 0; i < n; i++) {
      const k = Math.round(reqPerSec * 5 * (0.5 + rand()));
      for (let j = 0; j < k; j++) {
        const lat = median * Math.exp(0.8 * gauss());
        s += lat;
        for (let b = 0; b < BUCKETS.length; b++)
          if (lat <= (BUCKETS[b] as number)) cum[b] = (cum[b] as number) + 1;
      }
      c += k;
      for (let b = 0; b < BUCKETS.length; b++) (buckets[b] as GenSeries).values[i] = cum[b] as number;
      sum.values[i] = s;
      count.values[i] = c;
      total.values[i] = c;
    }
    out.push(...buckets, sum, count, total);
  }
  const gauge = (name: string, labels: Record<string, string>, f: (i: number) => number) => {
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = f(i);
    out.push({ name, labels, family: name, values });
  };
  gauge("system_memory_usage_ratio", {}, () => 0.5 + 0.1 * rand());
  gauge("system_cpu_usage_ratio", {}, () => 0.2 + 0.2 * rand());
  gauge("health_check_status", { check: "database" }, () => 1);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 3. Prometheus

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));

function run(cmd: string, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const onData = (d: Buffer) => {
      output += d.toString();
      for (const line of d.toString().split("\n"))
        if (line.trim()) log(`  [${cmd.split("/").pop()}] ${line}`);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd} ${argv.join(" ")} exited ${code}: ${output.slice(-500)}`)),
    );
  });
}

async function writeOpenMetrics(file: string, series: GenSeries[]): Promise<void> {
  const out = createWriteStream(file);
  const write = async (s: string) => {
    if (!out.write(s)) await once(out, "drain");
  };
  const types: Record<string, string> = {
    http_request_duration_seconds: "histogram",
    http_requests: "counter",
  };
  let family = "";
  for (const s of series) {
    if (s.family !== family) {
      family = s.family;
      await write(`# TYPE ${family} ${types[family] ?? "gauge"}\n`);
    }
    const labels = Object.entries(s.labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(",");
    const head = labels ? `${s.name}{${labels}} ` : `${s.name} `;
    let chunk = "";
    for (let i = 0; i < s.values.length; i++) {
      chunk += `${head}${s.values[i]} ${(FIRST + i * STEP_MS) / 1000}\n`;
    }
    await write(chunk);
  }
  await write("# EOF\n");
  out.end();
  await once(out, "finish");
}

async function startPrometheus(dataDir: string, configFile: string, port: number): Promise<string> {
  const bin = await ensurePackage("prometheus", "prometheus");
  const child = spawn(
    bin,
    [
      `--storage.tsdb.path=${dataDir}`,
      `--config.file=${configFile}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=30d",
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  children.add(child);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`prometheus exited ${child.exitCode}: ${stderr.slice(-1000)}`);
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.ok) return url;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`prometheus not ready within 60 s: ${stderr.slice(-1000)}`);
}

// ---------------------------------------------------------------------------------------------
// 4. Queries through HTTP

interface ApiSeries {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

async function query(base: string, path: string, params: Record<string, string>): Promise<ApiSeries[]> {
  const res = await fetch(`${base}${path}?${new URLSearchParams(params)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: ApiSeries[] } };
  if (!res.ok || body.status !== "success" || !body.data)
    throw new Error(`${base}${path} ${params.query}: HTTP ${res.status} ${body.error ?? ""}`);
  return body.data.result;
}

function sameValue(a: string, b: string): boolean {
  const x = Number(a);
  const y = Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y);
  if (x === y) return true;
  return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
}

/** Throws unless both results have the same label sets and (all) values within 1e-9 relative. */
function assertSame(what: string, ours: ApiSeries[], theirs: ApiSeries[]): number {
  const key = (m: Record<string, string>) =>
    JSON.stringify(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1)));
  const mine = new Map(ours.map((s) => [key(s.metric), s]));
  if (ours.length !== theirs.length || mine.size !== theirs.length)
    throw new Error(`${what}: embedded returned ${ours.length} series, Prometheus ${theirs.length}`);
  let points = 0;
  for (const t of theirs) {
    const o = mine.get(key(t.metric));
    if (!o) throw new Error(`${what}: embedded lacks series ${key(t.metric)}`);
    const a = o.values ?? (o.value ? [o.value] : []);
    const b = t.values ?? (t.value ? [t.value] : []);
    if (a.length !== b.length)
      throw new Error(`${what} ${key(t.metric)}: embedded has ${a.length} points, Prometheus ${b.length}`);
    for (let i = 0; i < a.length; i++) {
      const [ta, va] = a[i] as [number, string];
      const [tb, vb] = b[i] as [number, string];
      if (ta !== tb || !sameValue(va, vb))
        throw new Error(`${what} ${key(t.metric)} point ${i}: embedded ${ta}=${va}, Prometheus ${tb}=${vb}`);
      points++;
    }
  }
  return points;
}

interface Timing {
  medianMs: number;
  p90Ms: number;
  samplesMs: number[];
}

async function time(base: string, path: string, params: Record<string, string>): Promise<Timing> {
  for (let i = 0; i < WARMUP; i++) await query(base, path, params);
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await query(base, path, params);
    ms.push(performance.now() - t0);
  }
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { medianMs: at(0.5), p90Ms: at(0.9), samplesMs: ms.map((x) => Math.round(x * 1000) / 1000) };
}

// ---------------------------------------------------------------------------------------------
// Main

const work = mkdtempSync(join(tmpdir(), "tug-bench-promql-"));
const app = Fastify({ logger: false });
let exitCode = 0;
try {
  log(`data: 1 h at 5 s for ${ROUTES} routes, ending ${new Date(T).toISOString()}`);
  let t0 = performance.now();
  const series = generate();
  const perSeries = HOUR_MS / STEP_MS;
  log(
    `  generated ${series.length} series x ${perSeries} samples in ${(performance.now() - t0).toFixed(0)} ms`,
  );

  // 2. The embedded store and (b).
  const store = new SeriesStore({ retentionMs: 3 * HOUR_MS, maxSeries: 100_000 });
  t0 = performance.now();
  const refs = series.map((s) => {
    const ref = store.getOrCreate(labelsFromObject({ __name__: s.name, ...s.labels }));
    if (typeof ref !== "number") throw new Error(`store refused ${s.name}: ${ref}`);
    return ref;
  });
  for (let i = 0; i < perSeries; i++) {
    const ts = FIRST + i * STEP_MS;
    for (let j = 0; j < series.length; j++) {
      const r = store.appendRef(refs[j] as number, ts, (series[j] as GenSeries).values[i] as number);
      if (r !== "ok") throw new Error(`append refused: ${r}`);
    }
  }
  const samples = store.sampleCount();
  const bytes = store.bytesUsed();
  const bytesPerSample = bytes / samples;
  log(`  appended ${samples.toLocaleString("en-US")} samples in ${(performance.now() - t0).toFixed(0)} ms`);
  log(
    `${bytesPerSample <= TARGET_BYTES_PER_SAMPLE ? "PASS" : "MISS"}  (b) bytes per sample <= ${TARGET_BYTES_PER_SAMPLE}: ${bytesPerSample.toFixed(2)} (${bytes.toLocaleString("en-US")} bytes / ${samples.toLocaleString("en-US")} samples)`,
  );

  // 3. The same data in Prometheus.
  const omFile = join(work, "data.om");
  const dataDir = join(work, "prometheus");
  mkdirSync(dataDir);
  t0 = performance.now();
  await writeOpenMetrics(omFile, series);
  log(
    `prometheus: wrote OpenMetrics file in ${(performance.now() - t0).toFixed(0)} ms; backfilling with promtool...`,
  );
  const promtool = await ensurePackage("promtool", "prometheus");
  t0 = performance.now();
  await run(promtool, ["tsdb", "create-blocks-from", "openmetrics", omFile, dataDir]);
  log(`  backfilled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  rmSync(omFile);
  const configFile = join(work, "prometheus.yml");
  writeFileSync(configFile, "global:\n  scrape_interval: 1m\nscrape_configs: []\n");
  const prom = await startPrometheus(dataDir, configFile, await freePort());
  log(`  prometheus ready at ${prom}`);

  // 4. The embedded store over HTTP.
  await promApiRoutes(app, { engine: new InlineEngine({ store }), token: undefined });
  const ours = await app.listen({ host: "127.0.0.1", port: 0 });
  const OUR_BASE = `${ours}/monitoring/api/v1`;
  const PROM_BASE = `${prom}/api/v1`;
  log(`  embedded API at ${OUR_BASE}`);

  const tSec = String(T / 1000);
  for (const [what, q] of [
    ["series", 'count({__name__=~".+"})'],
    ["bucket samples in the last hour", "sum(count_over_time(http_request_duration_seconds_bucket[1h]))"],
    ["counter samples in the last hour", "sum(count_over_time(http_requests_total[1h]))"],
    ["latency sum at T", "sum(http_request_duration_seconds_sum)"],
  ] as const) {
    const [a, b] = await Promise.all([
      query(OUR_BASE, "/query", { query: q, time: tSec }),
      query(PROM_BASE, "/query", { query: q, time: tSec }),
    ]);
    const x = a[0]?.value?.[1];
    const y = b[0]?.value?.[1];
    if (x === undefined || y === undefined || !sameValue(x, y))
      throw new Error(`data check ${what}: embedded ${x}, Prometheus ${y}`);
    log(`  data check: ${what} embedded ${x} = Prometheus ${y}`);
  }

  const instant = { query: QUERY, time: tSec };
  const range = {
    query: QUERY,
    start: String((T - HOUR_MS) / 1000),
    end: tSec,
    step: String(RANGE_STEP_S),
  };
  const cases = [
    { name: "a1 instant", path: "/query", params: instant },
    { name: "a2 range 1h/15s", path: "/query_range", params: range },
  ];
  const rows: Array<{
    query: string;
    series: number;
    points: number;
    embedded: Timing;
    prometheus: Timing;
    ratio: number;
  }> = [];
  for (const c of cases) {
    const [a, b] = await Promise.all([query(OUR_BASE, c.path, c.params), query(PROM_BASE, c.path, c.params)]);
    const points = assertSame(c.name, a, b);
    log(`${c.name}: results agree (${b.length} series, ${points} points)`);
    log(`  timing embedded: ${WARMUP} warm-up + ${RUNS} measured...`);
    const embedded = await time(OUR_BASE, c.path, c.params);
    log(`  timing prometheus: ${WARMUP} warm-up + ${RUNS} measured...`);
    const prometheus = await time(PROM_BASE, c.path, c.params);
    rows.push({
      query: c.name,
      series: b.length,
      points,
      embedded,
      prometheus,
      ratio: embedded.medianMs / prometheus.medianMs,
    });
  }
  log("\nquery             embedded ms (med/p90)  prometheus ms (med/p90)  ratio");
  for (const r of rows) {
    const pair = (t: Timing) => `${t.medianMs.toFixed(2)} / ${t.p90Ms.toFixed(2)}`;
    log(
      `${r.query.padEnd(17)} ${pair(r.embedded).padStart(21)}  ${pair(r.prometheus).padStart(23)}  ${r.ratio.toFixed(2)}`,
    );
  }
  for (const r of rows) {
    log(
      `${r.ratio <= 1 ? "PASS" : "MISS"}  (a) ${r.query} embedded/Prometheus median <= 1: ${r.ratio.toFixed(2)}`,
    );
  }

  // 5. (c) The default rules every 5 s.
  const groups = loadRuleFile(RULES_FILE);
  const engine = new RuleEngine({ store, groups, now: () => T });
  const rules = groups.reduce((n, g) => n + g.rules.length, 0);
  const start = T - (EVALS - 1) * STEP_MS;
  log(
    `\n(c) evaluating ${rules} default rules ${EVALS} times at 5 s steps from ${new Date(start).toISOString()}...`,
  );
  engine.evaluateGroupsAt(start - STEP_MS); // first evaluation outside the measurement
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < EVALS; i++) engine.evaluateGroupsAt(start + i * STEP_MS);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - wall0;
  const cpuMsPerEval = (cpu.user + cpu.system) / 1000 / EVALS;
  const cpuShare = cpuMsPerEval / STEP_MS;
  const firing = engine
    .alerts()
    .map((a) => `${a.labels.alertname}(${a.state})`)
    .join(", ");
  log(
    `  ${cpuMsPerEval.toFixed(3)} ms CPU per evaluation (wall ${(wallMs / EVALS).toFixed(3)} ms); alerts: ${firing || "none"}`,
  );
  log(
    `${cpuShare < TARGET_CPU_SHARE ? "PASS" : "MISS"}  (c) CPU share of one core at a 5 s interval < 1 %: ${(cpuShare * 100).toFixed(3)} %`,
  );

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, "promql.json");
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        dataEnd: new Date(T).toISOString(),
        routes: ROUTES,
        series: series.length,
        samples,
        query: QUERY,
        warmup: WARMUP,
        runs: RUNS,
        latency: rows,
        bytesPerSample: { bytes, samples, value: bytesPerSample, target: TARGET_BYTES_PER_SAMPLE },
        ruleCpu: {
          rules,
          evaluations: EVALS,
          cpuMsPerEvaluation: cpuMsPerEval,
          wallMsPerEvaluation: wallMs / EVALS,
          shareOfOneCoreAt5s: cpuShare,
          target: TARGET_CPU_SHARE,
        },
      },
      null,
      2,
    )}\n`,
  );
  log(`\nwrote ${out}`);
} catch (err) {
  console.error(`bench/promql.ts failed: ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  await app.close();
  for (const c of children) {
    if (c.exitCode !== null) continue;
    c.kill("SIGTERM");
    await Promise.race([once(c, "exit"), sleep(10_000)]);
    if (c.exitCode === null) c.kill("SIGKILL");
  }
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);
