// The app's log analysis over a replayed hour and a half of ordinary traffic with a 10-minute 5xx
// burst on one route: the whole pipeline of createLogAnalysis (log lines through the analyzer, the
// per-minute figures answered by a stand-in for the engine with the app's own queries, the 5 s
// tick, the detectors and the metrics), on a fake clock advanced minute by minute. The burst must
// be flagged on the series that carry it, soon after it starts, and nothing else anywhere.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, expect, it } from "vitest";
import { createLogAnalysis, QUERIES } from "../src/logs/analysis/index.js";
import { ManualClock } from "./support/clock.js";
import { mulberry32 as rng } from "./support/prng.js";

const dir = mkdtempSync(join(tmpdir(), "tug-replay-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);
const ROUTES = ["GET /api/v1/activities", "GET /api/v1/users/me", "POST /api/v1/activities", "GET /healthz"];
const BURST_ROUTE = "POST /api/v1/activities";
const BURST_FROM = 62; // minutes after start: after the hour of ordinary traffic and the warm-up
const BURST_TO = BURST_FROM + 10;

interface Minute {
  perRoute: Map<string, { requests: number; errors: number; mean: number; p95: number }>;
}

/** One minute of traffic: Poisson-ish request counts, log-normal latencies, rare stray 5xx. */
function trafficMinute(m: number, next: () => number): Minute {
  const perRoute = new Map<string, { requests: number; errors: number; mean: number; p95: number }>();
  ROUTES.forEach((route, i) => {
    const base = [600, 300, 120, 60][i] as number;
    const requests = Math.max(1, Math.round(base * (1 + 0.08 * (next() - 0.5) * 2)));
    let errors = next() < 0.05 ? 1 : 0; // a stray 5xx now and then
    if (route === BURST_ROUTE && m >= BURST_FROM && m < BURST_TO) errors = Math.round(requests * 0.4);
    const mean = 0.03 * (1 + i * 0.5) * Math.exp(0.1 * (next() - 0.5));
    perRoute.set(route, { requests, errors, mean, p95: mean * 2.5 * Math.exp(0.1 * (next() - 0.5)) });
  });
  return { perRoute };
}

it("flags the 5xx burst on its series within two minutes, and nothing else", async () => {
  const clock = new ManualClock(T0);
  const registry = new Registry();
  const analysis = createLogAnalysis({
    registry,
    stateFile: join(dir, "state.json"),
    maxTemplates: 1000,
    now: clock.now,
    timers: clock,
  });
  // The engine's answers for the minute that just closed (the app queries right after it closes).
  let last: Minute | undefined;
  const sum = (f: (r: { requests: number; errors: number; mean: number; p95: number }) => number) =>
    [...(last?.perRoute.values() ?? [])].reduce((a, r) => a + f(r), 0);
  const answers: Record<string, () => Array<{ labels: Record<string, string>; value: number }>> = {
    [QUERIES.requestsPerSecond]: () => [{ labels: {}, value: sum((r) => r.requests) / 60 }],
    [QUERIES.errorRatio]: () => [{ labels: {}, value: sum((r) => r.errors) / sum((r) => r.requests) }],
    [QUERIES.p95LatencySeconds]: () => [
      { labels: {}, value: Math.max(...[...(last?.perRoute.values() ?? [])].map((r) => r.p95)) },
    ],
    [QUERIES.routeRequests]: () =>
      [...(last?.perRoute ?? [])].map(([route, r]) => ({ labels: { route }, value: r.requests })),
    [QUERIES.routeErrors]: () =>
      [...(last?.perRoute ?? [])].map(([route, r]) => ({ labels: { route }, value: r.errors })),
    [QUERIES.routeMean]: () =>
      [...(last?.perRoute ?? [])].map(([route, r]) => ({ labels: { route }, value: r.mean })),
    [QUERIES.routeP95]: () =>
      [...(last?.perRoute ?? [])].map(([route, r]) => ({ labels: { route }, value: r.p95 })),
  };
  analysis.useEngine({
    run: async (req) => {
      const q = (req as { query: string }).query;
      const answer = answers[q];
      if (answer === undefined) throw new Error(`unexpected query ${q}`);
      return answer() as never;
    },
  });
  analysis.start();
  expect(clock.size, "the analysis schedules its tick").toBe(1);
  const closed = () =>
    analysis.detectors.scores().find((s) => s.series === "http_requests_per_second")?.timestampMs ===
    clock.now();
  const runTick = async () => {
    clock.advance(0); // the tick that was due while the minute passed fires, once, now
    // The tick fetches the figures asynchronously (promises only: the stand-in engine answers at
    // once); yield until it has closed the minute and scored its figures.
    for (let i = 0; i < 1000 && !closed(); i++) await new Promise((r) => setImmediate(r));
    expect(closed(), "the tick closed the minute").toBe(true);
  };

  const next = rng(42);
  const access = (route: string, status: number) =>
    JSON.stringify({
      level: status >= 500 ? "error" : "info",
      time: "x",
      route,
      statusCode: status,
      msg: status >= 500 ? "request failed" : "request completed",
    });
  for (let m = 0; m < 90; m++) {
    const minute = trafficMinute(m, next);
    // The app's log lines of this minute: access lines (sampled 1 in 10, as info lines are), and
    // an error line for every 5xx.
    for (const [route, r] of minute.perRoute) {
      for (let i = 0; i < Math.round(r.requests / 10); i++)
        analysis.analyzer.ingest(access(route, 200), clock.now());
      for (let i = 0; i < r.errors; i++) analysis.analyzer.ingest(access(route, 500), clock.now());
    }
    last = minute;
    clock.skip(60_000);
    await runTick();
  }
  analysis.stop();

  const anomalies = analysis.analyzer.anomalyList(100);
  const at = (a: { atMs: number }) => Math.round((a.atMs - T0) / 60_000);
  const described = anomalies.map((a) => `${a.series}@${at(a)} (${a.score.toFixed(2)})`).join(", ");
  // Every anomaly is the burst: within it, on the series that carry 5xx.
  for (const a of anomalies) {
    expect(at(a) > BURST_FROM && at(a) <= BURST_TO, `outside the burst: ${described}`).toBe(true);
    expect(
      a.series === "http_error_ratio" ||
        a.series === "log_level:error" ||
        a.series.startsWith("log_template:"),
      described,
    ).toBe(true);
  }
  const ratio = anomalies.find((a) => a.series === "http_error_ratio");
  expect(ratio, `http_error_ratio flagged: ${described}`).toBeDefined();
  expect(at(ratio as { atMs: number }) - BURST_FROM, described).toBeLessThanOrEqual(2);
  // The metrics say the same.
  const total = await registry.getSingleMetric("log_anomalies_total")?.get();
  const counted = new Map(total?.values.map((v) => [String(v.labels.series), v.value]));
  expect(counted.get("http_error_ratio")).toBeGreaterThanOrEqual(1);
  expect(counted.get("http_requests_per_second")).toBeUndefined();
  expect(counted.get("http_latency_p95_seconds")).toBeUndefined();
  // The route's trend says it got worse; the others did not.
  const trends = new Map(analysis.analyzer.trendList(30).routes.map((r) => [r.route, r.direction]));
  expect(trends.size).toBe(ROUTES.length);
  for (const [route, direction] of trends)
    expect(direction, route).toBe(route === BURST_ROUTE ? "worse" : "steady");
});
