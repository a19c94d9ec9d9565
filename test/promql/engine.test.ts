import { describe, expect, it } from "vitest";
import { evaluateInstant, evaluateRange } from "../../src/promql/engine.js";
import { PromQLParseError } from "../../src/promql/parse.js";
import { almostEqual, runTestFile } from "../../src/promql/runner.js";
import { formatFloatPlain, PromQLEvalError, type Value } from "../../src/promql/value.js";
import { compileRE2, labelsFromObject, labelsToString, SeriesStore } from "../../src/tsdb/index.js";

type Points = Array<[number, number | "stale"]>;

function store(series: Record<string, { labels: Record<string, string>; points: Points }>): SeriesStore {
  const s = new SeriesStore();
  for (const { labels, points } of Object.values(series)) {
    const ls = labelsFromObject(labels);
    const ref = s.getOrCreate(ls);
    if (typeof ref !== "number") throw new Error(ref);
    for (const [t, v] of points) {
      const r = v === "stale" ? s.appendStale(ref, t) : s.appendRef(ref, t, v);
      if (r !== "ok") throw new Error(r);
    }
  }
  return s;
}

/** The result as `labels => value` lines, in result order. */
function show(v: Value): string[] | number {
  if (v.type === "scalar") return v.value;
  if (v.type !== "vector") throw new Error(`unexpected ${v.type}`);
  return v.samples.map((s) => `${labelsToString(s.labels)} ${s.value}`);
}

const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
};

describe("instant vector selection", () => {
  const db = store({
    a: {
      labels: { __name__: "m", job: "x" },
      points: [
        [0, 1],
        [60_000, 2],
        [120_000, "stale"],
        [180_000, 3],
      ],
    },
  });

  it("takes the latest sample within the 5m lookback (window closed at both ends, as in 2.42)", () => {
    expect(show(evaluateInstant("m", 60_000, db))).toEqual(['m{job="x"} 2']);
    expect(show(evaluateInstant("m", 90_000, db))).toEqual(['m{job="x"} 2']);
    expect(show(evaluateInstant("m", 480_000, db))).toEqual(['m{job="x"} 3']);
    expect(show(evaluateInstant("m", 480_001, db))).toEqual([]);
  });

  it("returns nothing while the latest sample is a staleness marker", () => {
    expect(show(evaluateInstant("m", 120_000, db))).toEqual([]);
    expect(show(evaluateInstant("m", 179_999, db))).toEqual([]);
    expect(show(evaluateInstant("m", 180_000, db))).toEqual(['m{job="x"} 3']);
  });

  it("drops staleness markers from range vectors and never computes with them", () => {
    expect(show(evaluateInstant("count_over_time(m[5m])", 180_000, db))).toEqual(['{job="x"} 3']);
    expect(show(evaluateInstant("sum_over_time(m[5m])", 180_000, db))).toEqual(['{job="x"} 6']);
  });

  it("applies offset and @ (including start() and end() in range queries)", () => {
    expect(show(evaluateInstant("m offset 2m", 180_000, db))).toEqual(['m{job="x"} 2']);
    expect(show(evaluateInstant("m offset -2m", 0, db))).toEqual([]);
    expect(show(evaluateInstant("m offset -1m", 0, db))).toEqual(['m{job="x"} 2']);
    expect(show(evaluateInstant("m @ 60", 1_000_000, db))).toEqual(['m{job="x"} 2']);
    expect(show(evaluateInstant("m @ 120 offset 1m", 1_000_000, db))).toEqual(['m{job="x"} 2']);
    const r = evaluateRange("m @ start() + m @ end()", 0, 180_000, 60_000, db);
    expect(r.series.map((s) => [labelsToString(s.labels), s.values])).toEqual([['{job="x"}', [4, 4, 4, 4]]]);
  });
});

