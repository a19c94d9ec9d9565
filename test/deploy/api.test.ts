// /monitoring/deployments on a real app: auth, the 400s that name the field, the seed's
// snake_case, history pages, actions, the status and metrics that show deployments, and the
// PromQL source reading a real app's own query API.

import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PromqlSource } from "../../src/deploy/source.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { waitFor } from "../support/wait.js";

const TOKEN = "deploy-api-test-token-0123456789abcdef";
let t: TestApp;
let healthUrl: string;

beforeAll(async () => {
  t = await startTestApp(
    { ENVIRONMENT: "staging", MONITORING_TOKEN: TOKEN },
    { yaml: "tsdb:\n  scrapeIntervalMs: 500\n" },
  );
  healthUrl = `${t.url}/monitoring/health`;
});

afterAll(async () => {
  await t?.close();
});

const start = (body: unknown, token = TOKEN) => t.call("POST", "/monitoring/deployments", { body, token });

describe("/monitoring/deployments", () => {
  it("needs the monitoring token", async () => {
    const r = await start({ version: "1", healthCheckUrl: healthUrl }, "");
    expect(r.status).toBe(401);
    expect((await start({ version: "1", healthCheckUrl: healthUrl }, "wrong")).status).toBe(403);
  });

  it("refuses bad input with a 400 naming each field, and starts nothing", async () => {
    const before = (await t.call("GET", "/monitoring/deployments", { token: TOKEN })).body.total;
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [
        { version: "1", healthCheckUrl: healthUrl, monitoringDurationMinutes: -5 },
        ["monitoringDurationMinutes"],
      ],
      [{ version: "1", healthCheckUrl: healthUrl, rollbackUrl: "ftp//x" }, ["rollbackUrl"]],
      [{ version: "1", healthCheckUrl: healthUrl, colour: "red" }, ["colour"]],
      [{ version: "1", healthCheckUrl: "http://127.0.0.1:9/health" }, ["healthCheckUrl"]],
      [{ healthCheckUrl: healthUrl }, ["version"]],
    ];
    for (const [body, fields] of cases) {
      const r = await start(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe("VALIDATION_FAILED");
      expect(r.body.error.details.map((d: { field: string }) => d.field)).toEqual(fields);
      expect(r.body.requestId).toBeTruthy();
    }
    expect((await t.call("GET", "/monitoring/deployments", { token: TOKEN })).body.total).toBe(before);
  });

  it("starts from the seed's snake_case, shows it, pages the history and acts on it", async () => {
    const created = await start({
      deployment_id: "v3.1.0-staging",
      version: "3.1.0",
      health_check_url: healthUrl,
      max_error_rate_percent: 5.0,
      monitoring_duration_minutes: 15,
      metrics_token: "never-shown-token",
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe("/monitoring/deployments/v3.1.0-staging");
    expect(created.body.deployment).toMatchObject({
      id: "v3.1.0-staging",
      phase: "pending",
      environment: "staging",
    });
    expect(created.body.deployment.config.metricsToken).toBe("<redacted>");
    expect(JSON.stringify(created.body)).not.toContain("never-shown-token");
    for (const v of ["3.1.1", "3.1.2"])
      expect((await start({ version: v, healthCheckUrl: healthUrl })).status).toBe(201);

    const status = await t.call("GET", "/monitoring/status", { token: TOKEN });
    expect(status.body.deployment).toMatchObject({ version: "3.1.2", phase: "pending", inProgress: 3 });

    const page1 = await t.call("GET", "/monitoring/deployments?limit=2", { token: TOKEN });
    expect(page1.body.deployments.map((d: { version: string }) => d.version)).toEqual(["3.1.2", "3.1.1"]);
    expect(page1.body.nextCursor).toBeTruthy();
    const page2 = await t.call(
      "GET",
      `/monitoring/deployments?limit=2&cursor=${encodeURIComponent(page1.body.nextCursor)}`,
      {
        token: TOKEN,
      },
    );
    expect(page2.body.deployments.map((d: { version: string }) => d.version)).toEqual(["3.1.0"]);
    expect(page2.body.nextCursor).toBeNull();
    expect((await t.call("GET", "/monitoring/deployments?limit=0x10", { token: TOKEN })).status).toBe(400);

    const aborted = await t.call("POST", "/monitoring/deployments/v3.1.0-staging/abort", {
      token: TOKEN,
      body: { reason: "wrong build" },
    });
    expect(aborted.status).toBe(200);
    expect(aborted.body.deployment).toMatchObject({
      phase: "aborted",
      outcome: "aborted",
      reason: "wrong build",
    });
    expect(
      (await t.call("POST", "/monitoring/deployments/v3.1.0-staging/abort", { token: TOKEN })).status,
    ).toBe(400);
    const rb = await t.call("POST", "/monitoring/deployments/v3.1.0-staging/rollback", { token: TOKEN });
    expect(rb.status).toBe(400);
    expect(rb.body.error.details[0].field).toBe("rollbackUrl");
    expect((await t.call("GET", "/monitoring/deployments/nope", { token: TOKEN })).status).toBe(404);
    const one = await t.call("GET", "/monitoring/deployments/v3.1.0-staging", { token: TOKEN });
    expect(one.body.deployment.transitions.map((x: { to: string }) => x.to)).toEqual(["pending", "aborted"]);

    const metrics = await t.call("GET", "/monitoring/metrics", { token: TOKEN });
    expect(metrics.body).toMatch(/deployments_total\{environment="staging",outcome="aborted"\} 1/);
    expect(metrics.body).toMatch(/deployment_in_progress 2/);
    expect(metrics.body).toMatch(
      /tug_build_info\{version="[^"]+",release="[^"]+",node_version="v20[^"]*",environment="staging"\} 1/,
    );
  });

  it("the log trends' 'before the last deployment' is the recorded deployment's start", async () => {
    const r = await start({ deploymentId: "trend-marker", version: "6.0.0", healthCheckUrl: healthUrl });
    expect(r.status).toBe(201);
    const minute = Math.floor(r.body.deployment.startedAt / 60_000) * 60_000;
    const trends = await t.call("GET", "/monitoring/logs/trends", { token: TOKEN });
    expect(trends.body.deploymentAt).toBe(new Date(minute).toISOString());
    await t.call("POST", "/monitoring/deployments/trend-marker/abort", { token: TOKEN });
  });

  it("watches its own app: the health probe carries the monitoring token /monitoring/health needs", async () => {
    const r = await start({
      deploymentId: "self",
      version: "5.0.0",
      healthCheckUrl: healthUrl,
      checkIntervalSeconds: 1,
      monitoringDurationMinutes: 0.05,
      // The app's own verdict may be a fail on a busy machine (its CPU check): not what is tested.
      healthFailuresAllowed: 1000,
      onInconclusive: "hold",
    });
    expect(r.status).toBe(201);
    const d = await waitFor("the deployment to end", async () => {
      const x = (await t.call("GET", "/monitoring/deployments/self", { token: TOKEN })).body.deployment;
      return x.outcome ? x : undefined;
    });
    // Little traffic here: inconclusive, held as asked. Every probe got past the token check.
    expect(d.outcome, JSON.stringify(d.transitions.at(-1))).toBe("inconclusive");
    expect(d.looks.length).toBeGreaterThan(0);
    for (const l of d.looks) expect([200, 503]).toContain(l.health.status);
  });

  it("a restart of the app in the middle of a deployment resumes it, with its history whole", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-deploy-restart-"));
    const env = {
      ENVIRONMENT: "staging",
      MONITORING_TOKEN: TOKEN,
      DATABASE_URL: `sqlite:${join(dir, "tug.db")}`,
    };
    const first = await startTestApp(env);
    const health = `${first.url}/monitoring/health`;
    const created = await first.call("POST", "/monitoring/deployments", {
      token: TOKEN,
      body: { deploymentId: "across-restart", version: "4.0.0", healthCheckUrl: health },
    });
    expect(created.status).toBe(201);
    await first.close();
    expect(existsSync(join(dir, "deployments.db"))).toBe(true);
    const second = await startTestApp(env);
    try {
      const d = (await second.call("GET", "/monitoring/deployments/across-restart", { token: TOKEN })).body
        .deployment;
      expect(d.phase).toBe("pending");
      expect(d.transitions.map((x: { reason: string }) => x.reason)).toEqual([
        "deployment monitoring started",
        "resumed after a restart of the monitor",
      ]);
      const status = (await second.call("GET", "/monitoring/status", { token: TOKEN })).body;
      expect(status.deployment).toMatchObject({ id: "across-restart", inProgress: 1 });
    } finally {
      await second.close();
    }
  });

  it("the PromQL source counts the app's own requests (monitoring routes left out) from its query API", async () => {
    const source = new PromqlSource({
      url: `${t.url}/monitoring/api/v1/query`,
      token: TOKEN,
      timeoutMs: 10_000,
    });
    const from = Date.now();
    // Requests keep coming until two samples bracket some of them (a series' first value is not an increase).
    const seen = await waitFor("requests counted by increase() over the window", async () => {
      for (let i = 0; i < 20; i++) await t.call("GET", "/api/v1/nothing-here");
      await t.call("GET", "/monitoring/health", { token: TOKEN });
      const m = await source.measure(from, Date.now());
      return "error" in m || m.requests < 20 ? undefined : m;
    });
    expect(seen.errors).toBe(0);
    expect(seen.latency?.le.at(-1)).toBe(Number.POSITIVE_INFINITY);
    expect(seen.latency?.cumulative.at(-1)).toBeGreaterThanOrEqual(20);
    expect(seen.latencySumSeconds).toBeGreaterThan(0);
    const bad = await new PromqlSource({
      url: `${t.url}/monitoring/api/v1/query`,
      timeoutMs: 10_000,
    }).measure(from, Date.now());
    expect(bad).toMatchObject({ error: expect.stringMatching(/HTTP 401/) });
  });
});
