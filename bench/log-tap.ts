// The cost of the in-process log analysis on the logging hot path: the same realistic mix of
// lines through the app's logger (pino → redaction → file) with the analysis tap on and off,
// in interleaved rounds; the "on" time includes draining the tap's queue, so all analysis work
// is paid inside the measurement. Target: on / off ≤ 1.10. Both wall-clock and CPU time (of
// this process: on a shared machine wall time also measures the other processes) are reported.
//
//   npx tsx bench/log-tap.ts [--lines 200000] [--rounds 5]

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { LogAnalyzer } from "../src/logs/analysis/index.js";
import { createLogger, type LineWriter, lineWriterOf, plainFileSink } from "../src/logs/logger.js";
import { createLogThread } from "../src/logs/thread/index.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const LINES = arg("--lines", 200_000);
const ROUNDS = arg("--rounds", 5);
/**
 * `app` (default): the app's path — access lines through the LineWriter to the log thread (the
 * tap counts each as an earlier line of its route), other lines through pino to the same thread.
 * `pino`: every line through pino to a plain file on this thread (the path before the log thread).
 */
const PATH = process.argv.includes("--pino") ? "pino" : "app";
const dir = mkdtempSync(join(tmpdir(), "tug-logtap-"));

// Each run starts on a collected heap. Back to back, a run's garbage (the "on" run drops a whole
// analyzer at its end) is collected inside the next run's window and charged to it, which is
// noise in both directions; a full collection before each run, outside the measurement, keeps
// each run paying only for its own allocation (the young-generation collections it triggers).
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gc();
  }
}

/**
 * What the app logs: mostly access lines, some slow queries and warnings, a few errors. A server
 * logs a few lines per event-loop turn, so the loop yields every 50 lines (both variants), which
 * is when the tap's queue is drained, as in the app.
 */
async function logMix(
  log: ReturnType<typeof createLogger>["logger"],
  n: number,
  writer: LineWriter | undefined,
): Promise<void> {
  const routes = ["/api/v1/activities", "/api/v1/users/me", "/api/v1/activities/:id", "/monitoring/metrics"];
  for (let i = 0; i < n; i++) {
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    const child = log.child({ reqId: `req-${i.toString(36)}` });
    const k = i % 100;
    if (k < 90 && writer) {
      // The app's access line (src/logs/access.ts → LineWriter.access): with the log thread, its
      // parts go to the thread and the tap counts it as an earlier line of the same route.
      const route = routes[i % 4] as string;
      writer.access(
        child,
        "info",
        "request completed",
        "GET",
        route,
        `${route}?limit=${i % 50}`,
        200,
        (i % 997) / 10,
        512 + (i % 300),
      );
    } else if (k < 90) {
      child.info(
        {
          event: "access",
          method: "GET",
          route: routes[i % 4],
          url: `${routes[i % 4]}?limit=${i % 50}`,
          statusCode: 200,
          durationMs: (i % 997) / 10,
          bytes: 512 + (i % 300),
        },
        "request completed",
      );
    } else if (k < 95) {
      child.warn(
        {
          event: "slow_query",
          operation: "select",
          table: "activities",
          durationMs: 612.5,
          sql: `SELECT * FROM activities WHERE user_id = ${i} LIMIT 20`,
          failed: false,
        },
        "slow query",
      );
    } else if (k < 99) {
      child.info(`session ${i} refreshed for user ${i % 1000} after ${i % 60} minutes`);
    } else {
      child.error(
        { err: new Error(`upstream 10.0.${i % 255}.7 refused connection after ${i % 3000} ms`) },
        "unhandled error",
      );
    }
  }
}

interface Timing {
  ms: number;
  cpuMs: number;
  /** CPU of the thread that logs (the API's thread in the app), from /proc when there is one. */
  mainCpuMs: number;
}

/** This thread's CPU time in ms (Linux: /proc's schedstat, in ns); NaN elsewhere. */
function mainThreadCpuMs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  } catch {
    return Number.NaN; // not Linux: only the process's CPU is reported
  }
}

