import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { LivenessMonitor } from "../../src/health/liveness.js";
import { HealthRunner } from "../../src/health/runner.js";
import { ManualClock } from "../support/clock.js";

// Components that schedule take their timers from src/core/clock.ts: on the manual clock their
// timeouts and intervals fire when the test moves time, not when the machine gets round to it.

describe("HealthRunner on the manual clock", () => {
  it("times a hanging check out at exactly its timeout, and aborts it", async () => {
    const clock = new ManualClock();
    const runner = new HealthRunner({
      cacheTtlMs: 1_000,
      defaultTimeoutMs: 500,
      now: clock.now,
      timers: clock,
    });
    let aborted = false;
    runner.register("hangs", (signal) => {
      signal.addEventListener("abort", () => {
        aborted = true;
      });
      return new Promise<boolean>(() => undefined); // never settles
    });
    const report = runner.refresh();
    await clock.advanceAsync(499);
    expect(aborted).toBe(false);
    await clock.advanceAsync(1);
    const r = await report;
    expect(aborted).toBe(true);
    expect(r.results[0]).toMatchObject({
      status: "fail",
      output: "hangs check failed: timed out after 500 ms",
    });
    expect(clock.size).toBe(0);
  });

  it("refreshes in the background every interval on an unref'd timer, until stopped", async () => {
    const clock = new ManualClock();
    const runner = new HealthRunner({
      registry: new Registry(),
      cacheTtlMs: 1_000,
      defaultTimeoutMs: 500,
      now: clock.now,
      timers: clock,
    });
    let runs = 0;
    runner.register("counts", () => ++runs > 0);
    runner.start(10_000);
    expect(clock.refed).toBe(0);
    await clock.advanceAsync(30_000);
    expect(runs).toBe(3);
    expect(runner.cached()?.at).toBe(clock.now());
    runner.stop();
    await clock.advanceAsync(30_000);
    expect(runs).toBe(3);
  });
});

describe("LivenessMonitor on the manual clock", () => {
  it("fails when its tick comes late by the block limit (a blocked event loop), and passes again after a minute", () => {
    const clock = new ManualClock();
    const live = new LivenessMonitor(200, clock.now, 500, clock);
    live.start();
    clock.advance(1_000);
    expect(live.check()).toEqual({ status: "pass" });
    clock.skip(700); // the loop is blocked: the tick due in 500 ms comes 200 ms late
    clock.advance(0);
    expect(live.check()).toEqual({ status: "fail", output: "the event loop was blocked for 200 ms" });
    clock.advance(60_000);
    expect(live.check()).toEqual({ status: "pass" });
    live.stop();
    expect(clock.size).toBe(0);
  });
});
