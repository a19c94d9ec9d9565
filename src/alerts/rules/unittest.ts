// promtool's rule unit tests (Prometheus 2.42 cmd/promtool/unittest.go): rule_files,
// evaluation_interval, group_eval_order, tests with input_series, alert_rule_test and
// promql_expr_test. Output mirrors promtool's (`SUCCESS` or `FAILED:` with the differences).

import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { evaluateInstant, parseDuration, parseSeriesDesc } from "../../promql/index.js";
import { type Labels, labelsFromObject, labelsKey, labelsToString, SeriesStore } from "../../tsdb/index.js";
import { RuleEngine } from "./engine.js";
import { type GroupDef, loadRuleFile, RuleFileError } from "./load.js";

interface UnitTestFile {
  rule_files?: string[];
  evaluation_interval?: string;
  group_eval_order?: string[];
  tests?: TestGroup[];
}

interface TestGroup {
  interval?: string;
  input_series?: Array<{ series: string; values: string }>;
  alert_rule_test?: Array<{
    eval_time?: string;
    alertname?: string;
    exp_alerts?: Array<{ exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }>;
  }>;
  promql_expr_test?: Array<{
    expr: string;
    eval_time?: string;
    exp_samples?: Array<{ labels?: string; value: number | string }>;
  }>;
  external_labels?: Record<string, string>;
  external_url?: string;
  name?: string;
}

const FILE_KEYS = ["rule_files", "evaluation_interval", "group_eval_order", "tests"];
const GROUP_KEYS = [
  "interval",
  "input_series",
  "alert_rule_test",
  "promql_expr_test",
  "external_labels",
  "external_url",
  "name",
];

export interface UnitTestResult {
  file: string;
  ok: boolean;
  /** promtool-style report lines for this file. */
  output: string;
}

function checkKeys(obj: unknown, allowed: string[], what: string): void {
  if (obj === null || typeof obj !== "object") return;
  for (const k of Object.keys(obj))
    if (!allowed.includes(k)) throw new Error(`field ${k} not found in type ${what}`);
}

/** Go's time.Duration.String() for whole milliseconds (`1m30s`, `10m0s`, `0s`). */
export function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? "-" : ""}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = (rest / 1000).toString();
  return `${neg ? "-" : ""}${h > 0 ? `${h}h` : ""}${h > 0 || m > 0 ? `${m}m` : ""}${s}s`;
}

