import { performance } from "node:perf_hooks";
import { Gauge, type Registry } from "prom-client";
import { systemClock, systemTimers, type TimerHandle, type Timers } from "../core/clock.js";
import {
  type CheckResult,
  type CheckSpec,
  type HealthReport,
  type HealthStatus,
  type Observation,
  STATUS_VALUE,
  worst,
} from "./types.js";

export interface RunnerOptions {
  registry?: Registry;
  cacheTtlMs: number;
  defaultTimeoutMs: number;
  /** Wall clock, ms since the epoch. Default the system clock. */
  now?: () => number;
  /** The refresh interval and the checks' timeouts. Default the system timers. */
  timers?: Timers;
  onError?: (name: string, err: unknown) => void;
}

export interface RegisterOptions {
  critical?: boolean;
  timeoutMs?: number;
  warn?: number;
  fail?: number;
  /** IETF key; default `<name>:status`. */
  key?: string;
  componentType?: string;
}

/** What a custom check may return: an observation, a number (thresholds apply) or a boolean. */
export type CustomCheck = (
  signal: AbortSignal,
) => Promise<Observation | number | boolean> | Observation | number | boolean;

function statusFrom(spec: CheckSpec, o: Observation): HealthStatus {
  if (o.status) return o.status;
  const v = o.observedValue;
  if (typeof v === "boolean") return v ? "pass" : "fail";
  if (typeof v === "number") {
    if (spec.fail !== undefined && v >= spec.fail) return "fail";
    if (spec.warn !== undefined && v >= spec.warn) return "warn";
  }
  return "pass";
}

class TimeoutError extends Error {}

/**
 * Runs every check concurrently, each bounded by its timeout (a timeout or an exception is a
 * `fail`, never a crash), caches the report for `cacheTtlMs`, shares one run between
 * concurrent callers, and exports health_check_status / health_check_duration_seconds.
 */
export class HealthRunner {
  private readonly specs = new Map<string, CheckSpec>();
  private last: HealthReport | undefined;
  private running: Promise<HealthReport> | undefined;
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly statusGauge: Gauge<"check"> | undefined;
  private readonly durationGauge: Gauge<"check"> | undefined;
  private timer: TimerHandle | undefined;

  constructor(private readonly opts: RunnerOptions) {
    this.now = opts.now ?? systemClock.now;
    this.timers = opts.timers ?? systemTimers;
    if (opts.registry) {
      this.statusGauge = new Gauge({
        name: "health_check_status",
        help: "Result of each health check: 1 pass, 0.5 warn, 0 fail",
        labelNames: ["check"],
        registers: [opts.registry],
      });
      this.durationGauge = new Gauge({
        name: "health_check_duration_seconds",
        help: "Time the last run of each health check took, in seconds",
        labelNames: ["check"],
        registers: [opts.registry],
      });
    }
  }

  /** Add a built-in check. */
  add(spec: CheckSpec): void {
    if (this.specs.has(spec.name)) throw new Error(`health check "${spec.name}" is registered already`);
    this.specs.set(spec.name, spec);
    this.last = undefined;
  }

  /** Register an application check: `health.register(name, check, { critical, timeoutMs, warn, fail })`. */
  register(name: string, check: CustomCheck, options: RegisterOptions = {}): void {
    if (!/^[a-zA-Z0-9_-]+$/.test(name)) {
      throw new Error(`health check name "${name}" is invalid: use letters, digits, _ and -`);
    }
    this.add({
      name,
      key: options.key ?? `${name}:status`,
      componentType: options.componentType ?? "component",
      critical: options.critical ?? false,
      timeoutMs: options.timeoutMs ?? this.opts.defaultTimeoutMs,
      warn: options.warn,
      fail: options.fail,
      run: async (signal) => {
        const r = await check(signal);
        if (typeof r === "number" || typeof r === "boolean") return { observedValue: r };
        return r;
      },
    });
  }

