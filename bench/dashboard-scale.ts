/**
 * Does the live dashboard keep up with 1 h at 5 s resolution for 100 routes (issue 15, Build 2)?
 *
 * For each route count (the baseline, 10, then --routes, 100) a real app in this process
 * (bench/app.ts: monitoring on, tsdb.scrapeIntervalMs 5000, the default durable store beside its
 * SQLite file) with that many extra GET routes `/api/v1/scale/r<i>`, some answering several
 * status codes. An hour of history is written straight into the engine's store through the
 * scrape path it already has (`engine.ingest`: one batch per 5 s step, stamped in the past, with
 * the label sets the sampler would send for those routes — http_requests_total and
 * http_request_duration_seconds_{bucket,sum,count}, counts drawn from a seeded generator). Then
 * real traffic keeps every route going (20 req/s in all, the same for both route counts), so
 * the last minutes are real scrapes of real requests.
 *
 * Measured per view (Traffic, its drill-down into one route, Overview; range 1h), over `--frames`
 * refreshes of the live stream (GET /monitoring/dashboard/live, one page watching):
 * - eval→arrival: a frame's `head.at` (the hub's clock when its evaluation began) to the frame
 *   fully read by the client here: every panel query in the engine worker, the join, the write;
 * - the frame's size in bytes and the series in it, and any panel error it carries;
 * - the app's main-thread event-loop delay (perf_hooks monitorEventLoopDelay, 1 ms resolution)
 *   while the view refreshes, against the same traffic with no page watching. The client reading
 *   the stream runs on this thread too: it only counts bytes, it parses nothing but the head.
 * - with --browser (Debian's chromium via puppeteer-core): the time from a frame's last byte
 *   reaching the page to the last canvas stroke it caused (the page's own render, uPlot drawing),
 *   the longest main-thread task after a frame (PerformanceObserver longtask), the JS heap.
 *
 *   npx tsx bench/dashboard-scale.ts [--routes 100] [--baseline 10] [--minutes 60] [--frames 6] [--browser]
 */
import { rmSync } from "node:fs";
import { request } from "node:http";
import { dirname } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import type { FastifyInstance } from "fastify";
import type { Engine } from "../src/engine/protocol.js";
import type { ScrapeBatch } from "../src/tsdb/sampler.js";
import { formatFloat } from "../src/tsdb/sampler.js";
import { mulberry32 } from "../test/support/prng.js";
import { startBenchApp } from "./app.js";

const { values } = parseArgs({
  options: {
    routes: { type: "string", default: "100" },
    baseline: { type: "string", default: "10" },
    minutes: { type: "string", default: "60" },
    frames: { type: "string", default: "6" },
    browser: { type: "boolean", default: false },
  },
});
const ROUTES = Number(values.routes);
const BASELINE = Number(values.baseline);
const MINUTES = Number(values.minutes);
const FRAMES = Number(values.frames);
for (const [k, v] of Object.entries({
  routes: ROUTES,
  baseline: BASELINE,
  minutes: MINUTES,
  frames: FRAMES,
})) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer, got ${String(v)}`);
}
const STEP_MS = 5000;
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]; // the app's default
const TRAFFIC_PER_SECOND = 20;
/** The views watched: Traffic, its drill-down into one route (its own hub group), Overview. */
const VIEWS = ["traffic", "traffic?route=/api/v1/scale/r1", "overview"] as const;

/** A watched view as the live endpoint's query and the page's hash take it (range 1h). */
function viewQuery(view: string): { live: string; hash: string } {
  const [name, q] = view.split("?") as [string, string | undefined];
  const route = q ? new URLSearchParams(q).get("route") : null;
  const extra = route ? `&route=${encodeURIComponent(route)}` : "";
  return { live: `view=${name}&range=1h${extra}`, hash: `#/${name}?range=1h${extra}` };
}

const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

/** Status codes route i answers: every 10th 200/404/500, every 5th 200/500, the rest 200. */
function statusesOf(i: number): number[] {
  return i % 10 === 0 ? [200, 404, 500] : i % 5 === 0 ? [200, 500] : [200];
}

function scaleRoutes(n: number) {
  return async (app: FastifyInstance): Promise<void> => {
    for (let i = 0; i < n; i++) {
      app.get<{ Querystring: { s?: string } }>(`/api/v1/scale/r${i}`, async (req, reply) => {
        const s = Number(req.query.s ?? 200);
        reply.code(statusesOf(i).includes(s) ? s : 200);
        return { route: i };
      });
    }
  };
}

