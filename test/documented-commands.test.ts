// The system's own documentation (the original description in ../shared/seed, and README/docs
// here) tells its users to type these commands. Each runs here as written — host, port and the
// token production needs aside — with the real curl, jq and grep, against a real `npm start` on a
// fresh data folder, started as documented: LOG_LEVEL=INFO LOG_FILE_PATH=… ENVIRONMENT=production.
// The stack's commands (docker-compose …) are checked against docker-compose.yml: service names,
// paths and the log format they grep.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { freePort } from "./support/services.js";
import { waitFor } from "./support/wait.js";

const ROOT = new URL("..", import.meta.url).pathname;
const TOKEN = "documented-commands-token-0123456789abcdef";
const sh = promisify(execFile);
let child: ChildProcess | undefined;
let base = "";
let logFile = "";
let refusing: Server | undefined;

/** A documented command line, run by sh as written (localhost:8000 → the test's port, plus the token). */
async function run(cmd: string): Promise<string> {
  const line = cmd
    .replaceAll("http://localhost:8000", base)
    .replace(/^curl /, `curl -sS -H "Authorization: Bearer ${TOKEN}" `);
  const { stdout } = await sh("sh", ["-c", line], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "tug-documented-"));
  // A receiver that refuses (400): its refusal is an ERROR line for `grep ERROR`.
  refusing = createServer((_req, res) => res.writeHead(400).end("no"));
  await new Promise<void>((r) => refusing?.listen(0, "127.0.0.1", r));
  const am = join(dir, "alertmanager.yml");
  writeFileSync(
    am,
    [
      "route: { receiver: refuses, group_wait: 0s, group_interval: 1s }",
      "receivers:",
      "  - name: refuses",
      "    webhook_configs:",
      `      - url: http://127.0.0.1:${(refusing.address() as AddressInfo).port}/hook`,
      "",
    ].join("\n"),
  );
  const config = join(dir, "tug.yml");
  // Every query counts as slow (0 turns the log off) (so `grep -i "slow query"` has lines to find); debug info on, as
  // docs/operations.md says production needs for it.
  writeFileSync(
    config,
    `database:\n  slowQueryThresholdMs: 0.001\nmonitoring:\n  debugInfo: true\nnotifications:\n  alertmanagerConfig: ${am}\n`,
  );
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  logFile = join(dir, "logs", "application.log");
  child = spawn("npm", ["start"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      LOG_LEVEL: "INFO",
      LOG_FILE_PATH: logFile,
      ENVIRONMENT: "production",
      MONITORING_TOKEN: TOKEN,
      MONITORING_CONFIG: config,
      DATABASE_URL: `sqlite:${join(dir, "data", "tug.db")}`,
      PORT: String(port),
      HOST: "127.0.0.1",
    },
    stdio: "ignore",
    detached: true,
  });
  await waitFor(
    "npm start to turn ready",
    async () => (await fetch(`${base}/monitoring/health/ready`).catch(() => undefined))?.status === 200,
    { timeoutMs: 60_000 },
  );
}, 90_000);