async function run(withTap: boolean): Promise<Timing> {
  const file = join(dir, `app-${withTap ? "tap" : "plain"}.log`);
  writeFileSync(file, "");
  const analyzer = withTap ? new LogAnalyzer({ anomalies: { score: () => 0 } }) : undefined;
  const secrets = ["hunter2-secret-value"];
  const sink =
    PATH === "app"
      ? createLogThread({
          rotation: {
            filePath: file,
            maxSizeBytes: 0,
            daily: false,
            maxFiles: 5,
            maxAgeDays: 0,
            compress: false,
          },
          stdout: false,
          secrets,
          onError: (err) => process.stderr.write(`log thread: ${err.message}\n`),
        })
      : plainFileSink(file);
  const app = createLogger({
    level: "info",
    stdout: false,
    file: sink,
    secrets,
    ...(analyzer
      ? { tap: (line: string) => analyzer.tap(line), tapSame: (line: string) => analyzer.tapSame(line) }
      : {}),
  });
  const writer = PATH === "app" ? lineWriterOf(app.logger) : undefined;
  // The log thread is started (and its first line written) before the measurement.
  app.logger.info("bench starting");
  await app.flush();
  await settle();
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  await logMix(app.logger, LINES, writer);
  analyzer?.drain();
  // Every line in the file: the log thread's work is inside the measurement.
  await app.flush();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const mainCpuMs = mainThreadCpuMs() - main0;
  await app.close();
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, mainCpuMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
await run(false);
await run(true); // warm-up both paths
const off: Timing[] = [];
const on: Timing[] = [];
for (let r = 0; r < ROUNDS; r++) {
  off.push(await run(false));
  on.push(await run(true));
  const [a, b] = [off.at(-1) as Timing, on.at(-1) as Timing];
  process.stderr.write(
    `round ${r + 1}/${ROUNDS}: off ${a.ms.toFixed(0)} ms (${a.cpuMs.toFixed(0)} CPU ms, ${a.mainCpuMs.toFixed(0)} logging thread), on ${b.ms.toFixed(0)} ms (${b.cpuMs.toFixed(0)} CPU ms, ${b.mainCpuMs.toFixed(0)} logging thread)\n`,
  );
}
const mOff = median(off.map((t) => t.ms));
const mOn = median(on.map((t) => t.ms));
const cOff = median(off.map((t) => t.cpuMs));
const cOn = median(on.map((t) => t.cpuMs));
const tOff = median(off.map((t) => t.mainCpuMs));
const tOn = median(on.map((t) => t.mainCpuMs));
const perLine = (ms: number) => ((ms * 1000) / LINES).toFixed(2);
console.log(
  `log lines: ${LINES} per round, ${ROUNDS} rounds, ${PATH === "app" ? "the app's path (access lines as parts to the log thread)" : "every line through pino, file on this thread"} (medians; load average ${loadavg()[0]?.toFixed(1)})`,
);
console.log(
  `logging alone:          ${mOff.toFixed(0)} ms (${perLine(mOff)} µs/line), ${cOff.toFixed(0)} CPU ms (${perLine(cOff)} µs/line; logging thread ${perLine(tOff)})`,
);
console.log(
  `logging + analysis tap: ${mOn.toFixed(0)} ms (${perLine(mOn)} µs/line), ${cOn.toFixed(0)} CPU ms (${perLine(cOn)} µs/line; logging thread ${perLine(tOn)})`,
);
// Each round's on/off pair ran back to back: the median of the pairs' ratios drifts less with the
// machine's load than the ratio of the medians.
const pairs = on.map((t, r) => t.cpuMs / (off[r] as Timing).cpuMs);
console.log(
  `ratio on/off: ${(mOn / mOff).toFixed(3)} wall, ${(cOn / cOff).toFixed(3)} CPU, ${median(pairs).toFixed(3)} CPU per round (median), ${(tOn / tOff).toFixed(3)} logging thread's CPU  (target ≤ 1.10)`,
);
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
