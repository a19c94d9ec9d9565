// The deployment monitor: "watch v3.1.0 for 15 minutes; if it is unhealthy or measurably worse
// than what ran before, roll it back and tell the team" — Argo Rollouts' AnalysisRun and
// Kayenta's canary judge, for a plain Node.js service.
//
// Each deployment is a run of looks, one every `checkIntervalSeconds` until
// `monitoringDurationMinutes` have passed. A look (1) probes the health URL — the health gate
// fails the deployment once more than `healthFailuresAllowed` probes in a row failed — and (2)
// measures the new version since the deploy and its baseline (the window before the deploy, or
// a baseline instance over the same window), and hands both to the RegressionJudge
// (analysis.ts): a regression is decided after `consecutiveFailures` failing looks. Too little
// data is `inconclusive`, never a pass; what it means at the end is `onInconclusive`.
//
// Phases (types.ts): pending → verifying → healthy | degraded → succeeded | failed →
// rolling_back → rolled_back | rollback_failed; aborted, inconclusive, interrupted. Every
// transition is written to the store (store.ts) with its time, reason and the measured values,
// before anything acts on it; a restart finds unfinished deployments there and resumes them
// (`resume()`), or marks them `interrupted` when their window ended while no monitor ran. The
// outcome is told to the team once, as an alert through the notifier (DeploymentFailed,
// DeploymentRolledBack), so it is routed, grouped, silenced and rate-limited like any alert.
//
// Clock and timers are injected (src/core/clock.ts): tests drive whole deployments with the
// manual clock. All work here is I/O waiting plus a few arithmetic steps per look; the queries
// run in the engine worker or in Prometheus.

import type { PostableAlert } from "../alerts/wire.js";
import { systemTimers, type TimerHandle, type Timers } from "../core/clock.js";
import { TugError } from "../core/errors.js";
import { DEFAULT_ANALYSIS, RegressionJudge } from "./analysis.js";
import {
  analysisSettings,
  type DeploymentConfig,
  parseDeploymentConfig,
  publicConfig,
  queryUrls,
} from "./config.js";
import { probeHealth, requestRollback, unreachable } from "./rollback.js";
import type { MetricsSource } from "./source.js";
import {
  type DeploymentRecord,
  type DeploymentStore,
  type HealthResult,
  type Look,
  MAX_LOOKS,
  type Transition,
} from "./store.js";
import {
  ACTIVE_PHASES,
  type AnalysisSettings,
  type Decision,
  type DeploymentOutcome,
  type DeploymentPhase,
  type Verdict,
  type WindowCounts,
} from "./types.js";

export interface MonitorEvents {
  started?(r: DeploymentRecord): void;
  finished?(r: DeploymentRecord): void;
}

export type MonitorLog = (
  level: "info" | "warn" | "error",
  fields: Record<string, unknown>,
  msg: string,
) => void;

export interface DeploymentMonitorOptions {
  store: DeploymentStore;
  /** Where each version's metrics come from. */
  sources(c: DeploymentConfig): { canary: MetricsSource; baseline: MetricsSource };
  /** Tells the team: the alert goes to the notifier (or an Alertmanager). */
  notify(alert: PostableAlert): void | Promise<void>;
  defaultEnvironment: string;
  /** The `service` label of the alerts. */
  service: string;
  /** HMAC key of the rollback request (the webhooks' signing secret). */
  signingSecret?: string;
  /**
   * The monitoring token of the watched app, sent with the health probe when the health URL is
   * on the same origin as the new version's query API (never to another host).
   */
  token?: string;
  /** Links in the alerts: <externalURL>/monitoring/#/deployments/<id>. */
  externalURL?: string;
  analysis?: AnalysisSettings;
  /** Deployments watched at once; one more is a 429. */
  maxActive?: number;
  now?: () => number;
  timers?: Timers;
  fetch?: typeof fetch;
  log?: MonitorLog;
  events?: MonitorEvents;
}

/** What a person (the API, the dashboard, the CLI) reads about a deployment. */
export interface DeploymentView extends Omit<DeploymentRecord, "config" | "notified"> {
  config: Record<string, unknown>;
  endsAt: number;
  transitions: Transition[];
  /** The last 100 looks; histogram bounds written as Prometheus writes `le` ("0.005", "+Inf"). */
  looks: Array<Omit<Look, "canary" | "baseline"> & { canary?: unknown; baseline?: unknown }>;
  /** The last look's verdict, the one that explains the current phase. */
  verdict: Verdict | null;
}

