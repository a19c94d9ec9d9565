/**
 * Input generators for the fuzz suite: PromQL (grammar-aware, then mutated), query parameters,
 * alert and silence bodies, YAML documents for the config loaders, log lines. Each generator
 * leans towards inputs near the accepted language (valid keys with wrong types, real functions
 * with wrong arities) where bugs live, plus plain garbage and the issue's runaway shapes (now
 * that the engine runs isolated). Shapes that fail today are only generated with HEAVY (see
 * ./support.ts).
 */
import fc from "fast-check";
import { stringify } from "yaml";
import { HEAVY } from "./support.js";

// ---------------------------------------------------------------------------------------------
// Strings

const unicodeSamples = [
  "é",
  "ß",
  "日本",
  "🔥",
  "\u0000",
  "\u202e",
  "\ud800",
  "\uffff",
  "\t",
  "\n",
  "\\",
  '"',
  "'",
  "`",
];

/** Short text with the odd special or non-ASCII character. */
export const text = (maxLength = 24): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength }) },
    { weight: 1, arbitrary: fc.constantFrom(...unicodeSamples) },
  );

// ---------------------------------------------------------------------------------------------
// PromQL

const METRICS = [
  "http_requests_total",
  "http_request_duration_seconds_bucket",
  "http_request_duration_seconds_count",
  "process_resident_memory_bytes",
  "nodejs_eventloop_lag_seconds",
  "up",
  "ALERTS",
  "no_such_metric",
];
const LABELS = ["method", "route", "status_code", "le", "job", "instance", "__name__", "x"];
const LABEL_VALUES = ["GET", "POST", "200", "500", "/api/v1/users/me", "+Inf", "0.1", "", "tug-api"];

/** Regular expressions a backtracking engine runs in linear time on short values. */
const safeRegex: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.constantFrom(
        "a",
        "b",
        "G",
        "E",
        "T",
        "/",
        ".",
        "[a-z]",
        "[^x]",
        "\\d",
        "\\w",
        "(ab)",
        "(x|y)",
        "^",
        "$",
      ),
      fc.constantFrom("", "", "*", "+", "?", "{1,3}"),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.map(([a, q]) => (a === "^" || a === "$" ? a : a + q)).join(""));

/** Patterns RE2 refuses or that do not parse at all. */
const invalidRegex = fc.constantFrom(
  "(",
  "[",
  "*",
  "a{2,1}",
  "(?P<x>a)",
  "(a)\\1",
  "(?=a)",
  "(?<!a)b",
  "\\",
  "[z-a]",
  "(?i",
);

/** Catastrophic for a backtracking engine: exponential on a non-matching value. */
const evilRegex = fc.constantFrom("(a+)+b", "(.*a){12}", "(x+x+)+y", "(a|aa)+$", "(.*)*z");

export const regex: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: safeRegex },
  { weight: 1, arbitrary: invalidRegex },
  { weight: 1, arbitrary: evilRegex },
);

const quote = (s: string) => JSON.stringify(s);

const matcher: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...LABELS),
      fc.constantFrom("=", "!="),
      fc.oneof(fc.constantFrom(...LABEL_VALUES), text(12)),
    )
    .map(([n, op, v]) => `${n}${op}${quote(v)}`),
  fc
    .tuple(fc.constantFrom(...LABELS), fc.constantFrom("=~", "!~"), regex)
    .map(([n, op, v]) => `${n}${op}${quote(v)}`),
  // Odd forms: single quotes, backticks, missing value, bad operator.
  fc.constantFrom("method='GET'", "route=`/x`", "method=", '=~"a"', 'x=="1"', "x=~", '__name__=~".+"'),
);

const durationUnit = fc.constantFrom("ms", "s", "m", "h", "d", "w", "y");
const smallDuration: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("1s", "15s", "30s", "1m", "5m", "10m", "1h", "0s", "1ms", "1m30s"),
  fc.tuple(fc.integer({ min: 0, max: 90 }), fc.constantFrom("s", "m")).map(([n, u]) => `${n}${u}`),
);
const anyDuration: fc.Arbitrary<string> = fc.oneof(
  smallDuration,
  fc.tuple(fc.integer({ min: 0, max: 100_000 }), durationUnit).map(([n, u]) => `${n}${u}`),
  fc.constantFrom("1y", "100y", "-5m", "5", "1.5m", "1d2h", "999999999999y", "1h1h"),
);

