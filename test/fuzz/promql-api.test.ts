/**
 * Fuzz: the Prometheus-compatible query API of a real app (its store holding the app's own
 * metrics, sampled every second while the fuzz runs). Grammar-aware PromQL (selectors with
 * regex matchers, functions with wrong arities, aggregations, binary operators, subqueries, `@`,
 * offsets), mutated corpus queries and garbage (deep nesting, very long strings, unicode), sent
 * to /monitoring/api/v1/query and /query_range over GET and form POST with small `timeout`s and
 * random time, start, end and step values.
 *
 * Property: every answer is 200 (status "success"), 400, 422 or 503 in Prometheus's error shape
 * ({"status":"error","errorType":…,"error":…}), a 503 only as timeout, canceled or unavailable;
 * never another status, never a hang (15 s client-side limit); and /monitoring/health/live
 * answers 200 (within 5 s) after each request. Budget and seeds: see ./support.ts; FUZZ_HEAVY=1
 * adds huge subquery ranges with tiny steps, nested subqueries, backtracking regexes and range
 * queries with millions of points.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestApp } from "../support/app.js";
import { type Answer, live, send, startFuzzApp } from "./app.js";
import { anyQuery, rangeParams, timeoutParam, timeParam } from "./arbitraries.js";
import { checkProperty } from "./support.js";

const FILE = "test/fuzz/promql-api.test.ts";
const LIMIT_MS = 15_000;
const LIVE_MS = 5_000;
let t: TestApp;
const nowSec = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  t = await startFuzzApp();
  // Some traffic of every kind, so selectors find series with a few samples.
  for (const path of [
    "/api/v1/users/me",
    "/no/such/route",
    "/monitoring/health/live",
    "/monitoring/metrics",
  ]) {
    await t.call("GET", path);
  }
  const probe = async () =>
    (await t.call("GET", "/monitoring/api/v1/query?query=count(http_requests_total)")).body?.data?.result
      ?.length > 0;
  const deadline = Date.now() + 20_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("the store never sampled http_requests_total");
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);
afterAll(() => t?.close());

const SERVER_TROUBLE = new Set(["timeout", "canceled", "unavailable"]);

function problem(a: Answer): string | undefined {
  const b = a.body as { status?: unknown; errorType?: unknown; error?: unknown } | undefined;
  if (typeof b !== "object" || b === null)
    return `${a.status} with a body that is not JSON: ${String(a.body).slice(0, 200)}`;
  if (a.status === 200)
    return b.status === "success" ? undefined : `200 with status ${JSON.stringify(b.status)}`;
  if (![400, 422, 503].includes(a.status)) return `status ${a.status}: ${JSON.stringify(b).slice(0, 300)}`;
  if (b.status !== "error" || typeof b.errorType !== "string" || typeof b.error !== "string") {
    return `${a.status} not in Prometheus's error shape: ${JSON.stringify(b).slice(0, 300)}`;
  }
  if (a.status === 503 && !SERVER_TROUBLE.has(b.errorType)) return `503 with errorType ${b.errorType}`;
  return undefined;
}

interface Request {
  endpoint: "query" | "query_range";
  post: boolean;
  params: Record<string, string | undefined>;
}

async function ask(r: Request): Promise<true> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(r.params)) if (v !== undefined) params.set(k, v);
  const base = `${t.url}/monitoring/api/v1/${r.endpoint}`;
  // Long queries go in a form body, as Grafana sends them (a URL has a header-size limit).
  const post = r.post || (r.params.query?.length ?? 0) > 4_000;
  const a = post
    ? await send(
        base,
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: params.toString(),
        },
        LIMIT_MS,
      )
    : await send(`${base}?${params}`, {}, LIMIT_MS);
  const bad = problem(a);
  if (bad) throw new Error(`${r.endpoint}: ${bad}`);
  await live(t.url, LIVE_MS);
  return true;
}

const instant: fc.Arbitrary<Request> = fc
  .record({ query: anyQuery, time: timeParam(nowSec), timeout: timeoutParam, post: fc.boolean() })
  .map(({ post, ...params }) => ({ endpoint: "query" as const, post, params }));

const range: fc.Arbitrary<Request> = fc
  .record({ query: anyQuery, range: rangeParams(nowSec), timeout: timeoutParam, post: fc.boolean() })
  .map(({ post, range: rp, query, timeout }) => ({
    endpoint: "query_range" as const,
    post,
    params: { query, timeout, start: rp.start, end: rp.end, step: rp.step },
  }));

describe("fuzz: PromQL query API", () => {
  it("the store has data for the fuzzed queries to find", async () => {
    const r = await t.call("GET", "/monitoring/api/v1/query?query=count(http_requests_total)");
    expect(Number(r.body.data.result[0].value[1])).toBeGreaterThan(0);
  });

  it("instant queries: 200/400/422/503 in Prometheus's shape, no hang, liveness answers", async () => {
    await checkProperty("promql api: query", FILE, fc.asyncProperty(instant, ask), {
      runs: 400,
      timeMs: 15_000,
    });
  }, 60_000);

  it("range queries: 200/400/422/503 in Prometheus's shape, no hang, liveness answers", async () => {
    await checkProperty("promql api: query_range", FILE, fc.asyncProperty(range, ask), {
      runs: 300,
      timeMs: 15_000,
    });
  }, 60_000);
});
