/**
 * The cold-start burst of issue 11: `tug serve` is restarted on an existing data directory and,
 * as soon as it is ready, 100 connections open at once doing a mix of GET /api/v1/users/me,
 * register and login, while /monitoring/health/live is probed every 50 ms on its own connection
 * (5 s timeout, as a kubelet's). Reports p50 / p99 / max of each request kind and of the probe.
 *
 * Phase 0 (not measured) starts the server once on a fresh temp data dir, seeds accounts and
 * sessions, and stops it; phase 1 starts it again cold on the same files (a deploy's restart).
 * The login throttle is set out of the way (one loopback address sends everything).
 *
 * `--scenario login-flood` instead sends 50 concurrent wrong-password logins for one account
 * (the default throttle on, unless `--no-throttle`) while GET /api/v1/users/me runs every 50 ms,
 * and reports the logins' latency and statuses, the normal request's latency during them, and
 * each server thread's CPU time, run-queue wait and nice during the flood (Linux): the main
 * thread's CPU is the flood's cost to the API independent of the machine's load.
 *
 *   npx tsx bench/cold-burst.ts [--scenario burst|login-flood] [--connections 100]
 *                               [--per-connection 5] [--runs 1] [--no-throttle]
 *                               [--out bench/results/cold-burst.json] [--env UV_THREADPOOL_SIZE=8]
 *                               [--node-arg=--cpu-prof --node-arg=--cpu-prof-dir=/tmp/prof]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    connections: { type: "string" },
    "per-connection": { type: "string", default: "5" },
    runs: { type: "string", default: "1" },
    out: { type: "string" },
    env: { type: "string", multiple: true, default: [] },
    "node-arg": { type: "string", multiple: true, default: [] },
    scenario: { type: "string", default: "burst" },
    "no-throttle": { type: "boolean", default: false },
  },
});
const SCENARIO = values.scenario;
if (SCENARIO !== "burst" && SCENARIO !== "login-flood") throw new Error("--scenario burst|login-flood");
const CONNECTIONS = Number(values.connections ?? (SCENARIO === "burst" ? 100 : 50));
const PER_CONNECTION = Number(values["per-connection"]);
const RUNS = Number(values.runs);
const EXTRA_ENV = Object.fromEntries(
  (values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PASSWORD = "correct horse battery";
const PROBE_EVERY_MS = 50;
const PROBE_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 30_000;

const log = (s: string) => process.stdout.write(`${s}\n`);

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

interface Res {
  status: number;
  body: string;
  ms: number;
  /** When it was sent, in ms since the process's time origin. */
  at: number;
}

/** One request on `agent`; status 0 means a timeout or a connection error. */
function request(
  agent: http.Agent,
  port: number,
  method: string,
  path: string,
  opts: { body?: unknown; token?: string; timeoutMs?: number } = {},
): Promise<Res> {
  const t0 = performance.now();
  return new Promise((done) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => done({ status: res.statusCode ?? 0, body, ms: performance.now() - t0, at: t0 }));
      res.on("error", () => done({ status: 0, body, ms: performance.now() - t0, at: t0 }));
    });
    req.setTimeout(opts.timeoutMs ?? REQUEST_TIMEOUT_MS, () => req.destroy(new Error("timeout")));
    req.on("error", () => done({ status: 0, body: "", ms: performance.now() - t0, at: t0 }));
    req.end(payload);
  });
}

interface Server {
  child: ChildProcess;
  port: number;
  /** ms from spawn to the first 200 of /monitoring/health/ready */
  readyMs: number;
  stop(): Promise<void>;
}