/** model.Duration's String() (what promtool prints for eval_time): `10m`, `1h5m`, `0s`. */
function modelDuration(ms: number): string {
  if (ms === 0) return "0s";
  const units: Array<[string, number]> = [
    ["y", 31_536_000_000],
    ["w", 604_800_000],
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
    ["ms", 1],
  ];
  let rest = ms;
  let out = "";
  for (const [u, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${u}`;
      rest -= n * size;
    }
  }
  return out;
}

function dur(text: string | undefined, dflt: number): number {
  if (text === undefined || text === null) return dflt;
  return parseDuration(String(text));
}

/** Runs one promtool unit-test file; never throws for test failures or invalid input. */
export function runRuleTestFile(file: string): UnitTestResult {
  const header = `Unit Testing:  ${file}\n`;
  const failed = (errs: string[]): UnitTestResult => ({
    file,
    ok: false,
    output: `${header}  FAILED:\n${errs.map((e) => `${e}\n`).join("")}`,
  });
  let cfg: UnitTestFile;
  try {
    cfg = (parseYaml(readFileSync(file, "utf8")) ?? {}) as UnitTestFile;
    checkKeys(cfg, FILE_KEYS, "main.unitTestFile");
    for (const tg of cfg.tests ?? []) checkKeys(tg, GROUP_KEYS, "main.testGroup");
  } catch (e) {
    return { file, ok: false, output: `${header}  FAILED:\n    ${(e as Error).message}\n` };
  }
  const evalIntervalMs = dur(cfg.evaluation_interval, 60_000);
  const groups: GroupDef[] = [];
  try {
    for (const rf of cfg.rule_files ?? []) {
      const p = isAbsolute(rf) ? rf : resolve(dirname(file), rf);
      groups.push(...loadRuleFile(p));
    }
  } catch (e) {
    const msg = e instanceof RuleFileError ? e.message : (e as Error).message;
    return { file, ok: false, output: `${header}  FAILED:\n    ${msg}\n` };
  }
  const order = cfg.group_eval_order ?? [];
  for (const name of order) {
    if (!groups.some((g) => g.name === name))
      return failed([
        `    group name ${JSON.stringify(name)} in group_eval_order not found among the rule groups`,
      ]);
  }
  const errs: string[] = [];
  for (const tg of cfg.tests ?? []) {
    try {
      errs.push(...runTestGroup(tg, groups, evalIntervalMs, order));
    } catch (e) {
      errs.push(`    ${(e as Error).message}`);
    }
  }
  if (errs.length > 0) return failed(errs);
  return { file, ok: true, output: `${header}  SUCCESS\n` };
}

interface LabelsAndAnnotations {
  labels: Labels;
  annotations: Labels;
}

function laString(list: LabelsAndAnnotations[]): string {
  if (list.length === 0) return "[]";
  return `[\n${list
    .map(
      (la, i) =>
        `${i}:\n  Labels:${labelsToString(la.labels)}\n  Annotations:${labelsToString(la.annotations)}\n`,
    )
    .join("")}]`;
}

function indent(text: string, pad: string): string {
  return text
    .split("\n")
    .map((l, i) => (i === 0 ? l : pad + l))
    .join("\n");
}

function sortLA(list: LabelsAndAnnotations[]): void {
  const key = (la: LabelsAndAnnotations) => `${labelsKey(la.labels)}\u0000${labelsKey(la.annotations)}`;
  list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function runTestGroup(tg: TestGroup, groups: GroupDef[], evalIntervalMs: number, order: string[]): string[] {
  const intervalMs = dur(tg.interval, evalIntervalMs);
  const store = new SeriesStore({ maxSeries: 1_000_000, retentionMs: Number.MAX_SAFE_INTEGER });
  // Load input series; samples at i × interval from time 0, as promtool's lazy loader does.
  for (const s of tg.input_series ?? []) {
    let desc: ReturnType<typeof parseSeriesDesc>;
    try {
      desc = parseSeriesDesc(`${s.series} ${s.values ?? ""}`);
    } catch (e) {
      throw new Error(`error parsing series ${JSON.stringify(s.series)}: ${(e as Error).message}`);
    }
    const labels = labelsFromObject(desc.labels);
    desc.values.forEach((v, i) => {
      if (v === undefined) return;
      if (v === "stale") store.appendStale(labels, i * intervalMs);
      else store.append(labels, i * intervalMs, v);
    });
  }
  const prefix = tg.name ? `    name: ${tg.name},\n` : "";
  const errs: string[] = [];
  const engine = new RuleEngine({
    store,
    groups,
    evaluationIntervalMs: evalIntervalMs,
    forState: false, // promtool test rules starts from the input series alone, as Prometheus's does
    externalLabels: tg.external_labels ?? {},
    externalURL: tg.external_url ?? "",
  });
  const alertTests = new Map<number, NonNullable<TestGroup["alert_rule_test"]>>();
  let maxEval = 0;
  for (const at of tg.alert_rule_test ?? []) {
    if (!at.alertname) throw new Error("Alertname can't be empty");
    const t = dur(at.eval_time, 0);
    maxEval = Math.max(maxEval, t);
    const list = alertTests.get(t) ?? [];
    list.push(at);
    alertTests.set(t, list);
  }
  for (const pt of tg.promql_expr_test ?? []) maxEval = Math.max(maxEval, dur(pt.eval_time, 0));
  const alertTimes = [...alertTests.keys()].sort((a, b) => a - b);
  let curr = 0;
  for (let ts = 0; ts <= maxEval; ts += evalIntervalMs) {
    engine.evaluateGroupsAt(ts, order);
    const evalErrs: string[] = [];
    for (const g of engine.groups()) {
      for (const r of g.rules) {
        if (r.lastError !== undefined)
          evalErrs.push(`    rule: ${r.name}, time: ${goDuration(ts)}, err: ${r.lastError}`);
      }
    }
    if (evalErrs.length > 0) return [...errs, ...evalErrs];
    while (curr < alertTimes.length) {
      const t = alertTimes[curr] as number;
      if (!(ts <= t && t < ts + evalIntervalMs)) break;
      const got = new Map<string, LabelsAndAnnotations[]>();
      for (const a of engine.allAlerts()) {
        if (a.state !== "firing") continue;
        const list = got.get(a.rule) ?? [];
        list.push({ labels: a.labels, annotations: labelsFromObject(a.annotations) });
        got.set(a.rule, list);
      }
      for (const tc of alertTests.get(t) ?? []) {
        const name = tc.alertname as string;
        const gotAlerts = [...(got.get(name) ?? [])];
        const expAlerts: LabelsAndAnnotations[] = (tc.exp_alerts ?? []).map((a) => ({
          labels: labelsFromObject({ ...(a.exp_labels ?? {}), alertname: name }),
          annotations: labelsFromObject(a.exp_annotations ?? {}),
        }));
        sortLA(gotAlerts);
        sortLA(expAlerts);
        const same =
          gotAlerts.length === expAlerts.length &&
          gotAlerts.every((g, i) => {
            const e = expAlerts[i] as LabelsAndAnnotations;
            return (
              labelsKey(g.labels) === labelsKey(e.labels) &&
              labelsKey(g.annotations) === labelsKey(e.annotations)
            );
          });
        if (!same) {
          errs.push(
            `${prefix}    alertname: ${name}, time: ${modelDuration(t)}, \n        exp:${indent(laString(expAlerts), "            ")}, \n        got:${indent(laString(gotAlerts), "            ")}`,
          );
        }
      }
      curr++;
    }
  }
  for (const pt of tg.promql_expr_test ?? []) {
    const t = dur(pt.eval_time, 0);
    const where = `    expr: ${JSON.stringify(pt.expr)}, time: ${modelDuration(t)}`;
    let got: Array<{ labels: Labels; value: number }>;
    try {
      const v = evaluateInstant(pt.expr, t, store);
      if (v.type === "vector") got = v.samples;
      else if (v.type === "scalar") got = [{ labels: [], value: v.value }];
      else throw new Error(`rule result is not a vector or scalar: "${v.type}"`);
    } catch (e) {
      errs.push(`${where}, err: ${(e as Error).message}`);
      continue;
    }
    const exp: Array<{ labels: Labels; value: number }> = [];
    let bad = false;
    for (const s of pt.exp_samples ?? []) {
      try {
        const desc = parseSeriesDesc(s.labels ?? "{}");
        exp.push({ labels: labelsFromObject(desc.labels), value: Number(s.value) });
      } catch (e) {
        errs.push(`${where}, err: labels ${JSON.stringify(s.labels)}: ${(e as Error).message}`);
        bad = true;
        break;
      }
    }
    if (bad) continue;
    const byLabels = (a: { labels: Labels }, b: { labels: Labels }) =>
      labelsKey(a.labels) < labelsKey(b.labels) ? -1 : labelsKey(a.labels) > labelsKey(b.labels) ? 1 : 0;
    exp.sort(byLabels);
    got.sort(byLabels);
    const same =
      exp.length === got.length &&
      exp.every((e, i) => {
        const g = got[i] as { labels: Labels; value: number };
        return (
          labelsKey(e.labels) === labelsKey(g.labels) &&
          (e.value === g.value || (Number.isNaN(e.value) && Number.isNaN(g.value)))
        );
      });
    if (!same) {
      const str = (list: Array<{ labels: Labels; value: number }>) =>
        list.length === 0 ? "nil" : list.map((s) => `${labelsToString(s.labels)} ${s.value}`).join(", ");
      errs.push(`${where},\n        exp: ${str(exp)}\n        got: ${str(got)}`);
    }
  }
  return errs;
}