interface Run {
  config: DeploymentConfig;
  judge: RegressionJudge;
  canary: MetricsSource;
  baselineSource: MetricsSource;
  /** The window before the deploy does not change: measured once. */
  baseline?: WindowCounts;
  healthFailures: number;
  lastHealth?: HealthResult;
  lastDecision?: Decision;
  looks: number;
  timer?: TimerHandle;
  looking?: Promise<void>;
  rollback?: AbortController;
  /** Set once the run is over (a person's action, or the last look). */
  done: boolean;
}

const TERMINAL_ALERT: Partial<Record<DeploymentOutcome, { alertname: string; severity: string }>> = {
  failed: { alertname: "DeploymentFailed", severity: "critical" },
  rollback_failed: { alertname: "DeploymentFailed", severity: "critical" },
  rolled_back: { alertname: "DeploymentRolledBack", severity: "warning" },
  inconclusive: { alertname: "DeploymentInconclusive", severity: "warning" },
  interrupted: { alertname: "DeploymentInconclusive", severity: "warning" },
};

export class DeploymentMonitor {
  private readonly runs = new Map<string, Run>();
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly analysis: AnalysisSettings;
  private readonly log: MonitorLog;
  private stopped = false;

  constructor(private readonly o: DeploymentMonitorOptions) {
    this.now = o.now ?? Date.now;
    this.timers = o.timers ?? systemTimers;
    this.analysis = o.analysis ?? DEFAULT_ANALYSIS;
    this.log = o.log ?? (() => {});
  }

  /** Deployments being watched (or rolled back) right now. */
  get inProgress(): number {
    return this.runs.size;
  }

  /**
   * The seed's entry point: validates the configuration (camelCase or the seed's snake_case),
   * checks that the health URL answers at all, records the deployment and starts watching it.
   * Returns its id. Bad input throws a TugError naming the field; nothing is started.
   */
  async startDeploymentMonitoring(input: unknown): Promise<string> {
    if (this.stopped) throw new TugError("DATABASE_UNAVAILABLE", "The deployment monitor is stopping");
    const startedAt = this.now();
    const config = parseDeploymentConfig(input, { environment: this.o.defaultEnvironment, now: startedAt });
    const max = this.o.maxActive ?? 10;
    if (this.runs.size >= max)
      throw new TugError("LIMIT_EXCEEDED", `${max} deployments are being watched already`, [
        { field: "deployments", message: `at most ${max} at once (finish, abort or promote one)` },
      ]);
    if (this.o.store.get(config.deploymentId))
      throw new TugError("VALIDATION_FAILED", `A deployment with id ${config.deploymentId} exists already`, [
        { field: "deploymentId", message: "is taken; give another or leave it out" },
      ]);
    const probe = await this.probe(config);
    if (unreachable(probe))
      throw new TugError("VALIDATION_FAILED", `healthCheckUrl does not answer: ${probe.reason}`, [
        { field: "healthCheckUrl", message: `does not answer (${probe.reason})` },
      ]);
    const record: DeploymentRecord = {
      id: config.deploymentId,
      version: config.version,
      environment: config.environment,
      config,
      phase: "pending",
      outcome: null,
      startedAt,
      finishedAt: null,
      reason: null,
      rollback: { status: "not_requested", attempts: 0 },
      notified: false,
    };
    this.o.store.create(record, {
      at: startedAt,
      from: null,
      to: "pending",
      reason: "deployment monitoring started",
    });
    this.log("info", { deployment: record.id, version: record.version }, "deployment monitoring started");
    this.o.events?.started?.(record);
    this.begin(config, startedAt, 0);
    return record.id;
  }

