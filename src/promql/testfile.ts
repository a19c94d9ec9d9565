// Parser for Prometheus's PromQL test-file format (promql/testdata/*.test, v2.42 `promql/test.go`).
// Pure: text in, plain commands out. Expressions are kept as text; the runner parses them.

import { parseDuration, parseGoNumber, unquoteString } from "./lex.js";

/**
 * A test file's label set as written (name → value), before the runner turns it into the
 * store's sorted `Labels` (tsdb/labels.ts).
 */
export type LabelMap = Record<string, string>;
/** A loaded sample value: a float, or Prometheus's stale marker. */
export type SampleValue = number | "stale";

export interface LoadSample {
  /** Step index in the series line (0-based); the sample time is `index * intervalMs`. */
  index: number;
  /** Sample timestamp in ms since the test start (Unix epoch 0). */
  t: number;
  value: SampleValue;
}

export interface LoadSeries {
  labels: LabelMap;
  samples: LoadSample[];
  line: number;
}

export interface LoadCommand {
  kind: "load";
  intervalMs: number;
  series: LoadSeries[];
  line: number;
}

export interface ClearCommand {
  kind: "clear";
  line: number;
}

export interface ExpectedSample {
  labels: LabelMap;
  value: SampleValue;
  line: number;
}

export type Expected =
  | { kind: "vector"; samples: ExpectedSample[] }
  | { kind: "scalar"; value: number; line: number };

export interface EvalCommand {
  kind: "eval";
  mode: "instant";
  atMs: number;
  expr: string;
  /** 0-based column of `expr` in the source line, to map expression parse errors back to the file. */
  exprColumn: number;
  expectFail: boolean;
  ordered: boolean;
  /** An empty vector when no result lines follow (the query must return nothing). */
  expected: Expected;
  line: number;
}

export type TestCommand = LoadCommand | ClearCommand | EvalCommand;

/** A test-file syntax error; `line` is 1-based. */
export class TestFileParseError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
    readonly file?: string,
  ) {
    super(`${file === undefined ? "" : `${file}:`}${line}: ${reason}`);
    this.name = "TestFileParseError";
  }
}

const PAT_SPACE = /[\t ]+/;
const PAT_LOAD = /^load\s+(.+?)$/;
const PAT_EVAL_INSTANT = /^eval(?:_(fail|ordered))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$/;

/** Parses a whole test file. Throws `TestFileParseError` at the first bad line. */
export function parseTestFile(text: string, file?: string): TestCommand[] {
  // Like getLines in test.go: trimmed, and a comment line counts as blank (so it ends a block).
  const raw = text.split("\n");
  const lines = raw.map((l) => {
    const t = l.trim();
    return t.startsWith("#") ? "" : t;
  });
  const fail = (i: number, reason: string): never => {
    throw new TestFileParseError(i + 1, reason, file);
  };
  const commands: TestCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] ?? "";
    if (l === "") continue;
    const word = (l.split(PAT_SPACE, 1)[0] ?? "").toLowerCase();
    if (word === "clear") {
      commands.push({ kind: "clear", line: i + 1 });
    } else if (word === "load") {
      const m = PAT_LOAD.exec(l);
      if (m === null) fail(i, "invalid load command. (load <step:duration>)");
      let intervalMs = 0;
      try {
        intervalMs = parseDuration(m?.[1] ?? "");
      } catch (e) {
        fail(i, `invalid step definition ${JSON.stringify(m?.[1])}: ${(e as Error).message}`);
      }
      const cmd: LoadCommand = { kind: "load", intervalMs, series: [], line: i + 1 };
      while (i + 1 < lines.length && lines[i + 1] !== "") {
        i++;
        const desc = parseSeriesLine(lines[i] ?? "", (reason) => fail(i, reason));
        const samples: LoadSample[] = [];
        desc.values.forEach((v, index) => {
          if (v !== undefined) samples.push({ index, t: index * intervalMs, value: v });
        });
        // A series defined twice in one block replaces the earlier definition (test.go keys by hash).
        const key = labelMapKey(desc.labels);
        const prev = cmd.series.findIndex((s) => labelMapKey(s.labels) === key);
        const series: LoadSeries = { labels: desc.labels, samples, line: i + 1 };
        if (prev >= 0) cmd.series[prev] = series;
        else cmd.series.push(series);
      }
      commands.push(cmd);
    } else if (word.startsWith("eval")) {
      const m = PAT_EVAL_INSTANT.exec(l);
      if (m === null) {
        fail(i, "invalid evaluation command. (eval[_fail|_ordered] instant [at <offset:duration>] <query>");
      }
      const mod = m?.[1];
      const at = m?.[2] ?? "";
      const expr = m?.[3] ?? "";
      let atMs = 0;
      try {
        atMs = parseDuration(at);
      } catch (e) {
        fail(i, `invalid step definition ${JSON.stringify(at)}: ${(e as Error).message}`);
      }
      const rawLine = raw[i] ?? "";
      const cmd: EvalCommand = {
        kind: "eval",
        mode: "instant",
        atMs,
        expr,
        exprColumn: rawLine.length - rawLine.trimStart().length + l.lastIndexOf(expr),
        expectFail: mod === "fail",
        ordered: mod === "ordered",
        expected: { kind: "vector", samples: [] },
        line: i + 1,
      };
      const samples: ExpectedSample[] = [];
      while (i + 1 < lines.length && lines[i + 1] !== "") {
        i++;
        const def = lines[i] ?? "";
        const scalar = parseGoNumber(def);
        if (scalar !== undefined) {
          // test.go stops reading expectations after a scalar.
          cmd.expected = { kind: "scalar", value: scalar, line: i + 1 };
          break;
        }
        const desc = parseSeriesLine(def, (reason) => fail(i, reason));
        if (desc.values.length > 1) fail(i, "expecting multiple values in instant evaluation not allowed");
        const value = desc.values[0];
        if (value === undefined) fail(i, "expected a value after the labels");
        samples.push({ labels: desc.labels, value: value as SampleValue, line: i + 1 });
      }
      if (cmd.expected.kind === "vector") cmd.expected.samples = samples;
      commands.push(cmd);
    } else {
      fail(i, `invalid command ${JSON.stringify(l)}`);
    }
  }
  return commands;
}

