// The deployment monitor with the manual clock: whole deployments from start to outcome, with a
// real health endpoint and a real rollback receiver over HTTP (port 0), and the metrics from a
// scripted source (the MetricsSource seam; PromqlSource itself is tested against a real app in
// test/deploy/api.test.ts). Nothing here waits for real time to pass except HTTP round trips.

import { createHmac } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { PostableAlert } from "../../src/alerts/wire.js";
import { TugError } from "../../src/core/errors.js";
import { DeploymentMonitor } from "../../src/deploy/monitor.js";
import type { MetricsSource } from "../../src/deploy/source.js";
import { DeploymentStore } from "../../src/deploy/store.js";
import type { DeploymentPhase, WindowCounts } from "../../src/deploy/types.js";
import { ManualClock } from "../support/clock.js";
import { waitFor } from "../support/wait.js";

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Number.POSITIVE_INFINITY];
const SECRET = "rollback-signing-secret";

/** A version's traffic: requests per second, 5xx share, and the share of requests in each bucket. */
interface Traffic {
  rps: number;
  errorShare: number;
  /** Per-bucket shares (not cumulative), one per BUCKETS entry. */
  shape: number[];
}
const FAST = [0.05, 0.2, 0.4, 0.2, 0.1, 0.04, 0.01, 0, 0, 0, 0, 0];
const SLOW = [0, 0, 0.02, 0.08, 0.2, 0.3, 0.25, 0.1, 0.05, 0, 0, 0];

/** Exact counts of a window (no noise: the analysis' statistics are tested on noise elsewhere). */
class ScriptedSource implements MetricsSource {
  calls = 0;
  constructor(public traffic: (startMs: number) => Traffic) {}
  async measure(startMs: number, endMs: number): Promise<WindowCounts> {
    this.calls++;
    const t = this.traffic(startMs);
    const requests = Math.round((t.rps * (endMs - startMs)) / 1000);
    let run = 0;
    const cumulative = t.shape.map((s) => {
      run += s * requests;
      return Math.round(run);
    });
    const mids = [0.003, 0.007, 0.018, 0.04, 0.075, 0.18, 0.4, 0.8, 2, 4, 8, 12];
    return {
      startMs,
      endMs,
      requests,
      errors: Math.round(t.errorShare * requests),
      latency: { le: BUCKETS, cumulative },
      latencySumSeconds: t.shape.reduce((a, s, i) => a + s * requests * (mids[i] as number), 0),
    };
  }
}

interface Received {
  headers: IncomingMessage["headers"];
  body: string;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

let health: { status: number; body: string };
let rollbackStatus = 200;
const rollbacks: Received[] = [];
let healthUrl = "";
let rollbackUrl = "";
const servers: Server[] = [];

beforeAll(async () => {
  const h = createServer((_req, res) => {
    res.writeHead(health.status, { "content-type": "application/health+json" }).end(health.body);
  });
  const r = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      rollbacks.push({ headers: req.headers, body });
      res.writeHead(rollbackStatus).end();
    });
  });
  servers.push(h, r);
  healthUrl = `${await listen(h)}/monitoring/health`;
  rollbackUrl = `${await listen(r)}/rollback`;
});

afterAll(() => {
  for (const s of servers) s.close();
});

let dir = "";
const open: Array<{ monitor: DeploymentMonitor; store: DeploymentStore }> = [];

afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.monitor.stop();
    o.store.close();
  }
  health = { status: 200, body: '{"status":"pass"}' };
  rollbackStatus = 200;
  rollbacks.length = 0;
});

health = { status: 200, body: '{"status":"pass"}' };

function setup(opts: { file?: string; canary?: (t: number) => Traffic; clock?: ManualClock } = {}) {
  const clock = opts.clock ?? new ManualClock();
  const store = new DeploymentStore(opts.file ?? ":memory:");
  const alerts: PostableAlert[] = [];
  const good: Traffic = { rps: 20, errorShare: 0.01, shape: FAST };
  const canary = new ScriptedSource(opts.canary ?? (() => good));
  const baseline = new ScriptedSource(() => good);
  const monitor = new DeploymentMonitor({
    store,
    sources: () => ({ canary, baseline }),
    notify: (a) => {
      alerts.push(a);
    },
    defaultEnvironment: "staging",
    service: "tug-api",
    signingSecret: SECRET,
    externalURL: "http://tug.example",
    now: clock.now,
    timers: clock,
  });
  open.push({ monitor, store });
  return { clock, store, monitor, alerts, canary, baseline };
}