  /** After a restart: picks up what the store says was unfinished. */
  resume(): void {
    const at = this.now();
    for (const r of this.o.store.active()) {
      if (this.runs.has(r.id)) continue;
      if (r.outcome !== null) {
        // Finished, but the team was not told before the stop.
        this.tell(r);
        continue;
      }
      if (r.phase === "rolling_back") {
        this.resumeRollback(r);
        continue;
      }
      const endsAt = r.startedAt + r.config.monitoringDurationMinutes * 60_000;
      if (at >= endsAt) {
        this.finish(
          r.id,
          "interrupted",
          "interrupted",
          "the monitor was not running when the monitoring window ended",
        );
        continue;
      }
      const looks = this.o.store.looks(r.id, MAX_LOOKS);
      const last = looks[looks.length - 1];
      this.record(r.id, r.phase, r.phase, "resumed after a restart of the monitor", {
        looksBefore: looks.length,
      });
      const run = this.begin(
        r.config,
        r.startedAt,
        Math.floor((at - r.startedAt) / (r.config.checkIntervalSeconds * 1000)),
      );
      run.healthFailures = last?.consecutiveHealthFailures ?? 0;
    }
  }

  /** Stops watching (the process is stopping): the store keeps every run for `resume()`. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const run of this.runs.values()) {
      this.timers.clearTimeout(run.timer);
      run.rollback?.abort();
    }
    await Promise.allSettled([...this.runs.values()].map((r) => r.looking));
    this.runs.clear();
  }

  get(id: string): DeploymentView | undefined {
    const r = this.o.store.get(id);
    if (!r) return undefined;
    const looks = this.o.store.looks(id, 100);
    const { config, notified: _notified, ...rest } = r;
    return {
      ...rest,
      config: publicConfig(config),
      endsAt: r.startedAt + config.monitoringDurationMinutes * 60_000,
      transitions: this.o.store.transitions(id),
      looks: looks.map((l) => ({
        ...l,
        ...(l.canary ? { canary: windowView(l.canary) } : {}),
        ...(l.baseline ? { baseline: windowView(l.baseline) } : {}),
      })),
      verdict: [...looks].reverse().find((l) => l.verdict)?.verdict ?? null,
    };
  }

  /** For /monitoring/status: the deployment being watched (the newest), else the last one. */
  status(): Record<string, unknown> | null {
    const ids = [...this.runs.keys()];
    const r = ids.length > 0 ? this.o.store.get(ids[ids.length - 1] as string) : this.o.store.list(1)[0];
    if (!r) return null;
    return {
      id: r.id,
      version: r.version,
      environment: r.environment,
      phase: r.phase,
      outcome: r.outcome,
      startedAt: new Date(r.startedAt).toISOString(),
      endsAt: new Date(r.startedAt + r.config.monitoringDurationMinutes * 60_000).toISOString(),
      finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(),
      reason: r.reason,
      inProgress: this.runs.size,
    };
  }

  /** A person stops the monitoring: no rollback, no alert. */
  abort(id: string, reason = "aborted by a person"): DeploymentView {
    this.actionable(id, "abort");
    this.finish(id, "aborted", "aborted", reason);
    return this.get(id) as DeploymentView;
  }

  /** A person declares the new version good before the window ends. */
  promote(id: string, reason = "promoted by a person"): DeploymentView {
    this.actionable(id, "promote");
    this.finish(id, "succeeded", "succeeded", reason);
    return this.get(id) as DeploymentView;
  }

  /** A person asks for the rollback now (also after the monitoring ended). */
  rollback(id: string, reason = "rollback requested by a person"): DeploymentView {
    const r = this.require(id);
    if (!r.config.rollbackUrl)
      throw new TugError("VALIDATION_FAILED", "This deployment has no rollbackUrl", [
        { field: "rollbackUrl", message: "was not given when the deployment started" },
      ]);
    if (r.rollback.status === "pending" || r.rollback.status === "succeeded" || r.phase === "rolling_back")
      throw new TugError("VALIDATION_FAILED", `The rollback is ${r.rollback.status} already`, [
        { field: "rollback", message: `is ${r.rollback.status}` },
      ]);
    this.stopRun(id);
    this.startRollback(this.require(id), reason, {});
    return this.get(id) as DeploymentView;
  }

  // -------------------------------------------------------------------------------------------

  private begin(config: DeploymentConfig, startedAt: number, looksDone: number): Run {
    const run = this.newRun(config, looksDone, false);
    this.schedule(run, startedAt);
    return run;
  }

