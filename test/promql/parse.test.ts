import { describe, expect, it } from "vitest";
import type { Expr } from "../../src/promql/ast.js";
import { PromQLParseError, parseExpr } from "../../src/promql/parse.js";

/** Drops positions so shapes can be compared. */
function strip(e: unknown): unknown {
  if (Array.isArray(e)) return e.map(strip);
  if (e !== null && typeof e === "object") {
    return Object.fromEntries(
      Object.entries(e)
        .filter(([k]) => k !== "pos")
        .map(([k, v]) => [k, strip(v)]),
    );
  }
  return e;
}
const p = (q: string) => strip(parseExpr(q));
const vs = (name: string, extra: Record<string, unknown> = {}) => ({
  type: "VectorSelector",
  name,
  matchers: [{ type: "=", name: "__name__", value: name }],
  offsetMs: 0,
  at: null,
  ...extra,
});
const num = (value: number) => ({ type: "NumberLiteral", value });
const errorOf = (q: string): string => {
  try {
    parseExpr(q);
  } catch (e) {
    expect(e).toBeInstanceOf(PromQLParseError);
    return (e as Error).message;
  }
  return "no error";
};

describe("parseExpr literals", () => {
  it("numbers", () => {
    expect(p("12.34e6")).toEqual(num(12_340_000));
    expect(p("0x1F")).toEqual(num(31));
    expect(p(".2")).toEqual(num(0.2));
    expect(p("-Inf")).toEqual(num(Number.NEGATIVE_INFINITY));
    expect(p("- - - 1")).toEqual(num(-1));
    expect((parseExpr("nan") as { value: number }).value).toBeNaN();
  });
  it("strings", () => {
    expect(p('"a\\nb"')).toEqual({ type: "StringLiteral", value: "a\nb" });
    expect(p("`raw\\n`")).toEqual({ type: "StringLiteral", value: "raw\\n" });
  });
});

describe("parseExpr selectors", () => {
  it("vector selector with the four matcher types", () => {
    expect(p(`foo{a="b", c!="d", e=~"f.*", g!~'h',}`)).toEqual({
      ...vs("foo"),
      matchers: [
        { type: "=", name: "a", value: "b" },
        { type: "!=", name: "c", value: "d" },
        { type: "=~", name: "e", value: "f.*" },
        { type: "!~", name: "g", value: "h" },
        { type: "=", name: "__name__", value: "foo" },
      ],
    });
    expect(p('{__name__=~"a|b"}')).toMatchObject({ name: null, matchers: [{ name: "__name__" }] });
  });
  it("offset and @", () => {
    expect(p("foo offset 5m")).toEqual(vs("foo", { offsetMs: 300_000 }));
    expect(p("foo offset -1h30m")).toEqual(vs("foo", { offsetMs: -5_400_000 }));
    expect(p("foo @ 100.5")).toEqual(vs("foo", { at: { kind: "timestamp", timestampMs: 100_500 } }));
    expect(p("foo @ start() offset 1m")).toEqual(vs("foo", { at: { kind: "start" }, offsetMs: 60_000 }));
    expect(p("foo offset 1m @ end()")).toEqual(vs("foo", { at: { kind: "end" }, offsetMs: 60_000 }));
  });
  it("matrix selector keeps a trailing offset/@ on its vector selector", () => {
    expect(p("foo[5m] offset 1m @ 10")).toEqual({
      type: "MatrixSelector",
      rangeMs: 300_000,
      selector: vs("foo", { offsetMs: 60_000, at: { kind: "timestamp", timestampMs: 10_000 } }),
    });
  });
  it("subquery with range, step, offset and @", () => {
    expect(p("rate(foo[1m])[1h:5m] offset 10m @ end()")).toEqual({
      type: "SubqueryExpr",
      expr: {
        type: "Call",
        func: "rate",
        args: [{ type: "MatrixSelector", rangeMs: 60_000, selector: vs("foo") }],
      },
      rangeMs: 3_600_000,
      stepMs: 300_000,
      offsetMs: 600_000,
      at: { kind: "end" },
    });
    expect(p("foo[5m:]")).toMatchObject({ type: "SubqueryExpr", stepMs: 0 });
  });
});

