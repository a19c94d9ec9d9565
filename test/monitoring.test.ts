import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";

const seriesOf = (text: string, name: string) =>
  text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe("monitoring endpoints (development, no token)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it("1,000 distinct random unmatched paths add at most one series to http_requests_total", async () => {
    await t.call("GET", "/monitoring/metrics"); // the scrape's own series exists from now on
    const before = seriesOf((await t.call("GET", "/monitoring/metrics")).body, "http_requests_total");
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, () =>
          t.call("GET", `/${randomBytes(6).toString("hex")}/${randomBytes(4).toString("hex")}?q=${i}`),
        ),
      );
    }
    const after = seriesOf((await t.call("GET", "/monitoring/metrics")).body, "http_requests_total");
    const added = after.filter((l) => !before.some((b) => b.split(" ")[0] === l.split(" ")[0]));
    expect(added.length).toBeLessThanOrEqual(1);
    expect(
      after.some((l) =>
        l.startsWith('http_requests_total{method="GET",route="__unmatched__",status_code="404"} 1000'),
      ),
    ).toBe(true);
    expect(after.join("\n")).not.toMatch(/route="\/[0-9a-f]{12}/);
  });

  it("serves a readable JSON summary with rates, errors, percentiles, DB, system and users", async () => {
    const reg = await t.call("POST", "/api/v1/auth/register", {
      body: { email: "sum@example.com", password: "12345678" },
    });
    expect(reg.status).toBe(201);
    const login = await t.call("POST", "/api/v1/auth/login", {
      body: { email: "sum@example.com", password: "12345678" },
    });
    for (let i = 0; i < 20; i++) await t.call("GET", "/api/v1/users/me", { token: login.body.token });
    await t.call("GET", "/api/v1/users/me");
    const j = await t.call("GET", "/monitoring/metrics/json");
    expect(j.status).toBe(200);
    const s = j.body;
    expect(s.http.requestsTotal).toBeGreaterThan(1000);
    expect(s.http.requestRatePerSecond).toBeGreaterThan(0);
    expect(s.http.latencySeconds.p50).toBeGreaterThan(0);
    expect(s.http.latencySeconds.p99).toBeGreaterThanOrEqual(s.http.latencySeconds.p95);
    expect(s.http.clientErrorRatio).toBeGreaterThan(0.9);
    expect(s.http.errorRatio).toBe(0);
    const me = s.http.routes.find(
      (r: { route: string; method: string }) => r.route === "/api/v1/users/me" && r.method === "GET",
    );
    expect(me.requestsTotal).toBe(21);
    expect(
      s.database.queries.some(
        (q: { operation: string; table: string }) => q.operation === "select" && q.table === "sessions",
      ),
    ).toBe(true);
    expect(s.database.queriesTotal).toBeGreaterThan(20);
    expect(s.system.memoryUsageRatio).toBeGreaterThan(0);
    expect(s.system.memoryUsageRatio).toBeLessThan(1);
    expect(s.system.disks.length).toBeGreaterThan(0);
    expect(s.system.process.residentMemoryBytes).toBeGreaterThan(0);
    expect(s.users.active["5m"]).toBe(1);
    expect(s.users.registrationsTotal).toEqual({ email: 1 });
    expect(s.users.loginsTotal).toEqual({ success: 1 });
    expect(Array.isArray(s.families)).toBe(true);
    expect(s.families.some((f: { name: string }) => f.name === "http_requests_total")).toBe(true);
  });

  it("serves OpenMetrics when asked", async () => {
    const r = await t.call("GET", "/monitoring/metrics", {
      headers: {
        accept: "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      },
    });
    expect(r.headers.get("content-type")).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(r.body.endsWith("# EOF\n")).toBe(true);
    const plain = await t.call("GET", "/monitoring/metrics");
    expect(plain.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  });
});

describe("scrape budget (metrics.scrapeRendersPerSecond)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { yaml: "metrics:\n  scrapeRendersPerSecond: 2\n" });
  });
  afterAll(() => t?.close());

  it("answers scrapes past the budget with the last render, says how old, and counts both kinds", async () => {
    // Six at once: the budget holds two renders, so four get the second render.
    const all = await Promise.all(Array.from({ length: 6 }, () => t.call("GET", "/monitoring/metrics")));
    expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const reused = all.filter((r) => r.headers.get("x-tug-render-age-ms") !== null);
    expect(reused.length).toBeGreaterThanOrEqual(4);
    for (const r of reused) {
      expect(Number(r.headers.get("x-tug-render-age-ms"))).toBeLessThanOrEqual(1000);
      expect(r.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      expect(r.body).toContain("# TYPE http_requests_total counter");
    }
    // A render given again is byte for byte a render made earlier in the burst.
    const fresh = new Set(all.filter((r) => !reused.includes(r)).map((r) => r.body as string));
    for (const r of reused) expect(fresh.has(r.body as string)).toBe(true);
    // Once the budget has refilled, a scrape is rendered and counts what happened since.
    let polledReused = 0;
    const text = await until("a render of its own", async () => {
      const r = await t.call("GET", "/monitoring/metrics");
      if (r.headers.get("x-tug-render-age-ms") === null) return r.body as string;
      polledReused++;
      return undefined;
    });
    const count = (render: string) =>
      Number(
        seriesOf(text, "metrics_scrapes_total")
          .find((l) => l.includes(`render="${render}"`))
          ?.split(" ")[1],
      );
    expect(count("reused")).toBe(reused.length + polledReused);
    expect(count("fresh")).toBeGreaterThanOrEqual(6 - reused.length);
  });
});

