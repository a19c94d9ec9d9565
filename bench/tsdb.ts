/**
 * The durable embedded store (src/tsdb/durable.ts) against Prometheus 2.42 on the same data
 * (issue 13, "Size and speed"):
 *   - bytes on disk per sample: ours after ingesting scrape by scrape (append every series at t,
 *     then gc(t)) into (raw) a store whose raw retention covers all the data and (default) one
 *     with the default tiers (raw 24 h, 5-minute aggregates 15 d); Prometheus after
 *     `promtool tsdb create-blocks-from openmetrics` (2 h blocks) and after its own compaction
 *     (its retention set to 16 d, so blocks grow to 18 h as with the default 15 d);
 *   - start-up: ours = a fresh child process opening the store (constructor time, time since the
 *     process started, its RSS, the store's bytesUsed()); Prometheus = spawn until /-/ready, and
 *     its VmRSS after ready and after the queries;
 *   - queries as a ratio ours ÷ Prometheus, medians of interleaved rounds in rotated order: a 7-day
 *     range at 5-minute steps, a 1-hour range at 15 s steps. Ours is evaluated in this process with
 *     evaluateRange over the DurableStore (not through the app's engine worker, no HTTP);
 *     Prometheus over HTTP /api/v1/query_range on loopback (its HTTP and JSON cost included;
 *     its own reported evaluation time from stats=all is shown beside it). Results are checked
 *     equal (1e-9 relative, same timestamps) where both are exact: every query on the raw store;
 *     on the default store, the 1-hour query (raw), and the 7-day ones are reported as how many
 *     points agree (they read the downsampled tier, see docs/storage.md).
 * Data: `--series` series at `--step` seconds over `--days` days ending at a fixed recent time, from a
 * seeded PRNG: 60 % counters http_requests_total{route,status} (rare resets), 35 % gauges
 * (process_resident_memory_bytes random walks in 4 KiB steps, process_cpu_usage_ratio float
 * random walks), 5 % constants.
 *
 *   npx tsx bench/tsdb.ts [--series 300] [--days 15] [--step 15] [--runs 10] [--warmup 2]
 *                         [--no-default] [--compact-wait 600] [--keep]
 *
 * Internally `--open <dir> --raw-retention <ms>` is the start-up child.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { evaluateRange } from "../src/promql/index.js";
import { DurableStore } from "../src/tsdb/durable.js";
import { labelsFromObject } from "../src/tsdb/index.js";
import { mulberry32 as prng } from "../test/support/prng.js";
import { ensurePackage, freePort } from "../test/support/services.js";
import { dirBytes, run, startPrometheus, vmRssBytes } from "./prometheus.js";

const { values: args } = parseArgs({
  options: {
    series: { type: "string", default: "300" },
    days: { type: "string", default: "15" },
    step: { type: "string", default: "15" },
    runs: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    "no-default": { type: "boolean", default: false },
    "compact-wait": { type: "string", default: "600" },
    keep: { type: "boolean", default: false },
    open: { type: "string" },
    "raw-retention": { type: "string" },
  },
});

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, not ${text}`);
  return n;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const TARGET_BYTES_PER_SAMPLE = 2;
const here = fileURLToPath(new URL(".", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const RESULTS_DIR = join(here, "results");
const log = (msg: string) => process.stdout.write(`${msg}\n`);
const load1 = () => Math.round((loadavg()[0] as number) * 100) / 100;
const mb = (b: number | undefined) => (b === undefined ? "?" : `${(b / 1048576).toFixed(1)} MiB`);

// ---------------------------------------------------------------------------------------------
// The start-up child: opens the store, prints one JSON line, exits.

if (args.open !== undefined) {
  const t0 = performance.now();
  const store = new DurableStore({
    dir: args.open,
    rawRetentionMs: positive("raw-retention", args["raw-retention"]),
  });
  const t1 = performance.now();
  const st = store.stats();
  process.stdout.write(
    `${JSON.stringify({
      openMs: t1 - t0,
      sinceProcessStartMs: t1,
      rssBytes: vmRssBytes("self"),
      heapUsedBytes: process.memoryUsage().heapUsed,
      bytesUsed: store.bytesUsed(),
      headSamples: store.sampleCount(),
      series: store.seriesCount(),
      blocks: st.blocks,
      replayedSamples: st.replayedSamples,
    })}\n`,
  );
  store.close();
  process.exit(0);
}

const SERIES = Math.round(positive("series", args.series));
const DAYS = positive("days", args.days);
const STEP_MS = Math.round(positive("step", args.step) * 1000);
const RUNS = Math.round(positive("runs", args.runs));
const WARMUP = Math.max(0, Math.round(Number(args.warmup)));
const COMPACT_WAIT_MS = Number(args["compact-wait"]) * 1000;
if (!(COMPACT_WAIT_MS >= 0))
  throw new Error(`--compact-wait must be seconds >= 0, not ${args["compact-wait"]}`);
if (DAYS < 7.1) log(`note: --days ${DAYS} < 7: the "7-day" query covers only the data there is`);

// The last sample: a recent whole hour (fixed for the run), so 2 h block boundaries fall alike.
const T = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - HOUR_MS;
const N = Math.round((DAYS * DAY_MS) / STEP_MS);
const FIRST = T - (N - 1) * STEP_MS;
const SAMPLES = N * SERIES;

// ---------------------------------------------------------------------------------------------
// Data

interface SeriesDef {
  family: string;
  type: "counter" | "gauge";
  name: string;
  labels: Record<string, string>;
  kind: "counter" | "memory" | "cpu" | "constant";
  /** Counter: mean increase per scrape. */
  perScrape: number;
}