  private newRun(config: DeploymentConfig, looks: number, done: boolean): Run {
    const { canary, baseline } = this.o.sources(config);
    const run: Run = {
      config,
      judge: new RegressionJudge(analysisSettings(config, this.analysis)),
      canary,
      baselineSource: baseline,
      healthFailures: 0,
      looks,
      done,
    };
    this.runs.set(config.deploymentId, run);
    return run;
  }

  private schedule(run: Run, startedAt: number): void {
    const interval = run.config.checkIntervalSeconds * 1000;
    const endsAt = startedAt + run.config.monitoringDurationMinutes * 60_000;
    const due = Math.min(startedAt + (run.looks + 1) * interval, endsAt);
    run.timer = this.timers
      .setTimeout(
        () => {
          run.timer = undefined;
          run.looking = this.look(run, startedAt, endsAt).catch((err: unknown) =>
            this.log("error", { deployment: run.config.deploymentId, err }, "a deployment look failed"),
          );
        },
        Math.max(0, due - this.now()),
      )
      .unref();
  }

  private async look(run: Run, startedAt: number, endsAt: number): Promise<void> {
    const c = run.config;
    const id = c.deploymentId;
    const at = this.now();
    run.looks++;
    const [health, canary, baseline] = await Promise.all([
      this.probe(c),
      run.canary.measure(startedAt, at),
      this.baseline(run, startedAt, at),
    ]);
    if (run.done || this.stopped) return;
    run.healthFailures = health.ok ? 0 : run.healthFailures + 1;
    run.lastHealth = health;
    const metricsError = "error" in canary ? canary.error : "error" in baseline ? baseline.error : undefined;
    const decision = "error" in canary || "error" in baseline ? undefined : run.judge.look(baseline, canary);
    if (decision) run.lastDecision = decision;
    this.o.store.addLook(id, {
      at,
      health,
      consecutiveHealthFailures: run.healthFailures,
      ...(decision
        ? { verdict: decision.verdict, consecutiveFailures: decision.consecutiveFailures }
        : { metricsError: `metrics could not be read: ${metricsError}` }),
      ...("error" in canary ? {} : { canary }),
      ...("error" in baseline ? {} : { baseline }),
    });
    const values = lookValues(health, run.healthFailures, decision, metricsError);
    if (run.healthFailures > c.healthFailuresAllowed) {
      this.fail(
        run,
        `health gate: ${run.healthFailures} health checks in a row failed (allowed ${c.healthFailuresAllowed}); last: ${health.reason}`,
        values,
      );
      return;
    }
    if (decision?.regression) {
      this.fail(run, `regression: ${decision.verdict.reason}`, values);
      return;
    }
    const outcome = decision?.verdict.outcome ?? "inconclusive";
    const phase: DeploymentPhase =
      !health.ok || outcome === "fail" ? "degraded" : outcome === "pass" ? "healthy" : "verifying";
    const current = this.o.store.get(id)?.phase;
    if (current !== phase)
      this.record(id, current ?? null, phase, phaseReason(phase, health, decision, metricsError), values);
    if (at >= endsAt) this.conclude(run, decision, values);
    else this.schedule(run, startedAt);
  }

  private probe(c: DeploymentConfig): Promise<HealthResult> {
    const token = c.metricsToken ?? this.o.token;
    const sameOrigin = new URL(c.healthCheckUrl).origin === new URL(queryUrls(c).canary).origin;
    return probeHealth(
      c.healthCheckUrl,
      c.healthTimeoutSeconds * 1000,
      this.o.fetch,
      sameOrigin ? token : undefined,
    );
  }

  private async baseline(run: Run, startedAt: number, at: number): Promise<WindowCounts | { error: string }> {
    const c = run.config;
    if (c.baselineConcurrent) return run.baselineSource.measure(startedAt, at);
    if (run.baseline) return run.baseline;
    const m = await run.baselineSource.measure(startedAt - c.baselineWindowMinutes * 60_000, startedAt);
    if (!("error" in m)) run.baseline = m;
    return m;
  }

