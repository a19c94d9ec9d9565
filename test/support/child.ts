import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./services.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

export interface ChildApp {
  base: string;
  dir: string;
  logFile: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
}

/** `tug serve` as a real child process (as `npm start` runs it) on a free loopback port. */
export async function startChildApp(env: Record<string, string> = {}, yaml = ""): Promise<ChildApp> {
  const dir = mkdtempSync(join(tmpdir(), "tug-child-"));
  const port = await freePort();
  const logFile = join(dir, "logs", "application.log");
  const config = join(dir, "tug.yml");
  writeFileSync(config, yaml);
  const child = spawn(process.execPath, [join(ROOT, "bin/tug.js"), "serve"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? dir,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: `sqlite:${join(dir, "data", "tug.db")}`,
      LOG_FILE_PATH: logFile,
      MONITORING_CONFIG: config,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    });
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${base}/monitoring/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`tug serve did not become ready (exit ${child.exitCode}): ${err.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, dir, logFile, child, stdout: () => out, stderr: () => err, exited };
}