const config = (extra: Record<string, unknown> = {}) => ({
  version: "3.1.0",
  healthCheckUrl: healthUrl,
  monitoringDurationMinutes: 5,
  checkIntervalSeconds: 60,
  ...extra,
});

/** Moves the clock to the next look and waits until it is recorded (its HTTP is real). */
async function nextLook(s: ReturnType<typeof setup>, id: string): Promise<DeploymentPhase> {
  const before = s.store.looks(id).length;
  await s.clock.advanceAsync(60_000);
  await waitFor(`look ${before + 1} of ${id}`, () => s.store.looks(id).length > before, {
    last: () => s.store.get(id)?.phase,
  });
  return (s.store.get(id) as { phase: DeploymentPhase }).phase;
}

/** Runs looks until the deployment has an outcome. */
async function toTheEnd(s: ReturnType<typeof setup>, id: string) {
  for (let i = 0; i < 20 && s.store.get(id)?.outcome === null; i++) {
    if (s.store.get(id)?.phase === "rolling_back") {
      await s.clock.advanceAsync(60_000);
      await waitFor(
        "the rollback to settle",
        () => s.store.get(id)?.outcome !== null || rollbacks.length > 0,
      );
      continue;
    }
    await nextLook(s, id);
  }
  return await waitFor(`an outcome for ${id}`, () => {
    const r = s.store.get(id);
    return r?.outcome ? r : undefined;
  });
}

