import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRuleFile, parseRuleFile, RuleFileError } from "../../src/alerts/rules/index.js";

function err(text: string): string {
  try {
    parseRuleFile(text, "rules.yml");
  } catch (e) {
    expect(e).toBeInstanceOf(RuleFileError);
    return (e as Error).message;
  }
  throw new Error("expected a RuleFileError");
}

describe("rule file loader", () => {
  it("loads the default rules", () => {
    const groups = loadRuleFile("monitoring/alert_rules.yml");
    expect(groups.map((g) => g.name)).toEqual(["tug-api"]);
    const rules = groups[0]?.rules ?? [];
    expect(rules.map((r) => r.name)).toEqual([
      "HighErrorRate",
      "HighAverageResponseTime",
      "HighP95Latency",
      "HighMemoryUsage",
      "HighCpuUsage",
      "DatabaseDown",
      "MonitoringStoreCannotWrite",
      "TargetDown",
      "TargetMissing",
      "DiskAlmostFull",
      "DiskWillFillIn4Hours",
      "DependencyCheckFailing",
    ]);
    for (const r of rules) {
      expect(r.forMs).toBeGreaterThan(0);
      expect(r.labels.severity).toMatch(/^(warning|critical)$/);
      expect(r.annotations.summary).toBeTruthy();
      expect(r.annotations.description).toBeTruthy();
    }
  });

  it("parses groups, intervals, recording and alerting rules", () => {
    const g = parseRuleFile(
      `groups:
  - name: g
    interval: 15s
    limit: 10
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: { team: a }
      - alert: Down
        expr: up == 0
        for: 1m
        keep_firing_for: 2m
        annotations: { summary: "{{ $labels.job }} down" }
`,
      "f.yml",
    );
    expect(g[0]).toMatchObject({ name: "g", file: "f.yml", intervalMs: 15_000, limit: 10 });
    expect(g[0]?.rules[0]).toMatchObject({ kind: "recording", name: "job:up:sum", labels: { team: "a" } });
    expect(g[0]?.rules[1]).toMatchObject({
      kind: "alerting",
      forMs: 60_000,
      keepFiringForMs: 120_000,
      line: 9,
    });
  });

  it("reports an expression parse error with file:line:col, group, rule number and name", () => {
    const msg = err(`groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
      - alert: Broken
        expr: sum(rate(x[5m])
`);
    expect(msg).toMatch(
      /^rules\.yml:7:15: group "g", rule 2, "Broken": could not parse expression: 1:\d+: parse error: /,
    );
    expect(msg).not.toContain("\n");
  });

  it("rejects what Prometheus rejects", () => {
    const rule = (body: string) => `groups:\n  - name: g\n    rules:\n      - ${body}\n`;
    expect(err(rule("record: a\n        alert: b\n        expr: up"))).toContain(
      "only one of 'record' and 'alert' must be set",
    );
    expect(err(rule("expr: up"))).toContain("one of 'record' or 'alert' must be set");
    expect(err(rule('record: "bad-name"\n        expr: up'))).toContain(
      "invalid recording rule name: bad-name",
    );
    expect(err(rule("record: a\n        expr: up\n        for: 5m"))).toContain(
      "invalid field 'for' in recording rule",
    );
    expect(err(rule("alert: A\n        expr: up\n        for: 5 minutes"))).toMatch(
      /^rules\.yml:6:14: .*not a valid duration/,
    );
    expect(err(rule("alert: A\n        expr: up\n        severity: high"))).toMatch(
      /^rules\.yml:6:9: .*field severity not found/,
    );
    expect(err(rule("alert: A"))).toContain("field 'expr' must be set");
    expect(
      err(rule('alert: A\n        expr: up\n        annotations: { s: "{{ $value | nope }}" }')),
    ).toContain('function "nope" not defined');
    expect(err("groups:\n  - name: g\n  - name: g\n")).toBe(
      'rules.yml:3:11: groupname: "g" is repeated in the same file',
    );
    expect(err("groups:\n  - name: g\n    interval: 1 m\n")).toMatch(/^rules\.yml:3:15: /);
    expect(err("grups: []\n")).toBe("rules.yml:1:1: field grups not found in rule file");
    expect(err("groups: [\n")).toMatch(/^rules\.yml:\d+:\d+: yaml: /);
  });

  it("names the file it could not read", () => {
    const dir = mkdtempSync(join(tmpdir(), "rules-"));
    const f = join(dir, "r.yml");
    writeFileSync(f, "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: 1 +\n");
    expect(() => loadRuleFile(f)).toThrow(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:5:15: `));
    expect(() => loadRuleFile(join(dir, "missing.yml"))).toThrow(/cannot read rule file/);
  });
});
