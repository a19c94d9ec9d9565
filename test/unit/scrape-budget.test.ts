import { describe, expect, it } from "vitest";
import { ScrapeBudget } from "../../src/metrics/scrape-budget.js";

/** A budget on a manual monotonic clock; each render returns the count of renders so far. */
function setup(perSecond: number, maxAgeMs = 1000) {
  let now = 1_000;
  let renders = 0;
  const budget = new ScrapeBudget<number>({ perSecond, maxAgeMs, now: () => now });
  return {
    budget,
    render: async () => ++renders,
    advance: (ms: number) => {
      now += ms;
    },
    renders: () => renders,
  };
}

describe("ScrapeBudget", () => {
  it("renders up to the budget at once, then answers with the last render and its age", async () => {
    const s = setup(3);
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await s.budget.serve("text", s.render));
    expect(got.map((g) => [g.body, g.fresh])).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
    s.advance(40);
    const past = await s.budget.serve("text", s.render);
    expect(past).toEqual({ body: 3, fresh: false, ageMs: 40 });
    expect(s.renders()).toBe(3);
  });

  it("refills at the budget per second", async () => {
    const s = setup(2);
    await s.budget.serve("text", s.render);
    await s.budget.serve("text", s.render);
    s.advance(400); // 0.8 of a render back
    expect((await s.budget.serve("text", s.render)).fresh).toBe(false);
    s.advance(100); // 1.0
    expect(await s.budget.serve("text", s.render)).toEqual({ body: 3, fresh: true, ageMs: 0 });
  });

  it("never answers with a render older than maxAgeMs: past it, it renders anyway", async () => {
    const s = setup(1, 500);
    await s.budget.serve("text", s.render);
    s.advance(400); // 0.4 of a render back, the last one 400 ms old
    expect(await s.budget.serve("text", s.render)).toEqual({ body: 1, fresh: false, ageMs: 400 });
    s.advance(200); // 0.6 back, but the last one is 600 ms old
    expect(await s.budget.serve("text", s.render)).toEqual({ body: 2, fresh: true, ageMs: 0 });
    // That render was owed: the next one waits until a whole render is back (1.4 s later).
    s.advance(300);
    expect((await s.budget.serve("text", s.render)).fresh).toBe(false);
  });

  it("keeps one last render per format: a scrape is never answered in another format", async () => {
    const s = setup(1);
    expect((await s.budget.serve("text", s.render)).body).toBe(1);
    // The budget is spent, but there is no OpenMetrics render to give: render it.
    expect(await s.budget.serve("openmetrics", s.render)).toEqual({ body: 2, fresh: true, ageMs: 0 });
    expect(await s.budget.serve("openmetrics", s.render)).toEqual({ body: 2, fresh: false, ageMs: 0 });
  });

  it("a failed render is not kept: the next scrape renders again", async () => {
    const s = setup(1);
    await expect(
      s.budget.serve("text", async () => Promise.reject(new Error("collector broke"))),
    ).rejects.toThrow("collector broke");
    expect(await s.budget.serve("text", s.render)).toEqual({ body: 1, fresh: true, ageMs: 0 });
  });

  it("0 renders every scrape", async () => {
    const s = setup(0);
    for (let i = 1; i <= 20; i++) expect((await s.budget.serve("text", s.render)).body).toBe(i);
  });
});
