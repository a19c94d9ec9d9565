import Fastify from "fastify";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { describeStatement, toPositional } from "../../src/api/db/sql.js";
import { TugError } from "../../src/core/errors.js";
import { bindDefaultMetrics, metricsCollector, userActivityMonitor } from "../../src/metrics/defaults.js";
import { UNMATCHED_ROUTE } from "../../src/metrics/http.js";
import {
  bucketQuantile,
  createMetrics,
  OVERFLOW_LABEL_VALUE,
  renderOpenMetrics,
  wantsOpenMetrics,
} from "../../src/metrics/index.js";

function metrics(max = 50, now?: () => number) {
  const warnings: object[] = [];
  const m = createMetrics({
    registry: new Registry(),
    maxSeriesPerMetric: max,
    httpDurationBuckets: [0.1, 1],
    dbDurationBuckets: [0.1, 1],
    defaultMetrics: false,
    systemPaths: ["."],
    systemSampleIntervalMs: 1000,
    logger: { warn: (obj) => warnings.push(obj) },
    now,
  });
  return { m, warnings };
}

async function sample(
  reg: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const fam = await reg.getSingleMetric(name)?.get();
  return fam?.values.find((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))?.value;
}

describe("custom metrics (metricsCollector)", () => {
  it("runs the seed's examples as written", async () => {
    const { m } = metrics();
    const prev = bindDefaultMetrics(m);
    try {
      userActivityMonitor.trackUserRegistration("user123", "email");
      userActivityMonitor.trackFeatureUsage("user123", "activity_creation");
      metricsCollector.incrementCounter("custom_events_total", { event_type: "signup" });
      metricsCollector.setGauge("active_users", 150);
    } finally {
      bindDefaultMetrics(prev);
    }
    const text = await m.registry.metrics();
    expect(text).toContain('user_registrations_total{method="email"} 1');
    expect(text).toContain('feature_usage_total{feature="activity_creation"} 1');
    expect(text).toContain('custom_events_total{event_type="signup"} 1');
    expect(text).toContain("active_users 150");
    expect(text).toContain('users_active{window="5m"} 1');
  });

  it("creates on first use and accumulates", async () => {
    const { m } = metrics();
    m.custom.incrementCounter("jobs_total", { queue: "a" }, 2);
    m.custom.incrementCounter("jobs_total", { queue: "a" });
    m.custom.observeHistogram("job_seconds", 0.5, { queue: "a" });
    m.custom.setGauge("depth", 3, { queue: "b" });
    m.custom.setGauge("depth", -1, { queue: "b" });
    expect(await sample(m.registry, "jobs_total", { queue: "a" })).toBe(3);
    expect(await sample(m.registry, "depth", { queue: "b" })).toBe(-1);
    const text = await m.registry.metrics();
    expect(text).toContain('job_seconds_count{queue="a"} 1');
  });

  it("fails clearly on a type clash, a label clash, bad names and bad values", () => {
    const { m } = metrics();
    m.custom.incrementCounter("x_total", { a: "1" });
    const err = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(TugError);
        return `${(e as TugError).code}: ${(e as Error).message}`;
      }
      throw new Error("expected a throw");
    };
    expect(err(() => m.custom.setGauge("x_total", 1, { a: "1" }))).toBe(
      "METRIC_TYPE_CONFLICT: metric x_total is a counter; it cannot also be used as a gauge",
    );
    expect(err(() => m.custom.incrementCounter("x_total", { b: "1" }))).toMatch(
      /^METRIC_LABELS_CONFLICT: metric x_total has labels \{a\}; got \{b\}/,
    );
    expect(err(() => m.custom.incrementCounter("x_total"))).toMatch(/^METRIC_LABELS_CONFLICT/);
    expect(err(() => m.custom.incrementCounter("9bad"))).toMatch(/^METRIC_NAME_INVALID: metric name "9bad"/);
    expect(err(() => m.custom.incrementCounter("ok_total", { "bad-label": 1 }))).toMatch(
      /^METRIC_NAME_INVALID: label name "bad-label"/,
    );
    expect(err(() => m.custom.observeHistogram("h", 1, { le: "1" }))).toMatch(
      /^METRIC_NAME_INVALID: label name "le"/,
    );
    expect(err(() => m.custom.incrementCounter("y_total", {}, -1))).toMatch(
      /^METRIC_VALUE_INVALID: counter y_total can only increase/,
    );
    expect(err(() => m.custom.observeHistogram("h2", Number.NaN))).toMatch(/^METRIC_VALUE_INVALID/);
    // A contract metric registered by the app is guarded the same way.
    expect(err(() => m.custom.setGauge("http_requests_total", 1))).toMatch(
      /^METRIC_TYPE_CONFLICT: metric http_requests_total is a counter/,
    );
  });
});

describe("cardinality guard", () => {
  it("folds label sets beyond the limit into one overflow series, counted and logged once", async () => {
    const { m, warnings } = metrics(10);
    for (let i = 0; i < 100; i++) m.custom.incrementCounter("per_tenant_total", { tenant: `t${i}` });
    const fam = await m.registry.getSingleMetric("per_tenant_total")?.get();
    expect(fam?.values).toHaveLength(11);
    expect(await sample(m.registry, "per_tenant_total", { tenant: OVERFLOW_LABEL_VALUE })).toBe(90);
    expect(
      await sample(m.registry, "metrics_cardinality_overflow_total", { metric: "per_tenant_total" }),
    ).toBe(90);
    expect(warnings).toHaveLength(1);
    // Existing label sets keep their own series.
    m.custom.incrementCounter("per_tenant_total", { tenant: "t3" });
    expect(await sample(m.registry, "per_tenant_total", { tenant: "t3" })).toBe(2);
  });

  it("guards the HTTP metrics too", async () => {
    const { m } = metrics(10);
    for (let i = 0; i < 30; i++) m.http.record("GET", `/r${i}`, 200, 0.01);
    const fam = await m.registry.getSingleMetric("http_requests_total")?.get();
    expect(fam?.values).toHaveLength(11);
    expect(
      await sample(m.registry, "http_requests_total", {
        route: OVERFLOW_LABEL_VALUE,
        method: OVERFLOW_LABEL_VALUE,
      }),
    ).toBe(20);
  });
});