/**
 * `minutes` of history for `n` routes, one batch per 5 s step ending at `endMs`, posted to the
 * engine as the sampler posts its scrapes (refs far above the sampler's own, so none collide).
 */
function backfill(engine: Engine, n: number, endMs: number): { series: number; samples: number } {
  interface S {
    labels: string[];
    route: number;
    status: number;
    kind: "total" | "bucket" | "sum" | "count";
    le: number;
  }
  const series: S[] = [];
  for (let i = 0; i < n; i++) {
    const route = `/api/v1/scale/r${i}`;
    for (const status of statusesOf(i)) {
      const base = (name: string, extra: string[] = []) =>
        [
          ["__name__", name],
          ...(extra.length ? [extra] : []),
          ["method", "GET"],
          ["route", route],
          ["status_code", String(status)],
        ]
          .sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1))
          .flat() as string[];
      series.push({ labels: base("http_requests_total"), route: i, status, kind: "total", le: 0 });
      for (const [b, le] of [...BUCKETS, Number.POSITIVE_INFINITY].entries())
        series.push({
          labels: base("http_request_duration_seconds_bucket", ["le", formatFloat(le)]),
          route: i,
          status,
          kind: "bucket",
          le: b,
        });
      series.push({
        labels: base("http_request_duration_seconds_sum"),
        route: i,
        status,
        kind: "sum",
        le: 0,
      });
      series.push({
        labels: base("http_request_duration_seconds_count"),
        route: i,
        status,
        kind: "count",
        le: 0,
      });
    }
  }
  const REF0 = 1_000_000_000;
  const steps = MINUTES * 12;
  // Seeded: the history is the same on every run.
  const rand = mulberry32(n);
  // Cumulative state per (route, status): count, sum, per-bucket counts.
  const state = new Map<string, { count: number; sum: number; buckets: number[] }>();
  const key = (r: number, s: number) => `${r}|${s}`;
  for (const s of series)
    state.set(key(s.route, s.status), { count: 0, sum: 0, buckets: BUCKETS.map(() => 0).concat(0) });
  const generation = engine.generation();
  for (let k = 0; k < steps; k++) {
    const t = endMs - (steps - 1 - k) * STEP_MS;
    // Advance every (route, status): the 200s take most of the route's rate.
    for (const [kk, st] of state) {
      const [r, s] = kk.split("|").map(Number) as [number, number];
      const rate = TRAFFIC_PER_SECOND / n;
      const share = s === 200 ? 0.9 : 0.05;
      const mean = rate * share * 5;
      const c = Math.floor(mean * 2 * rand() + (rand() < (mean * 2) % 1 ? 1 : 0));
      for (let j = 0; j < c; j++) {
        // Latency: lognormal-ish around a per-route median of 5–100 ms.
        const median = 0.005 + (r % 20) * 0.005;
        const x = median * Math.exp((rand() + rand() + rand() - 1.5) * 1.5);
        st.count++;
        st.sum += x;
        let b = BUCKETS.findIndex((u) => x <= u);
        if (b < 0) b = BUCKETS.length;
        st.buckets[b] = (st.buckets[b] as number) + 1;
      }
    }
    const refs = new Int32Array(series.length);
    const vals = new Float64Array(series.length);
    for (const [i, s] of series.entries()) {
      const st = state.get(key(s.route, s.status)) as { count: number; sum: number; buckets: number[] };
      refs[i] = REF0 + i;
      vals[i] =
        s.kind === "total" || s.kind === "count"
          ? st.count
          : s.kind === "sum"
            ? st.sum
            : st.buckets.slice(0, s.le + 1).reduce((a, b) => a + b, 0);
    }
    const batch: ScrapeBatch = {
      timeMs: t,
      ok: true,
      reset: false,
      defs: k === 0 ? series.map((s, i) => ({ ref: REF0 + i, labels: s.labels })) : [],
      forget: [],
      refs,
      values: vals,
    };
    engine.ingest(batch, generation);
  }
  // The refs are let go (no staleness markers: a forgotten ref is not marked) and the real
  // scrapes of the same label sets continue these series.
  engine.ingest(
    {
      timeMs: endMs,
      ok: true,
      reset: false,
      defs: [],
      forget: series.map((_, i) => REF0 + i),
      refs: new Int32Array(0),
      values: new Float64Array(0),
    },
    generation,
  );
  return { series: series.length, samples: series.length * steps };
}

