/**
 * Child process of `npm run bench`: builds one variant of the TUG API on 127.0.0.1:0 with a
 * fresh SQLite file, registers and logs in a user, then prints one JSON line
 * `{ "url", "token", "variant", "pid" }` on stdout and serves until SIGTERM/SIGINT.
 *
 *   npx tsx bench/server.ts baseline | monitored | fastify-metrics
 *
 * Nothing else is written to stdout (the parent reads it); logs go to a file in the temp dir.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import fastifyMetricsModule from "fastify-metrics";
import { Registry } from "prom-client";
import { loadConfig } from "../src/core/config/index.js";
import { buildApp } from "../src/server.js";
import { type ChildReady, isVariant, VARIANTS } from "./variants.js";

/**
 * fastify-metrics with its defaults (route histogram + summary, prom-client default metrics,
 * GET /metrics), but on a registry of its own instead of prom-client's global one.
 */
// A CommonJS module with `exports.default`: under ESM the default import is module.exports.
const fastifyMetrics = fastifyMetricsModule.default;

async function withFastifyMetrics(app: FastifyInstance): Promise<void> {
  const register = new Registry();
  await app.register(fastifyMetrics, {
    defaultMetrics: { enabled: true, register },
    routeMetrics: {
      enabled: true,
      overrides: { histogram: { registers: [register] }, summary: { registers: [register] } },
    },
  });
}

async function postJson(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url} answered ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const variant = process.argv[2];
  if (!isVariant(variant)) {
    process.stderr.write(`usage: bench/server.ts <${VARIANTS.join(" | ")}>\n`);
    process.exit(2);
  }

  const dir = mkdtempSync(join(tmpdir(), `tug-bench-${variant}-`));
  // log.stdout can only be set from a YAML file: stdout belongs to the parent's JSON line.
  const yamlPath = join(dir, "monitoring.yml");
  // BENCH_ACCESS_LOG=off measures the metrics alone, without the access line per request.
  const access = process.env.BENCH_ACCESS_LOG === "off" ? "  access:\n    enabled: false\n" : "";
  writeFileSync(yamlPath, `log:\n  stdout: false\n${access}`);
  const config = loadConfig({
    MONITORING_CONFIG: yamlPath,
    HOST: "127.0.0.1",
    PORT: "0",
    DATABASE_URL: `sqlite:${join(dir, "tug.db")}`,
    LOG_FILE_PATH: join(dir, "application.log"),
    // The default level: (b) pays for its access line per request, as it would in production.
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info",
  });

  const app = await buildApp({
    config,
    monitoring: variant === "monitored",
    plugins: variant === "fastify-metrics" ? [withFastifyMetrics] : [],
  });
  const address = await app.listen();
  const url = address.replace("://[::1]", "://127.0.0.1");

  const email = `bench-${process.pid}@example.com`;
  const password = "bench-password-123";
  await postJson(`${url}/api/v1/auth/register`, { email, password, name: "Bench" });
  const login = await postJson(`${url}/api/v1/auth/login`, { email, password });
  if (typeof login.token !== "string") throw new Error(`login answered no token: ${JSON.stringify(login)}`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      // A normal exit, so --cpu-prof / --heap-prof can write their files.
      process.exit(0);
    }
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // Started by bench/run.ts with an IPC channel: do not outlive the parent.
  if (process.send) process.on("disconnect", stop);

  const ready: ChildReady = { variant, url, token: login.token, pid: process.pid };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench server failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
