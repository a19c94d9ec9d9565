import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogAnalyzer } from "../src/logs/analysis/index.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { waitFor } from "./support/wait.js";

/**
 * The in-process log analysis on the app's own logs: a real server, real pino lines through the
 * tap, error groups read back through /monitoring/logs/errors. The tap drains its queue on a
 * schedule, so tests wait until the analysis has counted what they sent (never for fixed times);
 * the error traffic is made once in beforeAll, so every test sees it whatever the order.
 */
class PaymentDeclined extends Error {
  override name = "PaymentDeclined";
}
class InventoryTimeout extends Error {
  override name = "InventoryTimeout";
}

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp(
    {},
    {
      plugins: [
        (app) => {
          app.get("/boom/payments/:id", async (req) => {
            const { id } = req.params as { id: string };
            throw new PaymentDeclined(
              `payment ${id} declined: card ending ${1000 + Number(id.length)} over limit by ${id.length * 7}.50 EUR`,
            );
          });
          app.get("/boom/inventory/:sku", async (req) => {
            const { sku } = req.params as { sku: string };
            throw new InventoryTimeout(
              `inventory lookup for sku ${sku} timed out after ${sku.length * 101} ms (attempt 3 of 3)`,
            );
          });
          app.get("/boom/orders/:id", async (req) => {
            const { id } = req.params as { id: string };
            const order: { items?: { length: number } } = JSON.parse(`{"id":"${id}"}`);
            return { count: (order.items as { length: number }).length };
          });
        },
      ],
    },
  );
}, 60_000);
afterAll(async () => {
  await t?.close();
});

/** The error groups once their counts add up to `total` (the tap has analysed every line). */
async function groupsCounting(app: TestApp, total: number): Promise<Array<any>> {
  let last: unknown;
  return waitFor(
    `error groups counting ${total} errors`,
    async () => {
      const groups = (await app.call("GET", "/monitoring/logs/errors")).body.groups as Array<any>;
      last = groups.map((g) => `${g.errorType}:${g.count}`);
      return groups.reduce((n, g) => n + g.count, 0) >= total ? groups : undefined;
    },
    { last: () => last },
  );
}

describe("error groups", () => {
  const want = { payments: 7, inventory: 5, orders: 3 };
  beforeAll(async () => {
    for (let i = 0; i < want.payments; i++)
      expect((await t.call("GET", `/boom/payments/${randomUUID().slice(0, 4 + i)}`)).status).toBe(500);
    for (let i = 0; i < want.inventory; i++)
      expect((await t.call("GET", `/boom/inventory/SKU-${100 + i * 37}`)).status).toBe(500);
    for (let i = 0; i < want.orders; i++)
      expect((await t.call("GET", `/boom/orders/${randomUUID()}`)).status).toBe(500);
    await groupsCounting(t, want.payments + want.inventory + want.orders);
  });

  it("three distinct errors on three routes, with varying ids and numbers, make exactly three groups", async () => {
    const r = await t.call("GET", "/monitoring/logs/errors");
    expect(r.status).toBe(200);
    const groups = r.body.groups as Array<any>;
    const summary = groups.map((g) => `${g.errorType}:${g.count}:${Object.keys(g.routes).join(",")}`).sort();
    expect(summary).toEqual([
      "InventoryTimeout:5:/boom/inventory/:sku",
      "PaymentDeclined:7:/boom/payments/:id",
      "TypeError:3:/boom/orders/:id",
    ]);
    for (const g of groups) {
      expect(g.status).toBe("new");
      expect(g.requestIds.length).toBe(g.count);
      expect(g.samples.length).toBeGreaterThan(0);
      expect(g.topFrame).toMatch(/logs-analysis\.test\.ts/);
    }
  });

  it("lists templates with counts, and finds lines by request id in the log file", async () => {
    const r = await t.call("GET", "/monitoring/logs/patterns?limit=100");
    expect(r.status).toBe(200);
    expect(r.body.lines).toBeGreaterThan(0);
    const failed = (r.body.patterns as Array<any>).find((p) => p.template === "request failed");
    expect(failed?.count).toBe(15);
    expect(failed?.level).toBe("error");
    const errors = await t.call("GET", "/monitoring/logs/errors");
    const reqId = errors.body.groups[0].requestIds[0];
    await t.app.flushLogsSync();
    const s = await t.call("GET", `/monitoring/logs/search?requestId=${encodeURIComponent(reqId)}`);
    expect(s.status).toBe(200);
    expect(s.body.lines.length).toBeGreaterThanOrEqual(2);
    for (const line of s.body.lines) expect(line.reqId).toBe(reqId);
    expect((await t.call("GET", "/monitoring/logs/search?level=loud")).status).toBe(400);
  });

  it("exports the analysis as metrics", async () => {
    const text = (await t.call("GET", "/monitoring/metrics")).body as string;
    expect(text).toMatch(/^log_lines_total\{level="error"\} \d+/m);
    expect(text).toMatch(/^log_error_groups\{status="new"\} 3$/m);
    expect(text).toMatch(/^log_templates \d+/m);
  });
});

