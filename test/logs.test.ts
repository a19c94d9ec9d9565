import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";

let t: TestApp;
beforeAll(async () => {
  // Every query counts as slow here, so each request logs slow-query lines of its own.
  t = await startTestApp({ LOG_LEVEL: "info" }, { yaml: "database:\n  slowQueryThresholdMs: 0.000001\n" });
});
afterAll(() => t?.close());

const lines = () =>
  readFileSync(join(t.dir, "app.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

it("every line logged while serving a request carries its request id, echoed in the response", async () => {
  const r = await t.call("POST", "/api/v1/auth/register", {
    body: { email: "log@example.com", password: "12345678" },
    headers: { "x-request-id": "trace-abc.123" },
  });
  expect(r.status).toBe(201);
  expect(r.headers.get("x-request-id")).toBe("trace-abc.123");
  const bad = await t.call("GET", "/api/v1/users/me", { headers: { "x-request-id": "not ok\u00e9" } });
  const generated = bad.headers.get("x-request-id") ?? "";
  expect(generated).toMatch(/^[0-9a-f-]{36}$/);
  t.app.flushLogsSync();

  const mine = lines().filter((l) => l.reqId === "trace-abc.123");
  expect(mine.some((l) => l.event === "slow_query" && l.table === "users" && l.operation === "insert")).toBe(
    true,
  );
  const access = mine.find((l) => l.event === "access");
  expect(access).toMatchObject({
    level: "INFO",
    method: "POST",
    route: "/api/v1/auth/register",
    url: "/api/v1/auth/register",
    statusCode: 201,
  });
  expect(access?.durationMs).toBeGreaterThan(0);
  expect(access?.bytes).toBeGreaterThan(0);
  // Slow-query lines name the statement, never its parameters.
  expect(JSON.stringify(mine)).not.toContain("log@example.com");

  const rejected = lines().find((l) => l.reqId === generated && l.event === "access");
  expect(rejected).toMatchObject({ level: "WARN", statusCode: 401 });
  // Request-bound slow-query lines all carry a request id.
  const slow = lines().filter(
    (l) => l.event === "slow_query" && l.table !== "schema_migrations" && l.operation !== "create",
  );
  const startup = slow.filter((l) => !l.reqId);
  expect(startup.every((l) => l.table === "none")).toBe(true); // health checks' SELECT 1 run outside requests
});

it("samples successful probes out by default, never warnings or errors", async () => {
  for (let i = 0; i < 5; i++) await t.call("GET", "/monitoring/health/live");
  await t.call("GET", "/monitoring/metrics");
  t.app.flushLogsSync();
  const access = lines().filter((l) => l.event === "access");
  expect(access.some((l) => l.route === "/monitoring/health/live")).toBe(false);
  expect(access.some((l) => l.route === "/monitoring/metrics")).toBe(true);
});