afterAll(async () => {
  if (child?.pid && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
  refusing?.close();
});

describe("the commands of the documentation, as written", () => {
  it("curl …/monitoring/health, /health/live, /health/ready, /status, /debug/info", async () => {
    const health = JSON.parse(await run("curl http://localhost:8000/monitoring/health"));
    expect(["pass", "warn", "fail"]).toContain(health.status);
    expect(health.checks.map((c: { name: string }) => c.name)).toContain("database");
    expect(JSON.parse(await run("curl http://localhost:8000/monitoring/health/live"))).toMatchObject({
      status: "pass",
    });
    expect(JSON.parse(await run("curl http://localhost:8000/monitoring/health/ready")).status).toMatch(
      /pass|warn/,
    );
    const status = JSON.parse(await run("curl http://localhost:8000/monitoring/status"));
    expect(status).toMatchObject({ service: "tug-api", environment: "production", state: "ready" });
    const debug = JSON.parse(await run("curl http://localhost:8000/monitoring/debug/info"));
    expect(JSON.stringify(debug)).not.toContain(TOKEN);
    expect(debug).toHaveProperty("memory");
  });

  it(`curl http://localhost:8000/monitoring/health | jq '.checks[] | select(.name=="database")'`, async () => {
    const out = await run(
      `curl http://localhost:8000/monitoring/health | jq '.checks[] | select(.name=="database")'`,
    );
    expect(JSON.parse(out)).toMatchObject({ name: "database", status: "pass", componentType: "datastore" });
  });

  it("curl …/monitoring/metrics and /metrics/json; the embedded answer to Prometheus's /api/v1/targets", async () => {
    const metrics = await run("curl http://localhost:8000/monitoring/metrics");
    expect(metrics).toMatch(/^# TYPE http_requests_total counter$/m);
    expect(metrics).toMatch(/^tug_build_info\{/m);
    const json = JSON.parse(await run("curl http://localhost:8000/monitoring/metrics/json"));
    expect(json).toHaveProperty("http");
    // `curl http://localhost:9090/api/v1/targets` in the stack; in embedded mode the app's own API.
    const targets = await waitFor("the first sampling", async () => {
      const t = JSON.parse(await run("curl http://localhost:8000/monitoring/api/v1/targets"));
      return t.data.activeTargets[0]?.health === "up" ? t : undefined;
    });
    expect(targets.data.activeTargets[0].labels.job).toBe("tug-api");
    const up = JSON.parse(await run("curl 'http://localhost:8000/monitoring/api/v1/query?query=up'"));
    expect(up.data.result[0].value[1]).toBe("1");
  });

  it(`grep ERROR <the log file> and grep -i "slow query" <the log file>`, async () => {
    // Something for each: queries (all slow here), and an alert whose receiver refuses it.
    await fetch(`${base}/api/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "doc@example.com", password: "documented-password" }),
    });
    await run(
      `curl -X POST -H 'content-type: application/json' -d '[{"labels":{"alertname":"DocumentedError"}}]' http://localhost:8000/monitoring/api/v2/alerts`,
    );
    const errors = await waitFor("an ERROR line", async () => {
      const out = await sh("sh", ["-c", `grep ERROR ${logFile} || true`]);
      return out.stdout.trim() ? out.stdout : undefined;
    });
    expect(JSON.parse(errors.trim().split("\n")[0] as string)).toMatchObject({ level: "ERROR" });
    const slow = (await sh("sh", ["-c", `grep -i "slow query" ${logFile}`])).stdout.trim().split("\n");
    expect(JSON.parse(slow[0] as string)).toMatchObject({
      level: "WARN",
      msg: "slow query",
      event: "slow_query",
    });
    // LOG_LEVEL=INFO was taken as info: info lines are written, debug ones are not.
    const lines = readFileSync(logFile, "utf8").split("\n").filter(Boolean);
    expect(lines.some((l) => l.startsWith('{"level":"INFO"'))).toBe(true);
    expect(lines.some((l) => l.startsWith('{"level":"DEBUG"'))).toBe(false);
  });
});

describe("the stack's documented commands match docker-compose.yml", () => {
  const compose = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8")) as {
    services: Record<string, { volumes?: Array<string | { target?: string }>; logging?: unknown }>;
  };
  const volumes = (s: string) =>
    (compose.services[s]?.volumes ?? []).map((v) => (typeof v === "string" ? v : `:${v.target ?? ""}`));

  it('docker-compose logs api | grep ERROR / -f --tail=100 api / grep -i "slow query": a service named api writing JSON lines with upper-case levels to stdout', () => {
    expect(Object.keys(compose.services)).toContain("api");
    // The app writes its JSON lines (levels upper case, msg "slow query") to stdout unless told not to.
    const env = JSON.stringify(compose.services.api);
    expect(env).not.toMatch(/LOG_STDOUT["']?\s*[:=]\s*["']?false/);
  });

  it("docker-compose exec prometheus tar -czf /prometheus-backup.tar.gz /prometheus: its data volume is at /prometheus", () => {
    expect(volumes("prometheus").some((v) => v.endsWith(":/prometheus"))).toBe(true);
  });

  it("curl http://admin:admin123@localhost:3000/api/dashboards/home: Grafana on 3000 with admin / admin123 by default", () => {
    const grafana = JSON.stringify(compose.services.grafana);
    expect(grafana).toMatch(/3000/);
    expect(grafana).toMatch(/GF_SECURITY_ADMIN_USER["']?:\s*["']?admin\b|admin123/);
  });

  it("cp monitoring/alert_rules.yml monitoring/alert_rules.yml.backup: the rules are at that path", () => {
    expect(readFileSync(join(ROOT, "monitoring/alert_rules.yml"), "utf8")).toMatch(/^groups:/m);
  });
});
