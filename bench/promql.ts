/**
 * Embedded PromQL against a real Prometheus (2.42, Debian's package) holding the same data:
 *   (a) latency of `histogram_quantile(0.95, sum by (le, route) (rate(..._bucket[5m])))` as an
 *       instant query and as a 1 h range query at 15 s steps, over HTTP on loopback with the same
 *       client, as a ratio to Prometheus (target <= 1), for
 *         app      — what users get: a real app (src/server.ts, monitoring on: engine worker,
 *                    sampler, rules, log analysis, access log) in its own process, its data loaded
 *                    through ingest batches as the sampler posts them, queried at
 *                    /monitoring/api/v1 as Grafana does (form-encoded POST by default);
 *         worker   — an EngineClient (the worker) behind the bare Prometheus API routes in this
 *                    process: the cost of the crossing without the app's stack;
 *         inline   — the in-process engine behind the same routes (the figure before isolation);
 *       the targets interleaved, round by round in rotated order, so that a change in the
 *       machine's load hits each alike; with the CPU and run-queue time per query of the engine
 *       thread and of each server process (/proc schedstat: the work done, apart from the time
 *       spent waiting for a core on a loaded machine);
 *   (b) bytes per stored sample in the SeriesStore (target <= 16);
 *   (c) CPU share of one core spent evaluating monitoring/alert_rules.yml every 5 s (target < 1 %).
 * Data: 1 h at a 5 s interval for 100 routes (histogram with the app's default buckets, _sum,
 * _count, http_requests_total) plus the series the default rules read, from a seeded PRNG.
 * Prometheus gets it through `promtool tsdb create-blocks-from openmetrics`.
 *
 *   npx tsx bench/promql.ts [--warmup 5] [--runs 30 (the instant query: 3x)] [--evals 200] [--method POST|GET]
 *                           [--worker-nice N]   # renice the engine threads (diagnosis; root)
 *                           [--compare-nice N]  # a second app, its engine at nice N, as a fifth target
 *                           [--accept-encoding identity]  # ask every server not to compress
 *
 * Internally `--serve-app --data-end <ms>` runs the app's child process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { loadavg, setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { loadRuleFile, RuleEngine } from "../src/alerts/rules/index.js";
import { type Engine, EngineClient, InlineEngine } from "../src/engine/index.js";
import { promApiRoutes } from "../src/http/promapi.js";
import { labelsFromObject, SeriesStore } from "../src/tsdb/index.js";
import type { ScrapeBatch, ScrapeSink } from "../src/tsdb/sampler.js";
import { mulberry32 as prng } from "../test/support/prng.js";
import { ensurePackage, freePort } from "../test/support/services.js";
import { startBenchApp } from "./app.js";
import { run, startPrometheus } from "./prometheus.js";

const { values: args } = parseArgs({
  options: {
    warmup: { type: "string", default: "5" },
    runs: { type: "string", default: "30" },
    evals: { type: "string", default: "200" },
    method: { type: "string", default: "POST" },
    "worker-nice": { type: "string" },
    "accept-encoding": { type: "string" },
    "compare-nice": { type: "string" },
    "serve-app": { type: "boolean", default: false },
    "data-end": { type: "string" },
  },
});
const WARMUP = Number(args.warmup);
const RUNS = Number(args.runs);
const EVALS = Number(args.evals);
const METHOD = args.method.toUpperCase();
if (METHOD !== "GET" && METHOD !== "POST") throw new Error(`--method GET or POST, not ${args.method}`);
const WORKER_NICE = args["worker-nice"] === undefined ? undefined : Number(args["worker-nice"]);
/** Sent as Accept-Encoding (default: fetch's own, gzip and others, as Grafana's client sends). */
const ACCEPT_ENCODING = args["accept-encoding"];
const COMPARE_NICE = args["compare-nice"] === undefined ? undefined : Number(args["compare-nice"]);

const ROUTES = 100;
const STEP_MS = 5_000;
const HOUR_MS = 3_600_000;
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Number.POSITIVE_INFINITY];
const QUERY = "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))";
const RANGE_STEP_S = 15;
const TARGET_BYTES_PER_SAMPLE = 16;
const TARGET_CPU_SHARE = 0.01;
/** Retention of every embedded store here: the hour of data must outlive the app's own scrapes. */
const RETENTION_MS = 3 * HOUR_MS;

