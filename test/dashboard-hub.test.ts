// The live hub on its own, over an engine that answers what each test needs: shared evaluations
// only while someone listens, each query's failure or excess shown in its panel (the page then
// shows an error, never a blank), the listener bound, and the SSE framing.

import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { countSeries, HubFullError, LiveHub, sseFrame } from "../src/dashboard/hub.js";
import { PANELS, ROUTE_PANELS, renderExpr } from "../src/dashboard/panels.js";
import { InlineEngine } from "../src/engine/inline.js";
import type { Engine } from "../src/engine/protocol.js";
import { parseExpr } from "../src/promql/index.js";
import { Sampler } from "../src/tsdb/sampler.js";
import { SeriesStore } from "../src/tsdb/store.js";
import { waitFor } from "./support/wait.js";

const matrix = (n: number) =>
  new TextEncoder().encode(
    JSON.stringify({
      status: "success",
      data: {
        resultType: "matrix",
        result: Array.from({ length: n }, (_, i) => ({ metric: { route: `/r${i}` }, values: [[1, "1"]] })),
      },
    }),
  );

function engine(answer: (query: string) => Uint8Array | Error) {
  const queries: string[] = [];
  const e: Pick<Engine, "run"> = {
    run: (async (req: { op: string; query: string }) => {
      queries.push(req.query);
      const a = answer(req.query);
      if (a instanceof Error) throw a;
      return a;
    }) as Engine["run"],
  };
  return { e, queries };
}

const hubWith = (e: Pick<Engine, "run">, o: Partial<ConstructorParameters<typeof LiveHub>[0]> = {}) =>
  new LiveHub({
    engine: e,
    scrapeIntervalMs: 5000,
    maxClients: 3,
    maxSeriesPerPanel: 10,
    queryTimeoutMs: 1000,
    ...o,
  });

function parse(frame: Buffer) {
  const text = frame.toString("utf8");
  expect(text.startsWith("event: data\n")).toBe(true);
  const data = text
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .map((l) => l.slice(6))
    .join("\n");
  return JSON.parse(data) as {
    head: { stepMs: number };
    panels: Record<string, Array<{ error?: string; status?: string }>>;
  };
}

describe("live hub", () => {
  it("evaluates each panel query once for every listener of a view, and stops when they leave", async () => {
    const { e, queries } = engine(() => matrix(1));
    const hub = hubWith(e);
    const got: Buffer[][] = [[], []];
    const off1 = hub.subscribe("users", "1h", { send: (f) => got[0]?.push(f) });
    const off2 = hub.subscribe("users", "1h", { send: (f) => got[1]?.push(f) });
    await waitFor("the first evaluation", () => got[0]?.length === 1);
    await waitFor("the second listener to get it", () => got[1]?.length === 1);
    const perEvaluation = PANELS.users.reduce((n, p) => n + p.queries.length, 0);
    expect(queries.length).toBe(perEvaluation);
    expect(hub.evaluations).toBe(1);
    expect(got[0]?.[0]).toBe(got[1]?.[0]); // the same frame, built once
    // A third listener joining gets the last frame at once, without an evaluation.
    const late: Buffer[] = [];
    const off3 = hub.subscribe("users", "1h", { send: (f) => late.push(f) });
    expect(late).toHaveLength(1);
    expect(hub.evaluations).toBe(1);
    off1();
    off2();
    off3();
    expect(hub.listeners).toBe(0);
    hub.stop();
  });

  it("puts a failed or oversized query's reason in its panel, and the others' results beside it", async () => {
    const { e } = engine((q) =>
      q.includes("user_logins_total")
        ? new Error("query timed out in expression evaluation")
        : q.includes("feature_usage")
          ? matrix(11)
          : matrix(2),
    );
    const hub = hubWith(e);
    const frame = parse(await hub.evaluate("users", "15m"));
    expect(frame.panels.logins?.[0]?.error).toBe("query timed out in expression evaluation");
    expect(frame.panels.features?.[0]?.error).toBe(
      "11 series, more than the dashboard draws in one panel (10)",
    );
    expect(frame.panels.registrations?.[0]?.status).toBe("success");
    expect(frame.head.stepMs).toBe(5000);
    hub.stop();
  });

  it("evaluates a panel of an optional part (Redis) only when the app has it", async () => {
    const { e, queries } = engine(() => matrix(1));
    const without = parse(await hubWith(e).evaluate("resources", "5m"));
    expect(Object.keys(without.panels)).not.toContain("redis");
    expect(queries.some((q) => q.includes('check="redis"'))).toBe(false);
    const withRedis = parse(await hubWith(e, { features: new Set(["redis"]) }).evaluate("resources", "5m"));
    expect(withRedis.panels.redis?.[0]?.status).toBe("success");
    expect(
      queries.some((q) => q.includes('health_check_duration_seconds{instance=~".*",check="redis"}')),
    ).toBe(true);
  });

  it("refuses a listener beyond its bound and takes one again when another leaves", () => {
    const { e } = engine(() => matrix(0));
    const hub = hubWith(e);
    const offs = [0, 1, 2].map(() => hub.subscribe("overview", "5m", { send: () => undefined }));
    expect(() => hub.subscribe("traffic", "5m", { send: () => undefined })).toThrow(HubFullError);
    offs[0]?.();
    offs[0]?.(); // twice is once
    expect(hub.listeners).toBe(2);
    const again = hub.subscribe("traffic", "5m", { send: () => undefined });
    expect(hub.listeners).toBe(3);
    again();
    for (const off of offs) off();
    hub.stop();
  });

  it("counts series by their keys and frames bodies with newlines as several data lines", () => {
    expect(countSeries(matrix(0))).toBe(0);
    expect(countSeries(matrix(7))).toBe(7);
    // A label value that spells the key is escaped inside its string and not counted.
    const tricky = new TextEncoder().encode(
      JSON.stringify({ result: [{ metric: { x: '{"metric":' }, values: [] }] }),
    );
    expect(countSeries(tricky)).toBe(1);
    const f = sseFrame("data", Buffer.from('{"a":\n1}')).toString();
    expect(f).toBe('event: data\ndata: {"a":\ndata: 1}\n\n');
  });
});

