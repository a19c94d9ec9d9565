/**
 * `npm run bench`: HTTP overhead of the monitoring. Requests/second on an authenticated API
 * route (GET /api/v1/users/me: a session lookup and a user lookup in SQLite) for
 *   (a) the app with no monitoring, (b) the app with full monitoring, (c) the app instrumented
 *   with fastify-metrics,
 * each in a fresh child process (bench/server.ts), loaded by autocannon over loopback. The
 * variants run interleaved over several rounds in rotated order and the median per variant is
 * reported, because one run on a small machine is noisy. Targets: (b)/(a) >= 0.90, (b) >= (c).
 * Each ratio comes with its bootstrap interval over the rounds (bench/stats.ts), so that a PASS or
 * MISS inside the rounds' spread is read as what it is: one server process differs from the next
 * by 15–20 % on the 2-core machine, more than the margin either target is judged on.
 *
 *   npm run bench -- --duration 5 --rounds 1 --connections 20
 *   npm run bench -- --profile monitored     # also writes .cpuprofile files of those children
 *   BENCH_YAML=$'  analysis:\n    enabled: false' npm run bench   # more configuration (bench/server.ts)
 *   BENCH_ALT_YAML=$'  access:\n    enabled: false' npm run bench -- --variants monitored,monitored-alt
 *                                        # A/B of one change, interleaved in one run
 *   BENCH_ALT_ENV=NAME=value …             # (b') also starts with that environment variable
 *   BENCH_ALT_OMIT=engine,rules,sampler …  # (b') without those capabilities (src/server.ts OMITTABLE)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { formatInterval, MIN_ROUNDS, median, type RatioInterval, ratioOfMedians, verdict } from "./stats.js";
import {
  BENCH_PATH,
  type ChildReady,
  DEFAULT_VARIANTS,
  isMonitored,
  isVariant,
  VARIANT_TITLES,
  VARIANTS,
  type Variant,
} from "./variants.js";

const here = dirname(fileURLToPath(import.meta.url));
const SERVER_ENTRY = join(here, "server.ts");
const RESULTS_DIR = join(here, "results");

const TARGET_RATIO = 0.9;

interface Options {
  duration: number;
  warmup: number;
  connections: number;
  pipelining: number;
  rounds: number;
  variants: Variant[];
  profile: Variant[];
  out: string;
  check: boolean;
}

function usage(): string {
  return [
    "usage: npm run bench -- [options]",
    "  --duration <s>      measured seconds per run (default 10)",
    "  --warmup <s>        warm-up seconds before each measured run (default 3)",
    "  --connections <n>   concurrent connections (default 50)",
    "  --pipelining <n>    requests in flight per connection (default 1)",
    "  --rounds <n>        rounds of all variants, in rotated order (default 5)",
    `  --variants <list>   comma-separated subset of ${VARIANTS.join(",")}`,
    "  --profile <list>    run these variants' children with --cpu-prof (bench/results/profiles)",
    "  --out <file>        JSON results (default bench/results/http-overhead.json)",
    "  --check             exit 1 when a target is missed",
  ].join("\n");
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string", default: "10" },
      warmup: { type: "string", default: "3" },
      connections: { type: "string", default: "50" },
      pipelining: { type: "string", default: "1" },
      rounds: { type: "string", default: "5" },
      variants: { type: "string", default: DEFAULT_VARIANTS.join(",") },
      profile: { type: "string" },
      out: { type: "string", default: join(RESULTS_DIR, "http-overhead.json") },
      check: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const int = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name}=${raw}: expected a whole number >= ${min}`);
    return n;
  };
  const variants = values.variants.split(",").map((v) => v.trim());
  const profile = values.profile ? values.profile.split(",").map((v) => v.trim()) : [];
  for (const [flag, list] of [
    ["variants", variants],
    ["profile", profile],
  ] as const) {
    for (const v of list) {
      if (!isVariant(v)) {
        throw new Error(`--${flag}: unknown variant ${JSON.stringify(v)}; expected ${VARIANTS.join(", ")}`);
      }
    }
  }
  return {
    duration: int("duration", values.duration, 1),
    warmup: int("warmup", values.warmup, 0),
    connections: int("connections", values.connections, 1),
    pipelining: int("pipelining", values.pipelining, 1),
    rounds: int("rounds", values.rounds, 1),
    variants: variants as Variant[],
    profile: profile as Variant[],
    out: resolve(values.out),
    check: values.check,
  };
}

interface Child {
  proc: ChildProcess;
  ready: ChildReady;
  exited: Promise<number | null>;
}

/** Start bench/server.ts for `variant` and wait for its JSON line. */
async function startChild(variant: Variant, profileDir: string | undefined): Promise<Child> {
  const nodeArgs = [
    "--import",
    "tsx",
    // Fastify's notice about disableRequestLogging (src/server.ts) would repeat for every run.
    "--disable-warning=FSTDEP023",
  ];
  if (profileDir) nodeArgs.push("--cpu-prof", "--cpu-prof-dir", profileDir);
  // BENCH_ALT_ENV=NAME=value: set in monitored-alt's environment from its start, for a setting a
  // module reads when it is loaded (too late to set it in bench/server.ts).
  const [name, ...value] = (variant === "monitored-alt" && process.env.BENCH_ALT_ENV?.split("=")) || [];
  const proc = spawn(process.execPath, [...nodeArgs, SERVER_ENTRY, variant], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
    env: name ? { ...process.env, [name]: value.join("=") } : process.env,
  });
  const exited = new Promise<number | null>((res) => proc.once("exit", (code) => res(code)));
  const stdout = proc.stdout;
  if (!stdout) throw new Error("child has no stdout");
  const lines = createInterface({ input: stdout });
  const ready = await new Promise<ChildReady>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${variant} server did not start within 60 s`)), 60_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        res(JSON.parse(line) as ChildReady);
      } catch {
        rej(new Error(`${variant} server printed ${JSON.stringify(line)} instead of its JSON line`));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`${variant} server exited with code ${code} before it was ready`));
    });
  });
  // Anything after the JSON line would break the "stdout stays quiet" contract: show it.
  lines.on("line", (line) => process.stderr.write(`[${variant} stdout] ${line}\n`));
  return { proc, ready, exited };
}

async function stopChild(child: Child): Promise<void> {
  if (child.proc.exitCode !== null) return;
  child.proc.kill("SIGTERM");
  const timeout = new Promise<"timeout">((res) => setTimeout(() => res("timeout"), 15_000).unref());
  if ((await Promise.race([child.exited, timeout])) === "timeout") {
    child.proc.kill("SIGKILL");
    await child.exited;
  }
}

function load(ready: ChildReady, seconds: number, opts: Options): Promise<autocannon.Result> {
  return autocannon({
    url: `${ready.url}${BENCH_PATH}`,
    method: "GET",
    headers: { authorization: `Bearer ${ready.token}` },
    connections: opts.connections,
    pipelining: opts.pipelining,
    duration: seconds,
  });
}

/** Fail loudly: a benchmark of error responses measures nothing. */
function assertClean(variant: Variant, what: string, r: autocannon.Result): void {
  const problems: string[] = [];
  if (r.non2xx > 0) problems.push(`${r.non2xx} non-2xx responses (4xx ${r["4xx"]}, 5xx ${r["5xx"]})`);
  if (r.errors > 0) problems.push(`${r.errors} connection errors (${r.timeouts} timeouts)`);
  if (r["2xx"] === 0) problems.push("no 2xx response at all");
  if (problems.length > 0) throw new Error(`${variant} ${what}: ${problems.join(", ")}`);
}

/** Value of one sample line of the Prometheus text format, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf("}");
    const labelText = line.slice(name.length + 1, close);
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) {
      return Number(
        line
          .slice(close + 1)
          .trim()
          .split(" ")[0],
      );
    }
  }
  return undefined;
}

/**
 * Check that the variant really is what it claims: (b) and (c) counted the load on the
 * benchmarked route template, (a) exposes no metrics endpoint at all.
 */
async function verifyInstrumentation(variant: Variant, ready: ChildReady, served: number): Promise<string> {
  const get = async (path: string) => {
    const res = await fetch(`${ready.url}${path}`);
    return { status: res.status, text: await res.text() };
  };
  const route = { method: "GET", route: BENCH_PATH, status_code: "200" };
  if (variant === "baseline") {
    for (const path of ["/monitoring/metrics", "/metrics"]) {
      const { status } = await get(path);
      if (status !== 404) throw new Error(`baseline answers ${status} on ${path}: it is not unmonitored`);
    }
    return "no metrics endpoint (404)";
  }
  const path = isMonitored(variant) ? "/monitoring/metrics" : "/metrics";
  const metric = "http_request_duration_seconds_count";
  const { status, text } = await get(path);
  if (status !== 200) throw new Error(`${variant}: GET ${path} answered ${status}`);
  const count = sample(text, metric, route);
  if (count === undefined || count < served) {
    throw new Error(
      `${variant}: ${path} shows ${metric}{route="${BENCH_PATH}"} = ${count} after ${served} requests were served`,
    );
  }
  const bucket = sample(text, "http_request_duration_seconds_bucket", { ...route, le: "+Inf" });
  if (bucket === undefined || bucket < served) {
    throw new Error(`${variant}: ${path} has no per-route histogram buckets for ${BENCH_PATH}`);
  }
  const extra =
    variant === "fastify-metrics" && sample(text, "http_request_summary_seconds_count", route) === undefined
      ? " (no summary series!)"
      : "";
  return `${path}: ${metric}{route="${BENCH_PATH}",status_code="200"} ${count}${extra}`;
}

/** utime + stime in seconds from a /proc `stat` file's text (a process's or one thread's). */
function statCpuSeconds(stat: string): number {
  // Fields after the ")" that closes the command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU seconds of a process (utime + stime from /proc), or undefined off Linux. */
function processCpuSeconds(pid: number): number | undefined {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The server's main thread (the API's event loop): its CPU seconds and how often the kernel took
 * its core away while it could run (involuntary context switches: another thread of the process,
 * or the load generator, ran there instead). Undefined off Linux.
 */
function mainThread(pid: number): { cpu: number; preempted: number } | undefined {
  try {
    const cpu = statCpuSeconds(readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8"));
    const status = readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
    const preempted = /nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1];
    if (preempted === undefined) return undefined;
    return { cpu, preempted: Number(preempted) };
  } catch {
    return undefined; // not Linux, or the child is gone: the figures are left out
  }
}

/** Busy CPU seconds of the whole machine, all cores (from /proc/stat), or undefined off Linux. */
function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const [, ...ticks] = line.trim().split(/\s+/).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks;
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;

interface CpuSample {
  wall: number;
  server: number | undefined;
  main: { cpu: number; preempted: number } | undefined;
  client: number;
  machine: number | undefined;
}

function cpuSample(serverPid: number): CpuSample {
  const u = process.cpuUsage();
  return {
    wall: performance.now() / 1000,
    server: processCpuSeconds(serverPid),
    main: mainThread(serverPid),
    client: (u.user + u.system) / 1e6,
    machine: machineBusySeconds(),
  };
}

interface CpuUse {
  /** Server process CPU, % of one core. */
  serverPercent: number | undefined;
  /** Server CPU time per completed request, in microseconds: the cost that monitoring adds to. */
  serverUsPerRequest: number | undefined;
  /** The server's main thread's CPU time per request, µs (the rest of serverUsPerRequest is its other threads). */
  mainUsPerRequest: number | undefined;
  /** Times per 1,000 requests the kernel preempted the server's main thread (it could run, another thread did). */
  mainPreemptedPer1k: number | undefined;
  /** autocannon (this process) CPU, % of one core: near 100 means the client limits the rate. */
  clientPercent: number;
  /** CPU used by everything else on the machine, % of one core: noise from other work. */
  otherPercent: number | undefined;
}

function cpuUse(before: CpuSample, after: CpuSample, requests: number): CpuUse {
  const wall = after.wall - before.wall;
  const server =
    before.server !== undefined && after.server !== undefined ? after.server - before.server : undefined;
  const client = after.client - before.client;
  const machine =
    before.machine !== undefined && after.machine !== undefined ? after.machine - before.machine : undefined;
  const pct = (s: number) => Math.round((s / wall) * 1000) / 10;
  /** `total` per `unit` requests, to one decimal (seconds × 1e6 per request: µs/req). */
  const per = (total: number, unit: number) => Math.round((total / requests) * unit * 10) / 10;
  const main = before.main && after.main ? after.main : undefined;
  return {
    serverPercent: server === undefined ? undefined : pct(server),
    serverUsPerRequest: server === undefined ? undefined : per(server, 1e6),
    mainUsPerRequest: main && before.main ? per(main.cpu - before.main.cpu, 1e6) : undefined,
    mainPreemptedPer1k: main && before.main ? per(main.preempted - before.main.preempted, 1e3) : undefined,
    clientPercent: pct(client),
    otherPercent:
      machine === undefined || server === undefined ? undefined : Math.max(0, pct(machine - server - client)),
  };
}

interface Measurement {
  round: number;
  variant: Variant;
  reqPerSec: number;
  requests: number;
  durationSeconds: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  cpu: CpuUse;
  /** The machine's 1-minute load average when the measured run began (a shared machine's noise). */
  load1: number;
  instrumentation: string;
}

const load1 = () => Math.round((loadavg()[0] as number) * 100) / 100;

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtPct = (n: number | undefined) => (n === undefined ? "?" : `${Math.round(n)}%`);
const fmtNum = (n: number | undefined) => (n === undefined ? "?" : n.toFixed(1));
const fmtRatio = (n: number | undefined) => (n === undefined ? "-" : n.toFixed(3));
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

async function measure(
  variant: Variant,
  round: number,
  opts: Options,
  profileDir?: string,
): Promise<Measurement> {
  const child = await startChild(variant, profileDir);
  try {
    if (opts.warmup > 0) assertClean(variant, "warm-up", await load(child.ready, opts.warmup, opts));
    const startLoad = load1();
    const before = cpuSample(child.ready.pid);
    const r = await load(child.ready, opts.duration, opts);
    const cpu = cpuUse(before, cpuSample(child.ready.pid), r["2xx"]);
    assertClean(variant, "measurement", r);
    const instrumentation = await verifyInstrumentation(variant, child.ready, r["2xx"]);
    return {
      round,
      variant,
      // Completed 2xx responses over the measured wall time (autocannon's per-second mean
      // drops the partial last second).
      reqPerSec: r["2xx"] / r.duration,
      requests: r["2xx"],
      durationSeconds: r.duration,
      latencyMs: {
        mean: r.latency.mean,
        p50: r.latency.p50,
        p90: r.latency.p90,
        p99: r.latency.p99,
        max: r.latency.max,
      },
      non2xx: r.non2xx,
      errors: r.errors,
      cpu,
      load1: startLoad,
      instrumentation,
    };
  } finally {
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(
    `HTTP overhead of monitoring: GET ${BENCH_PATH} (authenticated, SQLite), ${opts.connections} connections, ` +
      `pipelining ${opts.pipelining}, ${opts.warmup} s warm-up + ${opts.duration} s per run, ${opts.rounds} round(s)`,
  );
  console.log(`node ${process.version}, ${availableParallelism()} CPU(s): ${cpu}\n`);

  const startLoad = load1();
  console.log(`load average (1 min) at start: ${startLoad}`);
  const profileDir = opts.profile.length > 0 ? join(RESULTS_DIR, "profiles") : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const measurements: Measurement[] = [];
  const total = opts.rounds * opts.variants.length;
  for (let round = 1; round <= opts.rounds; round++) {
    // Rotate the order so no variant always runs first (cold machine) or last (hot machine).
    const shift = (round - 1) % opts.variants.length;
    const order = [...opts.variants.slice(shift), ...opts.variants.slice(0, shift)];
    for (const variant of order) {
      const dir =
        profileDir && opts.profile.includes(variant) ? join(profileDir, `${variant}-r${round}`) : undefined;
      const m = await measure(variant, round, opts, dir);
      measurements.push(m);
      const cpu = m.cpu;
      console.log(
        `[${lpad(String(measurements.length), String(total).length)}/${total}] round ${round} ` +
          `${pad(VARIANT_TITLES[variant], 22)} ${lpad(fmtInt(m.reqPerSec), 7)} req/s  p99 ${lpad(String(m.latencyMs.p99), 3)} ms  ` +
          `server ${fmtPct(cpu.serverPercent)} CPU ${fmtNum(cpu.serverUsPerRequest)} µs/req ` +
          `(main thread ${fmtNum(cpu.mainUsPerRequest)}, preempted ${fmtNum(cpu.mainPreemptedPer1k)}/1k req)  ` +
          `client ${fmtPct(cpu.clientPercent)}  other ${fmtPct(cpu.otherPercent)}  load ${m.load1}  | ${m.instrumentation}`,
      );
    }
  }

  const summary = opts.variants.map((variant) => {
    const ms = measurements.filter((m) => m.variant === variant);
    const us = ms.map((m) => m.cpu.serverUsPerRequest).filter((v): v is number => v !== undefined);
    return {
      variant,
      title: VARIANT_TITLES[variant],
      medianReqPerSec: median(ms.map((m) => m.reqPerSec)),
      minReqPerSec: Math.min(...ms.map((m) => m.reqPerSec)),
      maxReqPerSec: Math.max(...ms.map((m) => m.reqPerSec)),
      medianP99Ms: median(ms.map((m) => m.latencyMs.p99)),
      medianP50Ms: median(ms.map((m) => m.latencyMs.p50)),
      medianServerUsPerRequest: us.length > 0 ? median(us) : undefined,
      ratioToBaseline: undefined as number | undefined,
      cpuCostRatioToBaseline: undefined as number | undefined,
    };
  });
  const base = summary.find((s) => s.variant === "baseline");
  for (const s of summary) {
    s.ratioToBaseline = base ? s.medianReqPerSec / base.medianReqPerSec : undefined;
    if (base?.medianServerUsPerRequest !== undefined && s.medianServerUsPerRequest !== undefined) {
      s.cpuCostRatioToBaseline = s.medianServerUsPerRequest / base.medianServerUsPerRequest;
    }
  }

  console.log("");
  const header =
    `${pad("variant", 22)} ${lpad("median req/s", 13)} ${lpad("range", 15)} ${lpad("p99 ms", 7)} ` +
    `${lpad("ratio to (a)", 13)}   ${lpad("server µs/req", 13)} ${lpad("vs (a)", 7)}`;
  console.log(header);
  console.log("-".repeat(header.length));
  for (const s of summary) {
    console.log(
      `${pad(s.title, 22)} ${lpad(fmtInt(s.medianReqPerSec), 13)} ${lpad(`${fmtInt(s.minReqPerSec)}–${fmtInt(s.maxReqPerSec)}`, 15)} ` +
        `${lpad(String(s.medianP99Ms), 7)} ${lpad(fmtRatio(s.ratioToBaseline), 13)}   ` +
        `${lpad(fmtNum(s.medianServerUsPerRequest), 13)} ${lpad(fmtRatio(s.cpuCostRatioToBaseline), 7)}`,
    );
  }

  const get = (v: Variant) => summary.find((s) => s.variant === v);
  const a = get("baseline");
  const b = get("monitored");
  const c = get("fastify-metrics");
  // Round by round, so that a ratio's interval resamples whole rounds (bench/stats.ts).
  const perRound = (v: Variant) =>
    Array.from(
      { length: opts.rounds },
      (_, i) => measurements.find((m) => m.variant === v && m.round === i + 1)?.reqPerSec,
    );
  const checks: Array<{ target: string; value: string; pass: boolean; interval?: RatioInterval }> = [];
  /** The verdict on the medians, and whether the rounds' spread leaves it in doubt. */
  const ratioCheck = (target: string, num: Variant, den: Variant, threshold: number) => {
    const interval = ratioOfMedians(perRound(num), perRound(den));
    const v = verdict(interval, threshold);
    const spread =
      v === "clear"
        ? "; beyond the rounds' spread"
        : v === "unclear"
          ? `; ${threshold.toFixed(2)} is within the rounds' spread: more rounds tell`
          : `; fewer than ${MIN_ROUNDS} rounds: too few to tell the spread`;
    return {
      target,
      value: `${formatInterval(interval)}${spread}`,
      pass: interval.ratio >= threshold,
      interval,
    };
  };
  if (a && b)
    checks.push(ratioCheck(`(b)/(a) >= ${TARGET_RATIO.toFixed(2)}`, "monitored", "baseline", TARGET_RATIO));
  if (b && c) {
    const ch = ratioCheck("(b) >= (c)", "monitored", "fastify-metrics", 1);
    ch.value = `${fmtInt(b.medianReqPerSec)} vs ${fmtInt(c.medianReqPerSec)} req/s, ${ch.value}`;
    checks.push(ch);
  }
  console.log("");
  for (const ch of checks) console.log(`${ch.pass ? "PASS" : "MISS"}  ${pad(ch.target, 16)} ${ch.value}`);
  const alt = get("monitored-alt");
  if (b && alt) {
    console.log(
      `A/B   (b')/(b) ${formatInterval(ratioOfMedians(perRound("monitored-alt"), perRound("monitored")))} req/s; server ` +
        `${fmtNum(b.medianServerUsPerRequest)} -> ${fmtNum(alt.medianServerUsPerRequest)} µs/req ` +
        `(BENCH_ALT_YAML ${JSON.stringify(process.env.BENCH_ALT_YAML ?? "")}, BENCH_ALT_ENV ${JSON.stringify(process.env.BENCH_ALT_ENV ?? "")}, BENCH_ALT_OMIT ${JSON.stringify(process.env.BENCH_ALT_OMIT ?? "")})`,
    );
  }

  // The numbers are only as good as the machine was quiet and the client fast enough.
  const busiest = Math.max(0, ...measurements.map((m) => m.cpu.otherPercent ?? 0));
  if (busiest > 15) {
    console.log(
      `\nwarning: other processes used up to ${Math.round(busiest)}% of a core during a measured run; ` +
        "req/s is noisy, server µs/req is the steadier comparison",
    );
  }
  const clientMax = Math.max(...measurements.map((m) => m.cpu.clientPercent));
  if (clientMax > 90) {
    console.log(
      `note: autocannon used up to ${Math.round(clientMax)}% of a core: the client may cap req/s and ` +
        "hide server-side overhead (compare server µs/req)",
    );
  }

  const endLoad = load1();
  console.log(`load average (1 min): start ${startLoad}, end ${endLoad}`);
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(
    opts.out,
    `${JSON.stringify(
      {
        benchmark: "http-overhead",
        route: `GET ${BENCH_PATH}`,
        date: new Date().toISOString(),
        node: process.version,
        cpus: availableParallelism(),
        cpuModel: cpu,
        load1: { start: startLoad, end: endLoad },
        options: { ...opts, out: undefined },
        summary,
        checks,
        measurements,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nresults: ${relative(process.cwd(), opts.out)}`);
  if (profileDir) console.log(`cpu profiles: ${relative(process.cwd(), profileDir)}`);
  if (opts.check && checks.some((ch) => !ch.pass)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`\nbench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
