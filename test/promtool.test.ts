import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/core/config/index.js";
import { metricsCollector } from "../src/metrics/defaults.js";
import { type App, buildApp } from "../src/server.js";
import { promtoolPath } from "./support/services.js";

/** `promtool check metrics` with `text` on stdin: its exit code and the lines it printed. */
async function checkMetrics(text: string): Promise<{ code: number | null; lines: string[] }> {
  const promtool = await promtoolPath();
  return new Promise((done, fail) => {
    const child = spawn(promtool, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString("utf8");
    });
    child.stderr.on("data", (b: Buffer) => {
      out += b.toString("utf8");
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, lines: out.split("\n").filter((l) => l.trim() !== "") }));
    child.stdin.end(text);
  });
}

/** prom-client's default gauges named like counters: the only complaints expected. */
const TOTAL_GAUGES = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];
const TOTAL_GAUGE_COMPLAINT = 'non-counter metrics should not have "_total" suffix';

/**
 * promtool prints one `<metric> <problem>` line per problem; a line that names no metric
 * (a parse error: "error while linting: ...") fails the test here.
 */
function complaints(lines: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of lines) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (!m?.[1] || !m[2] || line.startsWith("error while linting")) {
      throw new Error(`promtool printed a line that is not a metric complaint: ${line}`);
    }
    out.push([m[1], m[2]]);
  }
  return out.sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
}

let app: App;
let base: string;
let dir: string;

beforeAll(async () => {
  await promtoolPath(); // may install Debian's prometheus package: the generous timeout is for that
  dir = await mkdtemp(join(tmpdir(), "tug-promtool-"));
  app = await buildApp({
    config: loadConfig({
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: `sqlite:${join(dir, "tug.db")}`,
      LOG_FILE_PATH: join(dir, "app.log"),
      LOG_LEVEL: "silent",
    }),
  });
  base = await app.listen();

  const post = (path: string, body: unknown, token?: string) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  const credentials = { email: "promtool@example.com", password: "correct horse battery staple" };
  expect((await post("/api/v1/auth/register", credentials)).status).toBe(201);
  const login = await post("/api/v1/auth/login", credentials);
  expect(login.status).toBe(200);
  const { token } = (await login.json()) as { token: string };
  expect((await post("/api/v1/activities", { type: "run", title: "x" }, token)).status).toBe(201);
  expect((await fetch(`${base}/api/v1/no-such-route`)).status).toBe(404);
  expect((await post("/api/v1/auth/register", { email: "not-an-email" })).status).toBe(400);
  metricsCollector.incrementCounter("custom_events_total", { event_type: "signup" });
  metricsCollector.setGauge("active_users", 150);
}, 300_000);

afterAll(async () => {
  await app?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the scrape passes promtool check metrics", () => {
  it("complains only about prom-client's three nodejs_active_*_total gauges", {
    timeout: 60_000,
  }, async () => {
    const res = await fetch(`${base}/monitoring/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    // The traffic above is in the scrape, so the lint covers our own families too.
    expect(text).toMatch(/^http_requests_total\{[^}]*route="\/api\/v1\/activities"/m);
    expect(text).toMatch(/^custom_events_total\{event_type="signup"\} 1$/m);
    expect(text).toMatch(/^active_users 150$/m);

    const { code, lines } = await checkMetrics(text);
    expect(complaints(lines)).toEqual(TOTAL_GAUGES.map((name) => [name, TOTAL_GAUGE_COMPLAINT]));
    expect(code).toBe(3); // promtool's exit code for lint problems
  });

  it("serves OpenMetrics on request", { timeout: 60_000 }, async () => {
    const res = await fetch(`${base}/monitoring/metrics`, {
      headers: { accept: "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    const text = await res.text();
    expect(text.endsWith("# EOF\n")).toBe(true);

    // promtool 2.42 parses only the classic text format: it reads OpenMetrics as that, where
    // `# EOF` is a comment and a counter's `<family>_total` sample starts an untyped family
    // without help. So it checks the syntax and names, not the OpenMetrics semantics.
    const { code, lines } = await checkMetrics(text);
    expect(code).toBe(3);
    const found = complaints(lines);
    const artefacts = found.filter(([name]) => !TOTAL_GAUGES.includes(name));
    expect(found.filter(([name]) => TOTAL_GAUGES.includes(name))).toEqual(
      TOTAL_GAUGES.map((name) => [name, TOTAL_GAUGE_COMPLAINT]),
    );
    expect(artefacts.length).toBeGreaterThan(0); // http_requests_total at least
    for (const [name, complaint] of artefacts) {
      const family = name.replace(/_total$/, "");
      expect(`${name} ${complaint}`).toMatch(/_total no help text$/);
      expect(text).toContain(`# TYPE ${family} counter\n`);
      expect(text).toMatch(new RegExp(`^# HELP ${family} \\S`, "m"));
    }
  });
});