/** Steady real traffic over every route and status code until stopped. */
function drive(url: string, n: number): () => Promise<void> {
  let stop = false;
  let i = 0;
  const loop = (async () => {
    const every = 1000 / TRAFFIC_PER_SECOND;
    let next = performance.now();
    while (!stop) {
      const r = i % n;
      const sts = statusesOf(r);
      const s = sts[Math.floor(i / n) % sts.length];
      i++;
      await fetch(`${url}/api/v1/scale/r${r}?s=${s}`).then((res) => res.arrayBuffer());
      next += every;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  })();
  return async () => {
    stop = true;
    await loop;
  };
}

interface Frame {
  bytes: number;
  series: number;
  errors: string[];
  evalToArrivalMs: number;
  loopMaxMs: number;
}

const DATA = Buffer.from("event: data\n");
const END = Buffer.from("\n\n");

/**
 * One page watching (view, 1h) here: `frames` frames after the first, with the loop's delay
 * between them. The client shares the app's thread, so it does as little as it can: node:http,
 * each chunk scanned once for a frame's start and end; the frame's text is read (for its series
 * and errors) outside the loop-delay windows.
 */
function watchFrames(url: string, view: string, frames: number): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    const out: Frame[] = [];
    let chunks: Buffer[] = [];
    let inData = false;
    let seen = 0;
    let prevLast = 0;
    const req = request(`${url}/monitoring/dashboard/live?${viewQuery(view).live}`, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`live answered ${res.statusCode}`));
        res.resume();
        return;
      }
      h.enable();
      res.on("data", (c: Buffer) => {
        if (chunks.length === 0 && c.subarray(0, DATA.length).equals(DATA)) inData = true;
        chunks.push(c);
        const ends = c.indexOf(END) >= 0 || (prevLast === 0x0a && c[0] === 0x0a);
        prevLast = c[c.length - 1] as number;
        if (!ends) return;
        const arrived = Date.now();
        const loopMaxMs = h.max / 1e6;
        const frame = chunks;
        const wasData = inData;
        chunks = [];
        inData = false;
        if (!wasData) return; // hello, keep-alive (each arrives in one write, and alone)
        seen++;
        if (seen === 1) {
          h.reset(); // the first: evaluated at subscription, before the window
          return;
        }
        const text = Buffer.concat(frame).toString();
        const at = Number(/"at":(\d+)/.exec(text.slice(0, 400))?.[1]);
        const errors = [...text.matchAll(/\{"error":"([^"]*)"/g)].map((m) => m[1] as string);
        out.push({
          bytes: Buffer.byteLength(text),
          series: text.split('{"metric":').length - 1,
          errors,
          evalToArrivalMs: arrived - at,
          loopMaxMs,
        });
        log(
          `  ${view}: frame ${out.length}/${frames} ${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB, eval→arrival ${arrived - at} ms, loop delay max ${loopMaxMs.toFixed(1)} ms${errors.length ? `, ERRORS: ${errors.join("; ")}` : ""}`,
        );
        h.reset(); // after this client's own reading of the frame
        if (out.length >= frames) {
          h.disable();
          req.destroy();
          resolve(out);
        }
      });
      res.on("error", () => {}); // destroyed by us once the frames are in
    });
    req.on("error", (err) => {
      if (out.length < frames) reject(err);
    });
    req.end();
  });
}

/** The loop's delay with the same traffic and no page watching, over as many intervals. */
async function idleLoop(frames: number): Promise<number[]> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const maxes: number[] = [];
  for (let i = 0; i < frames; i++) {
    h.reset();
    await new Promise((r) => setTimeout(r, STEP_MS));
    maxes.push(h.max / 1e6);
  }
  h.disable();
  return maxes;
}

interface BrowserFigures {
  renderMs: number[];
  longTaskMs: number[];
  heapMB: number;
}

