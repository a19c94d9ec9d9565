// Issue 17, "the live app": the real app (its HTTP hooks, metrics, access log, the embedded engine
// with its store and PromQL, the sampler, the log analysis and its /monitoring/logs endpoints) on
// a manual clock, through an hour and a half of ordinary traffic with a 10-minute 5xx burst on
// one route. Nothing is stood in for: the minute figures the detectors score are the app's own
// queries evaluated by its own engine over what its own sampler scraped. Time is compressed —
// each 5 s step sends that step's requests, then the clock moves and the sampler's scrape and the
// analysis's tick fire — so 90 minutes take seconds, on any machine.
//
// The burst is a test plugin failing POST /api/v1/activities with 500 while it is on, after the
// metrics hook (as src/app/faults.ts fails requests), so the failures are measured, logged and
// counted like any 5xx. It must be flagged on the series that carry it, soon after it starts,
// and nothing else anywhere.
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, expect, it, onTestFinished, vi } from "vitest";
import { TugError } from "../src/core/errors.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { ManualClock } from "./support/clock.js";
import { mulberry32 } from "./support/prng.js";

const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);
const STEP_MS = 5_000;
const MINUTES = 90;
const BURST_FROM = 62; // after the hour of ordinary traffic and the detectors' warm-up
const BURST_TO = BURST_FROM + 10;
const BURST_ROUTE = "/api/v1/activities";
/** Requests per minute: GET /users/me, GET /activities, POST /activities (spread over 12 steps). */
const PER_MINUTE = { me: 48, list: 36, create: 24 };

const clock = new ManualClock(T0);
let burst = false;
let t: TestApp;
let token = "";

/**
 * Request durations: the metrics hook measures them with performance.now(), which the test
 * replaces by this counter while the traffic runs; each request moves it by its own log-normal
 * sample (below), so a duration is that sample whatever the machine's load. Real durations here
 * would be the host's noise — a busy neighbour's test would read as a latency anomaly.
 */
let perfNow = 0;
const latencyRng = mulberry32(11);
/** Median duration (ms) by route; the spread is log-normal, σ 0.25. */
const MEDIAN_MS: Record<string, number> = {
  "GET /api/v1/users/me": 3,
  "GET /api/v1/activities": 6,
  "POST /api/v1/activities": 14,
};
function latencyMs(key: string): number {
  // Box-Muller from the seeded generator.
  const z = Math.sqrt(-2 * Math.log(1 - latencyRng())) * Math.cos(2 * Math.PI * latencyRng());
  return (MEDIAN_MS[key] ?? 5) * Math.exp(0.25 * z);
}

/**
 * After the metrics hook (as src/app/faults.ts): the request's duration, and the bad release —
 * 2 in 5 of POST /api/v1/activities answer 500 while the burst is on.
 */
async function trafficPlugin(app: FastifyInstance): Promise<void> {
  let n = 0;
  app.addHook("onRequest", (req, _reply, done) => {
    if (!req.url.startsWith("/api/")) return done();
    perfNow += latencyMs(`${req.method} ${req.url.split("?")[0]}`);
    if (burst && req.method === "POST" && req.url === BURST_ROUTE && n++ % 5 < 2)
      return done(new TugError("INTERNAL", "Something went wrong on our side (the test's burst)"));
    done();
  });
}

beforeAll(async () => {
  t = await startTestApp({}, { now: clock.now, timers: clock, plugins: [trafficPlugin] });
  const creds = { email: "replay@example.com", password: "correct horse battery" };
  expect((await t.call("POST", "/api/v1/auth/register", { body: creds })).status).toBe(201);
  const login = await t.call("POST", "/api/v1/auth/login", { body: creds });
  expect(login.status).toBe(200);
  token = login.body.token;
}, 60_000);

afterAll(async () => {
  await t?.close();
});

/** The engine's work started by the last clock step (scrape, minute queries) has finished. */
function engineIdle(app: TestApp["app"]): () => Promise<void> {
  const engine = app.engine as { run: (...a: unknown[]) => Promise<unknown> };
  const run = engine.run.bind(engine);
  let inFlight = 0;
  let waiters: Array<() => void> = [];
  // Counted around the same object the analysis holds, so its minute queries are seen.
  engine.run = async (...a: unknown[]) => {
    inFlight++;
    try {
      return await run(...a);
    } finally {
      inFlight--;
      if (inFlight === 0) {
        for (const w of waiters) w();
        waiters = [];
      }
    }
  };
  return async () => {
    // Several turns: a tick starts its queries one after another, each after the last settled.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      if (inFlight > 0) await new Promise<void>((r) => waiters.push(r));
    }
  };
}

