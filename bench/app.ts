/**
 * A real app for a benchmark's child process, started as `tug serve` would build it: its own temp
 * dir (SQLite file, log file), 127.0.0.1 and a free port, logs to the file only (stdout belongs to
 * the parent's JSON line). It stops — closing the app, removing the dir, exiting 0 so that
 * --cpu-prof / --heap-prof can write their files — on SIGTERM, SIGINT, or when the parent that
 * started it over IPC goes away. Shared by bench/server.ts and bench/promql.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/core/config/index.js";
import { type App, type AppOptions, buildApp } from "../src/server.js";

export interface BenchAppOptions {
  /** Names the temp dir (`tug-bench-<name>-…`). */
  name: string;
  /** More of the YAML configuration, after `log.stdout: false`. */
  yaml?: string;
  /** Default `info`, the production default: the app pays for its access lines. */
  logLevel?: string;
  monitoring?: AppOptions["monitoring"];
  plugins?: AppOptions["plugins"];
  /** Capabilities left out (AppOptions.omit). */
  omit?: AppOptions["omit"];
}

export interface BenchApp {
  app: App;
  /** http://127.0.0.1:<port> */
  url: string;
}

export async function startBenchApp(o: BenchAppOptions): Promise<BenchApp> {
  const dir = mkdtempSync(join(tmpdir(), `tug-bench-${o.name}-`));
  // log.stdout can only be set from a YAML file.
  const yamlPath = join(dir, "monitoring.yml");
  writeFileSync(yamlPath, `log:\n  stdout: false\n${o.yaml ?? ""}`);
  const config = loadConfig({
    MONITORING_CONFIG: yamlPath,
    HOST: "127.0.0.1",
    PORT: "0",
    DATABASE_URL: `sqlite:${join(dir, "tug.db")}`,
    LOG_FILE_PATH: join(dir, "application.log"),
    LOG_LEVEL: o.logLevel ?? "info",
  });
  const app = await buildApp({ config, monitoring: o.monitoring, plugins: o.plugins, omit: o.omit });
  const address = await app.listen();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // Started with an IPC channel: do not outlive the parent.
  if (process.send) process.on("disconnect", stop);
  return { app, url: address.replace("://[::1]", "://127.0.0.1") };
}
