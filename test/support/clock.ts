import type { Clock, TimerHandle, Timers } from "../../src/core/clock.js";

/**
 * The manual clock: `Clock` and `Timers` (src/core/clock.ts) whose time moves only when the test
 * says so. `advance(ms)` fires every timer that falls due on the way, in order of due time (ties in
 * the order they were set), each with the clock reading its due time; timers set by a firing timer
 * fire too if they fall due within the step. Nothing depends on the machine's load or real time.
 *
 * Pass it where a component takes `now` and `timers`: `{ now: clock.now, timers: clock }` (the
 * methods are bound, so they can be handed on alone).
 */
export class ManualClock implements Clock, Timers {
  private time: number;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  /** Starts at `startMs` (ms since the epoch; default 2026-01-01T00:00:00Z). */
  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.time = startMs;
  }

  readonly now = (): number => this.time;

  readonly setTimeout = (fn: () => void, ms: number): TimerHandle => this.add(fn, ms, undefined);

  readonly setInterval = (fn: () => void, ms: number): TimerHandle => this.add(fn, ms, Math.max(1, ms));

  readonly clearTimeout = (handle: TimerHandle | undefined): void => {
    if (handle instanceof ManualTimer) this.pending.delete(handle.id);
  };

  readonly clearInterval = (handle: TimerHandle | undefined): void => this.clearTimeout(handle);

  /** Due times of the timers still pending, earliest first. */
  dueTimes(): number[] {
    return this.ordered().map((p) => p.at);
  }

  /** Number of timers pending. */
  get size(): number {
    return this.pending.size;
  }

  /** Pending timers that were not unref'd (would keep a real process alive). */
  get refed(): number {
    return [...this.pending.values()].filter((p) => !p.timer.unrefed).length;
  }

  /**
   * Moves time forward by `ms` firing every timer due by then, synchronously. A timer that throws
   * stops the step there (the clock reads its due time) and the error propagates to the caller.
   */
  advance(ms: number): void {
    const until = this.time + this.checked(ms);
    for (let next = this.nextDue(until); next; next = this.nextDue(until)) this.fire(next);
    this.time = Math.max(this.time, until); // a timer may have skipped past the step
  }

  /**
   * As `advance`, but lets promises settle before each timer and after the last (for code that
   * continues asynchronously after a timer fired: sends, database writes, awaited callbacks).
   */
  async advanceAsync(ms: number): Promise<void> {
    const until = this.time + this.checked(ms);
    for (;;) {
      await settle();
      const next = this.nextDue(until);
      if (!next) break;
      this.fire(next);
    }
    this.time = Math.max(this.time, until); // a timer may have skipped past the step
    await settle();
  }

  /**
   * Moves time forward by `ms` without firing anything, as a blocked event loop or a suspended
   * process would: overdue timers fire, late, at the next `advance` (`advance(0)` for at once).
   */
  skip(ms: number): void {
    this.time += this.checked(ms);
  }

  private add(fn: () => void, ms: number, every: number | undefined): TimerHandle {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0; // as Node: NaN and negatives mean 0
    const timer = new ManualTimer(++this.seq);
    this.pending.set(timer.id, { timer, at: this.time + delay, fn, every });
    return timer;
  }

  private checked(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`ManualClock: cannot move by ${ms} ms`);
    return ms;
  }

  private ordered(): Pending[] {
    return [...this.pending.values()].sort((a, b) => a.at - b.at || a.timer.id - b.timer.id);
  }

  private nextDue(until: number): Pending | undefined {
    const next = this.ordered()[0];
    return next && next.at <= until ? next : undefined;
  }

  private fire(p: Pending): void {
    this.time = Math.max(this.time, p.at);
    if (p.every === undefined) this.pending.delete(p.timer.id);
    else p.at = this.time + p.every;
    p.fn();
  }
}

interface Pending {
  timer: ManualTimer;
  at: number;
  fn: () => void;
  /** Interval timers: the period. */
  every: number | undefined;
}

class ManualTimer implements TimerHandle {
  unrefed = false;
  constructor(readonly id: number) {}
  unref(): TimerHandle {
    this.unrefed = true;
    return this;
  }
}

/** Lets pending promise callbacks run (one macrotask turn; no real time passes on the clock). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
