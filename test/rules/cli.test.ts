import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rulesCommand } from "../../src/cli/rules.js";
import { runSync } from "../support/cli.js";
import { promtoolPath } from "../support/services.js";

const run = (argv: string[]) => runSync(rulesCommand, argv);

/** A copy of the default rules and tests with one expected annotation changed. */
function brokenCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "rules-cli-"));
  copyFileSync("monitoring/alert_rules.yml", join(dir, "alert_rules.yml"));
  const text = readFileSync("monitoring/alert_rules.test.yml", "utf8");
  const changed = text.replace(
    "summary: CPU usage is 95% (over 80 %)",
    "summary: CPU usage is 96% (over 80 %)",
  );
  expect(changed).not.toBe(text);
  const file = join(dir, "alert_rules.test.yml");
  writeFileSync(file, changed);
  return file;
}

describe("tug rules test", () => {
  it("passes monitoring/alert_rules.test.yml", () => {
    expect(run(["test", "monitoring/alert_rules.test.yml"])).toEqual({
      code: 0,
      out: "Unit Testing:  monitoring/alert_rules.test.yml\n  SUCCESS\n\n",
      err: "",
    });
  });

  it("fails on a wrong expectation and shows what it got", () => {
    const file = brokenCopy();
    const r = run(["test", file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`Unit Testing:  ${file}\n  FAILED:\n`);
    expect(r.err).toContain("alertname: HighCpuUsage, time: 5m");
    expect(r.err).toContain("CPU usage is 96% (over 80 %)"); // expected
    expect(r.err).toContain("CPU usage is 95% (over 80 %)"); // got
  });

  it("checks promql_expr_test samples and reports rule file errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "rules-cli-"));
    writeFileSync(
      join(dir, "r.yml"),
      "groups:\n  - name: g\n    rules:\n      - record: job:x:sum\n        expr: sum by (job) (x)\n",
    );
    const t = join(dir, "t.yml");
    writeFileSync(
      t,
      `rule_files: [r.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - { series: 'x{job="a",i="1"}', values: "1+1x5" }
      - { series: 'x{job="a",i="2"}', values: "_ 10 stale" }
    promql_expr_test:
      - expr: job:x:sum
        eval_time: 1m
        exp_samples: [{ labels: 'job:x:sum{job="a"}', value: 12 }]
      - expr: job:x:sum
        eval_time: 2m
        exp_samples: [{ labels: 'job:x:sum{job="a"}', value: 3 }]
      - expr: vector(1)
        eval_time: 0m
        exp_samples: [{ labels: "{}", value: 2 }]
`,
    );
    const r = run(["test", t]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('expr: "vector(1)", time: 0s,\n        exp: {} 2\n        got: {} 1');
    expect(r.err).not.toContain("job:x:sum");
    writeFileSync(
      join(dir, "r.yml"),
      "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: sum(\n",
    );
    expect(run(["test", t]).err).toMatch(/r\.yml:5:15: group "g", rule 1, "x": could not parse expression/);
  });

  it("prints usage without files", () => {
    expect(run(["test"]).code).toBe(2);
  });

  it("real promtool 2.42 passes the same file and fails the same wrong expectation", async () => {
    const promtool = await promtoolPath();
    const ok = spawnSync(promtool, ["test", "rules", "monitoring/alert_rules.test.yml"], {
      encoding: "utf8",
    });
    expect(ok.stdout + ok.stderr).toContain("SUCCESS");
    expect(ok.status).toBe(0);
    const bad = spawnSync(promtool, ["test", "rules", brokenCopy()], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("alertname: HighCpuUsage, time: 5m");
  });

  it("bin/tug dispatches `rules test`", () => {
    const r = spawnSync(
      process.execPath,
      ["bin/tug.js", "rules", "test", "monitoring/alert_rules.test.yml"],
      {
        encoding: "utf8",
      },
    );
    expect(r.stdout).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });
});