async function startServer(dir: string): Promise<Server> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [...(values["node-arg"] ?? []), join(ROOT, "bin/tug.js"), "serve"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? dir,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: `sqlite:${join(dir, "data", "tug.db")}`,
      LOG_FILE_PATH: join(dir, "logs", "application.log"),
      MONITORING_CONFIG: join(dir, "tug.yml"),
      ...EXTRA_ENV,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const agent = new http.Agent({ keepAlive: false });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await request(agent, port, "GET", "/monitoring/health/ready", { timeoutMs: 2_000 });
    if (r.status === 200) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`tug serve did not become ready: ${stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const readyMs = performance.now() - t0;
  return {
    child,
    port,
    readyMs,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once("exit", () => res());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
      }),
  };
}

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) =>
    s.length === 0 ? null : round(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]);
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s.length ? round(s[s.length - 1] as number) : null };
}
const round = (x: number | undefined) => (x === undefined ? null : Math.round(x * 10) / 10);

type Kind = "me" | "register" | "login";

const NO_THROTTLE = "api:\n  loginThrottle:\n    perAddress: 1000000\n    perAccount: 1000000\n";

function freshDir(throttle: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), "tug-cold-burst-"));
  mkdirSync(join(dir, "data"));
  writeFileSync(join(dir, "tug.yml"), `log:\n  stdout: false\n${throttle ? "" : NO_THROTTLE}`);
  return dir;
}

const summary = (rs: Res[], origin?: number) => {
  const statuses: Record<string, number> = {};
  for (const r of rs) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  const out: Record<string, unknown> = { ...stats(rs.map((r) => r.ms)), statuses };
  if (origin !== undefined) {
    // Cold (sent in the burst's first second) against the rest: is it start-up, or load?
    out.firstSecond = stats(rs.filter((r) => r.at - origin < 1000).map((r) => r.ms));
    out.afterFirstSecond = stats(rs.filter((r) => r.at - origin >= 1000).map((r) => r.ms));
  }
  return out;
};

interface ThreadTimes {
  name: string;
  nice: number;
  cpuMs: number;
  waitMs: number;
}

/** CPU time, run-queue wait and nice of each thread of `pid`, by thread id (Linux /proc; empty elsewhere). */
function threadTimes(pid: number | undefined): Map<number, ThreadTimes> {
  const out = new Map<number, ThreadTimes>();
  if (pid === undefined) return out;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out; // no /proc (not Linux) or the process is gone: no per-thread figures
  }
  for (const tid of tids) {
    try {
      const dir = `/proc/${pid}/task/${tid}`;
      const [run, wait] = readFileSync(`${dir}/schedstat`, "utf8").split(" ").map(Number);
      const stat = readFileSync(`${dir}/stat`, "utf8");
      const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
      const name = Number(tid) === pid ? "main" : readFileSync(`${dir}/comm`, "utf8").trim();
      out.set(Number(tid), { name, nice, cpuMs: (run ?? 0) / 1e6, waitMs: (wait ?? 0) / 1e6 });
    } catch {
      // the thread ended between the listing and the reads: it is left out
    }
  }
  return out;
}

/**
 * What each thread spent between two readings, threads under 1 ms of CPU left out: the main
 * thread's CPU is the flood's cost to the API whatever the machine's load; its wait is how long
 * it was ready but not running (the hashing threads' nice should keep it small).
 */
function threadDelta(before: Map<number, ThreadTimes>, after: Map<number, ThreadTimes>) {
  const rows = [];
  for (const [tid, a] of after) {
    const b = before.get(tid);
    const cpuMs = a.cpuMs - (b?.cpuMs ?? 0);
    if (cpuMs < 1) continue;
    rows.push({
      name: a.name,
      nice: a.nice,
      cpuMs: round(cpuMs),
      waitMs: round(a.waitMs - (b?.waitMs ?? 0)),
    });
  }
  return rows.sort((x, y) => (y.cpuMs ?? 0) - (x.cpuMs ?? 0));
}

/**
 * 50 concurrent wrong-password logins for one account; GET /users/me every 50 ms meanwhile;
 * with the CPU and run-queue wait of each server thread during the flood.
 */
async function loginFlood(run: number) {
  const dir = freshDir(!values["no-throttle"]);
  try {
    const server = await startServer(dir);
    const { port } = server;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await request(agent, port, "POST", "/api/v1/auth/register", {
      body: { email: "flood@example.com", password: PASSWORD },
    });
    const login = await request(agent, port, "POST", "/api/v1/auth/login", {
      body: { email: "flood@example.com", password: PASSWORD },
    });
    const token = (JSON.parse(login.body) as { token: string }).token;
    const me: Res[] = [];
    let probing = true;
    const probeLoop = (async () => {
      while (probing) {
        const started = performance.now();
        me.push(await request(agent, port, "GET", "/api/v1/users/me", { token }));
        const wait = PROBE_EVERY_MS - (performance.now() - started);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();
    const threadsBefore = threadTimes(server.child.pid);
    const logins = await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        const a = new http.Agent({ keepAlive: false });
        const r = await request(a, port, "POST", "/api/v1/auth/login", {
          body: { email: "flood@example.com", password: "wrong password!" },
        });
        a.destroy();
        return r;
      }),
    );
    const threads = threadDelta(threadsBefore, threadTimes(server.child.pid));
    probing = false;
    await probeLoop;
    agent.destroy();
    await server.stop();
    return { run, logins: summary(logins), meDuring: summary(me), threads };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function oneRun(run: number) {
  // The throttle is not what this measures: one loopback address sends every login.
  const dir = freshDir(false);
  try {
    // Phase 0: seed accounts and sessions, then stop.
    const seeds = Math.ceil(CONNECTIONS / 3);
    const warm = await startServer(dir);
    const seedAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const tokens: string[] = [];
    for (let i = 0; i < seeds; i++) {
      const email = `seed${i}@example.com`;
      await request(seedAgent, warm.port, "POST", "/api/v1/auth/register", {
        body: { email, password: PASSWORD },
      });
      const r = await request(seedAgent, warm.port, "POST", "/api/v1/auth/login", {
        body: { email, password: PASSWORD },
      });
      tokens.push((JSON.parse(r.body) as { token: string }).token);
    }
    seedAgent.destroy();
    await warm.stop();

    // Phase 1: cold start, burst at once.
    const server = await startServer(dir);
    const { port } = server;
    const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const probes: Res[] = [];
    let probing = true;
    const probeLoop = (async () => {
      while (probing) {
        const started = performance.now();
        probes.push(
          await request(probeAgent, port, "GET", "/monitoring/health/live", { timeoutMs: PROBE_TIMEOUT_MS }),
        );
        const wait = PROBE_EVERY_MS - (performance.now() - started);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();

    const results: Record<Kind, Res[]> = { me: [], register: [], login: [] };
    const kinds: Kind[] = ["me", "register", "login"];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, c) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        for (let k = 0; k < PER_CONNECTION; k++) {
          const kind = kinds[(c + k) % 3] as Kind;
          const seed = c % seeds;
          let r: Res;
          if (kind === "me") {
            r = await request(agent, port, "GET", "/api/v1/users/me", { token: tokens[seed] });
          } else if (kind === "register") {
            r = await request(agent, port, "POST", "/api/v1/auth/register", {
              body: { email: `burst-${run}-${c}-${k}@example.com`, password: PASSWORD },
            });
          } else {
            r = await request(agent, port, "POST", "/api/v1/auth/login", {
              body: { email: `seed${seed}@example.com`, password: PASSWORD },
            });
          }
          results[kind].push(r);
        }
        agent.destroy();
      }),
    );
    const burstMs = performance.now() - t0;
    probing = false;
    await probeLoop;
    probeAgent.destroy();
    await server.stop();

    return {
      run,
      readyMs: round(server.readyMs),
      burstMs: round(burstMs),
      me: summary(results.me, t0),
      register: summary(results.register),
      login: summary(results.login),
      live: {
        ...summary(probes, t0),
        over100ms: probes.filter((p) => p.ms > 100).length,
        failed: probes.filter((p) => p.status !== 200).length,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const runs = [];
for (let i = 0; i < RUNS; i++) {
  const r = SCENARIO === "burst" ? await oneRun(i) : await loginFlood(i);
  runs.push(r);
  log(JSON.stringify(r));
}
const out = resolve(
  values.out ??
    fileURLToPath(
      new URL(`./results/${SCENARIO === "burst" ? "cold-burst" : "login-flood"}.json`, import.meta.url),
    ),
);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ scenario: SCENARIO, connections: CONNECTIONS, perConnection: PER_CONNECTION, env: EXTRA_ENV, runs }, null, 2)}\n`,
);
log(`results: ${out}`);