const here = fileURLToPath(new URL(".", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const RESULTS_DIR = join(here, "results");
const RULES_FILE = join(here, "..", "monitoring", "alert_rules.yml");

const log = (msg: string) => process.stdout.write(`${msg}\n`);

// The last sample's time: a recent multiple of 5 s, so Prometheus's retention keeps it. The app's
// child gets the parent's, so that both generate the same data.
const T =
  args["data-end"] !== undefined
    ? Number(args["data-end"])
    : Math.floor(Date.now() / STEP_MS) * STEP_MS - 60_000;
const FIRST = T - HOUR_MS + STEP_MS; // 720 samples per series in (T-1h, T]

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

/**
 * The same data as scrape batches, as the sampler posts them to the engine: one per timestamp,
 * refs 1..n defined in the first (which resets the engine's refs).
 */
function toBatches(series: GenSeries[]): ScrapeBatch[] {
  const defs = series.map((s, j) => {
    const pairs = Object.entries({ __name__: s.name, ...s.labels }).sort(([a], [b]) => (a < b ? -1 : 1));
    return { ref: j + 1, labels: pairs.flat() };
  });
  const n = HOUR_MS / STEP_MS;
  const out: ScrapeBatch[] = [];
  for (let i = 0; i < n; i++) {
    const refs = new Int32Array(series.length);
    const values = new Float64Array(series.length);
    for (let j = 0; j < series.length; j++) {
      refs[j] = j + 1;
      values[j] = (series[j] as GenSeries).values[i] as number;
    }
    out.push({
      timeMs: FIRST + i * STEP_MS,
      ok: true,
      reset: i === 0,
      defs: i === 0 ? defs : [],
      forget: [],
      refs,
      values,
    });
  }
  return out;
}

/** Posts every batch (their buffers are transferred), then waits until the engine has stored them. */
async function load(engine: ScrapeSink & Pick<Engine, "run">, batches: ScrapeBatch[]): Promise<void> {
  for (const b of batches) engine.ingest(b, engine.generation());
  // Messages reach the worker in order: this query runs after the last batch is stored.
  await engine.run({ op: "query", query: "1", timeMs: T });
}

// ---------------------------------------------------------------------------------------------
// 2. Threads and their scheduling (Linux /proc)

/** Kernel ids of this process's threads whose nice value is above 0: the engine worker(s). */
function nicedThreads(pid: number | "self"): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        // Fields after the command name: state is field 3, nice field 19.
        const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
        if (nice > 0) out.push(Number(tid));
      } catch {
        // the thread ended between the listing and the read
      }
    }
  } catch {
    // no /proc: no scheduling figures
  }
  return out;
}

interface Sched {
  /** ns on a CPU */
  runNs: number;
  /** ns runnable but waiting for a CPU */
  waitNs: number;
}

/** Sum of /proc/<pid>/task/<tid>/schedstat over the given threads (all of the process by default). */
function sched(pid: number | "self", tids?: number[]): Sched | undefined {
  try {
    const list = tids ?? readdirSync(`/proc/${pid}/task`).map(Number);
    let runNs = 0;
    let waitNs = 0;
    for (const tid of list) {
      try {
        const [run = 0, wait = 0] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8")
          .trim()
          .split(" ")
          .map(Number);
        runNs += run;
        waitNs += wait;
      } catch {
        // a thread that ended: its time is not counted
      }
    }
    return { runNs, waitNs };
  } catch {
    return undefined;
  }
}

const load1 = () => Math.round((loadavg()[0] as number) * 100) / 100;

// ---------------------------------------------------------------------------------------------
// 3. The app's child process (--serve-app)

interface AppReady {
  url: string;
  pid: number;
  /** The engine worker's kernel thread id(s). */
  workerTids: number[];
}

/**
 * A real app (monitoring on, as `tug serve` builds it) on 127.0.0.1:0 with the bench's hour
 * loaded into its engine worker; prints one JSON line (AppReady) and serves until the parent
 * goes away.
 */
