import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Recorder, startRecorder } from "./support/alertmanager.js";
import {
  type CiCdServer,
  type Faults,
  type LoadGenerator,
  MONITORING_TOKEN,
  SIGNING_SECRET,
  type Switch,
  startCiCd,
  startLoad,
  startSwitch,
  startTug,
  type TugProcess,
} from "./support/deploy-harness.js";
import { waitFor } from "./support/wait.js";

/**
 * Deployment monitoring end to end (issue 14, "Must show"), all real: a current TUG process, new
 * ones made bad by fault injection, a switch routing a steady load to one of them, and a CI/CD
 * server whose rollback endpoint switches traffic back. Each scenario is watched twice at once:
 * by the new process's own monitor (POST /monitoring/deployments) and by `tug deploy watch`
 * (the CI/CD gate, its own process). The baseline is the current process's traffic in the window
 * before the deploy, read from its query API.
 *
 * Nothing here waits a fixed time or asserts a duration: "within three check intervals" is
 * counted in the monitor's own looks.
 *
 * Order: every process starts first (so the machine is as busy during a baseline as after the
 * deploy); (a) and (e) side by side (only (a) takes traffic), then (b), (c), (f) and (d) one
 * after the other, each once traffic has been back on the current version long enough to make a
 * baseline. The analysis runs with its defaults; the windows are short (looks every 5 s, a 45 s
 * baseline) and the load (30 requests a second) large enough for its minimum sample sizes.
 */

const ROOT = new URL("..", import.meta.url).pathname;
const RATE = 30;
const INTERVAL_S = 5;
const BASELINE_MIN = 0.75;
/** Requests of the current version within the baseline window before a deploy starts. */
const BASELINE_REQUESTS = 600;
const LONG = 240_000;

let team: Recorder;
let current: TugProcess;
let sw: Switch;
let cicd: CiCdServer;
/** The CLI's own CI/CD endpoint: records and verifies, switches nothing. */
let cliCicd: CiCdServer;
let load: LoadGenerator | undefined;
const news: TugProcess[] = [];

/** A new version, reachable through the switch as `name`. */
async function startNew(name: string, faults: Faults = {}): Promise<TugProcess> {
  const p = await startTug({ name, notifyUrl: `${team.url}/${name}`, faults, releaseId: `1.1.0-${name}` });
  news.push(p);
  sw.addTarget(name, { base: p.base, token: p.userToken });
  return p;
}

const queryUrl = (p: TugProcess) => `${p.base}/monitoring/api/v1/query`;
/**
 * The health URL of scenarios other than (d): the readiness probe (critical checks only). The
 * full report also fails when a saturated machine fails the CPU check, which is not the new
 * version's fault.
 */
const readyUrl = (p: TugProcess) => `${p.base}/monitoring/health/ready`;
/** (d)'s health URL: the full report, where the fault_injection check fails. */
const healthUrl = (p: TugProcess) => `${p.base}/monitoring/health`;

