import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runRuleTestFile } from "../../src/alerts/rules/index.js";
import { promtoolPath } from "../support/services.js";

/**
 * monitoring/slo_rules.yml (generated) under promtool 2.42 and the embedded rule engine:
 * `check rules`, and the burn-rate scenarios of monitoring/slo_rules.test.yml (fast burn pages
 * within the workbook's detection time, slow burn opens a ticket, a 2-minute blip pages nobody,
 * the alert resets when the burn stops) passing under both.
 */
const MONITORING = new URL("../../monitoring/", import.meta.url).pathname;

function run(bin: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(bin, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (b: Buffer) => {
      output += b.toString("utf8");
    });
    child.stderr.on("data", (b: Buffer) => {
      output += b.toString("utf8");
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, output }));
  });
}

/** A copy of the rules and their tests with `change` applied to the rules. */
function brokenCopy(change: (rules: string) => string): string {
  const d = mkdtempSync(join(tmpdir(), "tug-slo-rules-"));
  const rules = readFileSync(join(MONITORING, "slo_rules.yml"), "utf8");
  const changed = change(rules);
  expect(changed).not.toBe(rules);
  writeFileSync(join(d, "slo_rules.yml"), changed);
  copyFileSync(join(MONITORING, "slo_rules.test.yml"), join(d, "slo_rules.test.yml"));
  return d;
}

// Page at 20× instead of the workbook's 14.4×: the fast burn of 2 % is then caught 17 minutes late.
const slowerPage = (rules: string) => rules.replaceAll('window="1h"} > 14.4', 'window="1h"} > 20');

let promtool: string;
beforeAll(async () => {
  promtool = await promtoolPath(); // may install Debian's prometheus package
}, 300_000);

describe("monitoring/slo_rules.yml under promtool 2.42", () => {
  it("passes promtool check rules", async () => {
    const r = await run(promtool, ["check", "rules", "slo_rules.yml"], MONITORING);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  it("passes promtool test rules on slo_rules.test.yml", { timeout: 300_000 }, async () => {
    const r = await run(promtool, ["test", "rules", "slo_rules.test.yml"], MONITORING);
    expect(r.output).toMatch("SUCCESS");
    expect(r.code).toBe(0);
  });
});

describe("monitoring/slo_rules.yml under tug rules test", () => {
  it("passes slo_rules.test.yml", { timeout: 300_000 }, () => {
    const r = runRuleTestFile(join(MONITORING, "slo_rules.test.yml"));
    expect(r.output).toMatch("SUCCESS");
    expect(r.ok).toBe(true);
  });

  it("fails it when the page's factor is not the workbook's", { timeout: 300_000 }, () => {
    const d = brokenCopy(slowerPage);
    const r = runRuleTestFile(join(d, "slo_rules.test.yml"));
    expect(r.ok).toBe(false);
    expect(r.output).toMatch("fast burn: 2 % errors");
  });
});
