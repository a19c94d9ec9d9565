// "Is it being scraped?" in embedded mode: the sampler writes `up`, `scrape_duration_seconds`
// and `scrape_samples_scraped` for the app's own target as Prometheus does for a scraped one, and
// /monitoring/api/v1/targets describes that target in Prometheus's shape.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { waitFor } from "./support/wait.js";

const TOKEN = "targets-test-token-0123456789abcdef";
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp(
    { ENVIRONMENT: "staging", MONITORING_TOKEN: TOKEN },
    { yaml: "tsdb:\n  scrapeIntervalMs: 500\n" },
  );
});

afterAll(async () => {
  await t?.close();
});

const query = async (q: string) =>
  (await t.call("GET", `/monitoring/api/v1/query?query=${encodeURIComponent(q)}`, { token: TOKEN })).body;

describe("the embedded target", () => {
  it("`up` is 1 for the app, labelled as the stack's Prometheus labels it", async () => {
    const instance = new URL(t.url).host;
    const up = await waitFor("up to be sampled", async () => {
      const r = await query("up");
      return r.data.result.length > 0 ? r.data.result : undefined;
    });
    expect(up).toEqual([
      { metric: { __name__: "up", job: "tug-api", instance }, value: [expect.any(Number), "1"] },
    ]);
    const samples = await query('scrape_samples_scraped{job="tug-api"}');
    expect(Number(samples.data.result[0].value[1])).toBeGreaterThan(50);
    const duration = await query("scrape_duration_seconds");
    expect(Number(duration.data.result[0].value[1])).toBeGreaterThan(0);
    // The default rule's expression: nothing while the target is up.
    expect((await query('up{job="tug-api"} == 0')).data.result).toEqual([]);
  });

  it("/targets answers in Prometheus's shape", async () => {
    const r = await t.call("GET", "/monitoring/api/v1/targets", { token: TOKEN });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("success");
    const [target] = r.body.data.activeTargets;
    const instance = new URL(t.url).host;
    expect(target).toMatchObject({
      labels: { job: "tug-api", instance },
      scrapePool: "tug-api",
      scrapeUrl: `${t.url}/monitoring/metrics`,
      health: "up",
      lastError: "",
      scrapeInterval: "500ms",
    });
    expect(Date.parse(target.lastScrape)).toBeGreaterThan(0);
    expect(r.body.data.droppedTargets).toEqual([]);
    const dropped = await t.call("GET", "/monitoring/api/v1/targets?state=dropped", { token: TOKEN });
    expect(dropped.body.data.activeTargets).toEqual([]);
    const bad = await t.call("GET", "/monitoring/api/v1/targets?state=sideways", { token: TOKEN });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ status: "error", errorType: "bad_data" });
    expect((await t.call("GET", "/monitoring/api/v1/targets")).status).toBe(401);
  });
});
