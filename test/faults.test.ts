import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorSpreader, faultsOn } from "../src/app/faults.js";
import { ConfigError, loadConfig } from "../src/core/config/index.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { waitFor } from "./support/wait.js";

/**
 * Fault injection (src/app/faults.ts, docs/fault-injection.md): a testing aid that makes an
 * instance a bad release on purpose. Real apps; no timing bound is ever asserted, only lower
 * bounds of an injected delay.
 */

const ROOT = new URL("..", import.meta.url).pathname;

const logLines = (t: TestApp) =>
  readFileSync(join(t.dir, "app.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe("the error share", () => {
  it("fails exactly floor(n x percent / 100) of the first n requests, spread evenly", () => {
    for (const percent of [0, 1, 2.5, 8, 33, 50, 99, 100]) {
      const fail = errorSpreader(percent);
      let failed = 0;
      let longestRun = 0;
      let run = 0;
      for (let n = 1; n <= 1000; n++) {
        if (fail()) {
          failed += 1;
          run += 1;
          longestRun = Math.max(longestRun, run);
        } else run = 0;
        expect(failed, `${percent} % after ${n}`).toBe(Math.floor((n * percent) / 100));
      }
      // Evenly: below 50 % no two failures follow each other.
      if (percent > 0 && percent <= 50) expect(longestRun, `${percent} %`).toBe(1);
    }
  });
});

describe("errorPercent on a real app", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ TUG_FAULT_ERROR_PERCENT: "20", LOG_LEVEL: "warn" });
  });
  afterAll(() => t?.close());

  it("answers 500 in the API's error shape to the configured share of /api/* requests", async () => {
    const statuses: number[] = [];
    let errorBody: any;
    for (let i = 0; i < 100; i++) {
      const r = await t.call("GET", "/api/v1/users/me");
      statuses.push(r.status);
      if (r.status === 500) errorBody = r.body;
    }
    const fiveHundreds = statuses.filter((s) => s === 500).length;
    // Exact by construction; a tolerance keeps the test about the share, not the rule.
    expect(fiveHundreds).toBeGreaterThanOrEqual(18);
    expect(fiveHundreds).toBeLessThanOrEqual(22);
    // The rest reach the route (no token: 401).
    expect(statuses.filter((s) => s === 401)).toHaveLength(100 - fiveHundreds);
    expect(errorBody).toMatchObject({
      error: { code: "INTERNAL", message: expect.stringContaining("fault injected") },
      requestId: expect.any(String),
    });
  });

  it("counts the injected 500s in the API's metrics, under the route", async () => {
    const text = await (await fetch(`${t.url}/monitoring/metrics`)).text();
    const line = text
      .split("\n")
      .find(
        (l) =>
          l.startsWith("http_requests_total{") &&
          l.includes('route="/api/v1/users/me"') &&
          l.includes('status_code="500"'),
      );
    expect(line, text.slice(0, 3000)).toBeDefined();
    expect(Number(line?.split(" ").pop())).toBeGreaterThan(0);
  });

  it("leaves /monitoring/* and the probes alone", async () => {
    for (let i = 0; i < 30; i++) {
      for (const path of [
        "/monitoring/health/live",
        "/monitoring/health/ready",
        "/monitoring/metrics/json",
      ]) {
        const r = await fetch(`${t.url}${path}`);
        await r.arrayBuffer();
        expect(r.status, path).toBe(200);
      }
    }
  });

  it("says so once, as a warning, at start", () => {
    const warned = logLines(t).filter((l) => l.event === "fault_injection");
    expect(warned).toHaveLength(1);
    // The level's name is upper case in the log (WARN, issue 16); compared in either case.
    expect(String(warned[0].level).toLowerCase()).toBe("warn");
    expect(warned[0]).toMatchObject({ faults: { errorPercent: 20, latencyMs: 0, healthFail: false } });
  });
});

describe("every request failing", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ TUG_FAULT_ERROR_PERCENT: "100" });
  });
  afterAll(() => t?.close());

  it("fails every /api/* request and no probe or monitoring request", async () => {
    for (let i = 0; i < 10; i++) {
      expect(
        (await t.call("POST", "/api/v1/auth/login", { body: { email: "a@b.io", password: "12345678" } }))
          .status,
      ).toBe(500);
      expect((await t.call("GET", "/api/v1/activities")).status).toBe(500);
      expect((await t.call("GET", "/monitoring/health/live")).status).toBe(200);
      expect((await t.call("GET", "/monitoring/health/ready")).status).toBe(200);
      expect((await t.call("GET", "/monitoring/status")).status).toBe(200);
    }
  });
});

describe("latencyMs on a real app", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ TUG_FAULT_LATENCY_MS: "300" });
  });
  afterAll(() => t?.close());

  it("delays every /api/* response by at least latencyMs, with no errors", async () => {
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const r = await t.call("GET", "/api/v1/users/me");
      expect(performance.now() - started).toBeGreaterThanOrEqual(300);
      expect(r.status).toBe(401);
    }
  });

  it("is measured by the API's latency histogram", async () => {
    const text = await (await fetch(`${t.url}/monitoring/metrics`)).text();
    const bucket = (le: string) =>
      text
        .split("\n")
        .find(
          (l) =>
            l.startsWith("http_request_duration_seconds_bucket{") &&
            l.includes('route="/api/v1/users/me"') &&
            l.includes(`le="${le}"`),
        );
    // Every observation is at least 0.3 s: none in the 0.25 s bucket, all in +Inf.
    expect(Number(bucket("0.25")?.split(" ").pop())).toBe(0);
    expect(Number(bucket("+Inf")?.split(" ").pop())).toBeGreaterThanOrEqual(5);
  });
});

