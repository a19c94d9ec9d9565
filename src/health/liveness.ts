import { getHeapStatistics } from "node:v8";
import { systemClock, systemTimers, type TimerHandle, type Timers } from "../core/clock.js";
import type { HealthStatus } from "./types.js";

/**
 * Liveness of the process alone — never a dependency. It fails when the event loop was
 * blocked past `maxBlockMs` within the last minute (a timer that fires late by that much),
 * or when the V8 heap is within 2 % of its limit (about to die of OOM).
 */
export class LivenessMonitor {
  private timer: TimerHandle | undefined;
  private expected = 0;
  private lastBlock: { at: number; ms: number } | undefined;

  constructor(
    private readonly maxBlockMs: number,
    private readonly now: () => number = systemClock.now,
    private readonly tickMs = 500,
    private readonly timers: Timers = systemTimers,
  ) {}

  start(): void {
    this.expected = this.now() + this.tickMs;
    this.timer = this.timers
      .setInterval(() => {
        const t = this.now();
        const late = t - this.expected;
        if (late >= this.maxBlockMs) this.lastBlock = { at: t, ms: late };
        this.expected = t + this.tickMs;
      }, this.tickMs)
      .unref();
  }

  stop(): void {
    if (this.timer) this.timers.clearInterval(this.timer);
  }

  check(): { status: HealthStatus; output?: string } {
    const heap = getHeapStatistics();
    if (heap.used_heap_size > heap.heap_size_limit * 0.98) {
      return { status: "fail", output: "the V8 heap is within 2 % of its limit" };
    }
    if (this.lastBlock && this.now() - this.lastBlock.at < 60_000) {
      return { status: "fail", output: `the event loop was blocked for ${this.lastBlock.ms} ms` };
    }
    return { status: "pass" };
  }
}
