/**
 * Where the monitoring engine runs (docs/architecture.md, "Isolation: the engine worker"):
 *   (a) the API thread's worst event-loop stall while runaway queries run, with the engine on the
 *       main thread (cooperative deadlines only), in a worker thread, and in a child process;
 *   (b) the per-query cost of crossing to the worker (structured clone of the request and of the
 *       rendered result) against in process and a child process, for a small instant query and
 *       the 1 h / 15 s range query of bench/promql.ts over the same shape of data;
 *   (c) the main thread's cost per scrape with ~1,500 series: collecting the registry, building
 *       and posting the batch, against storing it on the main thread as before.
 *
 *   npx tsx bench/engine-isolation.ts [--runs 30]
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Counter, Histogram, Registry } from "prom-client";
import {
  type Engine,
  EngineClient,
  EngineError,
  InlineEngine,
  type OpName,
  type RequestOf,
  type ResultOf,
} from "../src/engine/index.js";
import { Sampler, type ScrapeBatch, type ScrapeSink } from "../src/tsdb/sampler.js";
import { mulberry32 as prng } from "../test/support/prng.js";

const { values: args } = parseArgs({ options: { runs: { type: "string", default: "30" } } });
const RUNS = Number(args.runs);

const ROUTES = 100;
const STEP_MS = 5_000;
const HOUR_MS = 3_600_000;
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Number.POSITIVE_INFINITY];
const RANGE_QUERY =
  "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))";
const SMALL_QUERY = "sum(http_requests_total)";
const RUNAWAY = [
  ["count_over_time(vector(1)[1d:1ms])", "a 1 ms subquery over a day (86 M steps)"],
  ["max_over_time(max_over_time(vector(1)[1h:1s])[1h:1s])", "two nested 1 s subqueries"],
  [
    "max_over_time(max_over_time(max_over_time(vector(1)[1h:1s])[1h:1s])[1h:1s])",
    "three nested 1 s subqueries",
  ],
] as const;
const log = (msg: string) => process.stdout.write(`${msg}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const T = Math.floor(Date.now() / STEP_MS) * STEP_MS - 60_000;
const FIRST = T - HOUR_MS + STEP_MS;

/** 1 h at 5 s of the app's HTTP metrics for 100 routes (1,500 series), as scrape batches. */
function batches(): ScrapeBatch[] {
  const rand = prng(20240601);
  const defs: ScrapeBatch["defs"] = [];
  const kinds: Array<{ ref: number; route: number; kind: "bucket" | "sum" | "count" | "total"; b: number }> =
    [];
  let ref = 1;
  for (let r = 0; r < ROUTES; r++) {
    const base = ["method", "GET", "route", `/r${r}`, "status_code", "200"];
    BUCKETS.forEach((le, b) => {
      const l = [
        "__name__",
        "http_request_duration_seconds_bucket",
        "le",
        le === Infinity ? "+Inf" : String(le),
      ];
      defs.push({ ref, labels: [l[0], l[1], l[2], l[3], ...base] as string[] });
      kinds.push({ ref: ref++, route: r, kind: "bucket", b });
    });
    for (const [name, kind] of [
      ["http_request_duration_seconds_sum", "sum"],
      ["http_request_duration_seconds_count", "count"],
      ["http_requests_total", "total"],
    ] as const) {
      defs.push({ ref, labels: ["__name__", name, ...base] });
      kinds.push({ ref: ref++, route: r, kind, b: 0 });
    }
  }
  const cum = Array.from({ length: ROUTES }, () => ({ b: new Float64Array(BUCKETS.length), s: 0, c: 0 }));
  const out: ScrapeBatch[] = [];
  for (let i = 0, t = FIRST; t <= T; i++, t += STEP_MS) {
    for (let r = 0; r < ROUTES; r++) {
      const st = cum[r] as { b: Float64Array; s: number; c: number };
      const k = Math.round((1 + (r % 5)) * 5 * (0.5 + rand()));
      for (let j = 0; j < k; j++) {
        const v = 0.02 * 20 ** ((r % 10) / 9) * Math.exp(0.5 * (rand() * 2 - 1));
        st.s += v;
        st.c++;
        BUCKETS.forEach((le, b) => {
          if (v <= le) (st.b[b] as number)++;
        });
      }
    }
    const refs = new Int32Array(kinds.length);
    const values = new Float64Array(kinds.length);
    kinds.forEach((k, j) => {
      const st = cum[k.route] as { b: Float64Array; s: number; c: number };
      refs[j] = k.ref;
      values[j] = k.kind === "bucket" ? (st.b[k.b] as number) : k.kind === "sum" ? st.s : st.c;
    });
    out.push({ timeMs: t, ok: true, reset: i === 0, defs: i === 0 ? defs : [], forget: [], refs, values });
  }
  return out;
}