/** chromium on the view: frame's last byte → last canvas stroke after it; longest task; heap. */
async function browserFigures(url: string, view: string, frames: number): Promise<BrowserFigures> {
  const { default: puppeteer } = await import("puppeteer-core");
  const browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    await page.evaluateOnNewDocument(() => {
      const w = window as unknown as Record<string, unknown>;
      const chunks: Array<[number, boolean]> = [];
      const strokes: number[] = [];
      const tasks: Array<[number, number]> = [];
      w.__scale = { chunks, strokes, tasks };
      const read = ReadableStreamDefaultReader.prototype.read;
      ReadableStreamDefaultReader.prototype.read = function (this: ReadableStreamDefaultReader) {
        return read.call(this).then((r: ReadableStreamReadResult<unknown>) => {
          if (!r.done && r.value !== undefined) {
            const v = r.value;
            const head =
              typeof v === "string"
                ? v.slice(0, 12)
                : new TextDecoder().decode((v as Uint8Array).subarray(0, 12));
            chunks.push([performance.now(), head.startsWith("event: data")]);
          }
          return r;
        });
      };
      const stroke = CanvasRenderingContext2D.prototype.stroke as (...a: unknown[]) => void;
      CanvasRenderingContext2D.prototype.stroke = function (this: CanvasRenderingContext2D, ...a: unknown[]) {
        strokes.push(performance.now());
        stroke.apply(this, a);
      } as CanvasRenderingContext2D["stroke"];
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) tasks.push([e.startTime, e.duration]);
      }).observe({ type: "longtask", buffered: true });
    });
    await page.goto(`${url}/monitoring/${viewQuery(view).hash}`, { waitUntil: "domcontentloaded" });
    // Frames that start a chunk; wait for frames + 1 (the first loads the page).
    await page.waitForFunction(
      (n: number) =>
        (window as unknown as { __scale: { chunks: Array<[number, boolean]> } }).__scale.chunks.filter(
          (c) => c[1],
        ).length >= n,
      { timeout: (frames + 3) * STEP_MS * 2, polling: 500 },
      frames + 2,
    );
    const data = (await page.evaluate(() => (window as unknown as { __scale: unknown }).__scale)) as {
      chunks: Array<[number, boolean]>;
      strokes: number[];
      tasks: Array<[number, number]>;
    };
    const metrics = await page.metrics();
    const starts = data.chunks.map((c, i) => (c[1] ? i : -1)).filter((i) => i >= 0);
    const renderMs: number[] = [];
    const longTaskMs: number[] = [];
    // Frames 2..frames+1 (the first loads the page; the last may still be drawing).
    for (let f = 1; f < starts.length - 1 && renderMs.length < frames; f++) {
      const from = data.chunks[starts[f] as number]?.[0] as number;
      const until = data.chunks[starts[f + 1] as number]?.[0] as number;
      const inFrame = data.chunks.filter((c) => c[0] >= from && c[0] < until);
      const draws = data.strokes.filter((s) => s >= from && s < until);
      if (draws.length === 0) continue;
      const lastDraw = draws[draws.length - 1] as number;
      // The frame's last byte: the last chunk before its drawing began.
      const lastByte = Math.max(...inFrame.filter((c) => c[0] <= (draws[0] as number)).map((c) => c[0]));
      renderMs.push(lastDraw - lastByte);
      longTaskMs.push(
        Math.max(0, ...data.tasks.filter((t) => t[0] >= from && t[0] < until).map((t) => t[1])),
      );
    }
    return { renderMs, longTaskMs, heapMB: (metrics.JSHeapUsedSize ?? 0) / 1e6 };
  } finally {
    await browser.close();
  }
}

interface ViewResult {
  view: string;
  frames: Frame[];
  browser?: BrowserFigures;
}

