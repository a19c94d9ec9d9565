/**
 * Real system services for tests: PostgreSQL 15, Redis and promtool from Debian's packages,
 * installed on demand (as root on Debian) and started on free loopback ports in throwaway
 * directories. Every started process is stopped when the test process exits, and a detached
 * watchdog stops it too if the process dies without running its exit handlers.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import {
  appendFile,
  chmod,
  chown,
  mkdtemp,
  open,
  readFile,
  realpath,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** A started service; `pause` / `resume` simulate an outage on the same port. */
export interface Service {
  url: string;
  stop(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
}

const PG_BIN = "/usr/lib/postgresql/15/bin";
const WELL_KNOWN_DIRS = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
  PG_BIN,
];
const APT_LOCK = join(tmpdir(), "tug-test-apt.lock");
const POLICY_RC = "/usr/sbin/policy-rc.d";
const POLICY_DENY = "#!/bin/sh\n# tug tests: no service starts while packages are installed\nexit 101\n";
const START_TIMEOUT_MS = 60_000;
const APT_TIMEOUT_MS = 15 * 60_000;

const isRoot = () => process.getuid?.() === 0;
const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();
const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

// ---------------------------------------------------------------------------------------------
// Cleanup at exit

const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

/** Run `fn` (synchronously) when the process exits, unless the returned function is called first. */
function onExit(fn: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const cleanup of exitCleanups) {
        try {
          cleanup();
        } catch {
          // Exiting anyway: the watchdog gets another go.
        }
      }
    });
  }
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/**
 * A detached shell that waits for this process to end, however it ends (a killed vitest
 * worker runs no exit handler), then runs `script`. Returns a function that cancels it.
 */
