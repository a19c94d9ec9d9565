import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  type GroupEvaluation,
  type GroupEvaluationStart,
  RuleEngine,
} from "../../src/alerts/rules/engine.js";
import { parseRuleFile } from "../../src/alerts/rules/index.js";
import { RuleFailureLog } from "../../src/engine/rule-log.js";
import { SeriesStore } from "../../src/tsdb/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { ManualClock } from "../support/clock.js";
import { waitFor } from "../support/wait.js";

/**
 * A rule that fails at evaluation time is not only recorded on the rule (health "err",
 * lastError): the group's evaluation reports it (RuleEngine's onGroupEvaluation), the API thread
 * logs it at warn with the rule, its group and the error — once a minute per rule at most — and
 * counts it in rule_evaluation_failures_total next to rule_evaluations_total, as Prometheus does.
 */

/** Two series, {<label>="x"} and {<label>="y"}, without any data in the store. */
const two = (label: string) =>
  `(label_replace(vector(1), "${label}", "x", "", "") or label_replace(vector(2), "${label}", "y", "", ""))`;
/** Fails at every evaluation: many-to-many matching (both sides have two series for the group {}). */
const MANY_TO_MANY = `${two("a")} + on() ${two("b")}`;
const MANY_TO_MANY_ERROR = /many-to-many matching not allowed: matching labels must be unique on one side/;

const RULES = {
  groups: [
    {
      name: "broken",
      interval: "1s",
      rules: [
        { alert: "ManyToMany", expr: MANY_TO_MANY },
        { record: "fine:one", expr: "vector(1)" },
      ],
    },
    { name: "healthy", interval: "1s", rules: [{ record: "fine:two", expr: "vector(2)" }] },
  ],
};

const M = 60_000;

function engineOf(rules: string, extra: Partial<ConstructorParameters<typeof RuleEngine>[0]> = {}) {
  const store = new SeriesStore({ maxSeries: 1_000, retentionMs: 1e12 });
  return new RuleEngine({ store, groups: parseRuleFile(rules, "f.yml"), ...extra });
}

describe("RuleEngine's group evaluation hooks", () => {
  it("reports every evaluation, its failures (by rule and position) and its duration", () => {
    const events: GroupEvaluation[] = [];
    const starts: GroupEvaluationStart[] = [];
    const engine = engineOf(stringify(RULES), {
      onGroupEvaluationStart: (g) => starts.push(g),
      onGroupEvaluation: (e) => events.push(e),
    });
    engine.evaluateGroupsAt(10 * M);
    expect(starts).toEqual([
      { group: "broken", file: "f.yml", intervalMs: 1000, rules: 2 },
      { group: "healthy", file: "f.yml", intervalMs: 1000, rules: 1 },
    ]);
    expect(events).toHaveLength(2);
    const [broken, healthy] = events;
    expect(broken).toMatchObject({
      group: "broken",
      file: "f.yml",
      intervalMs: 1000,
      timestampMs: 10 * M,
      evaluations: 2,
      missedIterations: 0,
      failures: [{ rule: "ManyToMany", index: 0, error: expect.stringMatching(MANY_TO_MANY_ERROR) }],
    });
    expect(broken?.durationMs).toBeGreaterThan(0);
    expect(healthy).toMatchObject({ group: "healthy", evaluations: 1, failures: [] });
    // The rule still records the failure itself, with the same text.
    const rule = engine.groups()[0]?.rules[0];
    expect(rule).toMatchObject({ health: "err", lastError: broken?.failures[0]?.error });
    expect(engine.groups()[0]?.rules[1]).toMatchObject({ health: "ok" });
  });

  it("counts the ticks skipped by a late timer or an evaluation longer than the interval", () => {
    const clock = new ManualClock(0);
    const events: GroupEvaluation[] = [];
    /** Extra time the next evaluation takes (the clock moves while it runs). */
    let evaluationCost = 0;
    const engine = engineOf(
      `groups:
  - name: g
    interval: 10s
    rules: [{ record: r, expr: vector(1) }]
`,
      {
        now: clock.now,
        timers: clock,
        onGroupEvaluationStart: () => clock.skip(evaluationCost),
        onGroupEvaluation: (e) => events.push(e),
      },
    );
    engine.start();
    /** Fires the one pending timer `late` ms after its time. */
    const fire = (late: number) => {
      expect(clock.size).toBe(1);
      const at = clock.dueTimes()[0] as number;
      clock.skip(at + late - clock.now());
      clock.advance(0);
      return at;
    };
    const first = fire(0);
    expect(events.at(-1)).toMatchObject({ timestampMs: first, missedIterations: 0 });
    // 25 s late: the ticks 10 s and 20 s after it are skipped (the evaluation keeps its own tick).
    const second = fire(25_000);
    expect(second).toBe(first + 10_000);
    expect(events.at(-1)).toMatchObject({ timestampMs: second, missedIterations: 2 });
    expect(clock.dueTimes()).toEqual([second + 30_000]);
    // On time, but the evaluation takes 10 s: the next tick is skipped.
    evaluationCost = 10_000;
    const third = fire(0);
    expect(events.at(-1)).toMatchObject({ timestampMs: third, missedIterations: 1 });
    expect(clock.dueTimes()).toEqual([third + 20_000]);
    evaluationCost = 0;
    fire(0);
    expect(events.at(-1)?.missedIterations).toBe(0);
    engine.stop();
  });

  it("keeps a group's schedule when a listener throws", () => {
    const clock = new ManualClock(0);
    const engine = engineOf(
      `groups:
  - name: g
    interval: 10s
    rules: [{ alert: A, expr: vector(1) }]
`,
      {
        now: clock.now,
        timers: clock,
      },
    );
    engine.onNotify(() => {
      throw new Error("listener failed");
    });
    engine.start();
    expect(() => clock.advance(10_000)).toThrow("listener failed");
    expect(clock.size).toBe(1);
    engine.stop();
  });
});

