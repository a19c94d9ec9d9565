/**
 * Fuzz: silence and alert intake on a real app. Random JSON (bodies near the accepted shapes with
 * wrong types, odd timestamps, unicode, long values, regex matchers, plus any JSON and broken
 * JSON) to POST /monitoring/silences and POST /monitoring/api/v2/alerts. Property: every answer
 * is a 2xx, or a 4xx in the API's error shape ({error: {code, message}, requestId}); never a 5xx,
 * never a hang (10 s client-side limit); afterwards GET /monitoring/alerts and
 * GET /monitoring/silences still answer 200. Budget and seeds: see ./support.ts.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { TestApp } from "../support/app.js";
import { type Answer, send, startFuzzApp } from "./app.js";
import { alertsBody, rawBody, silenceBody } from "./arbitraries.js";
import { checkProperty } from "./support.js";

const FILE = "test/fuzz/intake.test.ts";
const LIMIT_MS = 10_000;
let t: TestApp;
beforeAll(async () => {
  t = await startFuzzApp();
}, 60_000);
afterAll(() => t?.close());

function errorShape(a: Answer): string | undefined {
  const b = a.body as { error?: { code?: unknown; message?: unknown }; requestId?: unknown } | undefined;
  if (typeof b !== "object" || b === null)
    return `a ${a.status} without a JSON body: ${String(a.body).slice(0, 200)}`;
  if (
    typeof b.error?.code !== "string" ||
    typeof b.error?.message !== "string" ||
    typeof b.requestId !== "string"
  ) {
    return `a ${a.status} not in the error shape: ${JSON.stringify(b).slice(0, 300)}`;
  }
  return undefined;
}

type Body = { json: unknown } | { raw: string; contentType: string };

const body = (json: fc.Arbitrary<unknown>): fc.Arbitrary<Body> =>
  fc.oneof(
    { weight: 8, arbitrary: json.map((v) => ({ json: v })) },
    { weight: 2, arbitrary: rawBody.map((raw) => ({ raw, contentType: "application/json" })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          rawBody,
          fc.constantFrom(
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin1",
            "",
          ),
        )
        .map(([raw, contentType]) => ({ raw, contentType })),
    },
  );

async function post(path: string, b: Body): Promise<true> {
  const headers: Record<string, string> = {};
  let payload: string;
  if ("json" in b) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(b.json) ?? "null";
  } else {
    if (b.contentType) headers["content-type"] = b.contentType;
    payload = b.raw;
  }
  const a = await send(`${t.url}${path}`, { method: "POST", headers, body: payload }, LIMIT_MS);
  if (a.status >= 500)
    throw new Error(`${path} answered ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);
  if (a.status >= 400) {
    const bad = errorShape(a);
    if (bad) throw new Error(`${path}: ${bad}`);
  } else if (a.status < 200 || a.status >= 300) {
    throw new Error(`${path} answered ${a.status}`);
  }
  for (const after of ["/monitoring/alerts", "/monitoring/silences"]) {
    const r = await send(`${t.url}${after}`, {}, LIMIT_MS);
    if (r.status !== 200)
      throw new Error(`after it, GET ${after} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
  }
  return true;
}

describe("fuzz: silence and alert intake", () => {
  it("POST /monitoring/silences: 2xx or a 4xx in the error shape, never a 5xx; the listings keep answering", async () => {
    await checkProperty(
      "intake: silences",
      FILE,
      fc.asyncProperty(body(silenceBody), (b) => post("/monitoring/silences", b)),
      { runs: 500, timeMs: 10_000 },
    );
  }, 60_000);

  it("POST /monitoring/api/v2/alerts: 2xx or a 4xx in the error shape, never a 5xx; the listings keep answering", async () => {
    await checkProperty(
      "intake: alerts",
      FILE,
      fc.asyncProperty(body(alertsBody), (b) => post("/monitoring/api/v2/alerts", b)),
      { runs: 500, timeMs: 10_000 },
    );
  }, 60_000);
});