describe("rate extrapolation", () => {
  // A counter scraped every 60s from t=30s: 10, 20, 30, 40, 50.
  const points: Points = [30, 90, 150, 210, 270].map((s, i) => [s * 1000, 10 * (i + 1)]);
  const db = store({ c: { labels: { __name__: "c" }, points } });

  it("extrapolates to the window edges when the gaps are under 1.1 sample intervals", () => {
    // 40 over 240s sampled; 30s gaps at both ends are extrapolated: 40 * 300 / 240 = 50.
    expect(show(evaluateInstant("increase(c[5m])", 300_000, db))).toEqual(["{} 50"]);
    expect(show(evaluateInstant("rate(c[5m])", 300_000, db))).toEqual([`{} ${50 / 300}`]);
    expect(show(evaluateInstant("delta(c[5m])", 300_000, db))).toEqual(["{} 50"]);
  });

  it("does not extrapolate a counter below zero, and handles resets", () => {
    const zero = store({
      c: { labels: { __name__: "c" }, points: points.map(([t, v]) => [t, (v as number) - 10]) },
    });
    // durationToZero = 0: only the end gap is added: 40 * 270 / 240 = 45.
    expect(show(evaluateInstant("increase(c[5m])", 300_000, zero))).toEqual(["{} 45"]);
    const reset = store({
      c: {
        labels: { __name__: "c" },
        points: [
          [0, 5],
          [60_000, 10],
          [120_000, 2],
          [180_000, 6],
        ],
      },
    });
    // 6 - 5 + 10 (the reset) = 11 over 180s, 120s left at the end is beyond 1.1×60s: +30s.
    expect(show(evaluateInstant("increase(c[5m])", 300_000, reset))).toEqual([`{} ${(11 * 210) / 180}`]);
    expect(show(evaluateInstant("resets(c[5m])", 300_000, reset))).toEqual(["{} 1"]);
    expect(show(evaluateInstant("irate(c[5m])", 300_000, reset))).toEqual([`{} ${4 / 60}`]);
  });

  it("needs two samples", () => {
    expect(show(evaluateInstant("rate(c[1m])", 300_000, db))).toEqual([]);
  });
});

describe("subqueries", () => {
  const empty = new SeriesStore();

  it("aligns steps to absolute multiples of the step", () => {
    // [150s - 300s, 150s] holds -120, -60, 0, 60, 120.
    expect(show(evaluateInstant("count_over_time(vector(1)[5m:1m])", 150_000, empty))).toEqual(["{} 5"]);
    // [-180s, 120s] holds both ends.
    expect(show(evaluateInstant("count_over_time(vector(1)[5m:1m])", 120_000, empty))).toEqual(["{} 6"]);
    // Offset 1m: [-210s, 90s] holds -180, -120, -60, 0, 60.
    expect(
      show(evaluateInstant("sum_over_time(timestamp(vector(1))[5m:1m] offset 1m)", 150_000, empty)),
    ).toEqual(["{} -300"]);
  });

  it("uses the default 1m step when none is given", () => {
    expect(show(evaluateInstant("count_over_time(vector(1)[3m:])", 180_000, empty))).toEqual(["{} 4"]);
  });
});

