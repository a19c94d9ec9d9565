import { describe, expect, it } from "vitest";
import { parseDuration, parseGoNumber, unquoteString } from "../../src/promql/lex.js";
import { parseTestFile, TestFileParseError } from "../../src/promql/testfile.js";

describe("parseTestFile", () => {
  it("expands load series notation", () => {
    const [load] = parseTestFile(
      [
        "load 5m",
        '  http_requests{job="api", instance="0"}  0+10x3',
        "  other _ 1 stale _x2 -Inf NaN 0x10",
        '  {__name__="dec", a="b"} 10-2.5x2 7x1',
      ].join("\n"),
    );
    expect(load?.kind).toBe("load");
    if (load?.kind !== "load") return;
    expect(load.intervalMs).toBe(300_000);
    expect(load.line).toBe(1);
    const [a, b, c] = load.series;
    expect(a?.labels).toEqual({ __name__: "http_requests", job: "api", instance: "0" });
    expect(a?.samples.map((s) => [s.t, s.value])).toEqual([
      [0, 0],
      [300_000, 10],
      [600_000, 20],
      [900_000, 30],
    ]);
    expect(a?.line).toBe(2);
    expect(b?.samples.map((s) => [s.index, s.value])).toEqual([
      [1, 1],
      [2, "stale"],
      [5, Number.NEGATIVE_INFINITY],
      [6, Number.NaN],
      // `0x10` is 0 repeated (hexadecimal is not allowed in series descriptions).
      ...Array.from({ length: 11 }, (_, k) => [7 + k, 0]),
    ]);
    expect(c?.labels).toEqual({ __name__: "dec", a: "b" });
    expect(c?.samples.map((s) => s.value)).toEqual([10, 7.5, 5, 7, 7]);
  });

  it("parses eval commands with vector, scalar and empty expectations", () => {
    const cmds = parseTestFile(
      [
        "# comment",
        "eval instant at 1h30m sum by (job) (x)",
        '  {job="api"} 100',
        "  x{a='1'} -2",
        "",
        "eval_ordered instant at 10s sort(x)",
        "",
        "eval instant at 0 1 + 1",
        "  2",
        "eval_fail instant at 5m foo(",
        "",
        "clear",
      ].join("\n"),
    );
    expect(cmds.map((c) => c.kind)).toEqual(["eval", "eval", "eval", "eval", "clear"]);
    const [e1, e2, e3, e4, clear] = cmds;
    expect(e1).toMatchObject({
      mode: "instant",
      atMs: 5_400_000,
      expr: "sum by (job) (x)",
      exprColumn: 22,
      expectFail: false,
      ordered: false,
      line: 2,
      expected: {
        kind: "vector",
        samples: [
          { labels: { job: "api" }, value: 100, line: 3 },
          { labels: { __name__: "x", a: "1" }, value: -2, line: 4 },
        ],
      },
    });
    expect(e2).toMatchObject({
      ordered: true,
      atMs: 10_000,
      expected: { kind: "vector", samples: [] },
      line: 6,
    });
    expect(e3).toMatchObject({ atMs: 0, expected: { kind: "scalar", value: 2, line: 9 } });
    expect(e4).toMatchObject({ expectFail: true, expr: "foo(", atMs: 300_000 });
    expect(clear).toEqual({ kind: "clear", line: 12 });
  });

  it("a command right after an eval is read as an expectation, as in Prometheus", () => {
    expect(() => parseTestFile("eval instant at 0 x\neval instant at 0 y\n")).toThrow(
      /^2: unexpected "instant"/,
    );
  });

  it("a comment line ends a block, as in Prometheus", () => {
    expect(() => parseTestFile("load 1m\n  a 1\n# c\n  b 2\n", "x.test")).toThrow(
      /x\.test:4: invalid command/,
    );
  });

  it("reports bad lines with their line number", () => {
    const bad = (text: string) => {
      try {
        parseTestFile(text);
      } catch (e) {
        expect(e).toBeInstanceOf(TestFileParseError);
        return (e as TestFileParseError).line;
      }
      return 0;
    };
    expect(bad("\nload\n")).toBe(2);
    expect(bad("load 1q\n")).toBe(1);
    expect(bad("load 1m\n  a 1 x\n")).toBe(2);
    expect(bad("eval instant at 1m\n")).toBe(1);
    expect(bad("eval instant at 1m x\n  {} 1 2\n")).toBe(2);
    expect(bad("bogus\n")).toBe(1);
  });
});

describe("lexical helpers", () => {
  it("parses durations like model.ParseDuration", () => {
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("1d")).toBe(86_400_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("2w1ms")).toBe(1_209_600_001);
    expect(() => parseDuration("")).toThrow(/empty/);
    expect(() => parseDuration("1m1h")).toThrow(/not a valid/);
    expect(() => parseDuration("1.5m")).toThrow(/not a valid/);
  });

  it("parses numbers like Go ParseInt(0)/ParseFloat", () => {
    expect(parseGoNumber("010")).toBe(8);
    expect(parseGoNumber("0x1F")).toBe(31);
    expect(parseGoNumber("12.34e-6")).toBe(0.00001234);
    expect(parseGoNumber("+Inf")).toBe(Number.POSITIVE_INFINITY);
    expect(parseGoNumber("-inf")).toBe(Number.NEGATIVE_INFINITY);
    expect(parseGoNumber("NaN")).toBeNaN();
    expect(parseGoNumber("2.")).toBe(2);
    expect(parseGoNumber("09")).toBe(9);
    expect(parseGoNumber("{} 1")).toBeUndefined();
  });

  it("unquotes Go string literals", () => {
    expect(unquoteString('"a\\"b\\n"')).toBe('a"b\n');
    expect(unquoteString("'it\\'s'")).toBe("it's");
    expect(unquoteString("`raw\\n`")).toBe("raw\\n");
    expect(unquoteString('"\\x41\\u00e9\\303\\251"')).toBe("Aéé");
    expect(() => unquoteString('"\\q"')).toThrow();
  });
});