/** Subquery ranges: cheap ones, any durations, and the issue's runaways (a day at 1 ms steps). */
const subquery: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "[5m:1m]",
      "[5m:30s]",
      "[10m:1m]",
      "[1h:1m]",
      "[1h:15s]",
      "[5m:]",
      "[1m:1s]",
      "[2m:1s]",
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(anyDuration, fc.oneof(anyDuration, fc.constant(""))).map(([r, st]) => `[${r}:${st}]`),
  },
  { weight: 1, arbitrary: fc.constantFrom("[1d:1ms]", "[1h:1s]", "[7d:1s]", "[30d:1m]") },
);

const atModifier = fc.constantFrom(
  "",
  "",
  "",
  " @ 1700000000",
  " @ start()",
  " @ end()",
  " @ -1",
  " @ 1e10",
  " @ 0x10",
);
const offsetModifier = fc.constantFrom("", "", "", " offset 5m", " offset -1h", " offset 1y", " offset 0s");

const selector: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...METRICS) },
      { weight: 1, arbitrary: fc.constant("") },
    ),
    fc.array(matcher, { maxLength: 3 }),
  )
  .map(([m, ms]) => (ms.length === 0 && m !== "" ? m : `${m}{${ms.join(",")}}`));

const rangeSelector: fc.Arbitrary<string> = fc
  .tuple(selector, anyDuration, atModifier, offsetModifier)
  .map(([s, d, at, off]) => `${s}[${d}]${at}${off}`);

const number = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.constantFrom("0.5", "1e3", "-0", "Inf", "-Inf", "NaN", "0x1f", "1e400", "0.95", "99"),
);
const stringLiteral = fc.oneof(text(10), fc.constantFrom(...LABELS), safeRegex).map(quote);

const FUNCTIONS = [
  "abs",
  "absent",
  "absent_over_time",
  "avg_over_time",
  "ceil",
  "changes",
  "clamp",
  "clamp_max",
  "clamp_min",
  "count_over_time",
  "day_of_month",
  "delta",
  "deriv",
  "exp",
  "floor",
  "histogram_quantile",
  "holt_winters",
  "idelta",
  "increase",
  "irate",
  "label_join",
  "label_replace",
  "last_over_time",
  "ln",
  "max_over_time",
  "min_over_time",
  "predict_linear",
  "quantile_over_time",
  "rate",
  "resets",
  "round",
  "scalar",
  "sort",
  "sort_desc",
  "sqrt",
  "stddev_over_time",
  "sum_over_time",
  "time",
  "timestamp",
  "vector",
  "year",
  "no_such_fn",
];
const AGGREGATIONS = [
  "sum",
  "avg",
  "min",
  "max",
  "count",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "quantile",
  "count_values",
  "group",
];
const BINARY = [
  "+",
  "-",
  "*",
  "/",
  "%",
  "^",
  "==",
  "!=",
  ">",
  "<",
  ">=",
  "<=",
  "and",
  "or",
  "unless",
  "atan2",
];

