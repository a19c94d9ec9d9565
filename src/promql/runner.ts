// Runs Prometheus PromQL test files (v2.42 `promql/test.go` semantics) against the embedded engine.

import {
  isStaleMarker,
  type Labels,
  labelsFromObject,
  labelsKey,
  labelsToString,
  SeriesStore,
  StaleNaN,
} from "../tsdb/index.js";
import { type EngineOptions, evaluateInstant, evaluateRange } from "./engine.js";
import { type EvalCommand, parseTestFile, type TestCommand } from "./testfile.js";
import type { MatrixValue, Sample, Value } from "./value.js";

export interface CaseFailure {
  /** 1-based line of the eval command. */
  line: number;
  expr: string;
  /** Up to a few differences, e.g. `expected 3 for {a="b"} but got 4`. */
  differences: string[];
}

export interface FileResult {
  file: string;
  passed: number;
  failed: number;
  failures: CaseFailure[];
}

const MAX_DIFFERENCES = 3;
const EPSILON = 0.000001;
const MIN_NORMAL = 2.2250738585072014e-308;

/** Prometheus's test comparison: relative error below 1e-6, and NaN equals NaN. */
export function almostEqual(a: number, b: number): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true;
  if (a === b) return true;
  const diff = Math.abs(a - b);
  if (a === 0 || b === 0 || diff < MIN_NORMAL) return diff < EPSILON * MIN_NORMAL;
  return diff / (Math.abs(a) + Math.abs(b)) < EPSILON;
}

/** Runs one test file's text; each file starts with an empty store. Throws TestFileParseError on bad syntax. */
export function runTestFile(text: string, file = "<input>", opts: EngineOptions = {}): FileResult {
  return runCommands(parseTestFile(text, file), file, opts);
}

export function runCommands(commands: TestCommand[], file: string, opts: EngineOptions = {}): FileResult {
  let store = new SeriesStore({ maxSeries: 1_000_000 });
  const result: FileResult = { file, passed: 0, failed: 0, failures: [] };
  for (const cmd of commands) {
    if (cmd.kind === "clear") {
      store = new SeriesStore({ maxSeries: 1_000_000 });
    } else if (cmd.kind === "load") {
      for (const s of cmd.series) {
        const labels = labelsFromObject(s.labels);
        const ref = store.getOrCreate(labels);
        if (typeof ref !== "number") throw new Error(`${file}:${s.line}: cannot load series: ${ref}`);
        for (const p of s.samples) {
          const r = p.value === "stale" ? store.appendStale(ref, p.t) : store.appendRef(ref, p.t, p.value);
          if (r !== "ok") throw new Error(`${file}:${s.line}: cannot append sample at ${p.t}ms: ${r}`);
        }
      }
    } else {
      const differences = runEval(cmd, store, opts);
      if (differences.length === 0) result.passed++;
      else {
        result.failed++;
        result.failures.push({
          line: cmd.line,
          expr: cmd.expr,
          differences: differences.slice(0, MAX_DIFFERENCES),
        });
      }
    }
  }
  return result;
}

/** The differences between what an eval command expects and what the engine returns (empty = pass). */
function runEval(cmd: EvalCommand, store: SeriesStore, opts: EngineOptions): string[] {
  let value: Value;
  try {
    value = evaluateInstant(cmd.expr, cmd.atMs, store, opts);
  } catch (err) {
    if (cmd.expectFail) return [];
    return [`error evaluating query: ${(err as Error).message}`];
  }
  if (cmd.expectFail) return [`expected error evaluating query but got none (${describe(value)})`];
  const diffs = compare(cmd, value);
  if (diffs.length > 0 || cmd.ordered) return diffs;
  // As test.go does: the same query in range mode (t-1m..t+1m, step 1m) must agree at t.
  let range: MatrixValue;
  try {
    range = evaluateRange(cmd.expr, cmd.atMs - 60_000, cmd.atMs + 60_000, 60_000, store, opts);
  } catch (err) {
    return [`error evaluating query in range mode: ${(err as Error).message}`];
  }
  const samples: Sample[] = [];
  for (const s of range.series) {
    const i = s.timestamps.indexOf(cmd.atMs);
    if (i >= 0) samples.push({ labels: s.labels, value: s.values[i] as number });
  }
  const atT: Value =
    value.type === "scalar"
      ? { type: "scalar", value: samples[0]?.value ?? Number.NaN }
      : { type: "vector", samples };
  return compare(cmd, atT).map((d) => `range mode: ${d}`);
}

function describe(v: Value): string {
  switch (v.type) {
    case "scalar":
      return `scalar ${fmt(v.value)}`;
    case "string":
      return `string ${JSON.stringify(v.value)}`;
    case "vector":
      return `vector of ${v.samples.length}`;
    case "matrix":
      return `matrix of ${v.series.length}`;
  }
}

function fmt(v: number): string {
  if (isStaleMarker(v)) return "stale";
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function compare(cmd: EvalCommand, value: Value): string[] {
  const exp = cmd.expected;
  if (exp.kind === "scalar") {
    if (value.type !== "scalar") return [`expected scalar ${fmt(exp.value)} but got ${describe(value)}`];
    if (!almostEqual(exp.value, value.value))
      return [`expected scalar ${fmt(exp.value)} but got ${fmt(value.value)}`];
    return [];
  }
  if (value.type !== "vector") {
    if (value.type === "matrix") return ["received range result on instant evaluation"];
    return [`received unexpected result type ${describe(value)}`];
  }
  const expected = new Map<string, { labels: Labels; value: number; pos: number }>();
  exp.samples.forEach((s, i) => {
    const labels = labelsFromObject(s.labels);
    expected.set(labelsKey(labels), { labels, value: s.value === "stale" ? StaleNaN : s.value, pos: i + 1 });
  });
  const diffs: string[] = [];
  const seen = new Set<string>();
  value.samples.forEach((s, i) => {
    const key = labelsKey(s.labels);
    const e = expected.get(key);
    if (e === undefined) {
      diffs.push(`unexpected metric ${labelsToString(s.labels)} in result (value ${fmt(s.value)})`);
      return;
    }
    seen.add(key);
    if (cmd.ordered && e.pos !== i + 1) {
      diffs.push(
        `expected metric ${labelsToString(s.labels)} with ${fmt(e.value)} at position ${e.pos} but was at ${i + 1}`,
      );
    }
    if (!almostEqual(e.value, s.value)) {
      diffs.push(`expected ${fmt(e.value)} for ${labelsToString(s.labels)} but got ${fmt(s.value)}`);
    }
  });
  for (const [key, e] of expected) {
    if (!seen.has(key))
      diffs.push(`expected metric ${labelsToString(e.labels)} with ${fmt(e.value)} not found`);
  }
  return diffs;
}

/** One line per file, then one per failing case's difference: `file:line: expr: difference`. */
export function formatFileResult(r: FileResult): string {
  const lines = [`${r.file}: ${r.passed} passed, ${r.failed} failed`];
  for (const f of r.failures)
    for (const d of f.differences) lines.push(`  ${r.file}:${f.line}: ${f.expr}: ${d}`);
  return lines.join("\n");
}