  /** The last look: the window is over. */
  private conclude(run: Run, decision: Decision | undefined, values: Record<string, unknown>) {
    // The health gate was judged by the look (failures count past the allowed ones in a row).
    const c = run.config;
    const v = decision?.verdict;
    if (v?.outcome === "fail")
      return this.fail(run, `regression at the end of monitoring: ${v.reason}`, values);
    if (v?.outcome === "pass")
      return this.finish(c.deploymentId, "succeeded", "succeeded", "every check passed", values);
    const why = `inconclusive at the end of monitoring: ${v?.reason ?? "no metrics could be read"}`;
    if (c.onInconclusive === "pass")
      return this.finish(
        c.deploymentId,
        "succeeded",
        "succeeded",
        `${why}; passed as configured (onInconclusive: pass)`,
        values,
      );
    if (c.onInconclusive === "hold")
      return this.finish(
        c.deploymentId,
        "inconclusive",
        "inconclusive",
        `${why} (onInconclusive: hold)`,
        values,
      );
    return this.fail(run, `${why}; failed as configured (onInconclusive: fail)`, values);
  }

  private fail(run: Run, reason: string, values: Record<string, unknown>): void {
    const id = run.config.deploymentId;
    this.stopRun(id);
    const r = this.require(id);
    this.log("warn", { deployment: id, version: r.version, reason }, "deployment failed");
    if (r.config.autoRollbackEnabled && r.config.rollbackUrl) {
      this.record(id, r.phase, "failed", reason, values);
      this.startRollback(this.require(id), reason, values);
    } else {
      this.finish(id, "failed", "failed", reason, values);
    }
  }

  private startRollback(r: DeploymentRecord, reason: string, values: Record<string, unknown>): void {
    const key = r.rollback.idempotencyKey ?? `${r.id}:rollback`;
    const record = {
      status: "pending" as const,
      attempts: 0,
      reason,
      idempotencyKey: key,
      requestedAt: this.now(),
    };
    this.o.store.setRollback(r.id, record);
    this.record(r.id, r.phase, "rolling_back", `rolling back: ${reason}`, values);
    this.resumeRollback(this.require(r.id));
  }

  private resumeRollback(r: DeploymentRecord): void {
    const url = r.config.rollbackUrl;
    if (!url) {
      this.finish(r.id, "rollback_failed", "rollback_failed", "no rollbackUrl");
      return;
    }
    const ctl = new AbortController();
    const holder = this.runs.get(r.id) ?? this.placeholder(r);
    holder.rollback = ctl;
    const reason = r.rollback.reason ?? r.reason ?? "rollback";
    const values = this.o.store.transitions(r.id).at(-1)?.values ?? {};
    holder.looking = requestRollback(
      {
        deploymentId: r.id,
        version: r.version,
        environment: r.environment,
        reason,
        values,
        requestedAt: new Date(r.rollback.requestedAt ?? this.now()).toISOString(),
      },
      r.rollback,
      {
        url,
        ...(this.o.signingSecret ? { secret: this.o.signingSecret } : {}),
        retryForMs: r.config.rollbackRetryMinutes * 60_000,
        now: this.now,
        timers: this.timers,
        signal: ctl.signal,
        onAttempt: (rec) => this.o.store.setRollback(r.id, rec),
      },
    ).then((rec) => {
      if (ctl.signal.aborted) return; // stopping: the next start resumes with the same key
      const ok = rec.status === "succeeded";
      const detail = ok
        ? `rolled back (${rec.attempts} attempt${rec.attempts === 1 ? "" : "s"}, HTTP ${rec.lastStatus})`
        : `the rollback request failed after ${rec.attempts} attempts: ${rec.lastError ?? "refused"}`;
      this.finish(
        r.id,
        ok ? "rolled_back" : "rollback_failed",
        ok ? "rolled_back" : "rollback_failed",
        `${reason}; ${detail}`,
        {
          ...values,
          rollback: rec,
        },
      );
    });
  }

  /** A run that only carries a rollback (resumed after a restart, or asked for by a person). */
  private placeholder(r: DeploymentRecord): Run {
    return this.newRun(r.config, 0, true);
  }