/** The engine in a child process (the third design), over IPC with structured clone. */
function childEngine(): {
  run: Engine["run"];
  ingest: (b: ScrapeBatch) => void;
  stop: () => void;
  child: ChildProcess;
} {
  const dir = mkdtempSync(join(tmpdir(), "tug-engine-child-"));
  const entry = join(dir, "child.mts");
  const host = pathToFileURL(join(import.meta.dirname, "../src/engine/host.ts")).href;
  writeFileSync(
    entry,
    `import { EngineHost, toEngineError } from ${JSON.stringify(host)};
const h = new EngineHost({ retentionMs: 3 * 3600_000, maxSeries: 100_000, emit: () => undefined });
process.on("message", (m) => {
  if (m.kind === "ingest") return void h.ingest(m.batch);
  try { process.send({ id: m.id, ok: true, result: h.execute(m.req, { deadline: m.deadline === undefined ? undefined : performance.now() + m.deadline }) }); }
  catch (e) { process.send({ id: m.id, ok: false, error: toEngineError(e).toData() }); }
});
process.send({ ready: true });
`,
  );
  const child = fork(entry, [], { execArgv: ["--import", "tsx"], serialization: "advanced" });
  let next = 1;
  const waiting = new Map<
    number,
    (m: { ok: boolean; result?: unknown; error?: { type: string; message: string } }) => void
  >();
  child.on("message", (m: { id?: number; ok?: boolean }) => {
    if (m.id !== undefined) waiting.get(m.id)?.(m as never);
  });
  return {
    child,
    ingest: (batch) => child.send({ kind: "ingest", batch }),
    run: (<K extends OpName>(req: RequestOf<K>, opts: { timeoutMs?: number } = {}) =>
      new Promise<ResultOf<K>>((resolve, reject) => {
        const id = next++;
        waiting.set(id, (m) => {
          waiting.delete(id);
          if (m.ok) resolve(m.result as ResultOf<K>);
          else reject(new EngineError((m.error?.type ?? "internal") as never, m.error?.message ?? ""));
        });
        child.send({ id, req, deadline: opts.timeoutMs });
      })) as Engine["run"],
    stop: () => {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` while sampling this thread's event-loop delay; its worst stall and p99 (ms). */
async function stall(
  fn: () => Promise<unknown>,
): Promise<{ maxMs: number; p99Ms: number; tookMs: number; outcome: string }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t0 = performance.now();
  let outcome = "ok";
  await new Promise((r) => setTimeout(r, 20));
  try {
    await fn();
  } catch (err) {
    outcome = err instanceof EngineError ? err.type : String(err);
  }
  const tookMs = performance.now() - t0 - 20;
  await new Promise((r) => setTimeout(r, 20));
  h.disable();
  return { maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, tookMs, outcome };
}

/** Median wall time of `run` (after 5 warm-up runs); the minimum too, the figure least disturbed by other load. */
async function timeRuns(run: () => Promise<unknown>): Promise<{ median: number; min: number }> {
  for (let i = 0; i < 5; i++) await run();
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await run();
    xs.push(performance.now() - t0);
  }
  return { median: median(xs), min: Math.min(...xs) };
}

const fmt = (x: { median: number; min: number }) => `${x.median.toFixed(2)} ms (min ${x.min.toFixed(2)})`;

async function main(): Promise<void> {
  const data = batches();
  log(`data: ${data[0]?.refs.length} series x ${data.length} scrapes`);
  const settings = { retentionMs: 3 * HOUR_MS, maxSeries: 100_000 };
  const inline = new InlineEngine({ ...settings, queryTimeoutMs: 120_000 });
  const worker = new EngineClient({
    settings,
    queryTimeoutMs: 120_000,
    maxQueuedQueries: 20,
    watchdogGraceMs: 5_000,
    memoryLimitMb: 1024,
    logger: {
      info: () => undefined,
      warn: () => undefined,
      error: (o, m) => log(`worker: ${m} ${JSON.stringify(o)}`),
    },
  });
  worker.start();
  const child = childEngine();
  const clone = (b: ScrapeBatch): ScrapeBatch => ({ ...b, refs: b.refs.slice(), values: b.values.slice() });
  for (const b of data) {
    inline.ingest(clone(b));
    worker.ingest(clone(b), worker.generation());
    child.ingest(clone(b));
  }
  const check = (await worker.run({
    op: "samples",
    query: "count(http_requests_total)",
    timeMs: T,
  })) as Array<{
    value: number;
  }>;
  log(`worker store ready: ${check[0]?.value} counters`);
  await child.run({ op: "query", query: "1", timeMs: T });

  // (b) round trip
  const instant = { op: "query" as const, query: SMALL_QUERY, timeMs: T };
  const range = {
    op: "query_range" as const,
    query: RANGE_QUERY,
    startMs: T - HOUR_MS,
    endMs: T,
    stepMs: 15_000,
  };
  const rangeBytes = (await inline.run(range)).length;
  const results: Record<string, unknown> = {};
  for (const [name, req] of [
    ["small instant", instant],
    ["range 1h/15s", range],
  ] as const) {
    const a = await timeRuns(() => inline.run(req));
    const b = await timeRuns(() => worker.run(req));
    const c = await timeRuns(() => child.run(req));
    results[name] = { inProcessMs: a, workerMs: b, childProcessMs: c };
    log(`(b) ${name}: in process ${fmt(a)}, worker ${fmt(b)}, child process ${fmt(c)}`);
  }
  log(`    range result: ${rangeBytes.toLocaleString("en-US")} bytes of JSON`);

  // (a) loop stall during runaway queries, each with a 5 s deadline (1 s on the main thread).
  const stalls: Record<string, unknown> = {};
  const idle = await stall(() => new Promise((r) => setTimeout(r, 5_000)));
  stalls.idle = idle;
  log(
    `(a) no query (this machine's own noise): max loop delay ${idle.maxMs.toFixed(1)} ms, p99 ${idle.p99Ms.toFixed(1)} ms`,
  );
  for (const [q, what] of RUNAWAY) {
    const req = { op: "query" as const, query: q, timeMs: T };
    const main = await stall(() => inline.run(req, { timeoutMs: 1_000 }));
    const w = await stall(() => worker.run(req, { timeoutMs: 5_000 }));
    const c = await stall(() => child.run(req, { timeoutMs: 5_000 }));
    stalls[q] = { mainThread1s: main, worker5s: w, childProcess5s: c };
    log(`(a) ${what}: ${q}`);
    log(
      `    main thread, 1 s deadline: loop stalled ${main.maxMs.toFixed(0)} ms (query ${main.tookMs.toFixed(0)} ms, ${main.outcome})`,
    );
    log(
      `    worker, 5 s deadline: max loop delay ${w.maxMs.toFixed(1)} ms, p99 ${w.p99Ms.toFixed(1)} ms (query ${w.tookMs.toFixed(0)} ms, ${w.outcome})`,
    );
    log(
      `    child process, 5 s deadline: max loop delay ${c.maxMs.toFixed(1)} ms, p99 ${c.p99Ms.toFixed(1)} ms (query ${c.tookMs.toFixed(0)} ms, ${c.outcome})`,
    );
  }

  // (a') a huge result: evaluation and rendering run in the worker, but the API thread still
  // receives the JSON text (a copy) and sends it.
  const huge = {
    op: "query_range" as const,
    query: "http_request_duration_seconds_bucket",
    startMs: T - HOUR_MS,
    endMs: T,
    stepMs: 1_000,
  };
  let hugeBytes = 0;
  const hugeMain = await stall(async () => {
    hugeBytes = (await inline.run(huge)).length;
  });
  const hugeWorker = await stall(() => worker.run(huge));
  stalls.hugeResult = { bytes: hugeBytes, mainThread: hugeMain, worker: hugeWorker };
  log(
    `(a') a ${(hugeBytes / 1e6).toFixed(0)} MB range result (1,200 series x 3,600 points): in process the loop stalls ${hugeMain.maxMs.toFixed(0)} ms; ` +
      `with the worker max loop delay ${hugeWorker.maxMs.toFixed(1)} ms, p99 ${hugeWorker.p99Ms.toFixed(1)} ms (receiving the text)`,
  );

  // (c) main-thread cost per scrape, ~1,500 series.
  const registry = new Registry();
  const h = new Histogram({
    name: "http_request_duration_seconds",
    help: "h",
    labelNames: ["method", "route", "status_code"],
    buckets: BUCKETS.slice(0, -1),
    registers: [registry],
  });
  const c = new Counter({
    name: "http_requests_total",
    help: "c",
    labelNames: ["method", "route", "status_code"],
    registers: [registry],
  });
  for (let r = 0; r < ROUTES; r++) {
    h.observe({ method: "GET", route: `/r${r}`, status_code: "200" }, 0.1);
    c.inc({ method: "GET", route: `/r${r}`, status_code: "200" });
  }
  const series = (await registry.getMetricsAsJSON()).reduce((n, f) => n + f.values.length, 0);
  const collect = await timeRuns(() => registry.getMetricsAsJSON());
  const noop: ScrapeSink = { ingest: () => undefined, generation: () => 1 };
  let t = T;
  const nextScrape = () => {
    t += 5_000;
    return t;
  };
  const toWorker = new Sampler({ registry, sink: worker });
  const toNothing = new Sampler({ registry, sink: noop });
  const onMain = new Sampler({ registry, sink: new InlineEngine(settings) });
  const build = await timeRuns(() => toNothing.scrapeOnce(nextScrape()));
  const post = await timeRuns(() => toWorker.scrapeOnce(nextScrape()));
  const store = await timeRuns(() => onMain.scrapeOnce(nextScrape()));
  results.scrape = {
    series,
    collectMs: collect,
    collectAndBatchMs: build,
    collectBatchAndPostMs: post,
    collectAndStoreOnMainMs: store,
  };
  log(
    `(c) scrape of ${series} series on the main thread: collect alone ${fmt(collect)}; collect + batch ${fmt(build)}; ` +
      `collect + batch + post to the worker ${fmt(post)}; collect + store on the main thread (as before) ${fmt(store)}`,
  );

  log(JSON.stringify({ results, stalls }, null, 1));
  child.stop();
  await worker.stop();
}

await main();