describe("a long latencyMs", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ TUG_FAULT_LATENCY_MS: "4000" });
  });
  afterAll(() => t?.close());

  it("delays on a timer: the app serves probes while delayed requests wait", async () => {
    // A busy wait would hold the event loop 4 s per request, so the probe would be answered only
    // after the first delayed response at the earliest. With timers it is answered while all of
    // them still wait (a machine stalled for 4 s would fail this, hence the long delay).
    const answered: number[] = [];
    const all = Array.from({ length: 5 }, () =>
      t.call("GET", "/api/v1/users/me").then((r) => {
        answered.push(r.status);
        return r;
      }),
    );
    const live = await t.call("GET", "/monitoring/health/live");
    expect(live.status).toBe(200);
    expect(answered).toEqual([]);
    expect((await Promise.all(all)).map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);
  });
});

describe("healthFail on a real app", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ TUG_FAULT_HEALTH_FAIL: "true" }, { yaml: "health:\n  cacheTtlMs: 100\n" });
  });
  afterAll(() => t?.close());

  it('fails /monitoring/health through a check named "fault_injection"; readiness and the API stay up', async () => {
    const r = await waitFor("the health report with the fault check", async () => {
      const h = await t.call("GET", "/monitoring/health", { headers: { accept: "application/health+json" } });
      return h.body?.checks?.["fault_injection:status"] ? h : undefined;
    });
    expect(r.status).toBe(503);
    expect(r.body.status).toBe("fail");
    expect(r.body.checks["fault_injection:status"][0]).toMatchObject({
      status: "fail",
      output: expect.stringContaining("TUG_FAULT_HEALTH_FAIL"),
    });
    expect((await t.call("GET", "/monitoring/health/ready")).status).toBe(200);
    expect((await t.call("GET", "/monitoring/health/live")).status).toBe(200);
    expect((await t.call("GET", "/api/v1/users/me")).status).toBe(401);
  });
});

describe("off by default", () => {
  it("sets no fault and logs no fault warning", async () => {
    expect(faultsOn(loadConfig({}).faults)).toBe(false);
    const t = await startTestApp();
    try {
      const h = await t.call("GET", "/monitoring/health", { headers: { accept: "application/health+json" } });
      expect(h.body.checks["fault_injection:status"]).toBeUndefined();
      expect((await t.call("GET", "/api/v1/users/me")).status).toBe(401);
    } finally {
      await t.close();
    }
    expect(logLines(t).filter((l) => l.event === "fault_injection")).toHaveLength(0);
  });
});

describe("refused in production", () => {
  const prod = { ENVIRONMENT: "production", MONITORING_TOKEN: "a-long-enough-monitoring-token" };

  it("names the variable, for each fault", () => {
    for (const [name, value] of [
      ["TUG_FAULT_ERROR_PERCENT", "8"],
      ["TUG_FAULT_LATENCY_MS", "300"],
      ["TUG_FAULT_HEALTH_FAIL", "true"],
    ] as const) {
      expect(() => loadConfig({ ...prod, [name]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ ...prod, [name]: value })).toThrow(
        new RegExp(`^${name}=.*refused when environment is production`),
      );
      // Staging takes it.
      expect(() => loadConfig({ ...prod, ENVIRONMENT: "staging", [name]: value })).not.toThrow();
    }
    // Zero and false are "off", not a fault.
    expect(() =>
      loadConfig({
        ...prod,
        TUG_FAULT_ERROR_PERCENT: "0",
        TUG_FAULT_LATENCY_MS: "0",
        TUG_FAULT_HEALTH_FAIL: "false",
      }),
    ).not.toThrow();
  });

  it("names the key and its place in a YAML file", () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-faults-"));
    const file = join(dir, "tug.yml");
    writeFileSync(file, "environment: production\nfaults:\n  latencyMs: 250\n");
    expect(() => loadConfig({ MONITORING_TOKEN: prod.MONITORING_TOKEN, MONITORING_CONFIG: file })).toThrow(
      /tug\.yml:3:\d+: faults\.latencyMs = 250 is not valid: .*refused when environment is production/,
    );
  });

  it("tug serve exits 78 naming the variable, before listening", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-faults-"));
    const child = spawn(process.execPath, [join(ROOT, "bin/tug.js"), "serve"], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        PORT: "0",
        HOST: "127.0.0.1",
        DATABASE_URL: `sqlite:${join(dir, "tug.db")}`,
        LOG_FILE_PATH: join(dir, "app.log"),
        ...prod,
        TUG_FAULT_ERROR_PERCENT: "8",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout?.on("data", (d) => {
      out += d;
    });
    child.stderr?.on("data", (d) => {
      out += d;
    });
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code, out).toBe(78);
    expect(out).toContain("TUG_FAULT_ERROR_PERCENT");
    expect(out).toContain("production");
  });
});