/** Grammar-aware PromQL: a mix of valid expressions and near misses (wrong arities, odd modifiers). */
export const promql: fc.Arbitrary<string> = fc.letrec<{ expr: string }>((tie) => {
  const expr = tie("expr");
  return {
    expr: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      {
        weight: 4,
        arbitrary: selector.chain((s) =>
          fc.tuple(atModifier, offsetModifier).map(([a, o]) => `${s}${a}${o}`),
        ),
      },
      { weight: 2, arbitrary: number },
      { weight: 1, arbitrary: stringLiteral },
      { weight: 3, arbitrary: rangeSelector },
      {
        weight: 3,
        arbitrary: fc
          .tuple(
            fc.constantFrom(...FUNCTIONS),
            fc.array(fc.oneof(expr, rangeSelector, stringLiteral, number), { maxLength: 4 }),
          )
          .map(([f, args]) => `${f}(${args.join(", ")})`),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            fc.constantFrom(...AGGREGATIONS),
            fc.constantFrom(
              "",
              " by (method)",
              " without (route)",
              " by ()",
              " by (le, x)",
              " by (__name__)",
            ),
            fc.option(number, { nil: undefined }),
            expr,
          )
          .map(([a, g, p, e]) => `${a}${g}(${p === undefined ? "" : `${p}, `}${e})`),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            expr,
            fc.constantFrom(...BINARY),
            fc.constantFrom(
              "",
              "",
              " bool",
              " on(method)",
              " ignoring(le)",
              " on(method) group_left(route)",
              " on() group_right",
            ),
            expr,
          )
          .map(([l, op, mod, r]) => `${l} ${op}${mod} ${r}`),
      },
      { weight: 1, arbitrary: expr.map((e) => `(${e})`) },
      { weight: 1, arbitrary: expr.map((e) => `-${e}`) },
      {
        weight: 1,
        // A subquery of a subquery multiplies the steps: heavy only.
        arbitrary: fc
          .tuple(expr, subquery, atModifier, offsetModifier)
          .map(([e, s, a, o]) => `(${e})${s}${a}${o}`),
      },
    ),
  };
}).expr;

/** Queries the suite starts mutations from: the kinds Grafana and the rule files send. */
const CORPUS = [
  "sum by (route) (rate(http_requests_total[5m]))",
  'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{route!="/monitoring/metrics"}[5m])))',
  'sum(rate(http_requests_total{status_code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.1',
  'label_replace(up, "x", "$1", "job", "(.*)")',
  "max_over_time(process_resident_memory_bytes[1h:1m])",
  "topk(3, count by (route) (http_requests_total)) or vector(0)",
  "avg_over_time(nodejs_eventloop_lag_seconds[5m] offset 1h) @ end()",
];

type Mutation =
  | { op: "insert"; at: number; s: string }
  | { op: "delete"; at: number; n: number }
  | { op: "dup"; at: number; n: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    s: fc.oneof(
      fc.constantFrom(
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        '"',
        "=~",
        " by ",
        "[5m]",
        "@",
        "offset",
        ":",
        "\\",
        "\u0000",
      ),
      text(3),
    ),
  }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ op: fc.constant("dup" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 12 }) }),
);

function mutate(q: string, muts: Mutation[]): string {
  let s = q;
  for (const m of muts) {
    const at = s.length === 0 ? 0 : m.at % (s.length + 1);
    if (m.op === "insert") s = s.slice(0, at) + m.s + s.slice(at);
    else if (m.op === "delete") s = s.slice(0, at) + s.slice(at + m.n);
    else s = s.slice(0, at) + s.slice(at, at + m.n).repeat(2) + s.slice(at + m.n);
  }
  return s;
}

/** Corpus queries and generated ones, with a few random edits. */
const mutated: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(fc.constantFrom(...CORPUS), promql), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([q, muts]) => mutate(q, muts));

/** Inputs no grammar would produce: garbage, deep nesting, very long strings. */
const garbage: fc.Arbitrary<string> = fc.oneof(
  text(80),
  fc.string({ unit: fc.constantFrom(..."(){}[]\"',=~!@:+-*/^<>0123456789abc_ \n"), maxLength: 120 }),
  fc.integer({ min: 1, max: 20_000 }).map((n) => `${"(".repeat(n)}1${")".repeat(n)}`),
  fc.integer({ min: 1, max: 20_000 }).map((n) => `${"-".repeat(n)}1`),
  fc.integer({ min: 1, max: 5_000 }).map((n) => Array.from({ length: n }, () => "1").join(" + ")),
  fc.integer({ min: 1_000, max: 200_000 }).map((n) => "a".repeat(n)),
  fc
    .integer({ min: 1, max: 2_000 })
    .map((n) => `up{${Array.from({ length: n }, (_, i) => `l${i}="v"`).join(",")}}`),
  fc.integer({ min: 1, max: 10_000 }).map((n) => `"${"\\u00e9".repeat(n)}"`),
);

export const anyQuery: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: promql },
  { weight: 3, arbitrary: mutated },
  { weight: 2, arbitrary: garbage },
);