  private finish(
    id: string,
    phase: DeploymentPhase,
    outcome: DeploymentOutcome,
    reason: string,
    values?: Record<string, unknown>,
  ): void {
    this.stopRun(id);
    this.runs.delete(id);
    const r = this.require(id);
    this.o.store.transition(
      id,
      { at: this.now(), from: r.phase, to: phase, reason, ...(values ? { values } : {}) },
      { outcome, reason },
    );
    const done = this.require(id);
    this.log(
      outcome === "succeeded" ? "info" : "warn",
      { deployment: id, version: r.version, outcome, reason },
      "deployment finished",
    );
    this.o.events?.finished?.(done);
    this.tell(done);
  }

  /** The outcome to the team, once: an alert through the notifier. */
  private tell(r: DeploymentRecord): void {
    const kind = r.outcome ? TERMINAL_ALERT[r.outcome] : undefined;
    if (kind) {
      const at = new Date(r.finishedAt ?? this.now());
      const base = this.o.externalURL?.replace(/\/$/, "");
      const alert: PostableAlert = {
        labels: {
          alertname: kind.alertname,
          severity: kind.severity,
          service: this.o.service,
          environment: r.environment,
          version: r.version,
          deployment_id: r.id,
        },
        annotations: {
          summary: `Deployment ${r.id} of ${r.version} to ${r.environment}: ${r.outcome?.replace("_", " ")}`,
          description: r.reason ?? "",
          rollback: r.rollback.status,
        },
        startsAt: at.toISOString(),
        // An event, not a condition: it stays an hour, to be seen and silenced, and is not re-sent.
        endsAt: new Date(at.getTime() + 3_600_000).toISOString(),
        ...(base ? { generatorURL: `${base}/monitoring/#/deployments/${encodeURIComponent(r.id)}` } : {}),
      };
      Promise.resolve()
        .then(() => this.o.notify(alert))
        .catch((err: unknown) =>
          this.log("error", { deployment: r.id, err }, "telling the team about a deployment failed"),
        );
    }
    this.o.store.setNotified(r.id);
  }

  private record(
    id: string,
    from: DeploymentPhase | null,
    to: DeploymentPhase,
    reason: string,
    values?: Record<string, unknown>,
  ): void {
    this.o.store.transition(id, { at: this.now(), from, to, reason, ...(values ? { values } : {}) });
  }

  private stopRun(id: string): void {
    const run = this.runs.get(id);
    if (!run) return;
    run.done = true;
    this.timers.clearTimeout(run.timer);
  }

  private require(id: string): DeploymentRecord {
    const r = this.o.store.get(id);
    if (!r) throw new TugError("NOT_FOUND", `No deployment with id ${id}`);
    return r;
  }

  private actionable(id: string, what: string): void {
    const r = this.require(id);
    if (!ACTIVE_PHASES.has(r.phase))
      throw new TugError("VALIDATION_FAILED", `Cannot ${what} deployment ${id}: it is ${r.phase}`, [
        { field: "phase", message: `is ${r.phase}; only a deployment being watched can be ${what}ed` },
      ]);
  }
}

function windowView(w: WindowCounts) {
  return {
    ...w,
    latency: w.latency
      ? {
          le: w.latency.le.map((b) => (b === Number.POSITIVE_INFINITY ? "+Inf" : String(b))),
          cumulative: w.latency.cumulative,
        }
      : null,
  };
}

/** The numbers behind a look, as recorded with a transition. */
function lookValues(
  health: HealthResult,
  healthFailures: number,
  decision: Decision | undefined,
  metricsError: string | undefined,
): Record<string, unknown> {
  // Undefined fields vanish when the values are written as JSON.
  const checks = Object.fromEntries(
    (decision?.verdict.checks ?? []).map(({ check, explanation: _e, ...numbers }) => [check, numbers]),
  );
  return {
    health: { ok: health.ok, reason: health.reason, consecutiveFailures: healthFailures },
    ...(decision
      ? { verdict: decision.verdict.outcome, consecutiveFailures: decision.consecutiveFailures, checks }
      : {}),
    ...(metricsError ? { metricsError } : {}),
  };
}

function phaseReason(
  phase: DeploymentPhase,
  health: HealthResult,
  decision: Decision | undefined,
  metricsError: string | undefined,
): string {
  if (!health.ok) return `health check failed: ${health.reason}`;
  if (!decision) return `metrics could not be read: ${metricsError}`;
  if (phase === "healthy") return "health and every check pass";
  return decision.verdict.reason;
}
