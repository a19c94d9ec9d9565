// The parts of the log analysis that the app-level tests do not reach: per-route trends and their
// worse/better/steady label (and the "before deployment" window), the `regressed` error-group
// status, the anomaly metrics (`anomaly_score`, `log_anomalies_total`), the
// /monitoring/logs/trends and /monitoring/logs/anomalies routes, and log search filters beyond
// request id and level. Clocks are fake and advanced by hand; nothing listens (fastify.inject).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { logRoutes } from "../src/http/logs.js";
import { AnomalyDetector, AnomalyRegistry } from "../src/logs/analysis/anomaly.js";
import { ErrorTracker } from "../src/logs/analysis/errors.js";
import { createLogAnalysis, LogAnalyzer, type RouteMinute } from "../src/logs/analysis/index.js";
import { type MinutePoint, RouteTrends } from "../src/logs/analysis/trends.js";
import { searchLogs } from "../src/logs/search.js";

const T0 = Date.UTC(2026, 10, 27, 8, 0, 0);
const MIN = 60_000;
const minuteOf = (ms: number) => Math.floor(ms / MIN);

function point(minute: number, latency: number, requests = 100, errors = 0): MinutePoint {
  return { minute, requests, errors, meanLatency: latency, p95Latency: latency * 2 };
}

describe("RouteTrends", () => {
  it("labels a route worse, better or steady against the window before, and unknown without one", () => {
    const t = new RouteTrends();
    const m0 = minuteOf(T0);
    for (let i = 0; i < 120; i++) {
      const m = m0 + i;
      const late = i >= 60;
      t.add("GET /slower", point(m, late ? 0.3 : 0.1));
      t.add("GET /faster", point(m, late ? 0.05 : 0.2));
      t.add("GET /same", point(m, 0.1 + (i % 2) * 0.001));
      t.add("GET /failing", point(m, 0.1, 100, late ? 5 : 0));
      if (late) t.add("GET /new", point(m, 0.1));
    }
    const now = (m0 + 119) * MIN + 30_000;
    const byRoute = new Map(t.list(now, 60).map((r) => [r.route, r]));
    expect(byRoute.get("GET /slower")?.direction).toBe("worse");
    expect(byRoute.get("GET /slower")?.latencyP95.changeVsPrevious).toBeCloseTo(2, 6);
    expect(byRoute.get("GET /slower")?.latencyMean.slopePerHour).toBeCloseTo(0, 6); // flat within the window
    expect(byRoute.get("GET /faster")?.direction).toBe("better");
    expect(byRoute.get("GET /same")?.direction).toBe("steady");
    expect(byRoute.get("GET /failing")?.direction).toBe("worse");
    expect(byRoute.get("GET /failing")?.errorRate.current).toBeCloseTo(0.05, 9);
    expect(byRoute.get("GET /failing")?.errorRate.previous).toBe(0);
    expect(byRoute.get("GET /new")?.direction).toBe("unknown");
    expect(byRoute.get("GET /slower")?.requests).toBe(6000);
  });

  it("compares with the time before the deployment, without the new process's first minute", () => {
    const t = new RouteTrends();
    const dep = minuteOf(T0) + 90;
    t.markDeployment(dep * MIN + 5_000); // the process started 5 s into minute `dep`
    for (let m = dep - 90; m < dep + 60; m++) {
      // 0.1 s before; the first minute after start is slow (cold), then 0.2 s.
      t.add("GET /x", point(m, m < dep ? 0.1 : m === dep ? 5 : 0.2));
    }
    const [r] = t.list((dep + 59) * MIN + 1_000, 30);
    expect(r?.latencyMean.beforeDeployment).toBeCloseTo(0.1, 9);
    expect(r?.latencyMean.current).toBeCloseTo(0.2, 9);
    expect(r?.latencyMean.changeVsBeforeDeployment).toBeCloseTo(1, 9);
  });

  it("keeps its figures and deployment through a snapshot", () => {
    const t = new RouteTrends();
    const m0 = minuteOf(T0);
    t.markDeployment((m0 + 10) * MIN);
    for (let i = 0; i < 20; i++) t.add("GET /y", point(m0 + i, i < 10 ? 0.1 : 0.4));
    const u = RouteTrends.fromJSON(JSON.parse(JSON.stringify(t.toJSON())));
    const now = (m0 + 19) * MIN;
    expect(u.list(now, 10)).toEqual(t.list(now, 10));
    expect(u.list(now, 10)[0]?.latencyMean.beforeDeployment).toBeCloseTo(0.1, 9);
  });
});