/** Values for time, start, end, step and timeout: valid, odd and invalid. */
export function timeParam(nowSec: number): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: fc.integer({ min: -7200, max: 600 }).map((d) => String(nowSec + d)) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: -7200, max: 600 }).map((d) => new Date((nowSec + d) * 1000).toISOString()),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "",
        "abc",
        "NaN",
        "Inf",
        "-Inf",
        "1e400",
        "-1",
        "0",
        "0x10",
        "1e2",
        "2024-13-45T99:00:00Z",
        "9999999999999",
        " 1 ",
      ),
    },
  );
}

export interface RangeParams {
  start: string | undefined;
  end: string | undefined;
  step: string | undefined;
}

/** start/end/step: a few hundred points, invalid combinations, and millions of points. */
export function rangeParams(nowSec: number): fc.Arbitrary<RangeParams> {
  const bounded = fc
    .tuple(
      fc.integer({ min: 0, max: 3600 }),
      fc.integer({ min: 60, max: 1800 }),
      fc.constantFrom(15, 30, 60, 120),
    )
    .map(([back, len, step]) => ({
      start: String(nowSec - back - len),
      end: String(nowSec - back),
      step: String(Math.max(step, Math.ceil(len / 300))),
    }));
  const invalid = fc.record({
    start: timeParam(nowSec),
    end: timeParam(nowSec),
    step: fc.oneof(
      fc.constant(undefined),
      fc.constantFrom("0", "-15", "abc", "1m", "15", "0.001s", "NaN", "1e400", ""),
    ),
  });
  const heavy = fc.constantFrom(
    { start: "0", end: String(nowSec), step: "1" },
    { start: String(nowSec - 86_400), end: String(nowSec), step: "0.001" },
    { start: "-9999999999", end: "9999999999", step: "1" },
  );
  return fc.oneof(
    { weight: 3, arbitrary: bounded },
    { weight: 2, arbitrary: invalid },
    { weight: 1, arbitrary: heavy },
  );
}

export const timeoutParam: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("200ms", "0.2", "100ms", "1s", "50ms") },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom("0", "-1s", "abc", "1e400", "0.000000001", "10y", "") },
);

// ---------------------------------------------------------------------------------------------
// Alert and silence bodies

const LABEL_NAMES = [
  "alertname",
  "severity",
  "service",
  "instance",
  "team",
  "bad-name",
  "1x",
  "__name__",
  "",
  "é",
];
const labelName = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...LABEL_NAMES) },
  { weight: 1, arbitrary: text(12) },
);
const labelValue = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "DatabaseDown",
      "HighErrorRate",
      "critical",
      "warning",
      "api",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac",
    ),
  },
  { weight: 2, arbitrary: text(20) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 100_000 }).map((n) => "v".repeat(n)) },
);

/** A value of any JSON type (wrong types are the point). */
const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 3 });

const timestamp: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -3_600_000, max: 7 * 86_400_000 }).map((d) => new Date(Date.now() + d).toISOString()),
  fc.constantFrom(
    "yesterday",
    "",
    "2024-02-30T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "+275760-09-13T00:00:00.001Z",
    "2026-01-01T00:00:00+25:00",
  ),
  fc.integer(),
  fc.constant(null),
  anyJson,
);

const labels: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.dictionary(labelName, labelValue, { maxKeys: 6 }) },
  { weight: 1, arbitrary: fc.dictionary(labelName, anyJson, { maxKeys: 4 }) },
  { weight: 1, arbitrary: anyJson },
);

const randomAlert: fc.Arbitrary<unknown> = fc.record(
  {
    labels,
    annotations: fc.oneof(fc.dictionary(text(12), text(40), { maxKeys: 4 }), anyJson),
    startsAt: timestamp,
    endsAt: timestamp,
    generatorURL: fc.oneof(fc.webUrl(), text(30), anyJson),
  },
  { requiredKeys: [] },
);