async function serveApp(): Promise<void> {
  const series = generate();
  const batches = toBatches(series);
  const { app, url } = await startBenchApp({
    name: "promql-app",
    yaml: `tsdb:\n  retentionMs: ${RETENTION_MS}\n`,
  });
  const engine = app.engine;
  if (!engine) throw new Error("the app has no monitoring engine");
  await load(engine, batches);
  const workerTids = nicedThreads("self");
  if (WORKER_NICE !== undefined) for (const tid of workerTids) setPriority(tid, WORKER_NICE);
  const ready: AppReady = { url, pid: process.pid, workerTids };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

// ---------------------------------------------------------------------------------------------
// 4. Prometheus

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

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

// ---------------------------------------------------------------------------------------------
// 5. Queries through HTTP

interface ApiSeries {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

/** Content-Encoding of the last answer of each server (Prometheus compresses, the app does not). */
const encodings = new Map<string, string>();

/** One query as Grafana sends it: form-encoded POST (or GET with --method GET). */
async function query(base: string, path: string, params: Record<string, string>): Promise<ApiSeries[]> {
  const form = new URLSearchParams(params);
  const headers: Record<string, string> = ACCEPT_ENCODING ? { "accept-encoding": ACCEPT_ENCODING } : {};
  const res =
    METHOD === "POST"
      ? await fetch(`${base}${path}`, { method: "POST", body: form, headers })
      : await fetch(`${base}${path}?${form}`, { headers });
  encodings.set(base, res.headers.get("content-encoding") ?? "identity");
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
  minMs: number;
  samplesMs: number[];
}

function timing(ms: number[]): Timing {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return {
    medianMs: at(0.5),
    p90Ms: at(0.9),
    minMs: sorted[0] as number,
    samplesMs: ms.map((x) => Math.round(x * 1000) / 1000),
  };
}

interface Target {
  /** app, app-nice<N>, worker, inline, prometheus (last) */
  name: string;
  title: string;
  base: string;
  /** Its engine thread(s): [pid, tids]; their CPU and run-queue time per query are reported. */
  engine?: [number | "self", number[]];
  /** Its own process (all threads), whose CPU per query is reported — background work included. */
  pid?: number;
}

/** Per query: CPU and run-queue wait (ms) of the engine thread(s) and of the whole process. */
interface PerQuery {
  engineCpuMs?: number;
  engineWaitMs?: number;
  processCpuMs?: number;
  processWaitMs?: number;
}

function perQuery(
  a: Sched | undefined,
  b: Sched | undefined,
  what: "engine" | "process",
  runs: number,
): PerQuery {
  if (!a || !b) return {};
  const cpu = (b.runNs - a.runNs) / runs / 1e6;
  const wait = (b.waitNs - a.waitNs) / runs / 1e6;
  return what === "engine"
    ? { engineCpuMs: cpu, engineWaitMs: wait }
    : { processCpuMs: cpu, processWaitMs: wait };
}

/**
 * Times `fn(target)` for every target, `runs` rounds after WARMUP, each round in a rotated
 * order: the targets see the same machine, and a burst of load lands on each alike.
 */
async function interleaved<T extends Pick<Target, "name" | "engine" | "pid">>(
  targets: T[],
  fn: (t: T) => Promise<unknown>,
  runs = RUNS,
): Promise<{ ms: Map<string, number[]>; sched: Map<string, PerQuery> }> {
  for (const t of targets) for (let i = 0; i < WARMUP; i++) await fn(t);
  const ms = new Map(targets.map((t) => [t.name, [] as number[]]));
  const before = new Map(targets.map((t) => [t.name, schedOf(t)]));
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(i + k) % targets.length] as T;
      const t0 = performance.now();
      await fn(t);
      ms.get(t.name)?.push(performance.now() - t0);
    }
  }
  const after = new Map(targets.map((t) => [t.name, schedOf(t)]));
  const figures = new Map<string, PerQuery>();
  for (const t of targets) {
    const a = before.get(t.name);
    const b = after.get(t.name);
    figures.set(t.name, {
      ...perQuery(a?.engine, b?.engine, "engine", runs),
      ...perQuery(a?.process, b?.process, "process", runs),
    });
  }
  return { ms, sched: figures };
}