describe("ErrorTracker status", () => {
  const event = (atMs: number) => ({
    atMs,
    templateId: "t1",
    template: "payment <*> declined",
    errorType: "PaymentDeclined",
    line: "{}",
  });

  it("is new, then ongoing, then regressed when it comes back after a silence, then ongoing again", () => {
    const e = new ErrorTracker({ newForMs: 60 * MIN, regressAfterMs: 60 * MIN });
    e.record(event(T0));
    e.record(event(T0 + 10 * MIN));
    expect(e.list(T0 + 30 * MIN)[0]?.status).toBe("new");
    expect(e.list(T0 + 2 * 60 * MIN)[0]?.status).toBe("ongoing");
    // Silent for 59 minutes: still the same run of errors, not a regression.
    e.record(event(T0 + 69 * MIN));
    expect(e.list(T0 + 2 * 60 * MIN)[0]?.status).toBe("ongoing");
    // Silent for 3 hours, then back.
    const back = T0 + 69 * MIN + 3 * 60 * MIN;
    e.record(event(back));
    const g = e.list(back + MIN)[0];
    expect(g?.status).toBe("regressed");
    expect(g?.regressedAt).toBe(back);
    expect(g?.count).toBe(4);
    expect(e.list(back + 61 * MIN)[0]?.status).toBe("ongoing");
    expect(ErrorTracker.fromJSON(JSON.parse(JSON.stringify(e.toJSON()))).list(back + MIN)[0]?.status).toBe(
      "regressed",
    );
  });
});

const line = (level: string, msg: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ level, time: "x", msg, ...extra });

describe("anomaly metrics", () => {
  const dir = mkdtempSync(join(tmpdir(), "tug-anomaly-metrics-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("anomaly_score has every scored series and log_anomalies_total counts the detections", async () => {
    let now = T0;
    const registry = new Registry();
    const analysis = createLogAnalysis({
      registry,
      stateFile: join(dir, "state.json"),
      maxTemplates: 1000,
      now: () => now,
    });
    // Two quiet hours: a steady trickle of info lines and no errors. The first hour is learnt, and
    // anomaly_learning_points says so.
    const learning = async () =>
      new Map(
        (await registry.getSingleMetric("anomaly_learning_points")?.get())?.values.map((v) => [
          String(v.labels.series),
          v.value,
        ]),
      );
    for (let m = 0; m < 120; m++) {
      if (m === 10) expect((await learning()).get("log_level:info")).toBe(50);
      for (let i = 0; i < 20 + (m % 3); i++)
        analysis.analyzer.ingest(line("info", `user ${i} logged in`), now);
      now += MIN;
      analysis.analyzer.tick();
    }
    expect((await learning()).get("log_level:info")).toBe(0);
    const before = await registry.getSingleMetric("log_anomalies_total")?.get();
    const errorsBefore = before?.values.find((v) => v.labels.series === "log_level:error")?.value ?? 0;
    expect(errorsBefore).toBe(0);
    // An error burst in one minute, the info trickle going on as before.
    for (let i = 0; i < 21; i++) analysis.analyzer.ingest(line("info", `user ${i} logged in`), now);
    for (let i = 0; i < 300; i++)
      analysis.analyzer.ingest(line("error", `db timeout on shard ${i % 4}`), now);
    now += MIN;
    analysis.analyzer.tick();
    const score = await registry.getSingleMetric("anomaly_score")?.get();
    const scored = new Map(score?.values.map((v) => [String(v.labels.series), v.value]));
    expect(scored.get("log_level:error")).toBeGreaterThanOrEqual(0.5);
    expect(scored.get("log_level:info")).toBeLessThan(0.5);
    const after = await registry.getSingleMetric("log_anomalies_total")?.get();
    expect(after?.values.find((v) => v.labels.series === "log_level:error")?.value).toBe(1);
    expect(after?.values.find((v) => v.labels.series === "log_level:info")).toBeUndefined();
    expect(analysis.analyzer.anomalyList(10).map((a) => a.series)).toContain("log_level:error");
  });
});