const STATUSES = [
  ["200", 5],
  ["404", 0.2],
  ["500", 0.02],
] as const;

function seriesDefs(): SeriesDef[] {
  const constants = Math.max(1, Math.round(SERIES * 0.05));
  const counters = Math.min(SERIES - constants, Math.round(SERIES * 0.6));
  const gauges = SERIES - constants - counters;
  const out: SeriesDef[] = [];
  for (let i = 0; i < counters; i++) {
    const route = `/api/r${Math.floor(i / STATUSES.length)}`;
    const [status, rps] = STATUSES[i % STATUSES.length] as (typeof STATUSES)[number];
    out.push({
      family: "http_requests",
      type: "counter",
      name: "http_requests_total",
      labels: { route, status },
      kind: "counter",
      perScrape: rps * (0.5 + ((i * 7919) % 100) / 50) * (STEP_MS / 1000),
    });
  }
  for (let i = 0; i < gauges; i++) {
    const instance = `node-${Math.floor(i / 2)}`;
    out.push(
      i % 2 === 0
        ? {
            family: "process_resident_memory_bytes",
            type: "gauge",
            name: "process_resident_memory_bytes",
            labels: { instance },
            kind: "memory",
            perScrape: 0,
          }
        : {
            family: "process_cpu_usage_ratio",
            type: "gauge",
            name: "process_cpu_usage_ratio",
            labels: { instance },
            kind: "cpu",
            perScrape: 0,
          },
    );
  }
  for (let i = 0; i < constants; i++)
    out.push({
      family: "tug_build_info",
      type: "gauge",
      name: "tug_build_info",
      labels: { instance: `node-${i}`, version: "1.4.2" },
      kind: "constant",
      perScrape: 0,
    });
  // OpenMetrics wants each family's series together.
  return out.sort((a, b) => (a.family < b.family ? -1 : a.family > b.family ? 1 : 0));
}