function watchdog(script: string): () => void {
  const child = spawn(
    "/bin/sh",
    [
      "-c",
      'p=$1; while kill -0 "$p" 2>/dev/null; do sleep 1; done; eval "$2"',
      "tug-watchdog",
      String(process.pid),
      script,
    ],
    { detached: true, stdio: "ignore" },
  );
  child.on("error", () => undefined);
  child.unref();
  return () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Running commands

interface RunResult {
  code: number | null;
  output: string;
}

interface RunOptions {
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this user (needs root). */
  user?: { uid: number; gid: number };
}

/** Run a command to completion, never rejecting: spawn failures and time-outs come back as output. */
function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((done) => {
    let output = "";
    const child = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      uid: opts.user?.uid,
      gid: opts.user?.gid,
    });
    const keep = (b: Buffer) => {
      output = (output + b.toString("utf8")).slice(-64_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const timer = setTimeout(() => {
      output += `\n[killed after ${opts.timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      done({ code: null, output: `${output}\n${err.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

async function tailFile(file: string, lines = 20): Promise<string> {
  try {
    return tail(await readFile(file, "utf8"), lines) || "(empty)";
  } catch {
    return `(no ${file})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Packages

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findBinary(binary: string): string | undefined {
  if (binary.includes("/")) return isExecutableFile(binary) ? resolve(binary) : undefined;
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...WELL_KNOWN_DIRS];
  for (const dir of dirs) {
    const candidate = resolve(dir, binary);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** A lock file shared by every test process on the machine; a dead holder's lock is taken over. */
async function withMachineLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + APT_TIMEOUT_MS;
  for (;;) {
    try {
      const handle = await open(file, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = Number.parseInt(await readFile(file, "utf8").catch(() => ""), 10);
    let alive = false;
    if (holder > 0) {
      try {
        process.kill(holder, 0);
        alive = true;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === "EPERM";
      }
    }
    // An empty file is a holder between open and write: give it a moment before calling it dead.
    if (!alive && (holder > 0 || Date.now() - statMtime(file) > 5000)) {
      await rm(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${file} (held by pid ${holder})`);
    await sleep(250);
  }
  const release = onExit(() => rmSync(file, { force: true }));
  try {
    return await fn();
  } finally {
    release();
    await rm(file, { force: true });
  }
}

function statMtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return Date.now();
  }
}

/**
 * Keep Debian's maintainer scripts from starting the service we install (a running
 * redis-server or prometheus on its default port would shadow the test's own). An existing
 * policy that denies everything is left alone; otherwise ours replaces it for the install.
 */
async function withServiceStartsDenied<T>(fn: () => Promise<T>): Promise<T> {
  const existing = existsSync(POLICY_RC) ? readFileSync(POLICY_RC, "utf8") : undefined;
  if (existing !== undefined && /^\s*exit\s+101\s*$/m.test(existing)) return fn();
  const backup = `${POLICY_RC}.tug-backup`;
  if (existing !== undefined) await rename(POLICY_RC, backup);
  await writeFile(POLICY_RC, POLICY_DENY, { mode: 0o755 });
  const restoreSync = () => {
    rmSync(POLICY_RC, { force: true });
    if (existing !== undefined && existsSync(backup)) renameSync(backup, POLICY_RC);
  };
  const unregister = onExit(restoreSync);
  try {
    return await fn();
  } finally {
    unregister();
    await rm(POLICY_RC, { force: true });
    if (existing !== undefined) await rename(backup, POLICY_RC);
  }
}

async function aptGet(args: string[]): Promise<RunResult> {
  return run(
    "apt-get",
    [
      "-o",
      "DPkg::Lock::Timeout=600",
      "-o",
      "Dpkg::Options::=--force-confdef",
      "-o",
      "Dpkg::Options::=--force-confold",
      ...args,
    ],
    {
      timeoutMs: APT_TIMEOUT_MS,
      env: {
        ...process.env,
        DEBIAN_FRONTEND: "noninteractive",
        NEEDRESTART_MODE: "a",
        APT_LISTCHANGES_FRONTEND: "none",
      },
    },
  );
}

const ensured = new Map<string, Promise<string>>();

/**
 * The absolute path of `binary`, installing the Debian package `debPackage` when it is
 * missing and this is root on a machine with apt-get. Throws a one-line Error naming the
 * package otherwise: a test that needs a service never skips silently.
 */
export function ensurePackage(binary: string, debPackage: string): Promise<string> {
  const key = `${binary}\0${debPackage}`;
  let pending = ensured.get(key);
  if (!pending) {
    pending = ensureUncached(binary, debPackage);
    ensured.set(key, pending);
    pending.catch(() => ensured.delete(key));
  }
  return pending;
}

async function ensureUncached(binary: string, debPackage: string): Promise<string> {
  const found = findBinary(binary);
  if (found) return found;
  const advice = `install the Debian package ${debPackage} (apt-get install ${debPackage})`;
  const canInstall = isRoot() && existsSync("/etc/debian_version") && findBinary("apt-get") !== undefined;
  if (!canInstall) {
    const why = isRoot() ? "this is not a Debian machine with apt-get" : "not root, so cannot install it";
    throw new Error(`${binary} not found (${why}): ${advice}`);
  }
  return withMachineLock(APT_LOCK, async () => {
    const already = findBinary(binary); // another worker may have installed it while we waited
    if (already) return already;
    let result = await withServiceStartsDenied(() =>
      aptGet(["install", "-y", "--no-install-recommends", debPackage]),
    );
    if (result.code !== 0) {
      // Usually missing or stale package lists (a fresh container has none).
      const update = await aptGet(["update"]);
      if (update.code !== 0) {
        throw new Error(
          `${binary} not found and apt-get update failed (${oneLine(tail(update.output, 2))}): ${advice}`,
        );
      }
      result = await withServiceStartsDenied(() =>
        aptGet(["install", "-y", "--no-install-recommends", debPackage]),
      );
    }
    const installed = findBinary(binary);
    if (result.code !== 0 || !installed) {
      const what =
        result.code !== 0
          ? `apt-get install failed (${oneLine(tail(result.output, 3))})`
          : `the package has no ${binary}`;
      throw new Error(`${binary} not found and ${what}: ${advice}`);
    }
    return installed;
  });
}

// ---------------------------------------------------------------------------------------------
// Ports

const handedOut = new Set<number>();

/** A free TCP port on 127.0.0.1 (not one this process handed out before). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((done, fail) => {
      const server = createServer();
      server.unref();
      server.once("error", fail);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        const p = typeof address === "object" && address ? address.port : 0;
        server.close(() => done(p));
      });
    });
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free TCP port found on 127.0.0.1");
}

// ---------------------------------------------------------------------------------------------
// Temporary directories that another user can reach

/** A fresh directory under the temp dir; as root, owned by `owner` and on a path it can traverse. */
async function freshDir(prefix: string, owner?: { uid: number; gid: number }): Promise<string> {
  let base = tmpdir();
  if (owner && !traversableByOthers(base)) base = "/tmp";
  const dir = await mkdtemp(join(base, prefix));
  if (owner) await chown(dir, owner.uid, owner.gid);
  await chmod(dir, 0o700);
  return dir;
}

function traversableByOthers(dir: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (d === dirname(d)) return true;
  }
}

async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const [u, g] = await Promise.all([
    run("id", ["-u", name], { timeoutMs: 5000 }),
    run("id", ["-g", name], { timeoutMs: 5000 }),
  ]);
  if (u.code !== 0 || g.code !== 0) return undefined;
  return { uid: Number(u.output.trim()), gid: Number(g.output.trim()) };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

async function postgresBinDir(): Promise<string> {
  if (isExecutableFile(join(PG_BIN, "pg_ctl"))) return PG_BIN;
  const pgCtl = await ensurePackage("pg_ctl", "postgresql-15");
  return dirname(await realpath(pgCtl));
}

/** A throwaway PostgreSQL 15 cluster on 127.0.0.1 with a `tug_test` database, trust auth for `postgres`. */
export async function startPostgres(): Promise<Service> {
  const bin = await postgresBinDir();
  for (const tool of ["initdb", "postgres", "createdb"]) {
    if (!isExecutableFile(join(bin, tool))) {
      throw new Error(
        `${join(bin, tool)} not found: install the Debian package postgresql-15 (apt-get install postgresql-15)`,
      );
    }
  }
  let user: { uid: number; gid: number } | undefined;
  if (isRoot()) {
    user = await userIds("postgres");
    if (!user) {
      throw new Error(
        "user postgres not found: install the Debian package postgresql-15 (apt-get install postgresql-15)",
      );
    }
  }
  const dir = await freshDir("tug-pg-", user);
  const data = join(dir, "data");
  const log = join(dir, "postgres.log");
  const port = await freePort();
  const env = { ...process.env, LC_ALL: "C", LANG: "C", PGTZ: "UTC" };
  const asOwner = (tool: string, args: string[], timeoutMs: number) =>
    run(join(bin, tool), args, { timeoutMs, env, cwd: dir, user });

  const killSync = () => {
    try {
      const pid = Number.parseInt(readFileSync(join(data, "postmaster.pid"), "utf8"), 10);
      if (pid > 0) process.kill(pid, "SIGQUIT"); // immediate shutdown
    } catch {
      // Not running.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onExit(killSync);
  const pidFile = shq(join(data, "postmaster.pid"));
  const cancelWatchdog = watchdog(
    `if [ -f ${pidFile} ]; then kill -QUIT "$(head -n 1 ${pidFile})" 2>/dev/null; sleep 2; fi; rm -rf ${shq(dir)}`,
  );
  let state: "running" | "paused" | "stopped" = "paused";
  const fail = async (what: string, output: string): Promise<never> => {
    const logTail = await tailFile(log);
    state = "stopped";
    cancelWatchdog();
    unregister();
    killSync();
    throw new Error(
      `PostgreSQL ${what} (port ${port}, ${dir})\n--- output ---\n${tail(output)}\n--- tail of ${log} ---\n${logTail}`,
    );
  };

  const init = await asOwner(
    "initdb",
    [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "trust",
      "--auth-local=trust",
      "--auth-host=trust",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
    ],
    120_000,
  );
  if (init.code !== 0) await fail("initdb failed", init.output);
  await appendFile(
    join(data, "postgresql.conf"),
    [
      "",
      "# tug tests",
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      "fsync = off",
      "synchronous_commit = off",
      "full_page_writes = off",
      "max_connections = 50",
      "",
    ].join("\n"),
  );

  const start = async () => {
    const seconds = String(Math.round(START_TIMEOUT_MS / 1000));
    const started = await asOwner(
      "pg_ctl",
      ["start", "-w", "-t", seconds, "-D", data, "-l", log],
      START_TIMEOUT_MS + 10_000,
    );
    if (started.code !== 0) await fail(`pg_ctl start failed (it waits up to ${seconds} s)`, started.output);
    state = "running";
  };
  const stopServer = async (mode: "fast" | "immediate") => {
    const stopped = await asOwner("pg_ctl", ["stop", "-w", "-t", "30", "-m", mode, "-D", data], 40_000);
    if (stopped.code !== 0 && existsSync(join(data, "postmaster.pid"))) {
      throw new Error(`pg_ctl stop failed: ${oneLine(tail(stopped.output, 3))}`);
    }
  };

  await start();
  const created = await run(
    join(bin, "createdb"),
    ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "tug_test"],
    {
      timeoutMs: 30_000,
      env,
    },
  );
  if (created.code !== 0) await fail("createdb tug_test failed", created.output);

  return {
    url: `postgres://postgres@127.0.0.1:${port}/tug_test`,
    async pause() {
      if (state !== "running") return;
      await stopServer("fast");
      state = "paused";
    },
    async resume() {
      if (state !== "paused") return;
      await start();
    },
    async stop() {
      if (state === "stopped") return;
      if (state === "running") await stopServer("fast").catch(() => undefined);
      state = "stopped";
      cancelWatchdog();
      unregister();
      killSync();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Redis

/** True when something on 127.0.0.1:`port` answers a RESP PING with +PONG. */
function ping(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let reply = "";
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once("error", () => finish(false));
    socket.once("connect", () => socket.write("*1\r\n$4\r\nPING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      if (reply.includes("\r\n")) finish(reply.startsWith("+PONG"));
    });
  });
}

/** A redis-server child process on 127.0.0.1 and a free port, without persistence. */
export async function startRedis(): Promise<Service> {
  const bin = await ensurePackage("redis-server", "redis-server");
  const dir = await freshDir("tug-redis-");
  const port = await freePort();
  const pidFile = join(dir, "redis.pid");
  let child: ReturnType<typeof spawn> | undefined;
  let output = "";

  const killSync = () => {
    child?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onExit(killSync);
  const cancelWatchdog = watchdog(
    `if [ -f ${shq(pidFile)} ]; then kill -KILL "$(cat ${shq(pidFile)})" 2>/dev/null; fi; rm -rf ${shq(dir)}`,
  );

  const start = async () => {
    output = "";
    const proc = spawn(
      bin,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        dir,
        "--logfile",
        "",
      ],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    const keep = (b: Buffer) => {
      output = (output + b.toString("utf8")).slice(-16_000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    let exited: string | undefined;
    proc.once("exit", (code, signal) => {
      exited = `exited with ${signal ?? `code ${code}`}`;
    });
    proc.once("error", (err) => {
      exited = `could not start: ${err.message}`;
    });
    if (proc.pid) await writeFile(pidFile, String(proc.pid));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) break;
      if (await ping(port)) return;
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        exited = `did not answer PING within ${START_TIMEOUT_MS / 1000} s`;
        break;
      }
      await sleep(50);
    }
    throw new Error(
      `redis-server on 127.0.0.1:${port} ${exited}\n--- its output ---\n${tail(output) || "(none)"}`,
    );
  };

  const kill = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((done) => proc.once("exit", () => done()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(timer);
    await rm(pidFile, { force: true });
  };

  let state: "running" | "paused" | "stopped" = "paused";
  try {
    await start();
  } catch (err) {
    cancelWatchdog();
    unregister();
    killSync();
    throw err;
  }
  state = "running";

  return {
    url: `redis://127.0.0.1:${port}`,
    async pause() {
      if (state !== "running") return;
      await kill();
      state = "paused";
    },
    async resume() {
      if (state !== "paused") return;
      await start();
      state = "running";
    },
    async stop() {
      if (state === "stopped") return;
      state = "stopped";
      await kill();
      cancelWatchdog();
      unregister();
      killSync();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// promtool

/** The path of promtool from Debian's `prometheus` package (2.42), installing it when missing. */
export function promtoolPath(): Promise<string> {
  return ensurePackage("promtool", "prometheus");
}