/** Stable identity of a label map, for de-duplication and comparisons. */
function labelMapKey(labels: LabelMap): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

interface SeriesDesc {
  labels: LabelMap;
  /** One entry per step; undefined = no sample at that step (`_`). */
  values: Array<SampleValue | undefined>;
}

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const STRING_RE = /^(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)/;
// No hexadecimal: Prometheus's lexer disallows it in series descriptions, so `0x10` is 0 repeated.
const NUM = String.raw`(?:inf|infinity|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)`;
const ITEM_RE = new RegExp(`^([+-]?${NUM})(?:([+-]${NUM})?x(\\d+))?$`, "i");

/** Parses `metric{l="v", …} v1 v2 …` (Prometheus's series description syntax, `parser.ParseSeriesDesc`). */
export function parseSeriesDesc(text: string): { labels: LabelMap; values: Array<SampleValue | undefined> } {
  return parseSeriesLine(text, (reason) => {
    throw new Error(reason);
  });
}

function parseSeriesLine(text: string, fail: (reason: string) => never): SeriesDesc {
  let rest = text;
  const labels: LabelMap = {};
  const name = METRIC_NAME_RE.exec(rest);
  if (name !== null) {
    labels.__name__ = name[0];
    rest = rest.slice(name[0].length);
  }
  if (rest.startsWith("{")) {
    rest = rest.slice(1).trimStart();
    while (!rest.startsWith("}")) {
      const ln = LABEL_NAME_RE.exec(rest);
      if (ln === null)
        fail(`unexpected ${JSON.stringify(rest.slice(0, 1))} in label set, expected label name`);
      const labelName = ln?.[0] ?? "";
      rest = rest.slice(labelName.length).trimStart();
      if (!rest.startsWith("=")) fail(`expected "=" after label name ${JSON.stringify(labelName)}`);
      rest = rest.slice(1).trimStart();
      const str = STRING_RE.exec(rest);
      if (str === null) fail(`expected a quoted label value for ${JSON.stringify(labelName)}`);
      const literal = str?.[0] ?? "";
      try {
        labels[labelName] = unquoteString(literal);
      } catch {
        fail(`invalid label value ${literal}`);
      }
      rest = rest.slice(literal.length).trimStart();
      if (rest.startsWith(",")) rest = rest.slice(1).trimStart();
      else if (!rest.startsWith("}")) fail(`unexpected ${JSON.stringify(rest.slice(0, 1))} in label set`);
    }
    rest = rest.slice(1);
  } else if (name === null) {
    fail(`unexpected ${JSON.stringify(rest.slice(0, 1))}, expected a metric name or label set`);
  }
  if (rest !== "" && !/^[\t ]/.test(rest))
    fail(`unexpected ${JSON.stringify(rest.slice(0, 1))} after labels`);
  // Allow a trailing `# comment` after the values (the labels have been consumed, so no quotes remain).
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const values: Array<SampleValue | undefined> = [];
  for (const item of rest.split(PAT_SPACE)) {
    if (item === "") continue;
    expandItem(item, values, fail);
  }
  return { labels, values };
}

function expandItem(
  item: string,
  out: Array<SampleValue | undefined>,
  fail: (reason: string) => never,
): void {
  if (item === "_") {
    out.push(undefined);
    return;
  }
  const blanks = /^_x(\d+)$/.exec(item);
  if (blanks !== null) {
    // `_xN` is N blanks (unlike `axN`, which is N+1 values).
    for (let k = 0; k < Number(blanks[1]); k++) out.push(undefined);
    return;
  }
  if (item === "stale") {
    out.push("stale");
    return;
  }
  const m = ITEM_RE.exec(item);
  const start = m === null ? undefined : parseGoNumber(m[1] ?? "");
  if (m === null || start === undefined) {
    fail(`unexpected ${JSON.stringify(item)} in series values, expected number or "stale"`);
    return;
  }
  if (m[3] === undefined) {
    out.push(start);
    return;
  }
  const step = m[2] === undefined ? 0 : parseGoNumber(m[2]);
  if (step === undefined) {
    fail(`invalid increment in ${JSON.stringify(item)}`);
    return;
  }
  const times = Number(m[3]);
  // Accumulate by repeated addition, as Prometheus does, so float results match bit for bit.
  let v = start;
  for (let k = 0; k <= times; k++) {
    out.push(v);
    v += step;
  }
}