describe("deployment monitor", () => {
  it("a healthy new version succeeds at the end of its window: no rollback, nobody paged", async () => {
    const s = setup();
    const id = await s.monitor.startDeploymentMonitoring(config({ autoRollbackEnabled: true, rollbackUrl }));
    expect(s.store.get(id)?.phase).toBe("pending");
    const r = await toTheEnd(s, id);
    expect(r.outcome).toBe("succeeded");
    expect(r.reason).toBe("every check passed");
    expect(rollbacks).toHaveLength(0);
    expect(s.alerts).toHaveLength(0);
    const phases = s.store.transitions(id).map((t) => t.to);
    expect(phases[0]).toBe("pending");
    expect(phases).toContain("healthy");
    expect(phases.at(-1)).toBe("succeeded");
    // The baseline window before the deploy does not change: measured once.
    expect(s.baseline.calls).toBe(1);
    expect(s.store.looks(id)).toHaveLength(5);
  });

  it("+8 points of 5xx: failed, rolled back once with a signed request, the team told once", async () => {
    const s = setup({ canary: () => ({ rps: 20, errorShare: 0.09, shape: FAST }) });
    const id = await s.monitor.startDeploymentMonitoring(config({ autoRollbackEnabled: true, rollbackUrl }));
    const r = await toTheEnd(s, id);
    expect(r.outcome).toBe("rolled_back");
    expect(r.reason).toMatch(/regression: .*5xx/);
    const phases = s.store.transitions(id).map((t) => t.to);
    expect(phases.slice(-3)).toEqual(["failed", "rolling_back", "rolled_back"]);
    // Decided within three looks of the first bad minute.
    expect(s.store.looks(id).length).toBeLessThanOrEqual(3);
    const failed = s.store.transitions(id).find((t) => t.to === "failed");
    expect(failed?.values).toMatchObject({ verdict: "fail" });
    expect(JSON.stringify(failed?.values)).toMatch(/error_rate/);
    expect(rollbacks).toHaveLength(1);
    const req = rollbacks[0] as Received;
    const body = JSON.parse(req.body);
    expect(body).toMatchObject({ deploymentId: id, version: "3.1.0", environment: "staging" });
    expect(body.reason).toMatch(/5xx/);
    expect(req.headers["idempotency-key"]).toBe(`${id}:rollback`);
    const ts = req.headers["x-tug-timestamp"] as string;
    const mac = createHmac("sha256", SECRET).update(`${ts}.${req.body}`).digest("hex");
    expect(req.headers["x-tug-signature"]).toBe(`sha256=${mac}`);
    expect(s.alerts).toHaveLength(1);
    expect(s.alerts[0]?.labels).toMatchObject({
      alertname: "DeploymentRolledBack",
      deployment_id: id,
      version: "3.1.0",
    });
    expect(s.alerts[0]?.annotations?.description).toMatch(/5xx/);
    expect(s.alerts[0]?.generatorURL).toBe(`http://tug.example/monitoring/#/deployments/${id}`);
  });

  it("+300 ms latency with no errors: the latency analysis fails it", async () => {
    const s = setup({ canary: () => ({ rps: 20, errorShare: 0.01, shape: SLOW }) });
    const id = await s.monitor.startDeploymentMonitoring(config());
    const r = await toTheEnd(s, id);
    expect(r.outcome).toBe("failed");
    expect(r.reason).toMatch(/Mann-Whitney .*slower.*p95 1000.0 ms vs baseline 100.0 ms/);
    expect(s.alerts[0]?.labels.alertname).toBe("DeploymentFailed");
  });

  it("a failing health check fails it once more than the allowed failures happened in a row", async () => {
    const s = setup();
    health = { status: 503, body: '{"status":"fail"}' };
    const id = await s.monitor.startDeploymentMonitoring(config({ healthFailuresAllowed: 1 }));
    expect(await nextLook(s, id)).toBe("degraded");
    const r = await toTheEnd(s, id);
    expect(r.outcome).toBe("failed");
    expect(r.reason).toMatch(
      /health gate: 2 health checks in a row failed \(allowed 1\); last: HTTP 503 fail/,
    );
    expect(s.store.looks(id)).toHaveLength(2);
  });

  it("200 with a health+json status of fail is a failure too", async () => {
    const s = setup();
    health = { status: 200, body: '{"status":"fail"}' };
    const id = await s.monitor.startDeploymentMonitoring(config({ healthFailuresAllowed: 0 }));
    const r = await toTheEnd(s, id);
    expect(r.reason).toMatch(/HTTP 200 but status fail/);
  });

  it("no traffic at all is inconclusive, and what that means at the end is configured", async () => {
    const none = () => ({ rps: 0, errorShare: 0, shape: FAST });
    for (const [on, outcome] of [
      ["fail", "failed"],
      ["pass", "succeeded"],
      ["hold", "inconclusive"],
    ] as const) {
      const s = setup({ canary: none });
      const id = await s.monitor.startDeploymentMonitoring(
        config({ onInconclusive: on, deploymentId: `none-${on}` }),
      );
      expect(await nextLook(s, id)).toBe("verifying");
      const r = await toTheEnd(s, id);
      expect(r.outcome, on).toBe(outcome);
      expect(r.reason).toMatch(/inconclusive at the end of monitoring: .*fewer than/);
    }
  });

  it("a rollback endpoint that is down is retried with backoff and the same key, then succeeds", async () => {
    const s = setup({ canary: () => ({ rps: 20, errorShare: 0.2, shape: FAST }) });
    rollbackStatus = 503;
    const id = await s.monitor.startDeploymentMonitoring(config({ autoRollbackEnabled: true, rollbackUrl }));
    while (s.store.get(id)?.phase !== "rolling_back") await nextLook(s, id);
    await waitFor("two refused attempts", () => rollbacks.length >= 1);
    for (let i = 0; i < 4; i++) {
      const n = rollbacks.length;
      await s.clock.advanceAsync(60_000);
      await waitFor(`attempt ${n + 1}`, () => rollbacks.length > n);
    }
    expect(s.store.get(id)?.rollback).toMatchObject({ status: "pending", lastStatus: 503 });
    rollbackStatus = 200;
    const n = rollbacks.length;
    await s.clock.advanceAsync(60_000);
    const r = await waitFor("rolled back", () => (s.store.get(id)?.outcome ? s.store.get(id) : undefined));
    expect(r?.outcome).toBe("rolled_back");
    expect(r?.rollback.attempts).toBe(n + 1);
    expect(new Set(rollbacks.map((x) => x.headers["idempotency-key"]))).toEqual(new Set([`${id}:rollback`]));
    expect(s.alerts).toHaveLength(1);
  });

  it("a rollback endpoint down past the retry time: rollback_failed, recorded, the team told", async () => {
    const s = setup({ canary: () => ({ rps: 20, errorShare: 0.2, shape: FAST }) });
    rollbackStatus = 503;
    const id = await s.monitor.startDeploymentMonitoring(
      config({ autoRollbackEnabled: true, rollbackUrl, rollbackRetryMinutes: 2 }),
    );
    const r = await toTheEnd(s, id);
    expect(r.outcome).toBe("rollback_failed");
    expect(r.rollback.status).toBe("failed");
    expect(r.rollback.attempts).toBeGreaterThan(1);
    expect(r.reason).toMatch(/rollback request failed after \d+ attempts: .*503/);
    expect(s.alerts.map((a) => a.labels.alertname)).toEqual(["DeploymentFailed"]);
  });

  it("a restart in the middle resumes from the store; a window that ended meanwhile is interrupted", async () => {
    dir = mkdtempSync(join(tmpdir(), "tug-deploy-"));
    const file = join(dir, "deployments.db");
    const clock = new ManualClock();
    const a = setup({ file, clock });
    const id = await a.monitor.startDeploymentMonitoring(config());
    await nextLook(a, id);
    await nextLook(a, id);
    await a.monitor.stop();
    a.store.close();
    open.splice(0);

    const b = setup({ file, clock });
    b.monitor.resume();
    expect(b.store.transitions(id).at(-1)?.reason).toBe("resumed after a restart of the monitor");
    const r = await toTheEnd(b, id);
    expect(r.outcome).toBe("succeeded");
    expect(b.store.looks(id)).toHaveLength(5);

    const late = await b.monitor.startDeploymentMonitoring(config({ deploymentId: "late" }));
    await b.monitor.stop();
    b.store.close();
    open.splice(0);
    clock.skip(10 * 60_000);
    const c = setup({ file, clock });
    c.monitor.resume();
    const ended = c.store.get(late);
    expect(ended?.outcome).toBe("interrupted");
    expect(ended?.reason).toMatch(/not running when the monitoring window ended/);
    expect(c.store.transitions(late).map((t) => t.to)).toEqual(["pending", "interrupted"]);
  });

  it("abort and promote end a deployment being watched, and only one", async () => {
    const s = setup();
    const a = await s.monitor.startDeploymentMonitoring(config({ deploymentId: "a" }));
    const p = await s.monitor.startDeploymentMonitoring(config({ deploymentId: "p" }));
    expect(s.monitor.abort(a).outcome).toBe("aborted");
    expect(s.monitor.promote(p, "looks good").reason).toBe("looks good");
    expect(() => s.monitor.abort(a)).toThrow(/it is aborted/);
    expect(s.alerts).toHaveLength(0);
    expect(s.monitor.inProgress).toBe(0);
  });

  it("bad input is refused naming the field, and nothing is started", async () => {
    const s = setup();
    const refused = async (input: unknown) => {
      const err = await s.monitor.startDeploymentMonitoring(input).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TugError);
      return (err as TugError).details?.map((d) => d.field) ?? [];
    };
    expect(await refused(config({ monitoringDurationMinutes: -1 }))).toEqual(["monitoringDurationMinutes"]);
    expect(await refused(config({ rollbackUrl: "ht!tp:/nowhere" }))).toEqual(["rollbackUrl"]);
    expect(await refused(config({ colour: "red" }))).toEqual(["colour"]);
    expect(await refused({ ...config(), health_check_url: healthUrl })).toEqual(["health_check_url"]);
    expect(await refused(config({ autoRollbackEnabled: true }))).toEqual(["rollbackUrl"]);
    expect(await refused(config({ healthCheckUrl: "http://127.0.0.1:9/health" }))).toEqual([
      "healthCheckUrl",
    ]);
    expect(s.store.count()).toBe(0);
    // The seed's snake_case, as its example writes it.
    const id = await s.monitor.startDeploymentMonitoring({
      deployment_id: "v3.1.0-prod",
      version: "3.1.0",
      environment: "production",
      health_check_url: healthUrl,
      rollback_url: rollbackUrl,
      auto_rollback_enabled: true,
      max_error_rate_percent: 5.0,
      monitoring_duration_minutes: 15,
    });
    expect(id).toBe("v3.1.0-prod");
    expect(s.store.get(id)?.config).toMatchObject({
      autoRollbackEnabled: true,
      monitoringDurationMinutes: 15,
    });
  });
});