/** Waits until the current version has served a baseline's worth within the baseline window. */
async function baselineReady(): Promise<void> {
  await waitFor(
    `${BASELINE_REQUESTS} requests served by the current version within the baseline window`,
    () =>
      sw.current() === "current" &&
      (load?.stats({ target: "current", since: Date.now() - BASELINE_MIN * 60_000 }).requests ?? 0) >=
        BASELINE_REQUESTS,
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

interface Deployment {
  id: string;
  version: string;
  phase: string;
  outcome: string | null;
  reason: string | null;
  startedAt: number;
  transitions: Array<{ at: number; from: string | null; to: string; reason: string; values?: any }>;
  looks: Array<{
    at: number;
    health: { ok: boolean; reason: string };
    verdict?: any;
    consecutiveHealthFailures: number;
  }>;
  verdict: {
    outcome: string;
    reason: string;
    checks: Array<{ check: string; outcome: string; explanation: string }>;
  } | null;
  rollback: { status: string; attempts: number; idempotencyKey?: string; lastStatus?: number };
}

/** Starts watching through the new process's HTTP API; returns the deployment id. */
async function startWatching(p: TugProcess, body: Record<string, unknown>): Promise<string> {
  const r = await p.monitoring("POST", "/monitoring/deployments", body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  expect(r.body.deployment).toMatchObject({ phase: "pending", outcome: null });
  return r.body.deployment.id as string;
}

async function outcomeOf(p: TugProcess, id: string): Promise<Deployment> {
  let last: unknown;
  return waitFor(
    `deployment ${id} to finish`,
    async () => {
      const r = await p.monitoring("GET", `/monitoring/deployments/${encodeURIComponent(id)}`);
      last = r.body;
      const d = r.body?.deployment as Deployment | undefined;
      return d && d.outcome !== null ? d : undefined;
    },
    { timeoutMs: LONG, intervalMs: 500, last: () => last },
  );
}

interface Watch {
  /** Resolves once the CLI watches (its first transition, to pending) or has exited. */
  watching: Promise<void>;
  done: Promise<{ code: number | null; report: any; stderr: string }>;
}

/**
 * `tug deploy watch … --json` as a pipeline runs it: its exit code and its report. The scenarios
 * start it before traffic moves, so that its start-up (a second Node process compiling the CLI)
 * is not in the new version's window.
 */
function watch(args: string[]): Watch {
  const child = spawn(
    process.execPath,
    [join(ROOT, "bin/tug.js"), "deploy", "watch", ...args, "--token", MONITORING_TOKEN, "--json"],
    {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/tmp",
        ENVIRONMENT: "staging",
        WEBHOOK_SIGNING_SECRET: SIGNING_SECRET,
        CI: "true",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  let started: () => void = () => {};
  const watching = new Promise<void>((r) => {
    started = r;
  });
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
    if (err.includes("→ pending")) started();
  });
  const done = new Promise<Awaited<Watch["done"]>>((resolve) => {
    child.on("exit", (code) => {
      started();
      let report: unknown;
      try {
        report = JSON.parse(out);
      } catch {
        report = out; // not JSON (exit 2 prints usage on stderr): the assertion shows it
      }
      resolve({ code, report, stderr: err });
    });
  });
  return { watching, done };
}

/** Starts the CLI watchers and resolves once every one of them watches. */
async function watching<T extends Watch[]>(...ws: T): Promise<T> {
  await Promise.all(ws.map((w) => w.watching));
  return ws;
}

function cliArgs(
  p: TugProcess,
  o: { version: string; duration: string; health?: string; extra?: string[] },
): string[] {
  return [
    "--version",
    o.version,
    "--health-url",
    o.health ?? readyUrl(p),
    "--duration",
    o.duration,
    "--interval",
    `${INTERVAL_S}s`,
    "--baseline-metrics-url",
    queryUrl(current),
    "--baseline-window",
    `${BASELINE_MIN}m`,
    "--max-error-rate",
    "5",
    ...(o.extra ?? []),
  ];
}

/** The team's notifications (webhook POSTs) about one deployment, by alert name. */
function told(id: string): string[] {
  return team.received.flatMap((r) =>
    ((r.json?.alerts ?? []) as Array<{ status: string; labels: Record<string, string> }>)
      .filter((a) => a.labels.deployment_id === id && a.status === "firing")
      .map((a) => a.labels.alertname as string),
  );
}

const rollbacksOf = (server: CiCdServer, id: string) =>
  server.requests.filter((r) => r.json?.deploymentId === id);

/** A new version of each scenario, started before any baseline so the machine is steady. */
const versions: Record<string, Promise<TugProcess>> = {};
const scenario = (name: string) => versions[name] as Promise<TugProcess>;

beforeAll(async () => {
  team = await startRecorder();
  const started = startTug({ name: "current", notifyUrl: `${team.url}/current`, releaseId: "1.0.0" });
  const faults: Record<string, Faults> = {
    a: {},
    b: { errorPercent: 8 },
    c: { latencyMs: 300 },
    d: { healthFail: true },
    e: {},
    f: { errorPercent: 8 },
  };
  current = await started;
  sw = await startSwitch({ current: { base: current.base, token: current.userToken } }, "current");
  cicd = await startCiCd({ secret: SIGNING_SECRET, onRollback: () => sw.switchTo("current") });
  cliCicd = await startCiCd({ secret: SIGNING_SECRET, onRollback: () => {} });
  for (const [name, f] of Object.entries(faults)) versions[name] = startNew(name, f);
  // Each one that started is in `news` (stopped by afterAll) once this settles.
  const failed = (await Promise.allSettled(Object.values(versions))).find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  load = startLoad({ url: sw.url, ratePerSecond: RATE });
}, 180_000);

afterAll(async () => {
  await load?.stop();
  for (const p of [...news, current]) await p?.stop();
  await sw?.close();
  await cicd?.close();
  await cliCicd?.close();
  await team?.close();
}, 120_000);

/** The settings every scenario shares (the seed's names in camelCase). */
const common = () => ({
  checkIntervalSeconds: INTERVAL_S,
  baselineWindowMinutes: BASELINE_MIN,
  baselineMetricsUrl: queryUrl(current),
  maxErrorRatePercent: 5,
});

/** Looks allowed before a bad version is failed: the first bad minute plus three intervals. */
const LOOKS_TO_DETECT = 60 / INTERVAL_S + 3;

describe("deployment monitoring, end to end", () => {
  it(
    "(a) a healthy new version succeeds with no rollback; (e) one with no traffic is inconclusive, as configured",
    async () => {
      const [a, e] = await Promise.all([scenario("a"), scenario("e")]);
      await baselineReady();
      const [wA, wE, wEpass] = await watching(
        watch(
          cliArgs(a, { version: "1.1.0-a", duration: "1m", extra: ["--rollback-url", cliCicd.rollbackUrl] }),
        ),
        watch(cliArgs(e, { version: "1.1.0-e", duration: "30s" })),
        watch(cliArgs(e, { version: "1.1.0-e", duration: "30s", extra: ["--on-inconclusive", "pass"] })),
      );
      sw.switchTo("a");
      const [idA, idE] = await Promise.all([
        startWatching(a, {
          ...common(),
          version: "1.1.0-a",
          healthCheckUrl: readyUrl(a),
          rollbackUrl: cicd.rollbackUrl,
          autoRollbackEnabled: true,
          monitoringDurationMinutes: 1,
        }),
        startWatching(e, {
          ...common(),
          version: "1.1.0-e",
          healthCheckUrl: readyUrl(e),
          monitoringDurationMinutes: 0.5,
          onInconclusive: "hold",
        }),
      ]);
      const [cliA, cliE, cliEpass, dA, dE] = await Promise.all([
        wA.done,
        wE.done,
        wEpass.done,
        outcomeOf(a, idA),
        outcomeOf(e, idE),
      ]);
      dump("a-e", { dA, dE, cliA, cliE, cliEpass });

      // (a): succeeded, every check passed at the end, no rollback, nothing told to the team.
      expect(dA, JSON.stringify(dA.transitions)).toMatchObject({ phase: "succeeded", outcome: "succeeded" });
      expect(dA.rollback.status).toBe("not_requested");
      expect(dA.verdict?.outcome).toBe("pass");
      expect(dA.looks.length).toBeGreaterThanOrEqual(60 / INTERVAL_S);
      expect(rollbacksOf(cicd, idA)).toHaveLength(0);
      expect(sw.current()).toBe("a");
      expect(load?.stats({ target: "a" }).errors5xx).toBe(0);
      expect(cliA.code, JSON.stringify(cliA.report).slice(0, 3000)).toBe(0);
      expect(cliA.report).toMatchObject({ outcome: "succeeded" });
      expect(cliCicd.requests).toHaveLength(0);

      // (e) no traffic at all: never a pass, never a crash. "hold" ends inconclusive; the CLI's
      // default (fail) fails; --on-inconclusive pass passes, saying why.
      expect(dE, JSON.stringify(dE.transitions)).toMatchObject({
        phase: "inconclusive",
        outcome: "inconclusive",
      });
      expect(dE.reason).toMatch(/inconclusive at the end of monitoring: .*\(onInconclusive: hold\)/);
      expect(dE.looks.every((l) => l.verdict?.outcome === "inconclusive")).toBe(true);
      expect(load?.stats({ target: "e" }).requests).toBe(0);
      expect(cliE.code, JSON.stringify(cliE.report).slice(0, 3000)).toBe(1);
      expect(cliE.report).toMatchObject({
        outcome: "failed",
        reason: expect.stringContaining("onInconclusive: fail"),
      });
      expect(cliEpass.code).toBe(0);
      expect(cliEpass.report).toMatchObject({
        outcome: "succeeded",
        reason: expect.stringContaining("onInconclusive: pass"),
      });

      // The team hears about (e) once, through the notifier; nothing about (a).
      await waitFor("the team told about (e)", () => told(idE).length > 0, { timeoutMs: 60_000 });
      expect(told(idE)).toEqual(["DeploymentInconclusive"]);
      expect(told(idA)).toEqual([]);
      sw.switchTo("current");
      await Promise.all([a.stop(), e.stop()]);
    },
    LONG,
  );

  /** Deploys a bad version through the switch, watched by the API (auto-rollback) and the CLI. */
  async function badDeploy(
    name: string,
    o: {
      body?: Record<string, unknown>;
      /** Send the body with the seed's snake_case names. */
      snake?: boolean;
      health?: (p: TugProcess) => string;
      cli?: string[];
      before?: () => Promise<void>;
    } = {},
  ) {
    const p = await scenario(name);
    await baselineReady();
    const [cliWatch] = await watching(
      watch(
        cliArgs(p, {
          version: `1.1.0-${name}`,
          duration: "2m",
          health: (o.health ?? readyUrl)(p),
          extra: ["--rollback-url", cliCicd.rollbackUrl, ...(o.cli ?? [])],
        }),
      ),
    );
    sw.switchTo(name);
    await o.before?.();
    const body: Record<string, unknown> = {
      ...common(),
      version: `1.1.0-${name}`,
      healthCheckUrl: (o.health ?? readyUrl)(p),
      rollbackUrl: cicd.rollbackUrl,
      autoRollbackEnabled: true,
      monitoringDurationMinutes: 2,
      ...o.body,
    };
    const id = await startWatching(p, o.snake ? snakeCase(body) : body);
    const [cli, d] = await Promise.all([cliWatch.done, outcomeOf(p, id)]);
    dump(name, { d, cli });
    return { p, id, d, cli };
  }

  /** What every rolled-back scenario shows: one signed request, one notification, traffic back. */
  async function expectRolledBack(r: Awaited<ReturnType<typeof badDeploy>>, failing: RegExp) {
    const { p, id, d, cli } = r;
    expect(d, JSON.stringify(d.transitions)).toMatchObject({ phase: "rolled_back", outcome: "rolled_back" });
    // Detected within the first bad minute plus three check intervals, counted in looks.
    const failedAt = d.transitions.find((t) => t.to === "failed");
    expect(failedAt?.reason).toMatch(failing);
    const looksBefore = d.looks.filter((l) => l.at <= (failedAt?.at ?? 0)).length;
    expect(looksBefore).toBeLessThanOrEqual(LOOKS_TO_DETECT);
    // The transition carries the measured values that caused it.
    expect(failedAt?.values?.checks).toBeDefined();
    expect(d.transitions.map((t) => t.to).slice(-3)).toEqual(["failed", "rolling_back", "rolled_back"]);
    // The CI/CD system got the signed request and switched traffic back.
    expect(d.rollback).toMatchObject({
      status: "succeeded",
      idempotencyKey: `${id}:rollback`,
      lastStatus: 200,
    });
    expect(sw.current()).toBe("current");
    expect(sw.history.at(-1)).toMatchObject({ from: p.name, to: "current" });
    // The CLI watched the same version from the pipeline: exit 1, its own signed rollback.
    expect(cli.code, JSON.stringify(cli.report).slice(0, 3000)).toBe(1);
    expect(cli.report).toMatchObject({ outcome: "rolled_back" });
    expect(cli.report.reason).toMatch(failing);
    const cliRollbacks = rollbacksOf(cliCicd, cli.report.id);
    expect(cliRollbacks).toHaveLength(1);
    expect(cliRollbacks[0]).toMatchObject({ signatureValid: true, answered: 200 });
    // The team is told once through the notifier, for each of the two.
    await waitFor(
      "the team told about the rollback",
      () => told(id).length > 0 && told(cli.report.id).length > 0,
      {
        timeoutMs: 60_000,
      },
    );
    expect(told(id)).toEqual(["DeploymentRolledBack"]);
    expect(told(cli.report.id)).toEqual(["DeploymentRolledBack"]);
    await p.stop();
  }

  it(
    "(b) +8 points of 5xx: detected by the error checks, rolled back, the request signed and received once",
    async () => {
      // The seed's own snake_case names, as its example writes them.
      const r = await badDeploy("b", { snake: true });
      await expectRolledBack(r, /^regression: .*5xx share/);
      const mine = rollbacksOf(cicd, r.id);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({
        signatureValid: true,
        answered: 200,
        idempotencyKey: `${r.id}:rollback`,
        json: {
          deploymentId: r.id,
          version: "1.1.0-b",
          environment: "staging",
          reason: expect.stringMatching(/5xx/),
        },
      });
      expect(mine[0]?.headers["user-agent"]).toMatch(/^TUG-DeploymentMonitor/);
      // What the users of the bad version got: about 8 % errors, none from the current version.
      const bad = load?.stats({ target: "b" });
      expect(bad?.errors5xx).toBeGreaterThan(0);
      expect(load?.stats({ target: "current" }).errors5xx).toBe(0);
    },
    LONG,
  );

  it(
    "(c) +300 ms and no errors: detected by the latency analysis, error checks passing, rolled back",
    async () => {
      const r = await badDeploy("c");
      await expectRolledBack(r, /^regression: .*(latency|Mann-Whitney|p95)/i);
      const failed = r.d.transitions.find((t) => t.to === "failed");
      expect(failed?.values.checks.error_rate_limit.outcome).toBe("pass");
      expect(
        ["latency_rank", "latency_p95", "latency_mean"].some(
          (k) => failed?.values.checks[k].outcome === "fail",
        ),
      ).toBe(true);
      expect(rollbacksOf(cicd, r.id)).toHaveLength(1);
      expect(load?.stats({ target: "c" }).errors5xx).toBe(0);
    },
    LONG,
  );

  it(
    "(f) the rollback endpoint down for a minute: retried with one key, then recorded, nothing lost",
    async () => {
      const r = await badDeploy("f", { before: () => cicd.down(60_000, "503") });
      await expectRolledBack(r, /^regression: .*5xx share/);
      const mine = rollbacksOf(cicd, r.id);
      expect(mine.length).toBeGreaterThan(1);
      expect(mine.length).toBe(r.d.rollback.attempts);
      expect(new Set(mine.map((m) => m.idempotencyKey))).toEqual(new Set([`${r.id}:rollback`]));
      expect(mine.every((m) => m.signatureValid)).toBe(true);
      expect(mine.slice(0, -1).every((m) => m.answered === 503)).toBe(true);
      expect(mine.at(-1)?.answered).toBe(200);
      expect(cicd.rolledBack.filter((k) => k === `${r.id}:rollback`)).toHaveLength(1);
      // The outage is in the history: the rollback's record says how many attempts it took.
      expect(r.d.transitions.at(-1)?.reason).toMatch(
        new RegExp(`rolled back \\(${mine.length} attempts, HTTP 200\\)`),
      );
    },
    LONG,
  );

  it(
    "(d) a new version whose /monitoring/health fails is failed by the health gate",
    async () => {
      const r = await badDeploy("d", {
        health: healthUrl,
        body: { healthFailuresAllowed: 1 },
        cli: ["--health-failures-allowed", "1"],
      });
      await expectRolledBack(
        r,
        /^health gate: 2 health checks in a row failed \(allowed 1\); last: HTTP 503/,
      );
      expect(r.d.looks.filter((l) => !l.health.ok)).toHaveLength(2);
    },
    LONG,
  );
});

/** `healthCheckUrl` → `health_check_url`: the seed's spelling. */
function snakeCase(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(body).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]),
  );
}

/** With DEPLOY_E2E_DUMP=DIR, each scenario's deployments as JSON (to read what happened). */
function dump(name: string, what: unknown): void {
  const dir = process.env.DEPLOY_E2E_DUMP;
  if (dir) writeFileSync(join(dir, `${name}.json`), JSON.stringify(what, null, 1));
}
