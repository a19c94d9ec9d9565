import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";

// The alert listings parse their integer parameters as every listing of the app does
// (`queryInt`, src/api/validation.ts): strict decimal digits, once, within bounds, and a 400 that
// names the parameter otherwise.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
}, 60_000);
afterAll(() => t?.close());

it.each([
  ["/monitoring/alerts/history", "limit", "05"],
  ["/monitoring/alerts/history", "limit", "0x10"],
  ["/monitoring/alerts/history", "offset", "1e2"],
  ["/monitoring/alerts", "limit", ""],
  ["/monitoring/alerts", "offset", "-0"],
])("%s?%s=%s → 400 naming the parameter", async (path, field, value) => {
  const r = await t.call("GET", `${path}?${field}=${value}`);
  expect(r.status, JSON.stringify(r.body)).toBe(400);
  expect(r.body.error.details).toEqual([{ field, message: expect.stringMatching(/whole number/) }]);
});

it("a parameter given twice, or out of its bounds, is named with what is wrong", async () => {
  const twice = await t.call("GET", "/monitoring/alerts/history?limit=1&limit=2");
  expect(twice.status).toBe(400);
  expect(twice.body.error.details).toEqual([{ field: "limit", message: expect.stringMatching(/once/) }]);
  const big = await t.call("GET", "/monitoring/alerts?limit=1001");
  expect(big.status).toBe(400);
  expect(big.body.error.details).toEqual([{ field: "limit", message: "must be at most 1000" }]);
  const ok = await t.call("GET", "/monitoring/alerts/history?limit=7&offset=0");
  expect(ok.status).toBe(200);
  expect(ok.body.pagination).toMatchObject({ limit: 7, offset: 0 });
});