/** A series' values in time order; each series has its own PRNG, so any order of series gives the same data. */
function generator(def: SeriesDef, j: number): () => number {
  const rand = prng(0x7b6d + j * 1_000_003);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  switch (def.kind) {
    case "counter": {
      let v = Math.floor(rand() * 1e6);
      return () => {
        if (rand() < 2e-6) v = 0; // a restart: about one reset per series and 6 days at 15 s
        v += Math.floor(def.perScrape * (0.5 + rand()) + rand());
        return v;
      };
    }
    case "memory": {
      let v = (100 + Math.floor(rand() * 400)) * 1048576;
      return () => {
        v = Math.max(50 * 1048576, v + Math.round(gauss() * 64) * 4096);
        return v;
      };
    }
    case "cpu": {
      let v = 0.05 + rand() * 0.3;
      return () => {
        v = Math.min(1, Math.max(0, v + gauss() * 0.01));
        return v;
      };
    }
    case "constant":
      return () => 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Ours: ingest

interface Ingested {
  name: string;
  dir: string;
  rawRetentionMs: number;
  ingestMs: number;
  /** CPU time (user + system) of the appends and gc calls: without the waits for fdatasync. */
  ingestCpuMs: number;
  folderBytes: number;
  blockBytes: number;
  walBytes: number;
  blocks: number;
  bytesPerSample: number;
  blockBytesPerSample: number;
  /** Raw blocks alone (raw-*.tsb) and the downsampled copies (ds*.tsb), each ÷ all samples. */
  rawBlockBytes: number;
  rawBlockBytesPerSample: number;
  dsBlockBytes: number;
  dsBlockBytesPerSample: number;
  /** The log plus the raw blocks: what holds raw samples, ÷ samples. */
  rawBytesPerSample: number;
}

function ingest(
  work: string,
  defs: SeriesDef[],
  withDefault: boolean,
): { stores: DurableStore[]; out: Ingested[] } {
  const configs = [{ name: "raw", rawRetentionMs: DAYS * DAY_MS + DAY_MS }];
  if (withDefault) configs.push({ name: "default", rawRetentionMs: 24 * HOUR_MS });
  const stores = configs.map(
    (c) => new DurableStore({ dir: join(work, `ours-${c.name}`), rawRetentionMs: c.rawRetentionMs }),
  );
  const refs = stores.map((s) =>
    defs.map((d) => {
      const r = s.getOrCreate(labelsFromObject({ __name__: d.name, ...d.labels }));
      if (typeof r !== "number") throw new Error(`store refused ${d.name}: ${r}`);
      return r;
    }),
  );
  const gens = defs.map((d, j) => generator(d, j));
  const values = new Float64Array(defs.length);
  const spent = stores.map(() => 0);
  const cpu = stores.map(() => 0);
  const wall0 = performance.now();
  let lastReport = wall0;
  for (let i = 0; i < N; i++) {
    const t = FIRST + i * STEP_MS;
    for (let j = 0; j < defs.length; j++) values[j] = (gens[j] as () => number)();
    for (let k = 0; k < stores.length; k++) {
      const s = stores[k] as DurableStore;
      const r = refs[k] as number[];
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (let j = 0; j < defs.length; j++) {
        const res = s.appendRef(r[j] as number, t, values[j] as number);
        if (res !== "ok") throw new Error(`append refused at ${t}: ${res}`);
      }
      s.gc(t);
      spent[k] = (spent[k] as number) + performance.now() - t0;
      const c = process.cpuUsage(c0);
      cpu[k] = (cpu[k] as number) + (c.user + c.system) / 1000;
    }
    const now = performance.now();
    if (now - lastReport > 10_000 || i === N - 1) {
      lastReport = now;
      log(
        `  ingest ${(((i + 1) / N) * 100).toFixed(0).padStart(3)} %: ${new Date(t).toISOString()}, ${((now - wall0) / 1000).toFixed(0)} s; ${stores.map((s, k) => `${configs[k]?.name} ${((spent[k] as number) / 1000) | 0} s, ${s.stats().blocks} blocks`).join("; ")}; load ${load1()}`,
      );
    }
  }
  const out = stores.map((s, k) => {
    s.flush(T);
    const c = configs[k] as (typeof configs)[number];
    const st = s.stats();
    const folderBytes = dirBytes(s.dir);
    const blockBytes = dirBytes(join(s.dir, "blocks"));
    let rawBlockBytes = 0;
    let dsBlockBytes = 0;
    for (const e of readdirSync(join(s.dir, "blocks"), { withFileTypes: true })) {
      const size = e.isFile() ? statSync(join(s.dir, "blocks", e.name)).size : 0;
      if (/^raw-.*\.tsb$/.test(e.name)) rawBlockBytes += size;
      else if (/^ds.*\.tsb$/.test(e.name)) dsBlockBytes += size;
    }
    return {
      name: c.name,
      dir: s.dir,
      rawRetentionMs: c.rawRetentionMs,
      ingestMs: spent[k] as number,
      ingestCpuMs: cpu[k] as number,
      folderBytes,
      blockBytes,
      walBytes: folderBytes - blockBytes,
      blocks: st.blocks,
      bytesPerSample: folderBytes / SAMPLES,
      blockBytesPerSample: blockBytes / SAMPLES,
      rawBlockBytes,
      rawBlockBytesPerSample: rawBlockBytes / SAMPLES,
      dsBlockBytes,
      dsBlockBytesPerSample: dsBlockBytes / SAMPLES,
      rawBytesPerSample: (folderBytes - blockBytes + rawBlockBytes) / SAMPLES,
    };
  });
  return { stores, out };
}

// ---------------------------------------------------------------------------------------------
// Prometheus: OpenMetrics files (one per day, so promtool's pass per 2 h block reads a day, not
// all of it), backfill, start

async function backfill(
  work: string,
  defs: SeriesDef[],
  dataDir: string,
): Promise<{ ms: number; omBytes: number }> {
  const promtool = await ensurePackage("promtool", "prometheus");
  const gens = defs.map((d, j) => generator(d, j));
  let ms = 0;
  let omBytes = 0;
  const wall0 = performance.now();
  // Files cut at whole days since the epoch: multiples of promtool's 2 h block range.
  let i = 0;
  while (i < N) {
    const t = FIRST + i * STEP_MS;
    const dayEnd = (Math.floor(t / DAY_MS) + 1) * DAY_MS;
    const n = Math.min(N - i, Math.ceil((dayEnd - t) / STEP_MS));
    const file = join(work, "data.om");
    const out = createWriteStream(file);
    const write = async (s: string) => {
      if (!out.write(s)) await once(out, "drain");
    };
    let family = "";
    for (let j = 0; j < defs.length; j++) {
      const d = defs[j] as SeriesDef;
      if (d.family !== family) {
        family = d.family;
        await write(`# TYPE ${family} ${d.type}\n`);
      }
      const labels = Object.entries(d.labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",");
      const head = `${d.name}{${labels}} `;
      const g = gens[j] as () => number;
      let chunk = "";
      for (let k = 0; k < n; k++) {
        chunk += `${head}${g()} ${(t + k * STEP_MS) / 1000}\n`;
        if (chunk.length > 1 << 20) {
          await write(chunk);
          chunk = "";
        }
      }
      await write(chunk);
    }
    await write("# EOF\n");
    out.end();
    await once(out, "finish");
    omBytes += out.bytesWritten;
    const t0 = performance.now();
    await run(promtool, ["tsdb", "create-blocks-from", "openmetrics", "--quiet", file, dataDir]);
    ms += performance.now() - t0;
    rmSync(file);
    i += n;
    log(
      `  backfill ${((i / N) * 100).toFixed(0).padStart(3)} %: up to ${new Date(FIRST + (i - 1) * STEP_MS).toISOString()}, ${((performance.now() - wall0) / 1000).toFixed(0)} s (promtool ${(ms / 1000).toFixed(0)} s); load ${load1()}`,
    );
  }
  return { ms, omBytes };
}

function promBlockBytes(dataDir: string): { bytes: number; blocks: number } {
  let bytes = 0;
  let blocks = 0;
  for (const e of readdirSync(dataDir, { withFileTypes: true })) {
    if (!e.isDirectory() || !/^[0-9A-Z]{26}$/.test(e.name)) continue; // wal, chunks_head: not blocks
    blocks++;
    bytes += dirBytes(join(dataDir, e.name));
  }
  return { bytes, blocks };
}

async function promMetric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill("SIGTERM");
  await Promise.race([once(c, "exit"), sleep(30_000)]);
  if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

// ---------------------------------------------------------------------------------------------
// Queries

interface Series {
  metric: Record<string, string>;
  /** [seconds, value] */
  values: [number, number][];
}

interface QueryCase {
  name: string;
  query: string;
  startMs: number;
  endMs: number;
  stepMs: number;
  /** Exact on the downsampled tier too (docs/storage.md: min/max/sum/count_over_time, "to the window"). */
  dsExact?: boolean;
}

function ours(store: DurableStore, c: QueryCase): Series[] {
  const m = evaluateRange(c.query, c.startMs, c.endMs, c.stepMs, store);
  return m.series.map((s) => ({
    metric: Object.fromEntries(s.labels.map((l) => [l.name, l.value])),
    values: s.timestamps.map((t, i) => [t / 1000, s.values[i] as number]),
  }));
}

interface PromAnswer {
  result: Series[];
  /** Its own evaluation time (stats=all), ms, if reported. */
  evalMs?: number;
}

async function prom(url: string, c: QueryCase): Promise<PromAnswer> {
  const form = new URLSearchParams({
    query: c.query,
    start: String(c.startMs / 1000),
    end: String(c.endMs / 1000),
    step: String(c.stepMs / 1000),
    stats: "all",
  });
  const res = await fetch(`${url}/api/v1/query_range`, { method: "POST", body: form });
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: {
      result: { metric: Record<string, string>; values: [number, string][] }[];
      stats?: { timings?: { evalTotalTime?: number } };
    };
  };
  if (!res.ok || body.status !== "success" || !body.data)
    throw new Error(`prometheus ${c.query}: HTTP ${res.status} ${body.error ?? ""}`);
  const evalS = body.data.stats?.timings?.evalTotalTime;
  return {
    result: body.data.result.map((s) => ({
      metric: s.metric,
      values: s.values.map(([t, v]) => [t, Number(v)] as [number, number]),
    })),
    evalMs: evalS === undefined ? undefined : evalS * 1000,
  };
}

interface Agreement {
  series: number;
  points: number;
  equal: number;
  /** The first disagreement, if any. */
  first?: string;
  maxRelDiff: number;
}

function compare(mine: Series[], theirs: Series[]): Agreement {
  const key = (m: Record<string, string>) =>
    JSON.stringify(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1)));
  const byKey = new Map(mine.map((s) => [key(s.metric), s]));
  const a: Agreement = { series: theirs.length, points: 0, equal: 0, maxRelDiff: 0 };
  if (mine.length !== theirs.length) a.first = `ours ${mine.length} series, Prometheus ${theirs.length}`;
  for (const t of theirs) {
    const o = byKey.get(key(t.metric));
    a.points += t.values.length;
    if (!o) {
      a.first ??= `ours lacks ${key(t.metric)}`;
      continue;
    }
    const mineAt = new Map(o.values);
    if (o.values.length !== t.values.length)
      a.first ??= `${key(t.metric)}: ours ${o.values.length} points, Prometheus ${t.values.length}`;
    for (const [ts, y] of t.values) {
      const x = mineAt.get(ts);
      if (x === undefined) {
        a.first ??= `${key(t.metric)}: ours has no point at ${ts}`;
        continue;
      }
      const rel = x === y ? 0 : Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y));
      if (rel > a.maxRelDiff && Number.isFinite(rel)) a.maxRelDiff = rel;
      if (rel <= 1e-9 || (Number.isNaN(x) && Number.isNaN(y))) a.equal++;
      else a.first ??= `${key(t.metric)} at ${ts}: ours ${x}, Prometheus ${y}`;
    }
  }
  return a;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? (s[(n - 1) >> 1] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

// ---------------------------------------------------------------------------------------------
// Main

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

async function openInChild(dir: string, rawRetentionMs: number): Promise<Record<string, number>> {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    ["--import", "tsx", SELF, "--open", dir, "--raw-retention", String(rawRetentionMs)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.add(child);
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
  const [line] = (await once(lines, "line")) as [string];
  const wallMs = performance.now() - t0;
  await once(child, "exit");
  return { wallFromSpawnMs: wallMs, ...(JSON.parse(line) as Record<string, number>) };
}

async function main(): Promise<number> {
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));
  const work = mkdtempSync(join(tmpdir(), "tug-bench-tsdb-"));
  const loads: number[] = [load1()];
  let exitCode = 0;
  try {
    const defs = seriesDefs();
    log(`load average (1 min) at start: ${loads[0]}`);
    log(
      `data: ${SERIES} series (${defs.filter((d) => d.kind === "counter").length} counters, ${defs.filter((d) => d.kind === "memory" || d.kind === "cpu").length} gauges, ${defs.filter((d) => d.kind === "constant").length} constants) × ${N.toLocaleString("en-US")} samples at ${STEP_MS / 1000} s = ${SAMPLES.toLocaleString("en-US")} samples, ${new Date(FIRST).toISOString()} .. ${new Date(T).toISOString()}; work folder ${work}`,
    );

    // 1. Ours
    log("ours: ingesting scrape by scrape (appendRef per series, then gc(t))...");
    const { stores, out: ingested } = ingest(work, defs, !args["no-default"]);
    for (const s of stores) s.close();
    for (const g of ingested)
      log(
        `  ${g.name}: ${(g.ingestMs / 1000).toFixed(1)} s (${((SAMPLES / g.ingestMs) * 1000).toFixed(0)} samples/s; CPU ${(g.ingestCpuMs / 1000).toFixed(1)} s: the rest is waiting for the log's fdatasync, once per scrape), ${g.blocks} block files (raw and downsampled), folder ${mb(g.folderBytes)} = ${g.bytesPerSample.toFixed(3)} bytes/sample: raw blocks ${mb(g.rawBlockBytes)} ${g.rawBlockBytesPerSample.toFixed(3)}, downsampled ${mb(g.dsBlockBytes)} ${g.dsBlockBytesPerSample.toFixed(3)}, log ${mb(g.walBytes)}`,
      );
    loads.push(load1());

    // 2. Prometheus: backfill, then let it compact as it would with 15 d of retention.
    const dataDir = join(work, "prometheus");
    mkdirSync(dataDir);
    log("prometheus: backfilling one OpenMetrics file per day with promtool...");
    const bf = await backfill(work, defs, dataDir);
    const backfilled = promBlockBytes(dataDir);
    log(
      `  backfilled in ${(bf.ms / 1000).toFixed(0)} s (OpenMetrics ${mb(bf.omBytes)} in all): ${backfilled.blocks} blocks, ${mb(backfilled.bytes)} = ${(backfilled.bytes / SAMPLES).toFixed(3)} bytes/sample`,
    );
    loads.push(load1());
    const configFile = join(work, "prometheus.yml");
    writeFileSync(configFile, "global:\n  scrape_interval: 1m\nscrape_configs: []\n");
    // 16 d: retention / 10 caps block ranges at 38 h, so it compacts to 18 h blocks as the
    // default 15 d does, and keeps all the data (15 d plus the first block's alignment).
    const promArgs = ["--storage.tsdb.retention.time=16d"];
    let p = await startPrometheus({
      dataDir,
      configFile,
      port: await freePort(),
      children,
      extraArgs: promArgs,
      pollMs: 20,
    });
    log(
      `  first start: ready in ${p.readyMs.toFixed(0)} ms; waiting for its compaction (up to ${COMPACT_WAIT_MS / 1000} s)...`,
    );
    const compact0 = performance.now();
    let stable = 0;
    let last = -1;
    while (performance.now() - compact0 < COMPACT_WAIT_MS) {
      await sleep(10_000);
      const loaded = await promMetric(p.url, "prometheus_tsdb_blocks_loaded");
      const compactions = (await promMetric(p.url, "prometheus_tsdb_compactions_total")) ?? 0;
      const elapsed = performance.now() - compact0;
      log(
        `  ${(elapsed / 1000).toFixed(0)} s: ${loaded} blocks loaded, ${compactions} compactions; load ${load1()}`,
      );
      // Its compaction runs each minute (the first a minute after start): once it has compacted,
      // the block count unchanged over 70 s is done; none after 3 minutes means nothing to compact.
      stable = loaded === last ? stable + 10 : 0;
      last = loaded ?? -1;
      if (compactions > 0 ? stable >= 70 : elapsed >= 180_000) break;
    }
    await stopChild(p.child);
    const compacted = promBlockBytes(dataDir);
    log(
      `  after compaction: ${compacted.blocks} blocks, ${mb(compacted.bytes)} = ${(compacted.bytes / SAMPLES).toFixed(3)} bytes/sample`,
    );

    // 3. Start-up
    const oursOpen: Record<string, Record<string, number>> = {};
    for (const g of ingested) {
      oursOpen[g.name] = await openInChild(g.dir, g.rawRetentionMs);
      const o = oursOpen[g.name] as Record<string, number>;
      log(
        `ours ${g.name}: open ${o.openMs?.toFixed(0)} ms (child's process start to open ${o.sinceProcessStartMs?.toFixed(0)} ms, spawn to answer ${o.wallFromSpawnMs?.toFixed(0)} ms); RSS ${mb(o.rssBytes)}, bytesUsed ${mb(o.bytesUsed)}, ${o.blocks} block files, ${o.headSamples} head samples`,
      );
    }
    p = await startPrometheus({
      dataDir,
      configFile,
      port: await freePort(),
      children,
      extraArgs: promArgs,
      pollMs: 20,
    });
    const promPid = p.child.pid as number;
    const promRssReady = vmRssBytes(promPid);
    log(`prometheus: restart ready in ${p.readyMs.toFixed(0)} ms, VmRSS ${mb(promRssReady)}`);

    // 4. Queries
    const stores2 = ingested.map((g) => ({
      name: g.name,
      store: new DurableStore({ dir: g.dir, rawRetentionMs: g.rawRetentionMs }),
    }));
    const span7 = Math.min(7 * DAY_MS, (N - 1) * STEP_MS - HOUR_MS);
    const end5 = Math.floor(T / 300_000) * 300_000;
    const cases: QueryCase[] = [
      {
        name: "7d/5m rate",
        query: "sum by (route) (rate(http_requests_total[1h]))",
        startMs: end5 - Math.floor(span7 / 300_000) * 300_000,
        endMs: end5,
        stepMs: 300_000,
      },
      {
        name: "7d/5m max_over_time",
        query: "max_over_time(process_resident_memory_bytes[1h])",
        startMs: end5 - Math.floor(span7 / 300_000) * 300_000,
        endMs: end5,
        stepMs: 300_000,
      },
      {
        // The same 1 ms before each 5-minute boundary: then a window over the downsampled tier
        // is whole windows, which docs/storage.md says is exact for max_over_time.
        name: "7d/5m max_o_t −1ms",
        query: "max_over_time(process_resident_memory_bytes[1h])",
        startMs: end5 - Math.floor(span7 / 300_000) * 300_000 - 1,
        endMs: end5 - 1,
        stepMs: 300_000,
        dsExact: true,
      },
      {
        name: "1h/15s rate",
        query: "sum by (route) (rate(http_requests_total[5m]))",
        startMs: T - HOUR_MS,
        endMs: T,
        stepMs: 15_000,
      },
    ];
    type Row = {
      query: string;
      expr: string;
      points: number;
      agreement: Record<string, Agreement & { exactExpected: boolean }>;
      medianMs: Record<string, number>;
      ratio: Record<string, number>;
      promEvalMedianMs?: number;
      samplesMs: Record<string, number[]>;
      load1: number;
    };
    const rows: Row[] = [];
    for (const c of cases) {
      const want = await prom(p.url, c);
      const agreement: Row["agreement"] = {};
      for (const s of stores2) {
        // Exact where both read raw samples: the raw store always; the default one within 24 h.
        const exactExpected =
          s.name === "raw" || c.dsExact === true || c.startMs - HOUR_MS >= T - 24 * HOUR_MS;
        const a = compare(ours(s.store, c), want.result);
        agreement[s.name] = { ...a, exactExpected };
        const ok = a.equal === a.points && a.first === undefined;
        if (exactExpected && !ok) exitCode = 1;
        log(
          `${c.name} ${s.name}: ${a.equal}/${a.points} points equal in ${a.series} series${a.first ? ` (first difference: ${a.first}; max relative ${a.maxRelDiff.toExponential(2)})` : ""}${exactExpected ? (ok ? " — exact, as required" : " — MISMATCH where exact is required") : " — downsampled tier, not required exact"}`,
        );
      }
      const targets = [...stores2.map((s) => s.name), "prometheus"];
      const ms = new Map(targets.map((t) => [t, [] as number[]]));
      const evalMs: number[] = [];
      const l = load1();
      log(`  timing: ${WARMUP} warm-up + ${RUNS} interleaved rounds; load ${l}...`);
      const once1 = async (t: string) => {
        const t0 = performance.now();
        if (t === "prometheus") {
          const r = await prom(p.url, c);
          const d = performance.now() - t0;
          if (r.evalMs !== undefined) evalMs.push(r.evalMs);
          return d;
        }
        ours((stores2.find((s) => s.name === t) as (typeof stores2)[number]).store, c);
        return performance.now() - t0;
      };
      for (const t of targets) for (let i = 0; i < WARMUP; i++) await once1(t);
      evalMs.length = 0;
      for (let i = 0; i < RUNS; i++)
        for (let k = 0; k < targets.length; k++) {
          const t = targets[(i + k) % targets.length] as string;
          ms.get(t)?.push(await once1(t));
        }
      const medianMs = Object.fromEntries(targets.map((t) => [t, median(ms.get(t) as number[])]));
      const pm = medianMs.prometheus as number;
      rows.push({
        query: c.name,
        expr: c.query,
        points: want.result.reduce((n, s) => n + s.values.length, 0),
        agreement,
        medianMs,
        ratio: Object.fromEntries(stores2.map((s) => [s.name, (medianMs[s.name] as number) / pm])),
        promEvalMedianMs: evalMs.length > 0 ? median(evalMs) : undefined,
        samplesMs: Object.fromEntries([...ms].map(([k, v]) => [k, v.map((x) => Math.round(x * 100) / 100)])),
        load1: l,
      });
    }
    const promRssAfter = vmRssBytes(promPid);
    loads.push(load1());
    for (const s of stores2) s.store.close();
    await stopChild(p.child);

    // 5. Summary
    log(
      `\n=== summary: ${SAMPLES.toLocaleString("en-US")} samples, ${SERIES} series, ${DAYS} d at ${STEP_MS / 1000} s ===`,
    );
    log("bytes on disk per sample:");
    for (const g of ingested)
      log(
        `  ours ${g.name.padEnd(8)} folder ${g.bytesPerSample.toFixed(3)} (${mb(g.folderBytes)}) = raw blocks ${g.rawBlockBytesPerSample.toFixed(3)} + downsampled ${g.dsBlockBytesPerSample.toFixed(3)} + log ${(g.walBytes / SAMPLES).toFixed(3)}${g.name === "raw" ? `; raw samples (raw blocks + log) ${g.rawBytesPerSample.toFixed(3)} ${g.rawBytesPerSample <= TARGET_BYTES_PER_SAMPLE ? "PASS ≤ 2" : "MISS > 2"}, ratio to Prometheus's 2 h blocks ${(g.rawBytesPerSample / (backfilled.bytes / SAMPLES)).toFixed(2)}, to its compacted ${(g.rawBytesPerSample / (compacted.bytes / SAMPLES)).toFixed(2)}` : ""}`,
      );
    log(
      `  prometheus backfilled (2 h blocks) ${(backfilled.bytes / SAMPLES).toFixed(3)} (${backfilled.blocks} blocks)`,
    );
    log(`  prometheus compacted  ${(compacted.bytes / SAMPLES).toFixed(3)} (${compacted.blocks} blocks)`);
    log(
      "ingest: " +
        ingested
          .map(
            (g) =>
              `ours ${g.name} ${(g.ingestMs / 1000).toFixed(1)} s (CPU ${(g.ingestCpuMs / 1000).toFixed(1)} s, ${((SAMPLES / g.ingestCpuMs) * 1000).toFixed(0)} samples per CPU-second)`,
          )
          .join(", ") +
        `; promtool backfill ${(bf.ms / 1000).toFixed(1)} s`,
    );
    log("start-up and memory:");
    for (const [n, o] of Object.entries(oursOpen))
      log(
        `  ours ${n.padEnd(8)} open ${o.openMs?.toFixed(0)} ms (process start→open ${o.sinceProcessStartMs?.toFixed(0)} ms), RSS ${mb(o.rssBytes)}, bytesUsed ${mb(o.bytesUsed)}`,
      );
    log(
      `  prometheus     spawn→ready ${p.readyMs.toFixed(0)} ms, VmRSS after ready ${mb(promRssReady)}, after queries ${mb(promRssAfter)}`,
    );
    log("queries (median ms; ours in process, Prometheus over HTTP on loopback; ratio ours ÷ Prometheus):");
    for (const r of rows)
      log(
        `  ${r.query.padEnd(20)} ${Object.entries(r.medianMs)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(
            ", ",
          )}; Prometheus eval (stats) ${r.promEvalMedianMs?.toFixed(1) ?? "?"}; ratio ${Object.entries(
          r.ratio,
        )
          .map(([k, v]) => `${k} ${v.toFixed(2)} ${v <= 1 ? "PASS" : "MISS"}`)
          .join(", ")}; ours ÷ Prometheus's own eval time ${
          r.promEvalMedianMs === undefined
            ? "?"
            : Object.keys(r.ratio)
                .map((k) => `${k} ${((r.medianMs[k] as number) / (r.promEvalMedianMs as number)).toFixed(2)}`)
                .join(", ")
        }`,
      );
    log(`load average (1 min): ${loads.join(" → ")}`);

    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `tsdb-${SERIES}x${DAYS}d.json`);
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          load1: loads,
          data: {
            series: SERIES,
            days: DAYS,
            stepMs: STEP_MS,
            samples: SAMPLES,
            first: new Date(FIRST).toISOString(),
            last: new Date(T).toISOString(),
          },
          ours: ingested.map((g) => ({ ...g, dir: undefined, open: oursOpen[g.name] })),
          prometheus: {
            backfillMs: bf.ms,
            openMetricsBytes: bf.omBytes,
            backfilled: { ...backfilled, bytesPerSample: backfilled.bytes / SAMPLES },
            compacted: { ...compacted, bytesPerSample: compacted.bytes / SAMPLES },
            readyMs: p.readyMs,
            rssAfterReady: promRssReady,
            rssAfterQueries: promRssAfter,
          },
          queries: rows,
        },
        null,
        2,
      )}\n`,
    );
    log(`wrote ${file}`);
  } catch (err) {
    console.error(`bench/tsdb.ts failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    exitCode = 1;
  } finally {
    for (const c of children) await stopChild(c);
    if (args.keep) log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  return exitCode;
}

process.exit(await main());