describe("RuleFailureLog", () => {
  const evaluation = (failures: Array<{ index: number; error: string }>) => ({
    group: "g",
    file: "f.yml",
    durationMs: 1,
    evaluations: 3,
    missedIterations: 0,
    failures: failures.map((f) => ({ rule: `r${f.index}`, ...f })),
  });

  it("logs a rule when it starts failing, then at most once a minute, with what it left out", () => {
    let now = 0;
    const lines: Array<Record<string, unknown>> = [];
    const log = new RuleFailureLog({ warn: (fields) => lines.push(fields), now: () => now });
    log.record(evaluation([{ index: 0, error: "boom" }]));
    expect(lines).toEqual([
      {
        event: "rule_evaluation_failed",
        rule: "r0",
        group: "g",
        file: "f.yml",
        error: "boom",
        suppressed: 0,
      },
    ]);
    // Fails every second for a minute (its error changes too): nothing more until the minute is up.
    for (now = 1000; now < M; now += 1000) log.record(evaluation([{ index: 0, error: `boom ${now}` }]));
    expect(lines).toHaveLength(1);
    log.record(evaluation([{ index: 0, error: "boom again" }]));
    expect(lines.at(-1)).toMatchObject({ rule: "r0", error: "boom again", suppressed: 59 });
    // Another rule of the same group has its own minute.
    log.record(evaluation([{ index: 2, error: "other" }]));
    expect(lines.at(-1)).toMatchObject({ rule: "r2", error: "other", suppressed: 0 });
    expect(lines).toHaveLength(3);
  });

  it("keeps a flapping rule to one line a minute and forgets a recovered one after its minute", () => {
    let now = 0;
    const lines: Array<Record<string, unknown>> = [];
    const log = new RuleFailureLog({ warn: (fields) => lines.push(fields), now: () => now });
    for (now = 0; now < M; now += 1000)
      log.record(evaluation((now / 1000) % 2 === 0 ? [{ index: 1, error: "flap" }] : []));
    expect(lines).toHaveLength(1);
    now = M;
    log.record(evaluation([{ index: 1, error: "flap" }]));
    expect(lines.at(-1)).toMatchObject({ rule: "r1", suppressed: 29 });
    // Recovered for a minute: forgotten; failing again is news at once.
    now += M;
    log.record(evaluation([]));
    expect((log as unknown as { groups: Map<string, unknown> }).groups.size).toBe(0);
    now += 1000;
    log.record(evaluation([{ index: 1, error: "flap" }]));
    expect(lines.at(-1)).toMatchObject({ rule: "r1", suppressed: 0 });
    expect(lines).toHaveLength(3);
  });
});