describe("persistence", () => {
  it("error groups and templates survive a restart (snapshot file)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-analysis-"));
    const stateFile = join(dir, "analysis.json");
    // startTestApp's YAML already opens `log:`; this continues that mapping.
    const yaml = `  analysis:\n    stateFile: ${JSON.stringify(stateFile)}\n`;
    const plugins = [
      (app: import("fastify").FastifyInstance) => {
        app.get("/boom/:n", async (req) => {
          throw new RangeError(`value ${(req.params as { n: string }).n} out of range`);
        });
      },
    ];
    const first = await startTestApp({}, { yaml, plugins });
    for (let i = 0; i < 4; i++) await first.call("GET", `/boom/${i * 13}`);
    await groupsCounting(first, 4);
    await first.close();
    const second = await startTestApp({}, { yaml, plugins });
    try {
      const groups = (await second.call("GET", "/monitoring/logs/errors")).body.groups as Array<any>;
      expect(groups.map((g) => `${g.errorType}:${g.count}`)).toEqual(["RangeError:4"]);
      await second.call("GET", "/boom/999");
      const again = await groupsCounting(second, 5);
      expect(again.map((g) => `${g.errorType}:${g.count}`)).toEqual(["RangeError:5"]);
    } finally {
      await second.close();
    }
  });
});

describe("analyzer", () => {
  it("counts per minute, scores the series, and survives a snapshot round trip", () => {
    let now = Date.UTC(2026, 10, 27, 10, 0, 0);
    const scored: string[] = [];
    const a = new LogAnalyzer({
      anomalies: {
        score: (series) => {
          scored.push(series);
          return 0;
        },
      },
      now: () => now,
    });
    const line = (level: string, msg: string) => `{"level":"${level}","time":"x","msg":"${msg}"}`;
    for (let i = 0; i < 30; i++) a.ingest(line("info", `user ${i} logged in from 10.0.0.${i}`));
    a.ingest(line("warn", 'disk \\"data\\" at 91%'));
    now += 60_000;
    a.tick();
    expect(scored).toContain("log_level:info");
    const patterns = a.patterns({ limit: 10 });
    expect(patterns[0]?.count).toBe(30);
    expect(patterns[0]?.template).toContain("<*>");
    expect(patterns[0]?.perMinute).toEqual([30]);
    const slowLine = (sql: string, durationMs: number, failed: boolean) =>
      JSON.stringify({
        level: "warn",
        time: "x",
        reqId: "r",
        event: "slow_query",
        operation: "select",
        table: "users",
        durationMs,
        sql,
        failed,
        msg: "slow query",
      });
    a.ingest(
      slowLine(
        `SELECT * FROM users WHERE email = 'a@b.c' AND id IN (1, 2, 3) AND note = "x\\"y"`,
        812.25,
        false,
      ),
    );
    a.ingest(
      slowLine(`SELECT * FROM users WHERE email = 'z@y.x' AND id IN (7) AND note = "x\\"y"`, 400, true),
    );
    const slow = a.trendList().slowQueries;
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatchObject({
      count: 2,
      failed: 1,
      maxMs: 812.25,
      operation: "select",
      table: "users",
    });
    expect(slow[0]?.pattern).toBe('SELECT * FROM users WHERE email = ? AND id IN (?) AND note = "x\\"y"');
    const b = new LogAnalyzer({
      anomalies: { score: () => 0 },
      now: () => now,
      minerSnapshot: a.toJSON().miner,
    });
    expect(b.templateIdOf("user 99 logged in from 10.0.0.99")).toBe(patterns[0]?.id);
  });
});