function schedOf(t: Pick<Target, "engine" | "pid">): { engine?: Sched; process?: Sched } {
  return {
    engine: t.engine ? sched(t.engine[0], t.engine[1]) : undefined,
    process: t.pid === undefined ? undefined : sched(t.pid),
  };
}

/** Starts the app's child (this file with --serve-app) and reads its JSON line. */
async function startApp(nice = WORKER_NICE): Promise<{ ready: AppReady; child: ChildProcess }> {
  const argv = [
    "--import",
    "tsx",
    "--disable-warning=FSTDEP023",
    SELF,
    "--serve-app",
    "--data-end",
    String(T),
  ];
  if (nice !== undefined) argv.push("--worker-nice", String(nice));
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit", "ipc"] });
  children.add(child);
  const stdout = child.stdout;
  if (!stdout) throw new Error("the app's child has no stdout");
  const lines = createInterface({ input: stdout });
  const ready = await new Promise<AppReady>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the app did not start within 120 s")), 120_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as AppReady);
      } catch {
        reject(new Error(`the app printed ${JSON.stringify(line)} instead of its JSON line`));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the app exited with code ${code} before it was ready`));
    });
  });
  lines.on("line", (line) => process.stderr.write(`[app stdout] ${line}\n`));
  return { ready, child };
}

const quietLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: (o: object, m: string) => log(`engine worker: ${m} ${JSON.stringify(o)}`),
};

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));
  const work = mkdtempSync(join(tmpdir(), "tug-bench-promql-"));
  const inlineApi = Fastify({ logger: false });
  const workerApi = Fastify({ logger: false });
  const client = new EngineClient({
    settings: { retentionMs: RETENTION_MS, maxSeries: 100_000 },
    // The app's defaults (engine.*).
    queryTimeoutMs: 30_000,
    maxQueuedQueries: 20,
    watchdogGraceMs: 5_000,
    memoryLimitMb: 1024,
    logger: quietLogger,
  });
  const loads: Record<string, number> = { start: load1() };
  let exitCode = 0;
  try {
    log(`load average (1 min) at start: ${loads.start}`);
    log(`data: 1 h at 5 s for ${ROUTES} routes, ending ${new Date(T).toISOString()}`);
    let t0 = performance.now();
    const series = generate();
    const perSeries = HOUR_MS / STEP_MS;
    log(
      `  generated ${series.length} series x ${perSeries} samples in ${(performance.now() - t0).toFixed(0)} ms`,
    );

    // The in-process store and (b).
    const store = new SeriesStore({ retentionMs: RETENTION_MS, maxSeries: 100_000 });
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

    // The same data in the worker, through ingest batches.
    const before = new Set(nicedThreads("self"));
    client.start();
    t0 = performance.now();
    await load(client, toBatches(series));
    const workerTids = nicedThreads("self").filter((tid) => !before.has(tid));
    if (WORKER_NICE !== undefined) for (const tid of workerTids) setPriority(tid, WORKER_NICE);
    log(
      `worker: ${perSeries} ingest batches stored in ${(performance.now() - t0).toFixed(0)} ms (engine thread ${workerTids.join(",") || "?"})`,
    );

    // The same data in Prometheus.
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
    const { url: prom } = await startPrometheus({ dataDir, configFile, port: await freePort(), children });
    const promPid = [...children].at(-1)?.pid;
    log(`  prometheus ready at ${prom}`);

    // The app, in its own process.
    t0 = performance.now();
    const { ready: app } = await startApp();
    log(
      `app: ${app.url} (pid ${app.pid}, engine thread ${app.workerTids.join(",") || "?"}), data loaded, ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    // Diagnosis: the same app with its engine thread at another priority.
    const second = COMPARE_NICE === undefined ? undefined : (await startApp(COMPARE_NICE)).ready;
    if (second) log(`app with its engine at nice ${COMPARE_NICE}: ${second.url} (pid ${second.pid})`);

    // The bare API routes over each engine in this process.
    await promApiRoutes(inlineApi, { engine: new InlineEngine({ store }), token: undefined });
    await promApiRoutes(workerApi, { engine: client, token: undefined });
    const inlineUrl = await inlineApi.listen({ host: "127.0.0.1", port: 0 });
    const workerUrl = await workerApi.listen({ host: "127.0.0.1", port: 0 });
    const targets: Target[] = [
      {
        name: "app",
        title: "app (worker, full stack)",
        base: `${app.url}/monitoring/api/v1`,
        engine: app.workerTids.length > 0 ? [app.pid, app.workerTids] : undefined,
        pid: app.pid,
      },
      ...(second
        ? [
            {
              name: `app-nice${COMPARE_NICE}`,
              title: `app, engine at nice ${COMPARE_NICE}`,
              base: `${second.url}/monitoring/api/v1`,
              engine:
                second.workerTids.length > 0
                  ? ([second.pid, second.workerTids] as Target["engine"])
                  : undefined,
              pid: second.pid,
            },
          ]
        : []),
      {
        name: "worker",
        title: "worker, bare routes",
        base: `${workerUrl}/monitoring/api/v1`,
        engine: workerTids.length > 0 ? ["self", workerTids] : undefined,
      },
      { name: "inline", title: "in process (reference)", base: `${inlineUrl}/monitoring/api/v1` },
      {
        name: "prometheus",
        title: "Prometheus 2.42",
        base: `${prom}/api/v1`,
        pid: promPid,
      },
    ];
    const promBase = `${prom}/api/v1`;
    log(`method: ${METHOD}`);

    const tSec = String(T / 1000);
    for (const [what, q] of [
      ["series", 'count({__name__=~".+"})'],
      ["bucket samples in the last hour", "sum(count_over_time(http_request_duration_seconds_bucket[1h]))"],
      ["counter samples in the last hour", "sum(count_over_time(http_requests_total[1h]))"],
      ["latency sum at T", "sum(http_request_duration_seconds_sum)"],
    ] as const) {
      const answers = await Promise.all(
        targets.map((t) => query(t.base, "/query", { query: q, time: tSec })),
      );
      const y = answers.at(-1)?.[0]?.value?.[1];
      for (let i = 0; i < targets.length - 1; i++) {
        const x = answers[i]?.[0]?.value?.[1];
        if (x === undefined || y === undefined || !sameValue(x, y))
          throw new Error(`data check ${what}: ${targets[i]?.name} ${x}, Prometheus ${y}`);
      }
      log(`  data check: ${what} ${y} in all ${targets.length}`);
    }

    const instant = { query: QUERY, time: tSec };
    const range = {
      query: QUERY,
      start: String((T - HOUR_MS) / 1000),
      end: tSec,
      step: String(RANGE_STEP_S),
    };
    // The instant query takes ~15 ms: three times the rounds, against a loaded machine's noise.
    const cases = [
      { name: "a1 instant", path: "/query", params: instant, runs: 3 * RUNS },
      { name: "a2 range 1h/15s", path: "/query_range", params: range, runs: RUNS },
    ];
    interface Row {
      query: string;
      runs: number;
      series: number;
      points: number;
      load1: number;
      targets: Record<string, Timing & PerQuery & { ratioToPrometheus: number; pairedRatioMedian: number }>;
    }
    const rows: Row[] = [];
    for (const c of cases) {
      const want = await query(promBase, c.path, c.params);
      let points = 0;
      for (const t of targets.slice(0, -1))
        points = assertSame(`${c.name} ${t.name}`, await query(t.base, c.path, c.params), want);
      const l = load1();
      const enc = targets.map((t) => `${t.name} ${encodings.get(t.base)}`).join(", ");
      log(
        `${c.name}: results agree (${want.length} series, ${points} points; content-encoding: ${enc}); load ${l}; ${WARMUP} warm-up + ${c.runs} measured rounds...`,
      );
      const { ms, sched: perQueryOf } = await interleaved(
        targets,
        (t) => query(t.base, c.path, c.params),
        c.runs,
      );
      const prom = ms.get("prometheus") as number[];
      const promMedian = timing(prom).medianMs;
      const row: Row = {
        query: c.name,
        series: want.length,
        points,
        runs: c.runs,
        load1: l,
        targets: {},
      };
      for (const t of targets) {
        const xs = ms.get(t.name) as number[];
        const tm = timing(xs);
        const paired = timing(xs.map((x, i) => x / (prom[i] as number))).medianMs;
        row.targets[t.name] = {
          ...tm,
          ratioToPrometheus: tm.medianMs / promMedian,
          pairedRatioMedian: paired,
          ...perQueryOf.get(t.name),
        };
      }
      rows.push(row);
    }

    // Without HTTP: the engines alone, for the range query (what the crossing costs).
    const rangeReq = {
      op: "query_range" as const,
      query: QUERY,
      startMs: T - HOUR_MS,
      endMs: T,
      stepMs: RANGE_STEP_S * 1000,
    };
    const inlineEngine = new InlineEngine({ store });
    const direct = await interleaved(
      [
        { name: "inline", run: () => inlineEngine.run(rangeReq) },
        {
          name: "worker",
          run: () => client.run(rangeReq),
          engine: workerTids.length > 0 ? (["self", workerTids] as Target["engine"]) : undefined,
        },
      ],
      (t) => t.run(),
    );
    const directRows = Object.fromEntries(
      ["inline", "worker"].map((n) => {
        return [n, { ...timing(direct.ms.get(n) as number[]), ...direct.sched.get(n) }];
      }),
    );
    loads.end = load1();

    log(
      "\nper query, ms:                               wall time             ratio to Prometheus   engine thread    process\n" +
        "query            target                      median    p90    min  (paired median)      CPU  waiting     CPU  waiting",
    );
    for (const r of rows) {
      for (const t of targets) {
        const x = r.targets[t.name];
        if (!x) continue;
        const f = (v: number | undefined) => (v === undefined ? "" : v.toFixed(1)).padStart(8);
        log(
          `${r.query.padEnd(16)} ${t.title.padEnd(26)} ${x.medianMs.toFixed(2).padStart(7)} ${x.p90Ms.toFixed(1).padStart(6)} ${x.minMs.toFixed(1).padStart(6)}  ${x.ratioToPrometheus.toFixed(2).padStart(5)} (${x.pairedRatioMedian.toFixed(2)})      ${f(x.engineCpuMs)} ${f(x.engineWaitMs)} ${f(x.processCpuMs)} ${f(x.processWaitMs)}`,
        );
      }
    }
    for (const [n, x] of Object.entries(directRows)) {
      const cpu =
        x.engineCpuMs === undefined
          ? ""
          : `, engine thread CPU ${x.engineCpuMs.toFixed(1)} ms, run-queue wait ${(x.engineWaitMs ?? 0).toFixed(1)} ms`;
      log(
        `range 1h/15s without HTTP, ${n}: median ${x.medianMs.toFixed(2)} ms, min ${x.minMs.toFixed(2)} ms${cpu}`,
      );
    }
    log(`load average (1 min): start ${loads.start}, end ${loads.end}`);
    for (const r of rows) {
      for (const name of ["app", "inline"]) {
        const x = r.targets[name];
        if (!x) continue;
        log(
          `${x.ratioToPrometheus <= 1 ? "PASS" : "MISS"}  (a) ${r.query} ${name}/Prometheus median <= 1: ${x.ratioToPrometheus.toFixed(2)}${name === "inline" ? " (reference)" : ""}`,
        );
      }
    }

    // (c) The default rules every 5 s.
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
          load1: loads,
          dataEnd: new Date(T).toISOString(),
          routes: ROUTES,
          series: series.length,
          samples,
          query: QUERY,
          method: METHOD,
          acceptEncoding: ACCEPT_ENCODING ?? "fetch's default",
          contentEncoding: Object.fromEntries(targets.map((t) => [t.name, encodings.get(t.base)])),
          workerNice: WORKER_NICE ?? "as the app sets it",
          compareNice: COMPARE_NICE,
          warmup: WARMUP,
          runs: { instant: 3 * RUNS, range: RUNS },
          targets: targets.map((t) => ({ name: t.name, title: t.title })),
          latency: rows,
          rangeWithoutHttp: directRows,
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
    await inlineApi.close();
    await workerApi.close();
    await client.stop();
    for (const c of children) {
      if (c.exitCode !== null) continue;
      c.kill("SIGTERM");
      await Promise.race([once(c, "exit"), sleep(10_000)]);
      if (c.exitCode === null) c.kill("SIGKILL");
    }
    rmSync(work, { recursive: true, force: true });
  }
  return exitCode;
}

if (args["serve-app"]) {
  await serveApp();
} else {
  process.exit(await main());
}
