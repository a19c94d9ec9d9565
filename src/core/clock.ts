// The one seam for time. Everything that reads the wall clock or schedules work takes a `Clock`
// and/or `Timers` (optional, defaulting to the system's), so a test drives it with the manual
// clock in test/support/clock.ts instead of waiting for real time, and a loaded machine only
// makes tests slower, never wrong.
//
// Durations of work (how long a scrape or a check took) are measured with performance.now() where
// they happen: they describe real CPU time, not the schedule, and are not faked.

/** A scheduled timer; `unref()` lets the process exit while it is pending (as Node's Timeout). */
export interface TimerHandle {
  unref(): TimerHandle;
}

/** The wall clock. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** Scheduling, as the global functions of the same names. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

/** Date.now, as a Clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * The global timers. Handles are Node's own Timeouts; callers `unref()` what must not keep the
 * process alive (monitoring never should).
 */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout | undefined),
};