describe("a failing rule in a running app", () => {
  let t: TestApp;
  let startedAt: number;
  let ruleFile: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-rule-failures-"));
    ruleFile = join(dir, "rules.yml");
    writeFileSync(ruleFile, stringify(RULES));
    startedAt = Date.now();
    t = await startTestApp(
      {},
      {
        yaml: [
          "alerts:",
          `  ruleFiles: [${JSON.stringify(ruleFile)}]`,
          "  evaluationIntervalMs: 1000",
          "",
        ].join("\n"),
      },
    );
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  /** The value of one sample of the exposition, undefined when absent. */
  const sample = (text: string, name: string, group: string): number | undefined => {
    const prefix = `${name}{rule_group=${JSON.stringify(`${ruleFile};${group}`)}} `;
    const line = text.split("\n").find((l) => l.startsWith(prefix));
    return line === undefined ? undefined : Number(line.slice(prefix.length));
  };
  const metrics = async () => (await t.call("GET", "/monitoring/metrics")).body as string;

  it("counts the failures and the evaluations, per group", async () => {
    const first = await waitFor("a failed evaluation counted", async () => {
      const text = await metrics();
      const failures = sample(text, "rule_evaluation_failures_total", "broken");
      return failures !== undefined && failures >= 1 ? text : undefined;
    });
    const f1 = sample(first, "rule_evaluation_failures_total", "broken") as number;
    const e1 = sample(first, "rule_evaluations_total", "broken") as number;
    // Two rules per evaluation of "broken", one of which fails every time.
    expect(e1).toBe(2 * f1);
    expect(sample(first, "rule_group_last_duration_seconds", "broken")).toBeGreaterThan(0);
    expect(sample(first, "rule_group_iterations_missed_total", "broken")).toBeGreaterThanOrEqual(0);
    const later = await waitFor("the failure counter increasing", async () => {
      const text = await metrics();
      return (sample(text, "rule_evaluation_failures_total", "broken") ?? 0) > f1 ? text : undefined;
    });
    const f2 = sample(later, "rule_evaluation_failures_total", "broken") as number;
    expect(sample(later, "rule_evaluations_total", "broken")).toBe(2 * f2);
    // The healthy group is counted too, without failures.
    expect(sample(later, "rule_evaluations_total", "healthy")).toBeGreaterThanOrEqual(1);
    expect(sample(later, "rule_evaluation_failures_total", "healthy")).toBe(0);
  });

  it("logs the failure at warn with the rule, its group and the error, without repeating it every second", async () => {
    const logFile = join(t.dir, "app.log");
    const failureLines = () =>
      readFileSync(logFile, "utf8")
        .split("\n")
        .filter((l) => l.includes('"rule_evaluation_failed"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    await waitFor("the rule failure in the log", () => failureLines().length > 0, {
      last: () => readFileSync(logFile, "utf8").slice(-2000),
    });
    const [line] = failureLines();
    expect(line).toMatchObject({
      level: "WARN",
      msg: "rule evaluation failed",
      rule: "ManyToMany",
      group: "broken",
      file: ruleFile,
      error: expect.stringMatching(MANY_TO_MANY_ERROR),
    });
    // Wait for more failed evaluations: they are counted, not logged again within the minute.
    const counted = async () => sample(await metrics(), "rule_evaluation_failures_total", "broken") ?? 0;
    const before = await counted();
    await waitFor("two more failed evaluations", async () => (await counted()) >= before + 2);
    const minutes = Math.floor((Date.now() - startedAt) / M);
    expect(failureLines().length).toBeLessThanOrEqual(1 + minutes);
    expect(failureLines().every((l) => l.rule === "ManyToMany")).toBe(true);
  });

  it("shows the rule's health as err with its last error in the rules API", async () => {
    const rule = await waitFor("the rule evaluated", async () => {
      const r = await t.call("GET", "/monitoring/api/v1/rules");
      expect(r.status).toBe(200);
      const group = r.body.data.groups.find((g: { name: string }) => g.name === "broken");
      const found = group?.rules.find((x: { name: string }) => x.name === "ManyToMany");
      return found?.health === "unknown" ? undefined : found;
    });
    expect(rule).toMatchObject({ health: "err", lastError: expect.stringMatching(MANY_TO_MANY_ERROR) });
    const r = await t.call("GET", "/monitoring/api/v1/rules");
    const fine = r.body.data.groups
      .flatMap((g: { rules: Array<{ name: string; health: string }> }) => g.rules)
      .filter((x: { name: string }) => x.name.startsWith("fine:"));
    expect(fine.map((x: { health: string }) => x.health)).toEqual(["ok", "ok"]);
  });
});
