import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { type Service, startPostgres, startRedis } from "./support/services.js";

const started: Service[] = [];

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("test services", () => {
  it("runs a throwaway PostgreSQL 15 that survives a pause", { timeout: 300_000 }, async () => {
    const postgres = await startPostgres();
    started.push(postgres);
    expect(postgres.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/tug_test$/);

    const [row] = (await query(
      postgres.url,
      "SELECT current_database() AS db, current_setting('server_version_num') AS v",
    )) as Array<{ db: string; v: string }>;
    expect(row?.db).toBe("tug_test");
    expect(Number(row?.v)).toBeGreaterThanOrEqual(150000);
    expect(Number(row?.v)).toBeLessThan(160000);

    await postgres.pause();
    await expect(query(postgres.url, "SELECT 1")).rejects.toThrow(/ECONNREFUSED|connect/);
    await postgres.resume();
    expect(await query(postgres.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);

    await postgres.stop();
    await expect(query(postgres.url, "SELECT 1")).rejects.toThrow();
  });

  it("runs a throwaway Redis that survives a pause", { timeout: 300_000 }, async () => {
    const redisService = await startRedis();
    started.push(redisService);
    expect(redisService.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);

    const connect = () =>
      new Redis(redisService.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
      });
    const redis = connect();
    await redis.connect();
    expect(await redis.ping()).toBe("PONG");
    expect(await redis.set("tug:test", "hello")).toBe("OK");
    expect(await redis.get("tug:test")).toBe("hello");
    redis.disconnect();

    await redisService.pause();
    const down = connect();
    down.on("error", () => undefined);
    await expect(down.connect()).rejects.toThrow(/ECONNREFUSED|Connection is closed/);
    down.disconnect();

    await redisService.resume();
    const back = connect();
    await back.connect();
    expect(await back.ping()).toBe("PONG");
    // No persistence: the restarted server starts empty.
    expect(await back.get("tug:test")).toBeNull();
    back.disconnect();

    await redisService.stop();
  });
});