describe("HTTP hooks", () => {
  it("count requests by route template, and in-flight requests while they are served", async () => {
    const { m } = metrics();
    const app = Fastify();
    m.http.install(app);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered: () => void = () => undefined;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    app.get("/items/:id", async () => {
      entered();
      await held;
      return { ok: true };
    });
    await app.ready();
    expect(await sample(m.registry, "http_requests_in_flight")).toBe(0);
    const pending = app.inject({ method: "GET", url: "/items/42" });
    await inHandler;
    expect(await sample(m.registry, "http_requests_in_flight")).toBe(1);
    release();
    expect((await pending).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/nowhere" })).statusCode).toBe(404);
    expect(await sample(m.registry, "http_requests_in_flight")).toBe(0);
    const route = { method: "GET", route: "/items/:id", status_code: "200" };
    expect(await sample(m.registry, "http_requests_total", route)).toBe(1);
    expect(
      await sample(m.registry, "http_requests_total", { route: UNMATCHED_ROUTE, status_code: "404" }),
    ).toBe(1);
    expect(await m.registry.metrics()).toMatch(/^http_requests_in_flight 0$/m);
    await app.close();
  });
});

describe("user activity", () => {
  it("counts distinct active users per window without user labels", async () => {
    let t = 1_000_000_000_000;
    const { m } = metrics(50, () => t);
    m.users.trackUserLogin("u1", "success");
    t += 10 * 60_000;
    m.users.trackFeatureUsage("u2", "activity_creation");
    m.users.trackFeatureUsage("u2", "activity_creation");
    m.users.trackUserLogin(null, "failure");
    expect(m.users.activeCounts()).toEqual({ "5m": 1, "1h": 2, "24h": 2 });
    t += 25 * 60 * 60_000;
    expect(m.users.activeCounts()).toEqual({ "5m": 0, "1h": 0, "24h": 0 });
    const text = await m.registry.metrics();
    expect(text).not.toMatch(/u1|u2/);
    expect(text).toContain('user_logins_total{outcome="failure"} 1');
  });
});

describe("exposition", () => {
  it("negotiates OpenMetrics the way Prometheus asks for it", () => {
    expect(
      wantsOpenMetrics(
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      ),
    ).toBe(true);
    expect(wantsOpenMetrics("text/plain;version=0.0.4")).toBe(false);
    expect(wantsOpenMetrics(undefined)).toBe(false);
    expect(wantsOpenMetrics("*/*")).toBe(false);
    expect(wantsOpenMetrics("text/plain;q=1,application/openmetrics-text;q=0.5")).toBe(false);
  });

  it("renders counters without _total_total, histograms with buckets, and # EOF", async () => {
    const { m } = metrics();
    m.http.record("GET", "/a", 200, 0.05);
    m.custom.setGauge("g", 1.5, { k: 'quo"te' });
    const text = await renderOpenMetrics(m.registry);
    expect(text).toContain("# TYPE http_requests counter");
    expect(text).toContain('http_requests_total{method="GET",route="/a",status_code="200"} 1');
    expect(text).not.toContain("_total_total");
    expect(text).toContain(
      'http_request_duration_seconds_bucket{method="GET",route="/a",status_code="200",le="+Inf"} 1',
    );
    expect(text).toContain('g{k="quo\\"te"} 1.5');
    expect(text.endsWith("# EOF\n")).toBe(true);
  });
});

describe("helpers", () => {
  it("bucketQuantile interpolates like histogram_quantile", () => {
    const les = [0.1, 0.5, 1, Number.POSITIVE_INFINITY];
    expect(bucketQuantile(0.5, les, [0, 10, 20, 20])).toBeCloseTo(0.5);
    expect(bucketQuantile(0.25, les, [0, 10, 20, 20])).toBeCloseTo(0.3);
    expect(bucketQuantile(0.99, les, [0, 0, 0, 5])).toBe(1);
    expect(bucketQuantile(0.5, les, [0, 0, 0, 0])).toBeNaN();
  });

  it("describeStatement names operation and table from the SQL", () => {
    expect(describeStatement("SELECT * FROM users WHERE id = $1")).toEqual({
      operation: "select",
      table: "users",
    });
    expect(describeStatement("INSERT INTO sessions (a) VALUES ($1)")).toEqual({
      operation: "insert",
      table: "sessions",
    });
    expect(describeStatement("UPDATE activities SET a = 1")).toEqual({
      operation: "update",
      table: "activities",
    });
    expect(describeStatement("DELETE FROM sessions WHERE x")).toEqual({
      operation: "delete",
      table: "sessions",
    });
    expect(describeStatement("CREATE INDEX ix ON activities (a)")).toEqual({
      operation: "create",
      table: "activities",
    });
    expect(describeStatement("SELECT 1")).toEqual({ operation: "select", table: "none" });
    expect(describeStatement("VACUUM")).toEqual({ operation: "other", table: "none" });
  });

  it("toPositional rewrites $n placeholders in binding order", () => {
    expect(toPositional("a = $2 AND b = $1 OR c = $2")).toEqual({
      sql: "a = ? AND b = ? OR c = ?",
      order: [1, 0, 1],
    });
  });
});