  unregister(name: string): boolean {
    this.last = undefined;
    return this.specs.delete(name);
  }

  names(): string[] {
    return [...this.specs.keys()];
  }

  /** The cached report, if any (however old). */
  cached(): HealthReport | undefined {
    return this.last;
  }

  /**
   * A report no older than the cache TTL; a stale one is refreshed first. With `stale: "serve"`,
   * a stale report is returned at once and refreshed in the background (what probes use).
   */
  async report(opts: { stale?: "wait" | "serve" } = {}): Promise<HealthReport> {
    const last = this.last;
    if (last && this.now() - last.at < this.opts.cacheTtlMs) return last;
    if (last && opts.stale === "serve") {
      // A failing check becomes a "fail" result in runOne; onError has reported anything else.
      this.refresh().catch(() => undefined);
      return last;
    }
    return this.refresh();
  }

  /** Run every check now (joining a run in progress). */
  refresh(): Promise<HealthReport> {
    if (!this.running) {
      this.running = this.runAll().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  /** Also run in the background every `intervalMs` (timer never keeps the process alive). */
  start(intervalMs: number): void {
    this.stop();
    this.timer = this.timers
      .setInterval(() => {
        // A failing check becomes a "fail" result in runOne; onError has reported anything else.
        this.refresh().catch(() => undefined);
      }, intervalMs)
      .unref();
  }

  stop(): void {
    if (this.timer) this.timers.clearInterval(this.timer);
    this.timer = undefined;
  }

  private async runAll(): Promise<HealthReport> {
    const specs = [...this.specs.values()];
    const lists = await Promise.all(specs.map((s) => this.runOne(s)));
    const results = lists.flat();
    let status: HealthStatus = "pass";
    let criticalStatus: HealthStatus = "pass";
    for (const r of results) {
      status = worst(status, r.status);
      if (r.critical) criticalStatus = worst(criticalStatus, r.status);
    }
    const report: HealthReport = { status, criticalStatus, results, at: this.now() };
    this.last = report;
    return report;
  }

  private async runOne(spec: CheckSpec): Promise<CheckResult[]> {
    const started = performance.now();
    const controller = new AbortController();
    let timer: TimerHandle | undefined;
    let observations: Observation[];
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = this.timers
          .setTimeout(() => {
            controller.abort();
            reject(new TimeoutError(`timed out after ${spec.timeoutMs} ms`));
          }, spec.timeoutMs)
          .unref();
      });
      // The check runs in a microtask so a synchronous throw is caught like a rejection.
      const out = await Promise.race([Promise.resolve().then(() => spec.run(controller.signal)), timeout]);
      observations = Array.isArray(out) ? out : [out];
    } catch (err) {
      if (!(err instanceof TimeoutError)) this.opts.onError?.(spec.name, err);
      const message = err instanceof Error ? err.message : String(err);
      observations = [{ status: "fail", output: `${spec.name} check failed: ${message}` }];
    } finally {
      if (timer) this.timers.clearTimeout(timer);
    }
    const durationMs = performance.now() - started;
    const time = new Date(this.now()).toISOString();
    const results = observations.map(
      (o): CheckResult => ({
        name: spec.name,
        key: spec.key,
        componentType: spec.componentType,
        critical: spec.critical,
        status: statusFrom(spec, o),
        ...(o.componentId !== undefined ? { componentId: o.componentId } : {}),
        ...(o.observedValue !== undefined ? { observedValue: o.observedValue } : {}),
        ...(o.observedUnit !== undefined ? { observedUnit: o.observedUnit } : {}),
        ...(o.output ? { output: o.output } : {}),
        time,
        durationMs,
      }),
    );
    let overall: HealthStatus = "pass";
    for (const r of results) overall = worst(overall, r.status);
    this.statusGauge?.set({ check: spec.name }, STATUS_VALUE[overall]);
    this.durationGauge?.set({ check: spec.name }, durationMs / 1000);
    return results;
  }
}