describe("binary operators", () => {
  const db = store({
    a: { labels: { __name__: "req", job: "api", code: "200" }, points: [[0, 10]] },
    b: { labels: { __name__: "req", job: "api", code: "500" }, points: [[0, 2]] },
    c: { labels: { __name__: "limit", job: "api", tier: "gold" }, points: [[0, 100]] },
    d: { labels: { __name__: "limit", job: "web", tier: "gold" }, points: [[0, 50]] },
  });

  it("matches many-to-one with group_left and copies the extra labels", () => {
    expect(show(evaluateInstant("req / on(job) group_left(tier) limit", 0, db))).toEqual([
      '{code="200",job="api",tier="gold"} 0.1',
      '{code="500",job="api",tier="gold"} 0.02',
    ]);
  });

  it("refuses implicit many-to-one and many-to-many matching, with Prometheus's messages", () => {
    expect(errorOf(() => evaluateInstant("req / on(job) limit", 0, db)).message).toBe(
      "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
    );
    const e = errorOf(() => evaluateInstant("req * on(tier) group_left limit", 0, db));
    expect(e).toBeInstanceOf(PromQLEvalError);
    expect(e.message).toBe(
      'found duplicate series for the match group {tier="gold"} on the right hand-side of the operation: ' +
        '[{__name__="limit", job="web", tier="gold"}, {__name__="limit", job="api", tier="gold"}]' +
        ";many-to-many matching not allowed: matching labels must be unique on one side",
    );
  });

  it("filters on comparisons but returns 0/1 without the name with bool", () => {
    expect(show(evaluateInstant("req > 5", 0, db))).toEqual(['req{code="200",job="api"} 10']);
    expect(show(evaluateInstant("5 < req", 0, db))).toEqual(['req{code="200",job="api"} 10']);
    expect(show(evaluateInstant("req > bool 5", 0, db))).toEqual([
      '{code="200",job="api"} 1',
      '{code="500",job="api"} 0',
    ]);
    expect(show(evaluateInstant("2 > bool 1", 0, db))).toBe(1);
  });

  it("implements and / or / unless on label signatures", () => {
    expect(show(evaluateInstant("limit and on(job) req", 0, db))).toEqual([
      'limit{job="api",tier="gold"} 100',
    ]);
    expect(show(evaluateInstant("limit unless on(job) req", 0, db))).toEqual([
      'limit{job="web",tier="gold"} 50',
    ]);
    expect(show(evaluateInstant('req{code="500"} or on(job) limit', 0, db))).toEqual([
      'req{code="500",job="api"} 2',
      'limit{job="web",tier="gold"} 50',
    ]);
  });

  it("rejects results with duplicate label sets after dropping the name", () => {
    const two = store({
      a: { labels: { __name__: "x", k: "v" }, points: [[0, 1]] },
      b: { labels: { __name__: "y", k: "v" }, points: [[0, 1]] },
      c: { labels: { __name__: "z", k: "v" }, points: [[0, 1]] },
    });
    expect(errorOf(() => evaluateInstant('{__name__=~"x|y"} + on(k) group_left z', 0, two)).message).toBe(
      "multiple matches for labels: grouping labels must ensure unique matches",
    );
    expect(show(evaluateInstant('{__name__=~"x|y"} > on(k) group_left z', 0, two))).toEqual([]);
    expect(errorOf(() => evaluateInstant('-{__name__=~"x|y"}', 0, two)).message).toBe(
      "vector cannot contain metrics with the same labelset",
    );
  });
});

describe("aggregations and functions", () => {
  const db = store({
    a: { labels: { __name__: "m", g: "a", i: "1" }, points: [[0, 1]] },
    b: { labels: { __name__: "m", g: "a", i: "2" }, points: [[0, 3]] },
    c: { labels: { __name__: "m", g: "b", i: "3" }, points: [[0, 3]] },
  });

  it("groups by and without", () => {
    expect(show(evaluateInstant("sum by (g) (m)", 0, db))).toEqual(['{g="a"} 4', '{g="b"} 3']);
    expect(show(evaluateInstant("max without (i) (m)", 0, db))).toEqual(['{g="a"} 3', '{g="b"} 3']);
    expect(show(evaluateInstant("count_values without (i) ('v', m)", 0, db))).toEqual([
      '{g="a",v="1"} 1',
      '{g="a",v="3"} 1',
      '{g="b",v="3"} 1',
    ]);
    // Ties resolve as Go's container/heap leaves them.
    expect(show(evaluateInstant("topk(2, m)", 0, db))).toEqual(['m{g="b",i="3"} 3', 'm{g="a",i="2"} 3']);
    expect(show(evaluateInstant("bottomk by (g) (1, m)", 0, db))).toEqual([
      'm{g="a",i="1"} 1',
      'm{g="b",i="3"} 3',
    ]);
    expect(show(evaluateInstant("quantile(0.5, m)", 0, db))).toEqual(["{} 3"]);
    expect(show(evaluateInstant("stddev(m)", 0, db))).toEqual([`{} ${Math.sqrt(8 / 9)}`]);
  });

  it("matches regexes with RE2 inline flags and replaces labels", () => {
    expect(show(evaluateInstant('m{g=~"(?i:A)"}', 0, db))).toHaveLength(2);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Go regexp template, not JS.
    expect(show(evaluateInstant('label_replace(m{i="1"}, "d", "$1-${2}x", "g", "(.)()")', 0, db))).toEqual([
      'm{d="a-x",g="a",i="1"} 1',
    ]);
    expect(errorOf(() => evaluateInstant('label_replace(m, "d", "", "g", "(")', 0, db))).toBeInstanceOf(
      PromQLEvalError,
    );
  });

  it("reports absent series with the selector's equality labels", () => {
    expect(show(evaluateInstant('absent(nope{job="x", g=~"y"})', 0, db))).toEqual(['{job="x"} 1']);
    expect(show(evaluateInstant("absent(m)", 0, db))).toEqual([]);
  });
});

