import { describe, expect, it } from "vitest";
import { formatInterval, median, ratioOfMedians, verdict } from "../bench/stats.js";

describe("bench/stats: the interval of a ratio of medians over rounds", () => {
  it("takes the median of odd and even counts and refuses none", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/no values/);
  });

  it("collapses to the ratio when every round gives the same values", () => {
    const i = ratioOfMedians([90, 90, 90, 90, 90], [100, 100, 100, 100, 100]);
    expect(i).toMatchObject({ ratio: 0.9, low: 0.9, high: 0.9, rounds: 5 });
    expect(verdict(i, 0.9)).toBe("clear");
    // The same values from fewer rounds than MIN_ROUNDS: too few to know the spread.
    expect(verdict(ratioOfMedians([90, 90, 90], [100, 100, 100]), 0.9)).toBe("too few");
  });

  it("widens with the rounds' spread and says when a target falls inside it", () => {
    // The spread of issue 12's runs on the 2-core machine: the same code 0.81 to 0.91.
    const monitored = [6604, 6170, 6345, 7076, 6730];
    const bare = [6715, 8301, 7625, 6869, 8069];
    const i = ratioOfMedians(monitored, bare);
    expect(i.ratio).toBeCloseTo(6604 / 7625, 10);
    expect(i.low).toBeLessThan(i.ratio);
    expect(i.high).toBeGreaterThan(i.ratio);
    expect(i.low).toBeGreaterThanOrEqual(Math.min(...monitored) / Math.max(...bare));
    expect(i.high).toBeLessThanOrEqual(Math.max(...monitored) / Math.min(...bare));
    expect(verdict(i, 0.9)).toBe("unclear");
    expect(verdict(i, 0.5)).toBe("clear");
    expect(verdict(i, 1.5)).toBe("clear");
  });

  it("pairs rounds: a drift shared by both variants does not widen the interval", () => {
    // The host slows down round after round; the monitored app is always 0.9 of the bare one.
    const bare = [10_000, 8_000, 6_000, 4_000, 2_000];
    const i = ratioOfMedians(
      bare.map((x) => x * 0.9),
      bare,
    );
    // Unpaired resampling would divide medians of different rounds (0.18 to 4.5 here).
    expect(i.ratio).toBeCloseTo(0.9, 12);
    expect(i.low).toBeCloseTo(0.9, 12);
    expect(i.high).toBeCloseTo(0.9, 12);
  });

  it("is reproducible (seeded) and leaves out rounds that miss a value", () => {
    const a = ratioOfMedians([1, 2, 3, 4], [2, 2, 5, 3]);
    const b = ratioOfMedians([1, 2, 3, 4], [2, 2, 5, 3]);
    expect(a).toEqual(b);
    const partial = ratioOfMedians([1, undefined, 3], [2, 2, undefined]);
    expect(partial.rounds).toBe(1);
    expect(partial.ratio).toBe(0.5);
    expect(() => ratioOfMedians([undefined], [1])).toThrow(/no round/);
    expect(formatInterval(partial)).toBe("0.500 (90 % interval over 1 round 0.500–0.500)");
  });
});