async function scenario(n: number): Promise<{ n: number; idle: number[]; views: ViewResult[] }> {
  log(`${n} routes: starting the app`);
  const { app, url } = await startBenchApp({
    name: `dash-scale-${n}`,
    yaml: "tsdb:\n  scrapeIntervalMs: 5000\n",
    monitoring: true,
    plugins: [scaleRoutes(n)],
  });
  const dir = dirname(app.config.log.filePath as string);
  try {
    const engine = app.engine;
    if (!engine) throw new Error("the app has no engine: monitoring is off");
    const endMs = Math.floor(Date.now() / STEP_MS) * STEP_MS;
    const t0 = performance.now();
    const b = backfill(engine, n, endMs);
    // Operations reach the worker in order: this answers once every batch is stored.
    const check = Buffer.from(
      await engine.run({
        op: "query",
        query: `sum(count_over_time(http_requests_total{route=~"/api/v1/scale/.+"}[${MINUTES + 1}m]))`,
        timeMs: endMs,
      }),
    ).toString();
    log(
      `${n} routes: backfilled ${b.series} series × ${MINUTES * 12} steps = ${b.samples} samples in ${Math.round(performance.now() - t0)} ms; the store counts ${/"value":\[[^,]+,"([^"]+)"/.exec(check)?.[1]} http_requests_total samples`,
    );
    const stopTraffic = drive(url, n);
    try {
      // Two scrapes of real traffic before measuring.
      await new Promise((r) => setTimeout(r, 2 * STEP_MS + 500));
      const idle = await idleLoop(FRAMES);
      log(
        `${n} routes: loop delay with no page watching, max per 5 s: ${idle.map((x) => x.toFixed(1)).join(", ")} ms`,
      );
      const views: ViewResult[] = [];
      for (const view of VIEWS) {
        const frames = await watchFrames(url, view, FRAMES);
        const r: ViewResult = { view, frames };
        if (values.browser) {
          r.browser = await browserFigures(url, view, FRAMES);
          log(
            `  ${view} in chromium: render ${r.browser.renderMs.map((x) => Math.round(x)).join(", ")} ms, longest task ${r.browser.longTaskMs.map((x) => Math.round(x)).join(", ")} ms, heap ${r.browser.heapMB.toFixed(1)} MB`,
          );
        }
        views.push(r);
      }
      return { n, idle, views };
    } finally {
      await stopTraffic();
    }
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const med = (xs: number[]) =>
  xs.length ? ([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number) : Number.NaN;
const max = (xs: number[]) => Math.max(...xs);

const results = [];
for (const n of [BASELINE, ROUTES]) results.push(await scenario(n));

const [base, scale] = results as [Awaited<ReturnType<typeof scenario>>, Awaited<ReturnType<typeof scenario>>];
const rows: string[][] = [];
rows.push(["", `${base.n} routes`, `${scale.n} routes`, "ratio"]);
const add = (label: string, a: number, b: number, digits = 0) =>
  rows.push([label, a.toFixed(digits), b.toFixed(digits), (b / a).toFixed(2)]);
add("loop delay, no page watching: max per 5 s (median), ms", med(base.idle), med(scale.idle), 1);
for (const [i, v] of base.views.entries()) {
  const w = scale.views[i] as ViewResult;
  const f = (r: ViewResult, g: (x: Frame) => number) => r.frames.map(g);
  add(
    `${v.view}: eval→arrival median, ms`,
    med(f(v, (x) => x.evalToArrivalMs)),
    med(f(w, (x) => x.evalToArrivalMs)),
  );
  add(
    `${v.view}: eval→arrival max, ms`,
    max(f(v, (x) => x.evalToArrivalMs)),
    max(f(w, (x) => x.evalToArrivalMs)),
  );
  add(`${v.view}: frame size, KiB`, med(f(v, (x) => x.bytes / 1024)), med(f(w, (x) => x.bytes / 1024)));
  add(`${v.view}: series in frame`, med(f(v, (x) => x.series)), med(f(w, (x) => x.series)));
  add(
    `${v.view}: loop delay max per refresh (median), ms`,
    med(f(v, (x) => x.loopMaxMs)),
    med(f(w, (x) => x.loopMaxMs)),
    1,
  );
  add(
    `${v.view}: loop delay max per refresh (worst), ms`,
    max(f(v, (x) => x.loopMaxMs)),
    max(f(w, (x) => x.loopMaxMs)),
    1,
  );
  if (v.browser && w.browser) {
    add(
      `${v.view}: chromium, last byte→last stroke median, ms`,
      med(v.browser.renderMs),
      med(w.browser.renderMs),
    );
    add(
      `${v.view}: chromium, longest task per frame median, ms`,
      med(v.browser.longTaskMs),
      med(w.browser.longTaskMs),
    );
    add(`${v.view}: chromium, JS heap, MB`, v.browser.heapMB, w.browser.heapMB, 1);
  }
  const errs = [...new Set(w.frames.flatMap((x) => x.errors))];
  if (errs.length) console.log(`${w.view} with ${scale.n} routes: panel errors: ${errs.join("; ")}`);
}
const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length))) as number[];
console.log(
  `\n1h at ${STEP_MS / 1000} s, ${MINUTES} min of history (backfilled, then real traffic ${TRAFFIC_PER_SECOND} req/s):`,
);
for (const r of rows)
  console.log(
    r.map((x, c) => (c === 0 ? x.padEnd(widths[c] as number) : x.padStart(widths[c] as number))).join("  "),
  );
process.exit(0);
