// `tug deploy watch` as a CI/CD gate: bad input exits 2 naming what was wrong, before anything
// starts; a run against a real app ends with the documented exit code and a JSON report. (The
// failing and rolled-back runs are in test/deploy-e2e.test.ts, with two real app processes.)

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployCommand, parseDuration } from "../../src/cli/deploy.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { runAsync } from "../support/cli.js";

const TOKEN = "deploy-cli-test-token-0123456789abcdef";
let t: TestApp;
let health: string;

beforeAll(async () => {
  t = await startTestApp({ ENVIRONMENT: "staging", MONITORING_TOKEN: TOKEN });
  health = `${t.url}/monitoring/health/ready`;
});

afterAll(async () => {
  await t?.close();
});

const watch = (...args: string[]) => runAsync(deployCommand, ["watch", ...args]);

describe("tug deploy watch", () => {
  it("exits 2 on bad input, naming it, and starts nothing", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--health-url", health], /version/],
      [
        ["--version", "1", "--health-url", health, "--duration=-5m"],
        /--duration -5m: write a positive duration/,
      ],
      [["--version", "1", "--health-url", health, "--interval", "soon"], /--interval soon/],
      [["--version", "1", "--health-url", health, "--rollback-url", "ht!tp:/x"], /rollbackUrl/],
      [
        ["--version", "1", "--health-url", health, "--max-error-rate", "lots"],
        /--max-error-rate lots: not a number/,
      ],
      [["--version", "1", "--health-url", health, "--colour", "red"], /Unknown option '--colour'/],
      [["--version", "1", "--health-url", "http://127.0.0.1:9/health"], /healthCheckUrl does not answer/],
      [["--version", "1", "--health-url", health, "--on-inconclusive", "shrug"], /onInconclusive/],
    ];
    for (const [args, message] of cases) {
      const r = await watch(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toMatch(message);
      expect(r.out).toBe("");
    }
    expect((await runAsync(deployCommand, ["sideways"])).code).toBe(2);
  });

  it("reads the seed's snake_case from --config, flags winning", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-deploy-cli-"));
    const file = join(dir, "deploy.yml");
    writeFileSync(
      file,
      "version: '9.9.9'\nhealth_check_url: http://127.0.0.1:9/health\nmonitoring_duration_minutes: -1\n",
    );
    const r = await watch("--config", file, "--health-url", health);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/monitoringDurationMinutes/);
  });

  it("ends with exit 1 and a JSON report when there is too little traffic to judge (fail-safe)", async () => {
    const r = await watch(
      "--version",
      "2.0.0",
      "--health-url",
      health,
      "--duration",
      "3s",
      "--interval",
      "1s",
      "--token",
      TOKEN,
      "--json",
    );
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ version: "2.0.0", outcome: "failed", environment: "production" });
    expect(report.reason).toMatch(/inconclusive at the end of monitoring: .*onInconclusive: fail/);
    expect(report.looks.length).toBeGreaterThan(0);
    // Progress went to stderr, one plain line per transition (not a terminal here).
    expect(r.err).toMatch(/→ pending: deployment monitoring started/);
  });

  it("passes with --on-inconclusive pass: exit 0", async () => {
    const r = await watch(
      "--version",
      "2.0.1",
      "--health-url",
      health,
      "--duration",
      "2s",
      "--interval",
      "1s",
      "--on-inconclusive",
      "pass",
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/succeeded — inconclusive at the end of monitoring/);
  });

  it("reads durations as written in pipelines", () => {
    expect(parseDuration("duration", "15m", "m")).toBe(15);
    expect(parseDuration("duration", "90s", "m")).toBe(1.5);
    expect(parseDuration("interval", "1h", "s")).toBe(3600);
    expect(parseDuration("interval", "30", "s")).toBe(30);
    expect(() => parseDuration("duration", "0m", "m")).toThrow(/more than zero/);
  });
});
