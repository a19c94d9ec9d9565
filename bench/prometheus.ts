/**
 * A real Prometheus (Debian's package, 2.42) for the benchmarks that compare against it:
 * running promtool, starting the server on loopback until /-/ready, its resident memory, and the
 * size of a folder. Used by promql.ts and tsdb.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { ensurePackage } from "../test/support/services.js";

const log = (msg: string) => process.stdout.write(`${msg}\n`);

/** Runs `cmd`, echoing its output line by line prefixed with its name; rejects on a non-zero exit. */
export function run(cmd: string, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const onData = (d: Buffer) => {
      output += d.toString();
      for (const line of d.toString().split("\n"))
        if (line.trim()) log(`  [${cmd.split("/").pop()}] ${line}`);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd} ${argv.join(" ")} exited ${code}: ${output.slice(-500)}`)),
    );
  });
}

export interface StartedPrometheus {
  url: string;
  child: ChildProcess;
  /** From spawn until /-/ready answered 200. */
  readyMs: number;
}

export interface PrometheusOptions {
  dataDir: string;
  configFile: string;
  port: number;
  /** Added to the caller's set as soon as it is spawned, so the caller's exit handler kills it. */
  children?: Set<ChildProcess>;
  /** Default ["--storage.tsdb.retention.time=30d"]. */
  extraArgs?: string[];
  /** How often /-/ready is polled (the resolution of readyMs). Default 200 ms. */
  pollMs?: number;
  /** Default 60 s. */
  timeoutMs?: number;
}

/** Starts Prometheus on 127.0.0.1:port over `dataDir` and waits for /-/ready. */
export async function startPrometheus(o: PrometheusOptions): Promise<StartedPrometheus> {
  const bin = await ensurePackage("prometheus", "prometheus");
  const t0 = performance.now();
  const child = spawn(
    bin,
    [
      `--storage.tsdb.path=${o.dataDir}`,
      `--config.file=${o.configFile}`,
      `--web.listen-address=127.0.0.1:${o.port}`,
      ...(o.extraArgs ?? ["--storage.tsdb.retention.time=30d"]),
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  o.children?.add(child);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const url = `http://127.0.0.1:${o.port}`;
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`prometheus exited ${child.exitCode}: ${stderr.slice(-1000)}`);
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.ok) return { url, child, readyMs: performance.now() - t0 };
    } catch {
      // not listening yet
    }
    await sleep(o.pollMs ?? 200);
  }
  throw new Error(`prometheus not ready within ${(o.timeoutMs ?? 60_000) / 1000} s: ${stderr.slice(-1000)}`);
}

/** VmRSS of a process in bytes (Linux /proc), or undefined when it cannot be read. */
export function vmRssBytes(pid: number | "self"): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined; // the process is gone, or no /proc
  }
}

/** Total bytes of the regular files under `dir` (recursively). */
export function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}