describe("/monitoring/logs/trends and /monitoring/logs/anomalies", () => {
  it("serve the analyzer's route trends and anomalies, and reject bad queries", async () => {
    let now = T0;
    let routeFigures: RouteMinute[] = [];
    const detectors = new AnomalyRegistry({ now: () => now });
    const analyzer = new LogAnalyzer({
      anomalies: { score: (series, value, atMs) => detectors.observe(series, value, atMs) },
      now: () => now,
      routeMinutes: () => routeFigures,
    });
    for (let m = 0; m < 121; m++) {
      const late = m > 60;
      routeFigures = [
        { route: "GET /orders", requests: 50, errors: late ? 10 : 0, meanLatency: 0.1, p95Latency: 0.2 },
        { route: "GET /users", requests: 80, errors: 0, meanLatency: 0.05, p95Latency: 0.08 },
      ];
      analyzer.ingest(line(m === 120 ? "fatal" : "info", "tick"), now);
      now += MIN;
      analyzer.tick();
    }
    const app = Fastify();
    await app.register(logRoutes, { analyzer, logFile: join(tmpdir(), "none.log"), token: "secret" });
    const auth = { authorization: "Bearer secret" };

    const trends = await app.inject({ url: "/monitoring/logs/trends?windowMinutes=30", headers: auth });
    expect(trends.statusCode).toBe(200);
    const body = trends.json();
    expect(body.windowMinutes).toBe(30);
    const routes = new Map(
      (body.routes as Array<{ route: string; direction: string }>).map((r) => [r.route, r]),
    );
    expect(routes.get("GET /users")?.direction).toBe("steady");
    expect(Array.isArray(body.slowQueries)).toBe(true);
    const hour = (await app.inject({ url: "/monitoring/logs/trends", headers: auth })).json();
    expect(hour.windowMinutes).toBe(60);
    expect(
      (hour.routes as Array<{ route: string; direction: string }>).find((r) => r.route === "GET /orders")
        ?.direction,
    ).toBe("worse");
    expect(
      (await app.inject({ url: "/monitoring/logs/trends?windowMinutes=1", headers: auth })).statusCode,
    ).toBe(400);
    expect((await app.inject({ url: "/monitoring/logs/trends?extra=1", headers: auth })).statusCode).toBe(
      400,
    );
    expect((await app.inject({ url: "/monitoring/logs/trends" })).statusCode).toBe(401);

    const anomalies = (await app.inject({ url: "/monitoring/logs/anomalies?limit=5", headers: auth })).json();
    expect(anomalies.threshold).toBe(0.5);
    const fatal = (anomalies.anomalies as Array<{ series: string; score: number }>).find(
      (a) => a.series === "log_level:fatal",
    );
    expect(fatal?.score).toBeGreaterThanOrEqual(0.5);
    expect(anomalies.anomalies.length).toBeLessThanOrEqual(5);
    expect((await app.inject({ url: "/monitoring/logs/anomalies?limit=0", headers: auth })).statusCode).toBe(
      400,
    );
    await app.close();
  });
});