describe("monitoring endpoints outside development", () => {
  const token = randomBytes(24).toString("hex");
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ENVIRONMENT: "production", MONITORING_TOKEN: token });
  });
  afterAll(() => t?.close());

  it("require the bearer token, except the probes", async () => {
    for (const path of ["/monitoring/metrics", "/monitoring/metrics/json"]) {
      const none = await t.call("GET", path);
      expect(none.status).toBe(401);
      expect(none.body.error.code).toBe("UNAUTHENTICATED");
      expect(none.headers.get("www-authenticate")).toContain("Bearer");
      const wrong = await t.call("GET", path, { token: "w".repeat(48) });
      expect(wrong.status).toBe(403);
      expect(wrong.body.error.code).toBe("MONITORING_TOKEN_INVALID");
      expect((await t.call("GET", path, { token })).status).toBe(200);
    }
    expect((await t.call("GET", "/monitoring/health/live")).status).toBe(200);
    expect((await t.call("GET", "/monitoring/health/ready")).status).toBe(200);
  });

  it("keep the API itself on its own authentication", async () => {
    const r = await t.call("POST", "/api/v1/auth/register", {
      body: { email: "p@example.com", password: "12345678" },
    });
    expect(r.status).toBe(201);
  });
});

/** Polls `probe` until it returns something truthy; fails after `timeoutMs` naming `what`. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("embedded time-series store", () => {
  it("samples the registry into the store on the scrape interval, with its own metrics", async () => {
    const t = await startTestApp({}, { yaml: "tsdb:\n  scrapeIntervalMs: 100\n" });
    try {
      await t.call("GET", "/api/v1/users/me");
      const engine = t.app.engine;
      expect(engine).toBeDefined();
      // Two scrapes of the route's counter have reached the engine's store (in its worker).
      await until("two samples of the route's counter in the store", async () => {
        const r = await engine?.run({
          op: "samples",
          query: 'count_over_time(http_requests_total{route="/api/v1/users/me"}[1m])',
          timeMs: Date.now(),
        });
        return (r?.[0]?.value ?? 0) >= 2;
      });
      // The tsdb_* figures come from the worker's report (once a second).
      const text = await until("the store figures in /monitoring/metrics", async () => {
        const body = (await t.call("GET", "/monitoring/metrics")).body as string;
        return /^tsdb_series [1-9]\d*$/m.test(body) ? body : undefined;
      });
      expect(text).toMatch(/^tsdb_memory_bytes [1-9]\d*$/m);
      expect(text).toMatch(/^tsdb_appends_refused_total\{reason="series_limit"\} 0$/m);
      expect(text).toMatch(/^tug_engine_restarts_total\{reason="oom"\} 0$/m);
      expect(text).toMatch(/^tug_engine_queries_total\{outcome="success"\} [1-9]\d*$/m);
    } finally {
      await t.close();
    }
  });
});

describe("federation endpoint", () => {
  it("serves the latest sample of each matching series with its timestamp, for a real Prometheus to pull", async () => {
    const t = await startTestApp({}, { yaml: "tsdb:\n  scrapeIntervalMs: 100\n" });
    try {
      await t.call("GET", "/api/v1/users/me");
      const path = `/monitoring/federate?match[]=${encodeURIComponent('{__name__="http_requests_total"}')}`;
      // Wait until two scrapes holding the request have been stored (the history check needs two).
      await until("two scrapes with the request", async () => {
        const h = await t.call(
          "GET",
          `/monitoring/federate?history=5s&match[]=${encodeURIComponent('{__name__="http_requests_total",route="/api/v1/users/me"}')}`,
        );
        return (h.body as string).split("\n").filter((l) => l.startsWith("http_requests_total{")).length >= 2;
      });
      const r = await t.call("GET", path);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = r.body as string;
      expect(text).toMatch(/^# TYPE http_requests_total untyped$/m);
      const line = text.split("\n").find((l) => l.includes('route="/api/v1/users/me"'));
      expect(line).toMatch(
        /^http_requests_total\{method="GET",route="\/api\/v1\/users\/me",status_code="401"\} 1 \d{13}$/,
      );
      expect(text).not.toMatch(/^db_query/m);
      // Our extension: history=<duration> also sends the window's earlier samples, oldest first.
      const hist = await t.call(
        "GET",
        `/monitoring/federate?history=5s&match[]=${encodeURIComponent('{__name__="http_requests_total",route="/api/v1/users/me"}')}`,
      );
      const stamps = (hist.body as string)
        .split("\n")
        .filter((l) => l.startsWith("http_requests_total{"))
        .map((l) => Number(l.split(" ")[2]));
      expect(stamps.length).toBeGreaterThanOrEqual(2);
      expect([...stamps].sort((a, b) => a - b)).toEqual(stamps);
      // As Prometheus: no match[] selects nothing; an invalid one is a 400.
      const none = await t.call("GET", "/monitoring/federate");
      expect(none.status).toBe(200);
      expect(none.body).toBe("");
      const bad = await t.call("GET", `/monitoring/federate?match[]=${encodeURIComponent('{x=~"("}')}`);
      expect(bad.status).toBe(400);
    } finally {
      await t.close();
    }
  });
});

describe("rules in the query API", () => {
  it("serves the default alert rules from monitoring/alert_rules.yml", async () => {
    const t = await startTestApp();
    try {
      const r = await t.call("GET", "/monitoring/api/v1/rules");
      expect(r.status).toBe(200);
      const names = r.body.data.groups.flatMap((g: { rules: Array<{ name: string; type: string }> }) =>
        g.rules.filter((x) => x.type === "alerting").map((x) => x.name),
      );
      expect(names.length).toBeGreaterThanOrEqual(6);
      const alerts = await t.call("GET", "/monitoring/api/v1/alerts");
      expect(alerts.body).toMatchObject({ status: "success", data: { alerts: expect.any(Array) } });
    } finally {
      await t.close();
    }
  });
});
