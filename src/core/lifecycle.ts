// The lifecycle of a process made of capabilities. Each capability builds itself (from whatever
// context the composition root hands it) and returns its units: what must be started and
// stopped. The composition root lists capabilities once, in start order; `start` runs the units in
// that order, `stop` in the reverse order. Every step is timed and logged, and bounded: a step
// that outlives its timeout is logged and the lifecycle goes on (the step keeps running on its
// own; a later failure of it is logged), so `stop` never hangs on one stuck part. Durations are
// real time (performance.now), as everywhere (src/core/clock.ts); the bounds' timers are injected.

import { systemTimers, type TimerHandle, type Timers } from "./clock.js";

/** One thing to start and stop. A stop must be safe when its start never ran (it then releases
 * what the capability acquired while building). */
export interface Unit {
  name: string;
  start?(): unknown;
  stop?(): unknown;
  /** Bound of `start` (default: the lifecycle's). `Infinity` for a step that must wait, by design. */
  startTimeoutMs?: number;
  /** Bound of `stop` (default: the lifecycle's); a function when the bound is known only at stop. */
  stopTimeoutMs?: number | (() => number);
}

/** A capability: builds itself from a context and returns its units, in start order. */
export interface Capability<C> {
  name: string;
  build(ctx: C): Unit[] | undefined | Promise<Unit[] | undefined>;
}

export type LifecycleLog = (
  level: "debug" | "info" | "warn" | "error",
  fields: Record<string, unknown>,
  msg: string,
) => void;

export interface LifecycleOptions {
  log: LifecycleLog;
  /** Schedules the steps' bounds (the manual clock of test/support/clock.ts in tests). */
  timers?: Pick<Timers, "setTimeout" | "clearTimeout">;
  /** Default bound of a start step. */
  startTimeoutMs?: number;
  /** Default bound of a stop step. */
  stopTimeoutMs?: number;
}

export type StepOutcome = "ok" | "failed" | "timeout";

export interface StepReport {
  name: string;
  phase: "start" | "stop";
  outcome: StepOutcome;
  durationMs: number;
}

const TIMED_OUT = Symbol("timed out");

export class LifecycleRunner {
  private readonly units: Unit[] = [];
  private readonly timers: Pick<Timers, "setTimeout" | "clearTimeout">;
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private stopping: Promise<StepReport[]> | undefined;
  private starting: Promise<StepReport[]> | undefined;

  constructor(private readonly opts: LifecycleOptions) {
    this.timers = opts.timers ?? systemTimers;
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 15_000;
  }

  /** The units in start order. */
  names(): string[] {
    return this.units.map((u) => u.name);
  }

  add(...units: Unit[]): void {
    if (this.starting) throw new Error(`cannot add ${units.map((u) => u.name).join(", ")} once started`);
    this.units.push(...units);
  }

  /** Builds each capability in order, adding its units. A build that throws stops the build. */
  async build<C>(capabilities: readonly Capability<C>[], ctx: C): Promise<void> {
    for (const c of capabilities) this.add(...((await c.build(ctx)) ?? []));
  }

  /**
   * Starts every unit in order, once. A failing start rejects with its error (the log names the unit) and starts nothing
   * more; a start past its bound is logged and the next one starts. Once `stop` was called, the
   * remaining units are not started.
   */
  start(): Promise<StepReport[]> {
    this.starting ??= this.runStart();
    return this.starting;
  }

  /**
   * Stops every unit in reverse order, once (later calls share the first): errors and timeouts
   * are logged and the next unit stops. Never rejects.
   */
  stop(): Promise<StepReport[]> {
    this.stopping ??= this.runStop();
    return this.stopping;
  }

  private async runStart(): Promise<StepReport[]> {
    const reports: StepReport[] = [];
    const began = performance.now();
    for (const u of this.units) {
      if (this.stopping) {
        this.opts.log("info", { unit: u.name }, "start-up interrupted by stop: not started");
        break;
      }
      if (!u.start) continue;
      const start = u.start.bind(u);
      const r = await this.step(u.name, "start", start, u.startTimeoutMs ?? this.startTimeoutMs);
      reports.push(r.report);
      // The error as thrown (callers match on it); the log line above names the unit.
      if (r.report.outcome === "failed") throw r.error;
    }
    this.summary("start", reports, began);
    return reports;
  }

  private async runStop(): Promise<StepReport[]> {
    const reports: StepReport[] = [];
    const began = performance.now();
    for (const u of [...this.units].reverse()) {
      if (!u.stop) continue;
      const stop = u.stop.bind(u);
      const bound = typeof u.stopTimeoutMs === "function" ? u.stopTimeoutMs() : u.stopTimeoutMs;
      reports.push((await this.step(u.name, "stop", stop, bound ?? this.stopTimeoutMs)).report);
    }
    this.summary("stop", reports, began);
    return reports;
  }

  private summary(phase: "start" | "stop", reports: StepReport[], began: number): void {
    const steps = Object.fromEntries(reports.map((r) => [r.name, Math.round(r.durationMs)]));
    const durationMs = Math.round(performance.now() - began);
    this.opts.log("info", { phase, durationMs, steps }, `lifecycle: ${phase} finished`);
  }

  /** Runs one step under its bound. The function is called synchronously (a stop's first effects
   * happen at once, as a caller of `stop()` expects). */
  private async step(
    name: string,
    phase: "start" | "stop",
    fn: () => unknown,
    timeoutMs: number,
  ): Promise<{ report: StepReport; error?: unknown }> {
    const t0 = performance.now();
    let timer: TimerHandle | undefined;
    let outcome: StepOutcome = "ok";
    let error: unknown;
    try {
      const running = Promise.resolve(fn());
      const bound = Number.isFinite(timeoutMs)
        ? new Promise<typeof TIMED_OUT>((resolve) => {
            // unref: a pending bound never keeps the process alive.
            timer = this.timers.setTimeout(() => resolve(TIMED_OUT), timeoutMs).unref();
          })
        : undefined;
      const result = bound ? await Promise.race([running, bound]) : await running;
      if (result === TIMED_OUT) {
        outcome = "timeout";
        // The step goes on by itself; its late failure must still be seen.
        running.catch((err: unknown) =>
          this.opts.log("error", { unit: name, phase, err }, `${phase} of ${name} failed after its timeout`),
        );
      }
    } catch (err) {
      outcome = "failed";
      error = err;
    } finally {
      if (timer !== undefined) this.timers.clearTimeout(timer);
    }
    const durationMs = performance.now() - t0;
    const report: StepReport = { name, phase, outcome, durationMs };
    const fields = { unit: name, phase, durationMs: Math.round(durationMs) };
    if (outcome === "ok") this.opts.log("debug", fields, `${phase} ${name}`);
    else if (outcome === "timeout")
      this.opts.log(
        "warn",
        { ...fields, timeoutMs },
        `${phase} of ${name} exceeded ${timeoutMs} ms; going on`,
      );
    else this.opts.log("error", { ...fields, err: error }, `${phase} of ${name} failed`);
    return { report, error };
  }
}