describe("parseExpr operators", () => {
  it("paren and unary", () => {
    expect(p("-(foo)")).toEqual({ type: "UnaryExpr", op: "-", expr: { type: "ParenExpr", expr: vs("foo") } });
  });
  it("binary precedence and associativity", () => {
    const e = parseExpr("1 + 2 * 3 ^ 2 ^ 2") as Extract<Expr, { type: "BinaryExpr" }>;
    expect(e.op).toBe("+");
    expect(strip(e.rhs)).toMatchObject({ op: "*", rhs: { op: "^", rhs: { op: "^" } } });
    expect(p("a or b and c unless d")).toMatchObject({ op: "or", rhs: { op: "unless", lhs: { op: "and" } } });
  });
  it("unary minus binds looser than ^ (-2^2 = -(2^2))", () => {
    expect(p("-2 ^ 2")).toEqual({
      type: "UnaryExpr",
      op: "-",
      expr: { type: "BinaryExpr", op: "^", lhs: num(2), rhs: num(2), returnBool: false, matching: null },
    });
  });
  it("postfix modifiers bind to the right operand", () => {
    expect(p("a + b offset 5m")).toMatchObject({
      op: "+",
      lhs: vs("a"),
      rhs: vs("b", { offsetMs: 300_000 }),
    });
    // The subquery applies to `b` only (so the binary operand is a range vector: an error at `b`).
    expect(errorOf("a / b[1h:5m]")).toBe(
      "1:5: parse error: binary expression must contain only scalar and instant vector types",
    );
    expect(p("-a offset 5m")).toMatchObject({ type: "UnaryExpr", expr: vs("a", { offsetMs: 300_000 }) });
  });
  it("bool and vector matching", () => {
    expect(p("a > bool on(x, y) group_left(z) b")).toMatchObject({
      op: ">",
      returnBool: true,
      matching: { card: "many-to-one", on: true, labels: ["x", "y"], include: ["z"] },
    });
    expect(p("a - ignoring(x) group_right b")).toMatchObject({
      matching: { card: "one-to-many", on: false, labels: ["x"], include: [] },
    });
    expect(p("a and b")).toMatchObject({ matching: { card: "many-to-many", on: false, labels: [] } });
    expect(p("a * 2")).toMatchObject({ matching: null });
    expect(p("1 == bool 2")).toMatchObject({ returnBool: true, matching: null });
  });
});

describe("parseExpr aggregations and calls", () => {
  it("aggregations with grouping before or after, and params", () => {
    const sum = {
      type: "AggregateExpr",
      op: "sum",
      expr: vs("x"),
      param: null,
      grouping: ["a", "b"],
      without: false,
    };
    expect(p("sum by (a, b) (x)")).toEqual(sum);
    expect(p("sum(x) by (a, b)")).toEqual(sum);
    expect(p("avg without (a) (x)")).toMatchObject({ op: "avg", without: true, grouping: ["a"] });
    expect(p("topk(3, x)")).toMatchObject({ op: "topk", param: num(3), expr: vs("x") });
    expect(p('count_values("v", x)')).toMatchObject({ param: { type: "StringLiteral", value: "v" } });
  });
  it("function calls", () => {
    expect(p("time()")).toEqual({ type: "Call", func: "time", args: [] });
    expect(p('label_replace(x, "a", "$1", "b", "(.*)")')).toMatchObject({
      func: "label_replace",
      args: [vs("x"), { value: "a" }, { value: "$1" }, { value: "b" }, { value: "(.*)" }],
    });
    expect(p("round(x)")).toMatchObject({ func: "round" });
  });
});

describe("parseExpr errors", () => {
  it("syntax errors carry a Prometheus-style position", () => {
    expect(errorOf("sum(x")).toBe("1:6: parse error: unexpected end of input");
    expect(errorOf("foo bar")).toBe('1:5: parse error: unexpected identifier "bar"');
    expect(errorOf("nope(x)")).toBe('1:1: parse error: unknown function with name "nope"');
    expect(errorOf("foo +\n )")).toMatch(/^2:2: parse error: unexpected/);
  });
  it("type checks from Prometheus's checkAST", () => {
    expect(errorOf("rate(x)")).toBe(
      '1:6: parse error: expected type range vector in call to function "rate", got instant vector',
    );
    expect(errorOf("rate(x[5m], 1)")).toMatch(/expected 1 argument\(s\) in call to "rate", got 2/);
    expect(errorOf("1 > 2")).toMatch(/comparisons between scalars must use BOOL modifier/);
    expect(errorOf("a + bool b")).toMatch(/bool modifier can only be used on comparison operators/);
    expect(errorOf("a and 1")).toMatch(/set operator "and" not allowed in binary scalar expression/);
    expect(errorOf("a and on(x) group_left b")).toMatch(/no grouping allowed for "and" operation/);
    expect(errorOf("(a + b)[5m]")).toMatch(/ranges only allowed for vector selectors/);
    expect(errorOf("sum(a) offset 5m")).toMatch(/offset modifier must be preceded by/);
    expect(errorOf("a offset 1m offset 2m")).toMatch(/offset may not be set multiple times/);
    expect(errorOf("a @ 1 @ 2")).toMatch(/@ <timestamp> may not be set multiple times/);
    expect(errorOf('{a=""}')).toMatch(/vector selector must contain at least one non-empty matcher/);
    expect(errorOf('foo{__name__="bar"}')).toMatch(/metric name must not be set twice/);
    expect(errorOf("topk(x)")).toMatch(
      /wrong number of arguments for aggregate expression provided, expected 2, got 1/,
    );
    expect(errorOf("x[5m][1h:]")).toMatch(/subquery is only allowed on instant vector, got matrix instead/);
    expect(errorOf("x[0s]")).toMatch(/duration must be greater than 0/);
    expect(errorOf("-x[5m]")).toMatch(
      /unary expression only allowed on expressions of type scalar or instant vector/,
    );
  });
});
