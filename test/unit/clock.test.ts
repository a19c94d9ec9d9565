import { describe, expect, it } from "vitest";
import { systemClock, systemTimers } from "../../src/core/clock.js";
import { ManualClock } from "../support/clock.js";

describe("ManualClock", () => {
  it("fires due timers in order of due time, ties in the order they were set, at their times", () => {
    const clock = new ManualClock(1_000);
    const fired: string[] = [];
    const at = (name: string) => () => fired.push(`${name}@${clock.now()}`);
    clock.setTimeout(at("c"), 30);
    clock.setTimeout(at("a"), 10);
    clock.setTimeout(at("b"), 10);
    clock.setTimeout(at("later"), 31);
    clock.advance(30);
    expect(fired).toEqual(["a@1010", "b@1010", "c@1030"]);
    expect(clock.now()).toBe(1_030);
    expect(clock.dueTimes()).toEqual([1_031]);
  });

  it("fires timers set by a firing timer within the same step, and repeats intervals", () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => clock.setTimeout(() => fired.push(clock.now()), 5), 5);
    const every = clock.setInterval(() => fired.push(-clock.now()), 4);
    clock.advance(12);
    expect(fired).toEqual([-4, -8, 10, -12]);
    clock.clearInterval(every);
    clock.advance(100);
    expect(fired).toHaveLength(4);
    expect(clock.size).toBe(0);
  });

  it("clears timers, counts the ones not unref'd, and fires overdue ones late after skip", () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    const h = clock.setTimeout(() => fired.push(1), 10);
    clock.setTimeout(() => fired.push(clock.now()), 20).unref();
    expect(clock.refed).toBe(1);
    clock.clearTimeout(h);
    clock.skip(50);
    expect(fired).toEqual([]);
    clock.advance(0);
    expect(fired).toEqual([50]);
  });

  it("lets promises settle between timers in advanceAsync", async () => {
    const clock = new ManualClock(0);
    const log: string[] = [];
    clock.setTimeout(() => {
      void Promise.resolve().then(() => log.push(`then@${clock.now()}`));
    }, 1);
    clock.setTimeout(() => log.push(`second@${clock.now()}`), 2);
    await clock.advanceAsync(2);
    expect(log).toEqual(["then@1", "second@2"]);
  });

  it("refuses to move backwards or by a non-number", () => {
    const clock = new ManualClock(0);
    expect(() => clock.advance(-1)).toThrow("cannot move by -1 ms");
    expect(() => clock.skip(Number.NaN)).toThrow("cannot move by NaN ms");
  });
});

describe("system clock and timers", () => {
  it("reads the wall clock and returns Node's unref-able handles", () => {
    const before = Date.now();
    expect(systemClock.now()).toBeGreaterThanOrEqual(before);
    const t = systemTimers.setTimeout(() => undefined, 60_000);
    expect(t.unref()).toBe(t);
    systemTimers.clearTimeout(t);
    const i = systemTimers.setInterval(() => undefined, 60_000).unref();
    systemTimers.clearInterval(i);
  });
});
