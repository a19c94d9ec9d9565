/**
 * Child process of `npm run bench`: builds one variant of the TUG API on 127.0.0.1:0 with a
 * fresh SQLite file, registers and logs in a user, then prints one JSON line
 * `{ "url", "token", "variant", "pid" }` on stdout and serves until SIGTERM/SIGINT.
 *
 *   npx tsx bench/server.ts baseline | monitored | fastify-metrics
 *
 * Nothing else is written to stdout (the parent reads it); logs go to a file in the temp dir.
 */
import type { FastifyInstance } from "fastify";
import fastifyMetricsModule from "fastify-metrics";
import { Registry } from "prom-client";
import { startBenchApp } from "./app.js";
import { type ChildReady, isMonitored, isVariant, VARIANTS } from "./variants.js";

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

  const { url } = await startBenchApp({
    name: variant,
    yaml:
      (process.env.BENCH_ACCESS_LOG === "off" ? "  access:\n    enabled: false\n" : "") +
      // More configuration (an A/B of one capability's cost), appended after `log:\n  stdout: false`:
      // indented lines continue `log:`, others are top-level keys, e.g.
      // BENCH_YAML=$'  analysis:\n    enabled: false\nnotifications:\n  enabled: false'
      (process.env.BENCH_YAML ? `${process.env.BENCH_YAML}\n` : "") +
      // monitored-alt: the same with BENCH_ALT_YAML too, so one change is measured against (b)
      // in the same interleaved run: `npm run bench -- --variants monitored,monitored-alt`.
      (variant === "monitored-alt" && process.env.BENCH_ALT_YAML ? `${process.env.BENCH_ALT_YAML}\n` : ""),
    // The default level: (b) pays for its access line per request, as it would in production.
    logLevel: process.env.BENCH_LOG_LEVEL ?? "info",
    monitoring: isMonitored(variant),
    plugins: variant === "fastify-metrics" ? [withFastifyMetrics] : [],
    // Capabilities left out (src/server.ts OMITTABLE), comma-separated: what each one costs, e.g.
    // BENCH_OMIT=engine,rules,sampler; BENCH_ALT_OMIT for monitored-alt only.
    omit: [
      ...(process.env.BENCH_OMIT ?? "").split(","),
      ...(variant === "monitored-alt" ? (process.env.BENCH_ALT_OMIT ?? "").split(",") : []),
    ]
      .map((s) => s.trim())
      .filter(Boolean),
  });

  const email = `bench-${process.pid}@example.com`;
  const password = "bench-password-123";
  await postJson(`${url}/api/v1/auth/register`, { email, password, name: "Bench" });
  const login = await postJson(`${url}/api/v1/auth/login`, { email, password });
  if (typeof login.token !== "string") throw new Error(`login answered no token: ${JSON.stringify(login)}`);

  const ready: ChildReady = { variant, url, token: login.token, pid: process.pid };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench server failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
