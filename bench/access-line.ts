/**
 * CPU per access line, without HTTP: the app's logger (src/logs/logger.ts) with its rotating file
 * (src/logs/rotation.ts), its secret scrubber and the log analysis tap, fed the access line of
 * src/logs/access.ts for a request's child logger, as Fastify makes one per request. Requests come
 * in turns of the event loop (`--batch` per turn) as under load, so the file writes batch as they
 * do in the server. Reported: process CPU (all threads) and main-thread CPU per line, for
 *   child      only the per-request child logger (the baseline app pays this too),
 *   access     child logger + the access line (what the access log adds is the difference),
 * run interleaved, medians. Complements `run.ts`, whose wall-clock ratio a busy machine blurs.
 *
 *   npx tsx bench/access-line.ts [--lines 200000] [--rounds 5] [--batch 16] [--modes child,access]
 *
 * For instruction counts (a busy machine blurs CPU time), run one mode at two sizes under
 * `valgrind --tool=callgrind` and divide the difference by the difference in lines.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { accessLogger } from "../src/logs/access.js";
import { LogAnalyzer } from "../src/logs/analysis/analyzer.js";
import { createLogger } from "../src/logs/logger.js";
import { createRotatingFile } from "../src/logs/rotation.js";

const { values } = parseArgs({
  options: {
    lines: { type: "string", default: "200000" },
    rounds: { type: "string", default: "5" },
    batch: { type: "string", default: "16" },
    modes: { type: "string", default: "child,access" },
  },
});
const LINES = Number(values.lines);
const ROUNDS = Number(values.rounds);
const BATCH = Number(values.batch);
for (const [name, v] of [
  ["lines", LINES],
  ["rounds", ROUNDS],
  ["batch", BATCH],
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: expected a whole number >= 1, got ${v}`);
}

/** Main-thread CPU ms (Linux), or undefined. */
function mainThreadMs(): number | undefined {
  try {
    const st = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined; // not Linux: process CPU only
  }
}

type Mode = "child" | "access";
/** Lines logged before measuring, for the JIT (they are in the file too). */
const WARMUP_LINES = 20_000;

async function run(mode: Mode): Promise<{ processUs: number; mainUs: number | undefined; bytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), "tug-access-line-"));
  const file = createRotatingFile({
    filePath: join(dir, "application.log"),
    maxSizeBytes: 0,
    daily: true,
    maxFiles: 10,
    maxAgeDays: 0,
    compress: false,
  });
  const analyzer = new LogAnalyzer({ anomalies: { score: () => 0 } });
  const app = createLogger({
    level: "info",
    stdout: false,
    file,
    base: { pid: process.pid },
    // The shapes of the app's configured secrets: a monitoring token, an SMTP password, a webhook.
    secrets: ["bench-monitoring-token-0123456789", "smtp-password-xyz", "https://hooks.example.com/T0/B0/x"],
    tap: (line) => analyzer.tap(line),
  });
  const access = accessLogger({ enabled: true, sampleRates: {} });
  const reply = { getHeader: (name: string) => (name === "content-length" ? "87" : undefined) };
  const ids = Array.from({ length: 1024 }, () => randomUUID());
  const one = (i: number) => {
    const log = app.logger.child({ reqId: ids[i & 1023] });
    if (mode === "access") {
      access(
        { method: "GET", url: "/api/v1/users/me", originalUrl: "/api/v1/users/me", log },
        reply,
        "/api/v1/users/me",
        200,
        0.000_412_5 + (i & 7) * 1e-6,
      );
    }
  };
  // Warm up the JIT on the same path.
  for (let i = 0; i < WARMUP_LINES; i++) one(i);
  await app.flush();
  analyzer.drain();

  const cpu0 = process.cpuUsage();
  const main0 = mainThreadMs();
  let i = 0;
  await new Promise<void>((resolve) => {
    const turn = () => {
      const end = Math.min(LINES, i + BATCH);
      for (; i < end; i++) one(i);
      if (i < LINES) setImmediate(turn);
      else resolve();
    };
    turn();
  });
  await app.flush();
  const cpu = process.cpuUsage(cpu0);
  const main1 = mainThreadMs();
  const bytes = statSync(join(dir, "application.log")).size;
  await app.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    processUs: (cpu.user + cpu.system) / LINES,
    mainUs: main0 === undefined || main1 === undefined ? undefined : ((main1 - main0) * 1000) / LINES,
    bytes,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const MODES = values.modes.split(",").map((m) => m.trim());
for (const m of MODES) {
  if (m !== "child" && m !== "access")
    throw new Error(`--modes: unknown mode ${JSON.stringify(m)}; expected child, access`);
}
const results: Record<Mode, Array<{ processUs: number; mainUs: number | undefined }>> = {
  child: [],
  access: [],
};
console.log(
  `${LINES} lines per run, ${BATCH} per turn of the event loop, ${ROUNDS} rounds; load ${loadavg()[0]}`,
);
for (let r = 0; r < ROUNDS; r++) {
  const order = (r % 2 ? ["access", "child"] : ["child", "access"]).filter((m) => MODES.includes(m));
  for (const mode of order as Mode[]) {
    const res = await run(mode);
    results[mode].push(res);
    console.log(
      `round ${r + 1} ${mode.padEnd(6)} process ${res.processUs.toFixed(2)} µs/line  main thread ${res.mainUs?.toFixed(2) ?? "?"} µs/line  file ${(res.bytes / (LINES + WARMUP_LINES)).toFixed(0)} B/line`,
    );
  }
}
if (MODES.length < 2) process.exit(0);
const med = (m: Mode, k: "processUs" | "mainUs") =>
  median(results[m].map((x) => x[k]).filter((v): v is number => v !== undefined));
const pAccess = med("access", "processUs") - med("child", "processUs");
const mAccess = med("access", "mainUs") - med("child", "mainUs");
console.log(
  `\nmedian: child ${med("child", "processUs").toFixed(2)} µs, child + access line ${med("access", "processUs").toFixed(2)} µs` +
    ` → the access line costs ${pAccess.toFixed(2)} µs of process CPU (${mAccess.toFixed(2)} µs on the main thread); load ${loadavg()[0]}`,
);
