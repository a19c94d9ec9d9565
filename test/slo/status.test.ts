import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineError } from "../../src/engine/index.js";
import { sloEntries, sloStatus } from "../../src/slo/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { waitFor } from "../support/wait.js";

describe("the slo section of /monitoring/status", () => {
  let t: TestApp;
  beforeAll(async () => {
    // Rules every second; every other /api request fails with an injected 500.
    t = await startTestApp(
      {},
      {
        yaml: "tsdb:\n  scrapeIntervalMs: 1000\nalerts:\n  evaluationIntervalMs: 1000\nfaults:\n  errorPercent: 50\n",
      },
    );
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it("shows each objective, its burn rate per window and what is left of its budget", {
    timeout: 90_000,
  }, async () => {
    const before = await t.call("GET", "/monitoring/status");
    expect(before.status).toBe(200);
    expect(before.body.slo).toEqual({ objectives: expect.any(Array) });

    // Traffic over a few scrapes, so that each series' first sample (not an increase) matters little.
    const started = Date.now();
    let n = 0;
    while (Date.now() - started < 4000 || n < 80) {
      await t.call("GET", "/api/v1/users/me");
      n++;
      await new Promise((r) => setTimeout(r, 20));
    }
    // The share of 5xx among /api requests, from the app's own counters.
    const scrape = await (await fetch(`${t.url}/monitoring/metrics`)).text();
    let bad = 0;
    let all = 0;
    for (const m of scrape.matchAll(/^http_requests_total\{([^}]*)\} (\S+)$/gm)) {
      if (!/route="\/api\//.test(m[1] as string)) continue;
      all += Number(m[2]);
      if (/status_code="5\d\d"/.test(m[1] as string)) bad += Number(m[2]);
    }
    expect(bad / all).toBeGreaterThan(0.4);
    const expectedBurn = bad / all / 0.001;

    const status = await waitFor(
      "the availability SLO's 5m burn rate in /monitoring/status",
      async () => {
        const r = await t.call("GET", "/monitoring/status");
        const a = r.body.slo?.objectives?.find((o: { slo: string }) => o.slo === "availability");
        return a?.burnRates["5m"] > 100 ? r.body.slo : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const [availability, latency] = status.objectives;
    expect(availability).toMatchObject({ service: "tug-api", slo: "availability", objective: 0.999 });
    expect(Object.keys(availability.burnRates)).toEqual(["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
    // The rules read rates over the scrapes; within a quarter of the share the counters give.
    expect(Math.abs(availability.burnRates["5m"] / expectedBurn - 1)).toBeLessThan(0.25);
    expect(availability.errorBudgetRemaining).toBeLessThan(0); // half the requests failed: overspent
    // Every request was fast: the latency SLO burns nothing.
    expect(latency).toMatchObject({ slo: "latency", objective: 0.99, errorBudgetRemaining: 1 });
    expect(latency.burnRates["5m"]).toBe(0);
  });
});

describe("sloStatus", () => {
  it("reports an engine error instead of failing the status", async () => {
    const engine = {
      run: async () => {
        throw new EngineError("timeout", "query timed out in expression evaluation");
      },
    };
    expect(await sloStatus(engine as never)).toEqual({
      error: "the SLO figures could not be read: query timed out in expression evaluation",
    });
  });

  it("groups samples by service and SLO, with null for windows without traffic", () => {
    const s = (name: string, value: number, extra: Record<string, string> = {}) => ({
      labels: { __name__: name, service: "api", slo: "availability", ...extra },
      value,
    });
    const [e, ...rest] = sloEntries([
      s("tug_slo_objective_ratio", 0.999),
      s("tug_slo_error_budget_remaining_ratio", 0.75),
      s("tug_slo_burn_rate", 2, { window: "1h" }),
      s("tug_slo_burn_rate", Number.NaN, { window: "5m" }),
      // a burn rate without its objective (rules half loaded) is left out
      { labels: { __name__: "tug_slo_burn_rate", service: "x", slo: "y", window: "5m" }, value: 1 },
    ]);
    expect(rest).toEqual([]);
    expect(e).toEqual({
      service: "api",
      slo: "availability",
      objective: 0.999,
      errorBudgetRemaining: 0.75,
      burnRates: { "5m": null, "30m": null, "1h": 2, "2h": null, "6h": null, "1d": null, "3d": null },
    });
  });
});