describe("log search filters", () => {
  const dir = mkdtempSync(join(tmpdir(), "tug-search-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "app.log");
  const at = (min: number) => new Date(T0 + min * MIN).toISOString();
  writeFileSync(
    file,
    `${[
      line("info", "user 1 logged in", { time: at(0) }),
      line("info", "user 2 logged in", { time: at(1) }),
      line("warn", "disk at 91%", { time: at(2) }),
      line("info", "user 3 logged in", { time: at(3) }),
      line("error", "payment 17 declined", { time: at(4) }),
      "not json at all",
      line("info", "cache warmed", { time: at(5) }),
    ].join("\n")}\n`,
  );
  const templateOf = (msg: string) => msg.replace(/\d+/g, "N");
  const msgs = (r: { lines: Array<Record<string, unknown>> }) => r.lines.map((l) => l.msg);

  it("by template, time range and text, newest first, and combined", async () => {
    expect(msgs(await searchLogs(file, { limit: 10, templateId: "user N logged in" }, templateOf))).toEqual([
      "user 3 logged in",
      "user 2 logged in",
      "user 1 logged in",
    ]);
    expect(
      msgs(await searchLogs(file, { limit: 10, fromMs: T0 + MIN, toMs: T0 + 3 * MIN }, templateOf)),
    ).toEqual(["user 3 logged in", "disk at 91%", "user 2 logged in"]);
    expect(msgs(await searchLogs(file, { limit: 10, text: "DECLINED" }, templateOf))).toEqual([
      "payment 17 declined",
    ]);
    expect(
      msgs(
        await searchLogs(
          file,
          { limit: 10, text: "logged", fromMs: T0 + 2 * MIN, level: "info" },
          templateOf,
        ),
      ),
    ).toEqual(["user 3 logged in"]);
    expect(msgs(await searchLogs(file, { limit: 2, templateId: "user N logged in" }, templateOf))).toEqual([
      "user 3 logged in",
      "user 2 logged in",
    ]);
    expect(msgs(await searchLogs(file, { limit: 10, text: "nothing like this" }, templateOf))).toEqual([]);
  });
});

describe("AnomalyDetector daily cycle", () => {
  // Five-minute points of a daily wave with a little noise; on day 6 the wave stops and the series
  // sits at its daily mean, a value it passes twice every day: only the rhythm is broken.
  const STEP = 5 * MIN;
  const PER_DAY = 288;
  function wave(days: number, flatDay: number): Array<[number, number]> {
    let seed = 7;
    const noise = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648 - 0.5;
    };
    const out: Array<[number, number]> = [];
    for (let i = 0; i < days * PER_DAY; i++) {
      const day = Math.floor(i / PER_DAY);
      const v = day === flatDay ? 50 : 50 + 40 * Math.sin((2 * Math.PI * i) / PER_DAY);
      out.push([T0 + i * STEP, v + noise()]);
    }
    return out;
  }
  const firstDetection = (points: Array<[number, number]>, d: AnomalyDetector) => {
    for (const [t, v] of points) if (d.update(v, t) >= 0.5) return t;
    return undefined;
  };

  it("flags a broken daily rhythm that stays within the usual range, and only with the cycle on", () => {
    const points = wave(9, 6);
    const flatStart = T0 + 6 * PER_DAY * STEP;
    const seasonal = firstDetection(points, new AnomalyDetector());
    expect(seasonal).toBeDefined();
    expect(seasonal as number).toBeGreaterThanOrEqual(flatStart);
    expect((seasonal as number) - flatStart).toBeLessThan(6 * 3600_000);
    const plain = firstDetection(points.slice(0, 7 * PER_DAY), new AnomalyDetector({ seasonal: 0 }));
    expect(plain === undefined || plain > flatStart + 6 * 3600_000).toBe(true);
  });

  it("gives identical scores after a persistence round trip with the cycle learnt", () => {
    const points = wave(8, 99);
    const a = new AnomalyDetector();
    const cut = 5 * PER_DAY + 17;
    for (const [t, v] of points.slice(0, cut)) a.update(v, t);
    const b = AnomalyDetector.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    for (const [t, v] of points.slice(cut)) expect(b.update(v, t)).toBe(a.update(v, t));
    expect(() => new AnomalyDetector({ seasonal: -1 })).toThrow(RangeError);
  });
});

describe("LogAnalyzer.tapSame (access lines sent to the log thread as parts)", () => {
  it("counts a line given again as the lines it stands for would be counted", () => {
    const now = Date.UTC(2026, 11, 7, 10, 0, 0);
    const make = () => new LogAnalyzer({ anomalies: { score: () => 0 }, now: () => now });
    const line = (i: number, level: string, status: number) =>
      `{"level":"${level}","time":"2026-12-07T10:00:00.000Z","pid":1,"reqId":"r-${i}","event":"access","method":"GET","route":"/a","url":"/a?i=${i}","statusCode":${status},"durationMs":0.4,"msg":"${status < 400 ? "request completed" : "request rejected"}"}\n`;
    const each = make();
    const same = make();
    for (let i = 0; i < 50; i++) {
      const [level, status] = i % 5 === 0 ? ["WARN", 404] : ["INFO", 200];
      each.tap(line(i, level, status));
      // The first line of each level whole, the rest as that first line given again.
      if (i < 2) same.tap(line(i, level, status));
      else same.tapSame(line(i % 5 === 0 ? 0 : 1, level, status));
    }
    each.drain();
    same.drain();
    expect(same.counts()).toEqual(each.counts());
    expect(same.counts()).toMatchObject({ lines: 50, levels: { info: 40, warn: 10 } });
    const summary = (a: LogAnalyzer) => a.patterns({ limit: 10 }).map((p) => [p.template, p.count, p.level]);
    expect(summary(same)).toEqual(summary(each));
  });
});