/** One field of a valid object replaced by an odd or wrong value (or none: valid as it is). */
function nearValid(valid: fc.Arbitrary<Record<string, unknown>>, odd: Record<string, fc.Arbitrary<unknown>>) {
  const keys = Object.keys(odd);
  return fc
    .tuple(
      valid,
      fc.option(fc.constantFrom(...keys), { nil: undefined, freq: 2 }),
      fc.tuple(...keys.map((k) => odd[k] as fc.Arbitrary<unknown>)),
    )
    .map(([v, key, values]) => {
      if (key === undefined) return v;
      const copy: Record<string, unknown> = { ...v };
      const value = values[keys.indexOf(key)];
      if (value === undefined) delete copy[key];
      else copy[key] = value;
      return copy;
    });
}

const validLabelName = fc.oneof(
  fc.constantFrom("alertname", "severity", "service", "instance", "team"),
  fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/),
);
const future = fc
  .integer({ min: 60_000, max: 7 * 86_400_000 })
  .map((d) => new Date(Date.now() + d).toISOString());

const validAlert = fc.record(
  {
    labels: fc
      .tuple(labelValue, fc.dictionary(validLabelName, labelValue, { maxKeys: 4 }))
      .map(([name, rest]) => ({ ...rest, alertname: name === "" ? "Fuzz" : name })),
    annotations: fc.dictionary(validLabelName, text(40), { maxKeys: 3 }),
    startsAt: fc.integer({ min: -3_600_000, max: 0 }).map((d) => new Date(Date.now() + d).toISOString()),
    endsAt: future,
    generatorURL: fc.webUrl(),
  },
  { requiredKeys: ["labels"] },
);

export const postableAlert: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 3,
    arbitrary: nearValid(validAlert, {
      labels,
      annotations: anyJson,
      startsAt: timestamp,
      endsAt: timestamp,
      generatorURL: fc.oneof(text(30), anyJson),
    }),
  },
  { weight: 1, arbitrary: randomAlert },
);

export const alertsBody: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.array(postableAlert, { maxLength: 10 }) },
  // Floods, beyond the intake's per-request bound.
  { weight: 1, arbitrary: fc.array(postableAlert, { minLength: 100, maxLength: 2_000 }) },
  { weight: 1, arbitrary: anyJson },
  { weight: 1, arbitrary: fc.array(anyJson, { maxLength: 5 }) },
);

const silenceMatcher: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        name: fc.oneof(labelName, anyJson),
        value: fc.oneof(labelValue, regex, anyJson),
        isRegex: fc.oneof(fc.boolean(), anyJson),
        isEqual: fc.oneof(fc.boolean(), anyJson),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: anyJson },
);

const validMatcher = fc.oneof(
  fc.record({
    name: validLabelName,
    value: labelValue.filter((v) => v !== ""),
    isRegex: fc.constant(false),
    isEqual: fc.boolean(),
  }),
  fc.record({
    name: validLabelName,
    value: safeRegex.filter((v) => v !== "" && !new RegExp(`^(?:${v})$`).test("")),
    isRegex: fc.constant(true),
    isEqual: fc.boolean(),
  }),
);

const validSilence = fc.record(
  {
    matchers: fc.array(validMatcher, { minLength: 1, maxLength: 3 }),
    startsAt: fc
      .integer({ min: -3_600_000, max: 3_600_000 })
      .map((d) => new Date(Date.now() + d).toISOString()),
    endsAt: future,
    createdBy: text(30).filter((x) => x.trim() !== ""),
    comment: text(60).filter((x) => x.trim() !== ""),
  },
  { requiredKeys: ["matchers", "endsAt", "createdBy", "comment"] },
);

export const silenceBody: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: nearValid(validSilence, {
      id: fc.oneof(fc.uuid(), text(20), anyJson),
      matchers: fc.oneof(fc.array(silenceMatcher, { maxLength: 5 }), anyJson),
      startsAt: timestamp,
      endsAt: timestamp,
      createdBy: fc.oneof(text(30), anyJson),
      comment: fc.oneof(
        text(60),
        fc.integer({ min: 1000, max: 200_000 }).map((n) => "c".repeat(n)),
        anyJson,
      ),
      extra: anyJson,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        id: fc.oneof(fc.uuid(), text(20), anyJson),
        matchers: fc.oneof(fc.array(silenceMatcher, { maxLength: 5 }), anyJson),
        startsAt: timestamp,
        endsAt: timestamp,
        createdBy: fc.oneof(text(30), anyJson),
        comment: fc.oneof(
          text(60),
          fc.integer({ min: 1000, max: 200_000 }).map((n) => "c".repeat(n)),
          anyJson,
        ),
        extra: anyJson,
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: anyJson },
);

