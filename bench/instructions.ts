/**
 * Instructions per request on the API's thread, per variant: the request path's cost in a figure
 * the host's speed cannot move. `bench/run.ts` measures req/s and CPU time, which on this shared
 * 2-core VM drift by ±15 % from one 2-second slice to the next (bench/README.md, "Issue 12,
 * session 14"); a difference of a few per cent needs dozens of rounds there. Instructions counted
 * by callgrind do not drift: the same build gives the same count within a fraction of a per cent.
 *
 *   npx tsx bench/instructions.ts [--variants baseline,monitored] [--warmup 25000] [--requests 5000]
 *                                 [--cache]   # also simulated L1 / last-level cache misses (slower)
 *                                 [--sockets --keep]  # dumps of the socket work alone, to compare
 *                                                     # functions' own counts between variants
 *                                 [--functions 40]    # --sockets, and the 40 functions whose own
 *                                                     # count a request differs most from the first
 *                                                     # variant's (JavaScript named through node's
 *                                                     # --perf-basic-prof map, bench/callgrind-functions.ts)
 *
 * How, and why it differs from an earlier try (session 12) that gave meaningless counts:
 * - Each variant's bench/server.ts runs under `valgrind --tool=callgrind --instr-atstart=no
 *   --separate-threads=yes`, with V8's own threads left on (the JIT compiles in the background as
 *   in production).
 * - `--warmup` requests first, uncounted: under valgrind the optimizing compiler's threads run
 *   ~50× slower too, and after a few thousand requests part of the path still runs unoptimized.
 * - Then counting on (`callgrind_control -i on`), `--requests` requests, dump, off.
 * - The figure is the API thread's instructions inclusive of libuv's `uv__stream_io`: everything
 *   done for the sockets, from parsing a request to writing its response and the microtasks in
 *   between, and nothing run by timers (the sampler, scrapes, the health checks). Timers fire by
 *   the wall clock, which valgrind slows 50× against the requests, so counted per request they
 *   would be inflated 50× (they are printed apart, for information).
 * - Kernel work (the syscalls themselves) is not counted: this is the user-space cost only.
 * - Slow-query logging is off (its threshold is wall time, which valgrind distorts: see count()).
 *
 * valgrind must be installed (`apt-get install valgrind`); nothing is installed here.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { largestDifferences, selfByFunction } from "./callgrind-functions.js";
import { BENCH_PATH, type ChildReady, isVariant, VARIANT_TITLES, type Variant } from "./variants.js";

const { values } = parseArgs({
  options: {
    variants: { type: "string", default: "baseline,monitored" },
    warmup: { type: "string", default: "25000" },
    requests: { type: "string", default: "5000" },
    connections: { type: "string", default: "10" },
    keep: { type: "boolean", default: false },
    cache: { type: "boolean", default: false },
    sockets: { type: "boolean", default: false },
    functions: { type: "string", default: "0" },
  },
});
const variants = (values.variants ?? "").split(",").map((v) => v.trim());
for (const v of variants) if (!isVariant(v)) throw new Error(`--variants: unknown variant "${v}"`);
const warmup = Number(values.warmup);
const functions = Number(values.functions);
if (!Number.isInteger(functions) || functions < 0)
  throw new Error(`--functions must be a whole number, got ${values.functions}`);
/** Only inside uv__stream_io: --sockets, or implied by --functions (timers would swamp the diff). */
const socketsOnly = values.sockets || functions > 0;
const requests = Number(values.requests);
const connections = Number(values.connections);
for (const [name, n] of [
  ["--warmup", warmup],
  ["--requests", requests],
  ["--connections", connections],
] as const) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${n}`);
}

try {
  // callgrind_control and callgrind_annotate come in the same package.
  execFileSync("valgrind", ["--version"], { stdio: "ignore" });
} catch {
  console.error("bench/instructions.ts needs valgrind (callgrind): apt-get install valgrind");
  process.exit(2);
}

const SERVER = fileURLToPath(new URL("./server.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

interface Counted {
  variant: Variant;
  /** Per request, API thread, inside uv__stream_io. */
  sockets: number;
  /** --cache: simulated misses per request inside uv__stream_io: L1 instruction, L1 data, last level. */
  misses?: { i1: number; d1: number; ll: number };
  /** Per request, API thread, all of it (timers included: inflated, see the header). */
  thread: number;
  /** --functions: own instructions by function over the counted requests, and how many requests. */
  own?: { byFunction: Map<string, number>; requests: number };
  timers: number;
  /**
   * V8's collections on the API thread, per request. A scavenge runs when the young generation
   * fills, inside whatever allocates next — often a request — and timers' garbage fills it too, so
   * part of this lands in the socket figure and grows with valgrind's slowdown: compare it too.
   */
  gc: number;
}

function control(pid: number, ...args: string[]): void {
  execFileSync("callgrind_control", [...args, String(pid)], { stdio: "ignore" });
}

/**
 * The inclusive counts (one per event shown) of the annotate line naming `fn`; callgrind_annotate
 * prints each function once, its events as `1,234 (5.6%)` columns or `.` for none.
 */
function inclusive(annotated: string, fn: string): number[] {
  const line = annotated
    .split("\n")
    .find((l) => l.includes(`:${fn} `) || l.includes(`:${fn}(`) || l.endsWith(`:${fn}`));
  if (!line) return [];
  const head = line.slice(0, line.indexOf("???:") >= 0 ? line.indexOf("???:") : line.lastIndexOf(" /"));
  return [...head.matchAll(/([\d,]+) \(|(?:^|\s)\.(?=\s)/g)].map((m) =>
    m[1] ? Number(m[1].replaceAll(",", "")) : 0,
  );
}

async function count(variant: Variant): Promise<Counted> {
  const dir = mkdtempSync(join(tmpdir(), `tug-instr-${variant}-`));
  const child = spawn(
    "valgrind",
    [
      "--tool=callgrind",
      "--instr-atstart=no",
      "--separate-threads=yes",
      ...(values.cache ? ["--cache-sim=yes"] : []),
      // --sockets: count only inside uv__stream_io, so that a function's own count in the kept
      // dump (--keep) is its cost to requests alone, timers left out.
      ...(socketsOnly ? ["--toggle-collect=uv__stream_io"] : []),
      `--callgrind-out-file=${join(dir, "cg.out")}`,
      process.execPath,
      ...(functions > 0 ? ["--perf-basic-prof"] : []),
      "--disable-warning=FSTDEP023",
      "--import",
      "tsx",
      SERVER,
      variant,
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      // No slow-query lines: the threshold is wall time, and valgrind runs the process' threads
      // one at a time, so a 0.1 ms query waits out other threads' slices and passes 100 ms now
      // and then: a warn line in some requests that never happens at real speed.
      env: {
        ...process.env,
        BENCH_YAML: `${process.env.BENCH_YAML ?? ""}\ndatabase:\n  slowQueryThresholdMs: 0`,
      },
    },
  );
  let valgrindLog = "";
  child.stderr?.on("data", (c: Buffer) => {
    valgrindLog = (valgrindLog + c.toString()).slice(-4000);
  });
  try {
    const ready = await new Promise<ChildReady>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.once("line", (line) => resolve(JSON.parse(line) as ChildReady));
      child.once("exit", (code) =>
        reject(new Error(`${variant} under valgrind exited ${code}:\n${valgrindLog}`)),
      );
    });
    const load = (amount: number) =>
      autocannon({
        url: `${ready.url}${BENCH_PATH}`,
        headers: { authorization: `Bearer ${ready.token}` },
        connections,
        amount,
        // Under valgrind (50–100× slower) a response can take seconds; none may be lost.
        timeout: 120,
      });
    const warm = await load(warmup);
    if (warm.non2xx > 0 || warm.errors > 0) throw new Error(`${variant}: warm-up had errors`);
    control(ready.pid, "-i", "on");
    const r = await load(requests);
    control(ready.pid, "-d");
    control(ready.pid, "-i", "off");
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${variant}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    const n = r.requests.total;
    // The API thread is the first one callgrind sees: cg.out.1-01 (dump 1, thread 1).
    const file = "cg.out.1-01";
    if (!existsSync(join(dir, file))) throw new Error(`${variant}: no dump of thread 1 in ${dir}`);
    const annotated = execFileSync(
      "callgrind_annotate",
      [
        values.cache ? "--show=Ir,I1mr,D1mr,D1mw,ILmr,DLmr,DLmw" : "--show=Ir",
        "--inclusive=yes",
        "--threshold=100",
        join(dir, file),
      ],
      { maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "ignore"] },
    ).toString();
    const total = /^\s*([\d,]+) \(100\.0%\).*PROGRAM TOTALS/m.exec(annotated)?.[1];
    const sockets = inclusive(annotated, "uv__stream_io");
    const [, i1 = 0, d1r = 0, d1w = 0, ilr = 0, dlr = 0, dlw = 0] = sockets;
    return {
      variant,
      sockets: (sockets[0] ?? 0) / n,
      misses: values.cache ? { i1: i1 / n, d1: (d1r + d1w) / n, ll: (ilr + dlr + dlw) / n } : undefined,
      thread: Number((total ?? "0").replaceAll(",", "")) / n,
      timers: (inclusive(annotated, "uv__run_timers")[0] ?? 0) / n,
      gc: (inclusive(annotated, "v8::internal::Heap::PerformGarbageCollection")[0] ?? 0) / n,
      own:
        functions > 0
          ? { byFunction: selfByFunction(join(dir, file), `/tmp/perf-${ready.pid}.map`, ROOT), requests: n }
          : undefined,
    };
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`${variant}: dumps kept in ${dir}`);
  }
}

console.log(
  `instructions per request on the API thread (callgrind), ${warmup} requests of warm-up, ${requests} counted, ` +
    `${connections} connections; variants in parallel`,
);
const results = await Promise.all(variants.map((v) => count(v as Variant)));
const base = results.find((r) => r.variant === "baseline") ?? results[0];
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
/** The columns outside the socket work: not collected with --sockets or --functions ("–", not 0). */
const outside = (n: number, width: number) => (socketsOnly ? "–" : fmt(n)).padStart(width);
console.log(
  `\n${"variant".padEnd(24)}${"in socket callbacks".padStart(20)}${"vs first".padStart(10)}` +
    `${"GC*".padStart(9)}${"timers*".padStart(10)}${"whole thread*".padStart(15)}`,
);
for (const r of results) {
  console.log(
    `${VARIANT_TITLES[r.variant].padEnd(24)}${fmt(r.sockets).padStart(20)}` +
      `${(base ? r.sockets / base.sockets : 1).toFixed(3).padStart(10)}${outside(r.gc, 9)}${outside(r.timers, 10)}${outside(r.thread, 15)}`,
  );
}
const first = results[0];
if (functions > 0 && first?.own) {
  for (const r of results.slice(1)) {
    if (!r.own) continue;
    console.log(
      `\nown instructions a request, by function, ${VARIANT_TITLES[r.variant]} against ${VARIANT_TITLES[first.variant]} ` +
        `(socket work only; the ${functions} largest differences)`,
    );
    console.log(`${"difference".padStart(10)}${"first".padStart(9)}${"this".padStart(9)}  function`);
    for (const d of largestDifferences(
      first.own.byFunction,
      r.own.byFunction,
      first.own.requests,
      r.own.requests,
      functions,
    )) {
      console.log(
        `${fmt(d.diff).padStart(10)}${fmt(d.a).padStart(9)}${fmt(d.b).padStart(9)}  ${d.name.slice(0, 110)}`,
      );
    }
  }
}
if (values.cache) {
  console.log(`\nsimulated cache misses per request in socket callbacks (vs first)`);
  for (const r of results) {
    const m = r.misses;
    const b = base?.misses;
    if (!m || !b) continue;
    const vs = (x: number, y: number) => `${fmt(x)} (${(x / y).toFixed(3)})`;
    console.log(
      `${VARIANT_TITLES[r.variant].padEnd(24)}L1 instr ${vs(m.i1, b.i1)}  L1 data ${vs(m.d1, b.d1)}  last level ${vs(m.ll, b.ll)}`,
    );
  }
}
console.log(
  "\n* timers fire by the wall clock, slowed 50× by valgrind against the requests: not a per-request cost;" +
    "\n  GC runs when allocation (requests' and timers') fills the young generation, partly inside requests",
);