const inject = (method: string, url: string, payload?: unknown) =>
  t.app.fastify.inject({
    method: method as "GET",
    url,
    headers: { authorization: `Bearer ${token}` },
    payload: payload as string,
  });

it(
  "flags the 5xx burst on its series within two minutes, and nothing else",
  async () => {
    const settled = engineIdle(t.app);
    const perf = vi.spyOn(performance, "now").mockImplementation(() => perfNow);
    onTestFinished(() => perf.mockRestore());
    const next = mulberry32(7);
    // Whole steps from a minute boundary: the app's minute closes on the tick at :00.
    clock.skip(60_000 - (clock.now() % 60_000));
    await clock.advanceAsync(0);
    await settled();
    const steps = 60_000 / STEP_MS;
    const statuses = new Map<number, number>();
    for (let m = 0; m < MINUTES; m++) {
      burst = m >= BURST_FROM && m < BURST_TO;
      for (let s = 0; s < steps; s++) {
        // This step's share of the minute, ±20 %: ordinary traffic is never flat.
        const n = (per: number) => Math.max(0, Math.round((per / steps) * (0.8 + 0.4 * next())));
        // One after another: each request's duration is exactly its own sample.
        const requests: Array<() => Promise<{ statusCode: number }>> = [];
        for (let i = 0; i < n(PER_MINUTE.me); i++) requests.push(() => inject("GET", "/api/v1/users/me"));
        for (let i = 0; i < n(PER_MINUTE.list); i++)
          requests.push(() => inject("GET", "/api/v1/activities?limit=5"));
        for (let i = 0; i < n(PER_MINUTE.create); i++)
          requests.push(() =>
            inject("POST", BURST_ROUTE, { type: "run", title: `minute ${m}`, durationMinutes: 30 }),
          );
        for (const send of requests) {
          const r = await send();
          statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        }
        await clock.advanceAsync(STEP_MS);
        await settled();
      }
    }
    // Only 2xx outside the burst, and the burst's 500s: the traffic was what the test says.
    expect([...statuses.keys()].sort(), JSON.stringify([...statuses])).toEqual([200, 201, 500]);

    const mon = await t.call("GET", "/monitoring/logs/anomalies?limit=100");
    expect(mon.status).toBe(200);
    const anomalies = mon.body.anomalies as Array<{ series: string; atMs: number; score: number }>;
    const at = (a: { atMs: number }) => Math.round((a.atMs - T0) / 60_000);
    const described = anomalies.map((a) => `${a.series}@${at(a)} (${a.score.toFixed(2)})`).join(", ");
    // Every anomaly is the burst: within it (the first minute after the skip is minute 1), and on
    // a series that carries 5xx.
    expect(anomalies.length, "the burst is flagged").toBeGreaterThan(0);
    for (const a of anomalies) {
      expect(at(a) > BURST_FROM && at(a) <= BURST_TO + 1, `outside the burst: ${described}`).toBe(true);
      expect(
        a.series === "http_error_ratio" ||
          a.series === "log_level:error" ||
          a.series.startsWith("log_template:"),
        `not a 5xx series: ${described}`,
      ).toBe(true);
    }
    const ratio = anomalies.find((a) => a.series === "http_error_ratio");
    expect(ratio, `http_error_ratio flagged: ${described}`).toBeDefined();
    expect(at(ratio as { atMs: number }) - BURST_FROM, described).toBeLessThanOrEqual(3);

    // The metrics say the same.
    const metrics = await t.call("GET", "/monitoring/metrics");
    const text = String(metrics.body);
    expect(text).toMatch(/^log_anomalies_total\{series="http_error_ratio"\} [1-9]/m);
    expect(text).not.toMatch(/^log_anomalies_total\{series="http_requests_per_second"\}/m);
    expect(text).not.toMatch(/^log_anomalies_total\{series="http_latency_p95_seconds"\}/m);

    // The route's trend says it got worse; the others did not.
    const trends = await t.call("GET", "/monitoring/logs/trends");
    expect(trends.status).toBe(200);
    const routes = new Map(
      (trends.body.routes as Array<{ route: string; direction: string }>).map((r) => [r.route, r.direction]),
    );
    expect(routes.get(BURST_ROUTE), JSON.stringify([...routes])).toBe("worse");
    expect(routes.get("/api/v1/users/me"), JSON.stringify([...routes])).toBe("steady");
  },
  10 * 60_000,
);