/** Request bodies that are not JSON at all, or are broken JSON, sent as application/json. */
export const rawBody: fc.Arbitrary<string> = fc.oneof(
  text(40),
  fc.constantFrom(
    "",
    "{",
    "[",
    "null",
    "{}",
    "[]",
    '{"matchers":',
    "\u0000",
    '{"a":1}{"b":2}',
    "[".repeat(10_000),
    '{"__proto__":{"x":1}}',
  ),
  fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)),
);

// ---------------------------------------------------------------------------------------------
// YAML documents

/** A value of the wrong type for a setting, or an odd one of the right type. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    1e308,
    "",
    "yes",
    "0x10",
    "1e2",
    "Infinity",
    "NaN",
    [],
    {},
    "~",
  ),
  fc.integer(),
  text(20),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(text(8), fc.integer(), { maxKeys: 3 }),
);

function paths(obj: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  if (obj && typeof obj === "object" && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) {
      out.push([...prefix, k]);
      paths(v, [...prefix, k], out);
    }
  }
  return out;
}

function setAt(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur: Record<string, unknown> = obj;
  for (const k of path.slice(0, -1)) {
    const next = cur[k];
    if (!next || typeof next !== "object" || Array.isArray(next)) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1] as string] = value;
}

/**
 * Documents shaped like `base` (a valid document of the format): some settings set to wrong
 * values, unknown keys added, sub-trees replaced by deep nesting, then serialised.
 */
export function yamlLike(base: unknown): fc.Arbitrary<string> {
  const known = paths(base);
  const edit = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...known), wrongValue) },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.constantFrom(...known).map((p) => [...p, "unknownKey"]),
        wrongValue,
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(
        text(10).map((k) => [k]),
        wrongValue,
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.constantFrom(...known),
        fc.integer({ min: 10, max: 300 }).map((n) => {
          let v: unknown = 1;
          for (let i = 0; i < n; i++) v = i % 2 ? [v] : { k: v };
          return v;
        }),
      ),
    },
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    const doc = structuredClone(base) as Record<string, unknown>;
    for (const [p, v] of edits) setAt(doc, p as string[], v);
    return stringify(doc);
  });
}

/** Texts no serialiser produces: alias bombs, broken syntax, tags, deep flow nesting. */
export const yamlOddities: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 2, max: 9 }).map(aliasBomb),
  fc.constantFrom(
    "a: &a [*a]\n",
    "server: &s\n  port: *s\n",
    "? [a, b]\n: c\n",
    "server: !!binary aGVsbG8=\n",
    "server: !custom {port: 1}\n",
    "%YAML 1.1\n---\nserver: {port: 1}\n",
    "---\na: 1\n---\nb: 2\n",
    "server:\n\tport: 1\n",
    "server: {port: 1, port: 2}\n",
    "<<: {server: {port: 1}}\n",
    "server:\n  <<: *nope\n",
    "\ufeffserver: {}\n",
    "groups:\n  - name: g\n    rules: &r\n      - record: a\n        expr: up\n  - name: h\n    rules: *r\n",
  ),
  // A route that contains itself: the Alertmanager config parser recurses until the stack
  // overflows (RangeError). HEAVY only until it refuses the cycle with a ConfigError.
  ...(HEAVY ? [fc.constant("route: &r\n  receiver: x\n  routes: [*r]\n")] : []),
  // Deep nesting (the parser's recursion) and big scalars, sized so the budget buys many
  // inputs: a few thousand levels already exhaust the parser's stack.
  fc.integer({ min: 100, max: 6_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}\n`),
  fc.integer({ min: 100, max: 6_000 }).map((n) => `${"{a: ".repeat(n)}1${"}".repeat(n)}\n`),
  fc
    .integer({ min: 50, max: 800 })
    .map((n) => Array.from({ length: n }, (_, i) => `${"  ".repeat(i)}k${i}:`).join("\n")),
  fc.integer({ min: 1_000, max: 100_000 }).map((n) => `server:\n  host: ${"x".repeat(n)}\n`),
  text(200),
);

/** "Billion laughs": `levels` levels of 9 aliases each to the level below. */
export function aliasBomb(levels: number): string {
  const lines = ['a0: &a0 ["lol"]'];
  for (let i = 1; i <= levels; i++) {
    lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(", ")}]`);
  }
  lines.push(`bomb: *a${levels}`);
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// Log lines

