// Limits that stop a PromQL evaluation while it runs, as Prometheus's engine does (2.42
// `promql/engine.go`): the query timeout and cancellation (its context, checked between steps
// and series) and `--query.max-samples` (its `currentSamples` against `maxSamples`).
//
// Why here and not around the call: evaluation is synchronous, so nothing outside it can stop a
// query that holds the thread (a subquery at a 1 ms step runs for minutes, three nested ones for
// hours). The evaluator itself must look. It does so through a QueryGuard:
//
// - `tick(units)` in every loop that grows with its input, with units roughly proportional to the
//   loop's work. Only every POLL_EVERY units does the guard read the clock and the cancel flag,
//   so a tick costs a subtraction and a comparison, and a query stops within a few milliseconds
//   of its deadline whatever its shape.
// - `add`/`release`/`peek` keep Prometheus's count of samples held at once: points of the range
//   vectors a function reads (one series' window at a time), the points of subquery results
//   while their consumer runs, every node's output until its parent has used it, and the points
//   of a range query's result. Past `maxSamples` → PromQLSampleLimitError (HTTP 422 "execution"
//   in the Prometheus API), checked while the samples are produced, never after all are in memory.

import { PromQLEvalError } from "./value.js";

export interface QueryLimits {
  /** performance.now() value (of the evaluating thread) after which evaluation throws PromQLTimeoutError. */
  deadline?: number;
  /**
   * Most samples held at once (Prometheus's max-samples: points of selected range vectors,
   * subquery results, and the output of a range query's steps); beyond → PromQLSampleLimitError.
   */
  maxSamples?: number;
  /** Polled during evaluation; true → PromQLCanceledError. */
  isCancelled?: () => boolean;
}

/** Prometheus's ErrQueryTimeout("expression evaluation"). */
export class PromQLTimeoutError extends Error {
  constructor() {
    super("query timed out in expression evaluation");
    this.name = "PromQLTimeoutError";
  }
}

/** Prometheus's ErrQueryCanceled("expression evaluation"). */
export class PromQLCanceledError extends Error {
  constructor() {
    super("query was canceled in expression evaluation");
    this.name = "PromQLCanceledError";
  }
}

/** Prometheus's ErrTooManySamples("query execution"): an execution error (422). */
export class PromQLSampleLimitError extends PromQLEvalError {
  constructor() {
    super("query processing would load too many samples into memory in query execution");
    this.name = "PromQLSampleLimitError";
  }
}

/** A timeout, cancellation or sample-limit error: never to be caught and retried another way. */
export function isLimitError(err: unknown): boolean {
  return (
    err instanceof PromQLTimeoutError ||
    err instanceof PromQLCanceledError ||
    err instanceof PromQLSampleLimitError
  );
}

/**
 * Units of work between two polls of the clock and the cancel flag. A unit is one sample, cell
 * or series visited: 3 ns for a cell of the range plan, about 1 µs for a series' label work, so
 * a poll comes every few milliseconds at most (measured: 0.1–3 ms typical on a loaded 2-core
 * machine), and a poll (~50 ns) costs well under 1 % even on the cheapest units.
 */
export const POLL_EVERY = 2048;

/** One evaluation's limits and sample count (see the header). */
export class QueryGuard {
  /** Samples held now, as Prometheus's `currentSamples` counts them. */
  samples = 0;
  /** Units left before the next poll (a small integer, so V8 keeps it unboxed). */
  private left: number;
  private readonly every: number;
  private readonly deadline: number;
  private readonly maxSamples: number;
  private readonly isCancelled: (() => boolean) | undefined;

  constructor(limits: QueryLimits = {}) {
    this.deadline = limits.deadline ?? Infinity;
    this.maxSamples = limits.maxSamples ?? Infinity;
    this.isCancelled = limits.isCancelled;
    // Nothing to poll: a poll every 2^30 units costs nothing and keeps `left` an integer.
    this.every = this.deadline === Infinity && this.isCancelled === undefined ? 2 ** 30 : POLL_EVERY;
    this.left = this.every;
  }

  /** Counts `units` of work; every POLL_EVERY units, polls. */
  tick(units: number): void {
    this.left -= units;
    if (this.left < 0) this.poll();
  }

  /** Throws if the query was cancelled or its deadline has passed. */
  poll(): void {
    this.left = this.every;
    if (this.isCancelled?.() === true) throw new PromQLCanceledError();
    if (this.deadline !== Infinity && performance.now() > this.deadline) throw new PromQLTimeoutError();
  }

  /** `n` more samples held; throws past maxSamples. */
  add(n: number): void {
    this.samples += n;
    if (this.samples > this.maxSamples) throw new PromQLSampleLimitError();
  }

  /** `n` samples no longer held. */
  release(n: number): void {
    this.samples -= n;
  }

  /** Throws if `n` samples held for a moment (one series' window) would pass maxSamples. */
  peek(n: number): void {
    if (this.samples + n > this.maxSamples) throw new PromQLSampleLimitError();
  }
}
