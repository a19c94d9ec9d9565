// Issue 13's crash check, as a user would do it: a running app under traffic is killed with
// SIGKILL and started again on the same data folder; every sample up to one scrape interval
// before the kill is there — the same range query at the same timestamps answers the same.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type ChildApp, startChildApp } from "../support/child.js";
import { waitFor } from "../support/wait.js";

const INTERVAL_MS = 500;
const dir = mkdtempSync(join(tmpdir(), "tug-crash-"));
const env = { DATABASE_URL: `sqlite:${join(dir, "tug.db")}`, LOG_LEVEL: "warn" };
const yaml = `log:\n  stdout: false\ntsdb:\n  scrapeIntervalMs: ${INTERVAL_MS}\n`;
const apps: ChildApp[] = [];

afterAll(async () => {
  for (const a of apps) if (a.child.exitCode === null) a.child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

async function rangeQuery(app: ChildApp, query: string, start: number, end: number): Promise<unknown> {
  const r = await fetch(`${app.base}/monitoring/api/v1/query_range`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ query, start: String(start / 1000), end: String(end / 1000), step: "0.5" }),
  });
  const body = (await r.json()) as { status: string; data: { result: unknown[] } };
  expect(body.status, JSON.stringify(body)).toBe("success");
  return body.data.result;
}

describe("the durable store after kill -9", () => {
  it("answers the same range query the same way after a SIGKILL and a restart", async () => {
    const first = await startChildApp(env, yaml);
    apps.push(first);
    const t0 = Date.now();
    let traffic = true;
    const load = (async () => {
      let i = 0;
      while (traffic) {
        await fetch(`${first.base}/${i++ % 3 === 0 ? "nowhere" : "health/live"}`).catch(() => undefined);
      }
    })();
    // a few seconds of scrapes, then the check
    await waitFor(
      "eight scrapes of http_requests_total",
      async () => {
        const r = (await rangeQuery(first, "http_requests_total", t0, Date.now())) as { values: unknown[] }[];
        return r.length > 0 && (r[0]?.values.length ?? 0) > 8 ? r : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const queries = [
      "http_requests_total",
      "process_resident_memory_bytes",
      "sum by (route) (rate(http_requests_total[2s]))",
    ];
    const kill = Date.now();
    const end = kill - INTERVAL_MS;
    const before = await Promise.all(queries.map((q) => rangeQuery(first, q, t0, end)));
    first.child.kill("SIGKILL");
    traffic = false;
    await first.exited;
    await load;
    expect(readdirSync(join(dir, "tsdb", "wal")).length).toBeGreaterThan(0);

    const second = await startChildApp(env, yaml);
    apps.push(second);
    const after = await Promise.all(queries.map((q) => rangeQuery(second, q, t0, end)));
    for (const [i, q] of queries.entries()) expect(after[i], q).toEqual(before[i]);
    // not an empty answer equal to an empty answer: the traffic's series, with their points
    const series = after[0] as { metric: Record<string, string>; values: unknown[] }[];
    expect(series.map((s) => s.metric.route)).toContain("__unmatched__");
    expect(Math.max(...series.map((s) => s.values.length))).toBeGreaterThanOrEqual(6);
    second.child.kill("SIGTERM");
    await second.exited;
  });
});