// The Traffic view at scale, over the real engine (in process) and real scrapes of N routes: the
// route table ships each route's last values, not its whole range; the drill-down ships one
// route's series over the range, with the route given as a matcher's value, never as syntax.
describe("live hub: the Traffic view's size with the routes", () => {
  const STEP = 5000;
  const END = Date.UTC(2026, 11, 6, 12, 0, 0);
  const STEPS = 180; // 15 min at 5 s

  /** An engine holding 15 min of scrapes of `n` routes; route i gets i + 1 requests a step. */
  async function engineWithRoutes(n: number) {
    const registry = new Registry();
    const requests = new Counter({
      name: "http_requests_total",
      help: "r",
      labelNames: ["method", "route", "status_code"],
      registers: [registry],
    });
    const latency = new Histogram({
      name: "http_request_duration_seconds",
      help: "l",
      labelNames: ["method", "route", "status_code"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    const engine = new InlineEngine({ store: new SeriesStore({ retentionMs: 3_600_000 }) });
    const sampler = new Sampler({ registry, sink: engine });
    for (let k = 0; k <= STEPS; k++) {
      for (let i = 0; i < n; i++) {
        const labels = { method: "GET", route: `/r${i}`, status_code: i % 5 === 0 ? "500" : "200" };
        requests.inc(labels, i + 1);
        for (let j = 0; j <= i; j++) latency.observe(labels, 0.001 * (1 + (i % 7) + j));
      }
      await sampler.scrapeOnce(END - (STEPS - k) * STEP);
    }
    return engine;
  }

  type Series = { metric: Record<string, string>; values: Array<[number, string]> };
  function panels(frame: Buffer) {
    return parse(frame).panels as unknown as Record<
      string,
      Array<{ data?: { result: Series[] }; error?: string }>
    >;
  }

  async function trafficFrame(n: number, route?: string) {
    const engine = await engineWithRoutes(n);
    const hub = hubWith(engine, { now: () => END, maxSeriesPerPanel: 500 });
    const frame = await hub.evaluate("traffic", "15m", route !== undefined ? { route } : {});
    hub.stop();
    return frame;
  }

  it("ships the route table's last values only, so the frame grows by instants per route, not points", async () => {
    const [small, large] = [await trafficFrame(5), await trafficFrame(40)];
    for (const [n, frame] of [
      [5, small],
      [40, large],
    ] as const) {
      const p = panels(frame);
      for (const [id, results] of Object.entries(p))
        for (const r of results) expect(r.error, `${id} at ${n} routes`).toBeUndefined();
      // The table: one value per route and column, at the range's end.
      const table = (p.routes ?? []).flatMap((r) => r.data?.result ?? []);
      expect(new Set(table.map((s) => s.metric.route)).size).toBe(n);
      for (const s of table) expect(s.values.length, JSON.stringify(s.metric)).toBe(1);
      expect(Math.max(...table.map((s) => s.values[0]?.[0] ?? 0))).toBe(END / 1000);
      // No chart holds more than 10 series at a step (p95 by route: the top 10).
      for (const [id, results] of Object.entries(p)) {
        if (id === "routes") continue;
        const atStep = new Map<number, number>();
        for (const s of results.flatMap((r) => r.data?.result ?? []))
          for (const [t] of s.values) atStep.set(t, (atStep.get(t) ?? 0) + 1);
        expect(Math.max(0, ...atStep.values()), `${id} at ${n} routes`).toBeLessThanOrEqual(10);
      }
    }
    // Per added route: its table row (6 instants, ~1 kB) and no range. Its range would be
    // 6 × 181 points (~25 kB).
    const perRoute = (large.length - small.length) / 35;
    expect(perRoute).toBeLessThan(3000);
  }, 60_000);

  it("ships the drill-down route's own series over the range, and only that route's", async () => {
    const p = panels(await trafficFrame(8, "/r3"));
    const requests = p.route_reqps?.[0]?.data?.result ?? [];
    expect(requests).toHaveLength(1);
    expect(requests[0]?.metric).toEqual({ method: "GET" });
    expect(requests[0]?.values.length).toBeGreaterThan(150); // the range, not one value
    // Route 3 gets 4 requests a step: 0.8 req/s (the other routes' rates differ).
    expect(Number(requests[0]?.values.at(-1)?.[1])).toBeCloseTo(0.8, 5);
    expect(p.route_s?.every((r) => (r.data?.result.length ?? 0) === 1)).toBe(true);
    // The table stays every route's last values.
    expect(new Set((p.routes?.[0]?.data?.result ?? []).map((s) => s.metric.route)).size).toBe(8);
  }, 60_000);

  it("gives the route to PromQL as a string, never as syntax", async () => {
    const hostile = '/r1"} or vector(1) or up{a="';
    const q = renderExpr(ROUTE_PANELS.traffic?.[0]?.queries[0]?.expr ?? "", {
      rateIntervalMs: 20_000,
      rangeMs: 900_000,
      route: hostile,
    });
    const matchers: Array<{ name: string; value: string }> = [];
    const walk = (e: unknown): void => {
      if (!e || typeof e !== "object") return;
      const m = (e as { matchers?: Array<{ name: string; value: string }> }).matchers;
      if (Array.isArray(m)) matchers.push(...m);
      for (const v of Object.values(e)) walk(v);
    };
    walk(parseExpr(q));
    expect(matchers.find((m) => m.name === "route")?.value).toBe(hostile);
    const p = panels(await trafficFrame(3, hostile));
    expect(p.route_reqps?.[0]?.error).toBeUndefined();
    expect(p.route_reqps?.[0]?.data?.result).toEqual([]); // no such route, and no vector(1)
  }, 60_000);
});

describe("live hub: route and custom-range groups", () => {
  it("bounds the groups with a route or a fixed window; listeners of one share it", () => {
    const { e } = engine(() => matrix(0));
    const hub = hubWith(e, { maxParamGroups: 2, maxClients: 10 });
    const offs = [
      hub.subscribe("traffic", "1h", { send: () => undefined }, { route: "/a" }),
      hub.subscribe("traffic", "1h", { send: () => undefined }, { route: "/a" }),
      hub.subscribe("traffic", "1h", { send: () => undefined }, { route: "/b" }),
      hub.subscribe("traffic", "1h", { send: () => undefined }), // a preset: not bounded by it
    ];
    expect(hub.paramGroups()).toBe(2);
    expect(() => hub.subscribe("traffic", "1h", { send: () => undefined }, { route: "/c" })).toThrow(
      /2 route drill-downs or custom time ranges/,
    );
    expect(() =>
      hub.subscribe("overview", { fromMs: 1_000, toMs: 60_000 }, { send: () => undefined }),
    ).toThrow(HubFullError);
    offs[2]?.();
    const off = hub.subscribe("overview", { fromMs: 1_000, toMs: 60_000 }, { send: () => undefined });
    expect(hub.paramGroups()).toBe(2);
    off();
    for (const o of offs) o();
    hub.stop();
  });

  it("evaluates a window that has ended once, at the step the presets would choose, and keeps its frame", async () => {
    const { e, queries } = engine(() => matrix(1));
    const now = Date.UTC(2026, 11, 6, 12);
    const hub = hubWith(e, { now: () => now });
    const fromMs = now - 3 * 3_600_000;
    const toMs = now - 3_600_000; // 2 h: 30 s steps (240 points), as 6 h would be 720
    const got: Buffer[] = [];
    const off = hub.subscribe("users", { fromMs, toMs }, { send: (f) => got.push(f) });
    await waitFor("the window's frame", () => got.length === 1);
    const head = (parse(got[0] as Buffer) as unknown as { head: Record<string, unknown> }).head;
    expect(head).toMatchObject({
      range: "custom",
      fromMs,
      toMs,
      stepMs: 30_000,
      startMs: fromMs,
      endMs: toMs,
    });
    expect(hub.refreshing).toBe(0); // ended: no next evaluation
    const late: Buffer[] = [];
    const off2 = hub.subscribe("users", { fromMs, toMs }, { send: (f) => late.push(f) });
    expect(late[0]).toBe(got[0]);
    expect(queries.length).toBe(PANELS.users.reduce((n, p) => n + p.queries.length, 0));
    off();
    off2();
    // A preset keeps refreshing.
    const off3 = hub.subscribe("users", "5m", { send: (f) => got.push(f) });
    await waitFor("the preset's frame", () => got.length === 2);
    expect(hub.refreshing).toBe(1);
    off3();
    hub.stop();
  });
});