/**
 * The longest generated line. The analyzer's tap reads 16 KiB of a line at most; the miner (the
 * CLI's path) reads all of it, and its refine re-scans every stored signature, so lines of a
 * megabyte make single lines cost seconds there: 1 MB lines are HEAVY only.
 */
const HUGE_LINE = HEAVY ? 1_000_000 : 20_000;

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

const pinoLine: fc.Arbitrary<string> = fc
  .record(
    {
      level: fc.oneof(fc.constantFrom(10, 20, 30, 40, 50, 60, "info", "error", "WARN"), anyJson),
      time: fc.oneof(fc.integer(), fc.constantFrom("x", "2026-01-01T00:00:00Z")),
      msg: fc.oneof(
        text(60),
        fc.constantFrom(
          "request completed",
          "request failed",
          "slow query",
          "user 17 logged in from 10.0.0.7",
        ),
        anyJson,
      ),
      reqId: fc.oneof(fc.uuid(), text(8)),
      event: fc.constantFrom("access", "slow_query", "x"),
      route: fc.oneof(fc.constantFrom("/api/v1/users/:id", "__unmatched__"), text(20), anyJson),
      statusCode: fc.oneof(fc.integer({ min: 100, max: 599 }), anyJson),
      durationMs: fc.oneof(fc.double(), anyJson),
      sql: fc.oneof(text(60), fc.constantFrom("SELECT * FROM users WHERE id IN (1, 2, 3) AND note = 'x'")),
      err: fc.oneof(
        fc.record(
          {
            type: fc.oneof(fc.constantFrom("TypeError", "Error"), text(10)),
            message: text(40),
            stack: fc.oneof(
              text(80),
              fc.constantFrom("Error: boom\n    at f (/app/x.js:1:1)\n    at g (node:internal/x:2:2)"),
            ),
          },
          { requiredKeys: [] },
        ),
        anyJson,
      ),
      extra: anyJson,
    },
    { requiredKeys: ["msg"] },
  )
  .map((o) => JSON.stringify(o));

export const logLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: pinoLine },
  { weight: 2, arbitrary: text(120) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 2_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 100_000 }).map(nested) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 100, max: 100_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.integer({ min: 10_000, max: HUGE_LINE }),
        fc.constantFrom("a", "1 ", "x=1 ", "\\", '"', "<*> ", "ab12 "),
      )
      .map(
        ([n, unit]) =>
          `{"level":50,"msg":"${unit.repeat(Math.ceil(n / unit.length)).replace(/[\\"]/g, "\\$&")}"}`,
      ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 10_000, max: HUGE_LINE }).map((n) => "w ".repeat(n / 2)) },
);

/**
 * Several long messages of one shape (same word count and first word, so one partition of the
 * miner) with letter-only words (digits would be masked) from a small vocabulary: the miner's
 * refine compares columns pairwise (tiedToAnother), quadratic in the words per line. HEAVY only
 * until that is bounded: 50 such lines of ~1,300 words held one ingest for 2.7 s with a cap of
 * 40 signatures and for 17.8 s with the server's default cap.
 */
export const sameShapeLines: fc.Arbitrary<string[]> = fc
  .tuple(
    fc.integer({ min: 1_000, max: 2_600 }),
    fc.integer({ min: 30, max: 60 }),
    fc.integer({ min: 16, max: 64 }),
    fc.nat(),
  )
  .map(([words, lines, vocabulary, seed]) => {
    let x = seed;
    const next = () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x % vocabulary;
    };
    return Array.from({ length: lines }, () =>
      JSON.stringify({
        level: 30,
        msg: `start ${Array.from({ length: words }, () => {
          const k = next();
          return `w${String.fromCharCode(97 + (k % 26), 97 + Math.floor(k / 26))}`;
        }).join(" ")}`,
      }),
    );
  });
