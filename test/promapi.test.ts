import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InlineEngine } from "../src/engine/index.js";
import { installErrorHandling } from "../src/http/errors.js";
import {
  formatDurationMs,
  formatTimestamp,
  parseDurationMs,
  parseTimeMs,
  promApiRoutes,
  type RulesProvider,
} from "../src/http/promapi.js";
import { labelsFromObject, SeriesStore } from "../src/tsdb/index.js";
import { startTestApp, type TestApp } from "./support/app.js";

const T0 = 1_700_000_000_000; // ms
const NOW = T0 + 600_000;
const API = "/monitoring/api/v1";

interface Res {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

interface Served {
  app: FastifyInstance;
  url: string;
  get(path: string, headers?: Record<string, string>): Promise<Res>;
  post(path: string, form: Record<string, string | string[]>, query?: string): Promise<Res>;
}

async function serve(store: SeriesStore, extra: Partial<Parameters<typeof promApiRoutes>[1]> = {}) {
  const app = Fastify();
  installErrorHandling(app); // as the real app: auth failures use the app's error shape
  // The engine in process over the test's store: the same interface as the app's worker.
  await app.register(promApiRoutes, { engine: new InlineEngine({ store }), now: () => NOW, ...extra });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  const read = async (res: Response): Promise<Res> => {
    const text = await res.text();
    return { status: res.status, text, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };
  const served: Served = {
    app,
    url,
    get: async (path, headers = {}) => read(await fetch(`${url}${API}${path}`, { headers })),
    post: async (path, form, query = "") => {
      const body = new URLSearchParams();
      for (const [k, v] of Object.entries(form)) for (const x of [v].flat()) body.append(k, x);
      const res = await fetch(`${url}${API}${path}${query}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: body.toString(),
      });
      return read(res);
    },
  };
  return served;
}

const q = (params: Record<string, string | number>) =>
  `?${new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString()}`;

function fillStore(): SeriesStore {
  const store = new SeriesStore({ retentionMs: 365 * 86_400_000 });
  const get = labelsFromObject({
    __name__: "http_requests_total",
    method: "GET",
    route: "/a",
    status_code: "200",
  });
  const post = labelsFromObject({
    __name__: "http_requests_total",
    method: "POST",
    route: "/b",
    status_code: "500",
  });
  for (let i = 0; i <= 40; i++) {
    store.append(get, T0 + i * 15_000, i * 10);
    store.append(post, T0 + i * 15_000, i);
  }
  store.append(labelsFromObject({ __name__: "users_active", window: "5m" }), T0 + 300_000, 3);
  store.append(labelsFromObject({ __name__: "old_metric", job: "legacy" }), T0 - 3_600_000, 1);
  return store;
}

function expectError(res: Res, status: number, errorType: string, error: string) {
  expect(res.status).toBe(status);
  expect(res.body).toEqual({ status: "error", errorType, error });
}

describe("Prometheus query API (own Fastify instance, real HTTP)", () => {
  let s: Served;
  let slowBy = 0;
  let clockCalls = 0;
  const provider: RulesProvider & { lastType?: unknown } = {
    rules(query) {
      provider.lastType = query.type;
      return { groups: [{ name: "g", file: "alert_rules.yml", rules: [], interval: 15 }] };
    },
    alerts: () => ({ alerts: [{ labels: { alertname: "HighErrorRate" }, state: "firing" }] }),
  };
  let withRules: Served;

  beforeAll(async () => {
    s = await serve(fillStore(), { clock: () => clockCalls++ * slowBy });
    withRules = await serve(fillStore(), { rules: provider, token: "s3cret-token-0123456789" });
  });
  afterAll(async () => {
    await s?.app.close();
    await withRules?.app.close();
  });

  describe("query", () => {
    it("answers an instant vector over GET with string values and float-second timestamps", async () => {
      const res = await s.get(
        `/query${q({ query: "sum by (method) (http_requests_total)", time: NOW / 1000 })}`,
      );
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.status).toBe("success");
      expect(res.body.data.resultType).toBe("vector");
      expect(
        [...res.body.data.result].sort((a: any, b: any) => (a.metric.method < b.metric.method ? -1 : 1)),
      ).toEqual([
        { metric: { method: "GET" }, value: [1_700_000_600, "400"] },
        { metric: { method: "POST" }, value: [1_700_000_600, "40"] },
      ]);
    });

    it("answers over form-encoded POST; the body wins over the URL, as Go's FormValue", async () => {
      const res = await s.post(
        "/query",
        { query: "http_requests_total{method='POST'}", time: "1700000300" },
        "?time=1",
      );
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({
        resultType: "vector",
        result: [
          {
            metric: { __name__: "http_requests_total", method: "POST", route: "/b", status_code: "500" },
            value: [1_700_000_300, "20"],
          },
        ],
      });
    });

    it("parses a form body sent with a charset parameter (as Grafana sends it)", async () => {
      const res = await fetch(`${s.url}${API}/query`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded; charset=UTF-8" },
        body: "query=1%2B1&time=3",
      });
      expect(await res.json()).toEqual({
        status: "success",
        data: { resultType: "scalar", result: [3, "2"] },
      });
    });

    it("defaults time to now and renders scalars, strings, NaN and ±Inf as Prometheus does", async () => {
      expect((await s.get(`/query${q({ query: "time()" })}`)).text).toBe(
        '{"status":"success","data":{"resultType":"scalar","result":[1700000600,"1700000600"]}}',
      );
      expect((await s.get(`/query${q({ query: '"foo"', time: 5 })}`)).body.data).toEqual({
        resultType: "string",
        result: [5, "foo"],
      });
      for (const [expr, want] of [
        ["0/0", "NaN"],
        ["1/0", "+Inf"],
        ["-1/0", "-Inf"],
        ["1e21", "1000000000000000000000"],
        ["0.1+0.2", "0.30000000000000004"],
      ]) {
        const res = await s.get(`/query${q({ query: expr as string, time: 1 })}`);
        expect(res.body.data.result).toEqual([1, want]);
      }
    });

    it("accepts unix seconds with decimals and RFC 3339 times, rounding/truncating to ms like Prometheus", async () => {
      const at = async (time: string) => (await s.get(`/query${q({ query: "1", time })}`)).text;
      expect(await at("1700000000.1234")).toContain("[1700000000.123,");
      expect(await at("1700000000.12")).toContain("[1700000000.120,"); // jsonutil.MarshalTimestamp keeps 3 digits
      expect(await at("1.0015")).toContain("[1.002,");
      expect(await at("-1.5")).toContain("[-1.500,");
      expect(await at("1e9")).toContain("[1000000000,");
      expect(await at("2023-01-01T00:00:00.5+01:00")).toContain("[1672527600.500,");
      expect(await at("2023-01-01T00:00:00.123456789Z")).toContain("[1672531200.123,");
      for (const bad of ["abc", "0x10", "2023-02-30T00:00:00Z", "2023-01-01", "NaN"]) {
        expectError(
          await s.get(`/query${q({ query: "1", time: bad })}`),
          400,
          "bad_data",
          `invalid parameter "time": Invalid time value for 'time': cannot parse "${bad}" to a valid timestamp`,
        );
      }
    });

    it("returns a range vector from an instant query", async () => {
      const res = await s.get(
        `/query${q({ query: 'http_requests_total{method="GET"}[30s]', time: NOW / 1000 })}`,
      );
      expect(res.body.data.resultType).toBe("matrix");
      // Prometheus 2.x ranges include both ends: [t - 30s, t]
      expect(res.body.data.result[0].values).toEqual([
        [1_700_000_570, "380"],
        [1_700_000_585, "390"],
        [1_700_000_600, "400"],
      ]);
    });

    it("answers parse errors with 400 bad_data and evaluation errors with 422 execution", async () => {
      expectError(
        await s.get(`/query${q({ query: "1+" })}`),
        400,
        "bad_data",
        'invalid parameter "query": 1:3: parse error: unexpected end of input',
      );
      expectError(
        await s.get(`/query${q({ time: 1 })}`),
        400,
        "bad_data",
        'invalid parameter "query": 1:1: parse error: no expression found in input',
      );
      expectError(
        await s.post("/query", { query: 'label_replace(http_requests_total,"a","x","b","(")' }),
        422,
        "execution",
        "invalid regular expression in label_replace(): (",
      );
    });

    it("validates timeout and answers 503 timeout when evaluation outlives it", async () => {
      expectError(
        await s.get(`/query${q({ query: "1", timeout: "xx" })}`),
        400,
        "bad_data",
        'invalid parameter "timeout": cannot parse "xx" to a valid duration',
      );
      expect((await s.get(`/query${q({ query: "1", timeout: "30s" })}`)).status).toBe(200);
      slowBy = 1000; // each clock reading is a second later than the previous one
      try {
        expectError(
          await s.get(`/query${q({ query: "1", timeout: "0.5" })}`),
          503,
          "timeout",
          "query timed out in expression evaluation",
        );
        expectError(
          await s.post("/query_range", { query: "1", start: "0", end: "10", step: "1", timeout: "500ms" }),
          503,
          "timeout",
          "query timed out in expression evaluation",
        );
      } finally {
        slowBy = 0;
      }
    });
  });

  describe("query_range", () => {
    it("evaluates a range query over appended samples (GET, step as a duration)", async () => {
      const res = await s.get(
        `/query_range${q({
          query: 'rate(http_requests_total{method="GET"}[1m])',
          start: (T0 + 60_000) / 1000,
          end: new Date(T0 + 240_000).toISOString(),
          step: "1m",
        })}`,
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        status: "success",
        data: {
          resultType: "matrix",
          result: [
            {
              metric: { method: "GET", route: "/a", status_code: "200" },
              values: [
                [1_700_000_060, "0.6666666666666666"],
                [1_700_000_120, "0.6666666666666666"],
                [1_700_000_180, "0.6666666666666666"],
                [1_700_000_240, "0.6666666666666666"],
              ],
            },
          ],
        },
      });
    });

    it("accepts POST with step in float seconds and returns one matrix series per label set", async () => {
      const res = await s.post("/query_range", {
        query: "http_requests_total",
        start: String((T0 + 590_000) / 1000),
        end: String(NOW / 1000),
        step: "2.5",
      });
      expect(res.status).toBe(200);
      expect(res.body.data.result.map((r: any) => r.metric.method)).toEqual(["GET", "POST"]);
      expect(res.body.data.result[1].values).toEqual([
        [1_700_000_590, "39"],
        [1_700_000_592.5, "39"],
        [1_700_000_595, "39"],
        [1_700_000_597.5, "39"],
        [1_700_000_600, "40"],
      ]);
      const scalar = await s.get(`/query_range${q({ query: "time()", start: 0, end: 2, step: 1 })}`);
      expect(scalar.body.data).toEqual({
        resultType: "matrix",
        result: [
          {
            metric: {},
            values: [
              [0, "0"],
              [1, "1"],
              [2, "2"],
            ],
          },
        ],
      });
    });

    it("refuses bad ranges and steps with Prometheus's messages", async () => {
      const range = (p: Record<string, string | number>) => s.get(`/query_range${q({ query: "1", ...p })}`);
      expectError(
        await range({ start: 10, end: 5, step: 1 }),
        400,
        "bad_data",
        'invalid parameter "end": end timestamp must not be before start time',
      );
      for (const step of [0, -1, "0s"]) {
        expectError(
          await range({ start: 0, end: 10, step }),
          400,
          "bad_data",
          'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer',
        );
      }
      expectError(
        await range({ start: 0, end: 10 }),
        400,
        "bad_data",
        'invalid parameter "step": cannot parse "" to a valid duration',
      );
      expectError(
        await range({ start: 0, end: 10, step: "abc" }),
        400,
        "bad_data",
        'invalid parameter "step": cannot parse "abc" to a valid duration',
      );
      expectError(
        await range({ end: 10, step: 1 }),
        400,
        "bad_data",
        'invalid parameter "start": cannot parse "" to a valid timestamp',
      );
      expectError(
        await range({ start: 0, end: "x", step: 1 }),
        400,
        "bad_data",
        'invalid parameter "end": cannot parse "x" to a valid timestamp',
      );
      expect((await range({ start: 0, end: 11_000, step: 1 })).status).toBe(200);
      expectError(
        await range({ start: 0, end: 11_001, step: 1 }),
        400,
        "bad_data",
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
      );
      expectError(
        await s.get(`/query_range${q({ query: "http_requests_total[5m]", start: 0, end: 10, step: 1 })}`),
        400,
        "bad_data",
        'invalid expression type "range vector" for range query, must be Scalar or instant Vector',
      );
      expectError(
        await s.get(`/query_range${q({ query: "sum(", start: 0, end: 10, step: 1 })}`),
        400,
        "bad_data",
        'invalid parameter "query": 1:5: parse error: unexpected end of input',
      );
    });
  });

  describe("series, labels, label values", () => {
    it("lists series for repeated match[] (GET and POST), unique and sorted", async () => {
      const all = [
        { __name__: "http_requests_total", method: "GET", route: "/a", status_code: "200" },
        { __name__: "http_requests_total", method: "POST", route: "/b", status_code: "500" },
        { __name__: "users_active", window: "5m" },
      ];
      const get = await s.get(
        `/series?match[]=users_active&match[]=${encodeURIComponent('{__name__=~"http_.*"}')}&match[]=users_active`,
      );
      expect(get.body).toEqual({ status: "success", data: all });
      const post = await s.post(
        "/series",
        { "match[]": ['http_requests_total{status_code=~"5.."}'] },
        "?match[]=users_active",
      );
      expect(post.body.data).toEqual([all[1], all[2]]);
    });

    it("honours start and end on series, labels and label values", async () => {
      const range = { start: (T0 + 301_000) / 1000, end: NOW / 1000 };
      const series = await s.get(`/series${q({ "match[]": '{__name__=~".+"}', ...range })}`);
      expect(series.body.data.map((l: any) => l.__name__)).toEqual([
        "http_requests_total",
        "http_requests_total",
      ]);
      const everything = await s.get(`/series${q({ "match[]": '{__name__=~".+"}' })}`);
      expect(everything.body.data).toHaveLength(4);
      const early = await s.get(`/series${q({ "match[]": '{__name__=~".+"}', end: (T0 - 1000) / 1000 })}`);
      expect(early.body.data).toEqual([{ __name__: "old_metric", job: "legacy" }]);

      expect((await s.get("/labels")).body).toEqual({
        status: "success",
        data: ["__name__", "job", "method", "route", "status_code", "window"],
      });
      expect((await s.get(`/labels${q(range)}`)).body.data).toEqual([
        "__name__",
        "method",
        "route",
        "status_code",
      ]);
      expect((await s.get(`/label/__name__/values${q(range)}`)).body.data).toEqual(["http_requests_total"]);
      expect((await s.get("/label/__name__/values")).body.data).toEqual([
        "http_requests_total",
        "old_metric",
        "users_active",
      ]);
      const inverted = await s.get(`/series${q({ "match[]": "users_active", start: 10, end: 5 })}`);
      expect(inverted.body).toEqual({ status: "success", data: [] });
    });

    it("filters labels and label values by match[], over GET and POST", async () => {
      expect((await s.get(`/labels${q({ "match[]": "users_active" })}`)).body.data).toEqual([
        "__name__",
        "window",
      ]);
      expect((await s.post("/labels", { "match[]": ["users_active", "old_metric"] })).body.data).toEqual([
        "__name__",
        "job",
        "window",
      ]);
      expect(
        (await s.get(`/label/method/values${q({ "match[]": '{status_code="500"}' })}`)).body.data,
      ).toEqual(["POST"]);
      expect((await s.get("/label/method/values")).body).toEqual({
        status: "success",
        data: ["GET", "POST"],
      });
      expect((await s.post("/label/route/values", { "match[]": "http_requests_total" })).body.data).toEqual([
        "/a",
        "/b",
      ]);
      expect((await s.get("/label/nope/values")).body).toEqual({ status: "success", data: [] });
    });

    it("answers series/labels errors with Prometheus's messages", async () => {
      expectError(await s.get("/series"), 400, "bad_data", "no match[] parameter provided");
      expectError(
        await s.get(`/series${q({ "match[]": '{foo=""}' })}`),
        400,
        "bad_data",
        'invalid parameter "match[]": match[] must contain at least one non-empty matcher',
      );
      expectError(
        await s.get(`/series${q({ "match[]": "up[5m]" })}`),
        400,
        "bad_data",
        'invalid parameter "match[]": 1:3: parse error: unexpected "["',
      );
      expectError(
        await s.get(`/series${q({ "match[]": "up offset 5m" })}`),
        400,
        "bad_data",
        'invalid parameter "match[]": 1:4: parse error: unexpected <offset>',
      );
      expectError(
        await s.get(`/series${q({ "match[]": "up", end: "abc" })}`),
        400,
        "bad_data",
        `invalid parameter "end": Invalid time value for 'end': cannot parse "abc" to a valid timestamp`,
      );
      // labels and label values do not wrap match[] errors (Prometheus 2.42)
      expectError(
        await s.get(`/labels${q({ "match[]": '{foo=""}' })}`),
        400,
        "bad_data",
        "match[] must contain at least one non-empty matcher",
      );
      expectError(
        await s.get(`/label/job/values${q({ "match[]": "up+" })}`),
        400,
        "bad_data",
        "1:4: parse error: unexpected end of input",
      );
      expectError(
        await s.get(`/labels${q({ start: "abc" })}`),
        400,
        "bad_data",
        `invalid parameter "start": Invalid time value for 'start': cannot parse "abc" to a valid timestamp`,
      );
      expectError(await s.get("/label/a-b/values"), 400, "bad_data", 'invalid label name: "a-b"');
    });
  });

  describe("exemplars, rules, alerts, status", () => {
    it("query_exemplars is an empty success list, with query and time validation", async () => {
      expect((await s.get(`/query_exemplars${q({ query: "http_requests_total" })}`)).body).toEqual({
        status: "success",
        data: [],
      });
      expect((await s.post("/query_exemplars", { query: "up", start: "0", end: "10" })).body.data).toEqual(
        [],
      );
      expectError(
        await s.get("/query_exemplars"),
        400,
        "bad_data",
        "1:1: parse error: no expression found in input",
      );
    });

    it("rules and alerts are empty lists without a provider", async () => {
      expect((await s.get("/rules")).body).toEqual({ status: "success", data: { groups: [] } });
      expect((await s.get("/alerts")).body).toEqual({ status: "success", data: { alerts: [] } });
      expectError(
        await s.get("/rules?type=foo"),
        400,
        "bad_data",
        'invalid parameter "type": not supported value "foo"',
      );
    });

    it("rules and alerts come from the provider when one is given", async () => {
      const auth = { authorization: "Bearer s3cret-token-0123456789" };
      const rules = await withRules.get("/rules?type=ALERT", auth);
      expect(rules.body).toEqual({
        status: "success",
        data: { groups: [{ name: "g", file: "alert_rules.yml", rules: [], interval: 15 }] },
      });
      expect(provider.lastType).toBe("alert");
      expect((await withRules.get("/alerts", auth)).body.data.alerts[0].state).toBe("firing");
    });

    it("requires the monitoring token when one is configured", async () => {
      const none = await withRules.get("/query?query=1");
      expect(none.status).toBe(401);
      expect(none.body.error.code).toBe("UNAUTHENTICATED");
      const wrong = await withRules.get("/status/buildinfo", { authorization: "Bearer nope" });
      expect(wrong.status).toBe(403);
      const ok = await withRules.get("/query?query=1&time=2", {
        authorization: "Bearer s3cret-token-0123456789",
      });
      expect(ok.body.data.result).toEqual([2, "1"]);
    });

    it("serves buildinfo and runtimeinfo", async () => {
      const build = await s.get("/status/buildinfo");
      expect(build.status).toBe(200);
      expect(build.body.status).toBe("success");
      expect(build.body.data).toMatchObject({ version: "2.42.0", branch: expect.any(String) });
      expect(Object.keys(build.body.data).sort()).toEqual(
        ["branch", "buildDate", "buildUser", "goVersion", "revision", "version"].sort(),
      );
      const runtime = await s.get("/status/runtimeinfo");
      expect(runtime.body.data).toMatchObject({
        startTime: new Date(NOW).toISOString(),
        reloadConfigSuccess: true,
        corruptionCount: 0,
        storageRetention: "1y",
      });
    });
  });
});

describe("parameter parsing and formatting helpers", () => {
  it("parses and formats like Prometheus", () => {
    expect(parseTimeMs("1700000000.1234")).toBe(1_700_000_000_123);
    expect(parseTimeMs("-0.0005")).toBe(-1);
    expect(parseTimeMs("2023-01-01T00:00:00Z")).toBe(1_672_531_200_000);
    expect(parseTimeMs("0001-01-01T00:00:00Z")).toBe(-62_135_596_800_000);
    expect(parseTimeMs("2023-01-01T24:00:00Z")).toBeUndefined();
    expect(parseDurationMs("1m30s")).toBe(90_000);
    expect(parseDurationMs("0.25")).toBe(250);
    expect(() => parseDurationMs("1e300")).toThrow("It overflows int64");
    expect(formatTimestamp(-1500)).toBe("-1.500");
    expect(formatTimestamp(1005)).toBe("1.005");
    expect(formatDurationMs(15 * 86_400_000)).toBe("15d");
    expect(formatDurationMs(14 * 86_400_000)).toBe("2w");
    expect(formatDurationMs(3_600_000)).toBe("1h");
    expect(formatDurationMs(5_400_000)).toBe("1h30m");
    expect(formatDurationMs(0)).toBe("0s");
  });
});

// INTEGRATION — needs src/server.ts to register promApiRoutes (see src/http/promapi.ts); it fails
// with 404 until that wiring is in place.
describe("integration: /monitoring/api/v1 on the real app (needs the server.ts wiring)", () => {
  let t: TestApp;
  const token = "integration-token-0123456789abcdef";
  beforeAll(async () => {
    t = await startTestApp({ MONITORING_TOKEN: token });
  });
  afterAll(() => t?.close());

  it("answers Grafana's probes and queries the app's own store", async () => {
    const engine = t.app.engine;
    if (!engine) throw new Error("the app runs without its engine");
    const at = Date.now();
    const appended = await engine.run({
      op: "append",
      labels: { __name__: "promapi_integration_probe", kind: "test" },
      timeMs: at,
      value: 42,
    });
    expect(appended).toBe("ok");
    const build = await t.call("GET", `${API}/status/buildinfo`, { token });
    expect(build.status).toBe(200);
    expect(build.body.data.version).toBe("2.42.0");
    const res = await t.call(
      "GET",
      `${API}/query${q({ query: "promapi_integration_probe", time: at / 1000 })}`,
      {
        token,
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.data.result).toEqual([
      { metric: { __name__: "promapi_integration_probe", kind: "test" }, value: [at / 1000, "42"] },
    ]);
    const values = await t.call("GET", `${API}/label/kind/values`, { token });
    expect(values.body.data).toContain("test");
    expect((await t.call("GET", `${API}/query?query=1`)).status).toBe(401);
  });
});