describe("errors and values", () => {
  const empty = new SeriesStore();

  it("throws parse errors that read like Prometheus's", () => {
    const e = errorOf(() => evaluateInstant("sum(", 0, empty));
    expect(e).toBeInstanceOf(PromQLParseError);
    expect(e.message).toMatch(/^1:\d+: parse error: /);
  });

  it("reports bad regexes: a selector's at parse time, label_replace's at evaluation", () => {
    expect(errorOf(() => evaluateInstant('foo{a=~"("}', 0, empty)).message).toBe(
      "1:5: parse error: error parsing regexp: missing closing ): `^(?:()$`",
    );
    expect(
      errorOf(() => evaluateInstant('label_replace(vector(1), "a", "", "b", "(")', 0, empty)).message,
    ).toBe("invalid regular expression in label_replace(): (");
  });

  it("refuses a range vector in a range query", () => {
    expect(errorOf(() => evaluateRange("up[5m]", 0, 60_000, 10_000, empty)).message).toBe(
      'invalid expression type "range vector" for range query, must be Scalar or instant Vector',
    );
  });

  it("formats floats like Go's 'f' format and compares like Prometheus's tests", () => {
    expect(formatFloatPlain(1e21)).toBe("1000000000000000000000");
    expect(formatFloatPlain(1.5e-7)).toBe("0.00000015");
    expect(formatFloatPlain(-Infinity)).toBe("-Inf");
    expect(almostEqual(Number.NaN, Number.NaN)).toBe(true);
    expect(almostEqual(1, 1 + 1e-9)).toBe(true);
    expect(almostEqual(1, 1.001)).toBe(false);
  });

  it("translates RE2 inline flags", () => {
    expect(compileRE2("a(?i)bc").test("aBC")).toBe(true);
    expect(compileRE2("a(?i)bc").test("ABC")).toBe(false);
    expect(compileRE2("(?i:[a-c]x)y").test("BXy")).toBe(true);
    expect(compileRE2("(?i:[a-c]x)y").test("BXY")).toBe(false);
    expect(compileRE2("(?P<n>a)").exec("a")?.groups?.n).toBe("a");
    expect(compileRE2("a.b").test("a\nb")).toBe(false);
    expect(compileRE2("(?s)a.b").test("a\nb")).toBe(true);
  });
});

describe("test-file runner", () => {
  it("counts passes and failures and reports the first differences", () => {
    const r = runTestFile(
      [
        "load 1m",
        '  m{a="1"} 1 2 3',
        "",
        "eval instant at 2m m",
        '  m{a="1"} 3',
        "",
        "eval instant at 2m m",
        '  m{a="1"} 4',
        "",
        "eval_fail instant at 2m m",
        "",
        "eval instant at 2m scalar(m)",
        "  3",
      ].join("\n"),
      "x.test",
    );
    expect(r.passed).toBe(2);
    expect(r.failed).toBe(2);
    expect(r.failures.map((f) => [f.line, f.differences[0]])).toEqual([
      [7, 'expected 4 for m{a="1"} but got 3'],
      [10, "expected error evaluating query but got none (vector of 1)"],
    ]);
  });

  it("checks order only for eval_ordered", () => {
    const text = (cmd: string) =>
      [
        "load 1m",
        '  m{a="1"} 2',
        '  m{a="2"} 1',
        "",
        `${cmd} instant at 0m sort_desc(m)`,
        '  m{a="2"} 1',
        '  m{a="1"} 2',
      ].join("\n");
    expect(runTestFile(text("eval")).failed).toBe(0);
    expect(runTestFile(text("eval_ordered")).failed).toBe(1);
  });
});
