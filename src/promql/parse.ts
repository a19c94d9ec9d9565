// PromQL text → typed AST (ast.ts), via @prometheus-io/lezer-promql (0.42.0, the grammar of Prometheus 2.42).
// The lezer grammar is built for editors: postfix modifiers bind too loosely and `-1` is one token, so the
// adapter re-associates those, then applies Prometheus's own checks (parser.go `checkAST`).

import { parser } from "@prometheus-io/lezer-promql";
import type {
  AggregateExpr,
  AggregateOp,
  AtModifier,
  BinaryExpr,
  BinaryOp,
  Expr,
  LabelMatcher,
  MatchCardinality,
  MatchType,
  PosRange,
  ValueType,
  VectorMatching,
  VectorSelector,
} from "./ast.js";
import { FUNCTIONS } from "./function-signatures.js";
import { parseDuration, parseGoNumber, unquoteString } from "./lex.js";
import { compilePromRegex } from "./regex.js";

type SyntaxNode = ReturnType<typeof parser.parse>["topNode"];

/** A query syntax or type error; `message` reads like Prometheus's (`1:5: parse error: …`). */
export class PromQLParseError extends Error {
  constructor(
    readonly reason: string,
    readonly pos: PosRange,
    readonly query: string,
  ) {
    super(`${positionPrefix(query, pos.start)} parse error: ${reason}`);
    this.name = "PromQLParseError";
  }
}

function positionPrefix(query: string, pos: number): string {
  if (pos < 0 || pos > query.length) return "invalid position:";
  let line = 1;
  let lastBreak = -1;
  for (let i = 0; i < pos; i++) {
    if (query[i] === "\n") {
      line++;
      lastBreak = i;
    }
  }
  return `${line}:${pos - lastBreak}:`;
}

const AGGREGATE_OPS = new Set<string>([
  "sum",
  "avg",
  "count",
  "min",
  "max",
  "group",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "count_values",
  "quantile",
]);
const PARAM_AGGREGATES = new Set<string>(["topk", "bottomk", "count_values", "quantile"]);
const COMPARISON_OPS = new Set<string>(["==", "!=", ">", "<", ">=", "<="]);
const SET_OPS = new Set<string>(["and", "or", "unless"]);
const BINARY_OPS = new Set<string>(["+", "-", "*", "/", "%", "^", "atan2", ...COMPARISON_OPS, ...SET_OPS]);

const DOCUMENTED: Record<ValueType, string> = {
  scalar: "scalar",
  vector: "instant vector",
  matrix: "range vector",
  string: "string",
};

/** Parses a PromQL expression. Throws `PromQLParseError`. */
export function parseExpr(query: string): Expr {
  return new Adapter(query).run();
}

class Adapter {
  constructor(private readonly q: string) {}

  run(): Expr {
    const tree = parser.parse(this.q);
    this.throwOnSyntaxError(tree.topNode);
    const exprs = children(tree.topNode);
    const first = exprs[0];
    if (first === undefined) throw this.err("no expression found in input", { start: 0, end: 0 });
    const expr = this.expr(first);
    this.check(expr);
    return expr;
  }

  private err(reason: string, pos: PosRange): PromQLParseError {
    return new PromQLParseError(reason, pos, this.q);
  }

  private text(n: SyntaxNode): string {
    return this.q.slice(n.from, n.to);
  }

  private throwOnSyntaxError(top: SyntaxNode): void {
    const bad = firstError(top);
    if (bad === null) return;
    const at = bad.from;
    const rest = this.q.slice(at);
    const before = /([a-zA-Z_][a-zA-Z0-9_:]*)\s*$/.exec(this.q.slice(0, at));
    if (before !== null && /^\s*\(/.test(rest) && FUNCTIONS[before[1] ?? ""] === undefined) {
      const start = at - before[0].length;
      throw this.err(`unknown function with name ${JSON.stringify(before[1])}`, {
        start,
        end: start + (before[1]?.length ?? 0),
      });
    }
    const trimmed = rest.replace(/^(\s|#[^\n]*)*/, "");
    const pos = { start: this.q.length - trimmed.length, end: this.q.length };
    if (trimmed === "") throw this.err("unexpected end of input", pos);
    throw this.err(`unexpected ${describeToken(trimmed)}`, pos);
  }

  private expr(n: SyntaxNode): Expr {
    const pos = { start: n.from, end: n.to };
    const kids = children(n);
    switch (n.name) {
      case "NumberLiteral":
        return { type: "NumberLiteral", value: this.number(n), pos };
      case "StringLiteral":
        return { type: "StringLiteral", value: this.string(n), pos };
      case "VectorSelector":
        return this.vectorSelector(n, kids);
      case "ParenExpr":
        return { type: "ParenExpr", expr: this.expr(need(kids[0], n)), pos };
      case "UnaryExpr": {
        const op = this.text(need(kids[0], n)) === "-" ? "-" : "+";
        return makeUnary(op, this.expr(need(kids[1], n)), pos);
      }
      case "BinaryExpr":
        return this.binary(n, kids);
      case "AggregateExpr":
        return this.aggregate(n, kids);
      case "FunctionCall": {
        const name = this.text(need(kids[0], n));
        const body = kids.find((k) => k.name === "FunctionCallBody");
        const args = body === undefined ? [] : children(body).map((k) => this.expr(k));
        return { type: "Call", func: name, args, pos };
      }
      case "MatrixSelector": {
        const rangeMs = this.duration(need(kids[1], n));
        return applyPostfix(this.expr(need(kids[0], n)), n.to, (e) => {
          if (e.type !== "VectorSelector") throw this.err("ranges only allowed for vector selectors", e.pos);
          if (e.offsetMs !== 0) throw this.err("no offset modifiers allowed before range", e.pos);
          if (e.at !== null) throw this.err("no @ modifiers allowed before range", e.pos);
          return { type: "MatrixSelector", selector: e, rangeMs, pos: { start: e.pos.start, end: n.to } };
        });
      }
      case "SubqueryExpr": {
        const durations = kids.filter((k) => k.name === "Duration");
        const rangeMs = this.duration(need(durations[0], n));
        const stepMs = durations[1] === undefined ? 0 : this.duration(durations[1]);
        return applyPostfix(this.expr(need(kids[0], n)), n.to, (e) => ({
          type: "SubqueryExpr",
          expr: e,
          rangeMs,
          stepMs,
          offsetMs: 0,
          at: null,
          pos: { start: e.pos.start, end: n.to },
        }));
      }
      case "OffsetExpr": {
        const negative = kids.some((k) => k.name === "Sub");
        const durationNode = need(
          kids.find((k) => k.name === "Duration"),
          n,
        );
        const ms = this.duration(durationNode) * (negative ? -1 : 1);
        return applyPostfix(this.expr(need(kids[0], n)), n.to, (e) => this.setOffset(e, ms));
      }
      case "StepInvariantExpr": {
        const target = kids[2];
        let at: AtModifier;
        if (target?.name === "AtModifierPreprocessors") {
          at = { kind: this.text(target) === "start" ? "start" : "end" };
        } else {
          const seconds = this.number(need(target, n));
          if (!Number.isFinite(seconds) || Math.abs(seconds) >= 9.223372036854776e18) {
            throw this.err(`timestamp out of bounds for @ modifier: ${seconds.toFixed(6)}`, pos);
          }
          const ms = seconds * 1000;
          at = { kind: "timestamp", timestampMs: Math.sign(ms) * Math.round(Math.abs(ms)) + 0 };
        }
        return applyPostfix(this.expr(need(kids[0], n)), n.to, (e) => this.setAt(e, at));
      }
      default:
        throw this.err(`unsupported syntax node ${n.name}`, pos);
    }
  }

  private number(n: SyntaxNode): number {
    const text = this.text(n);
    const sign = text[0] === "-" ? -1 : 1;
    const unsigned = text.replace(/^[+-]\s*/, "");
    const v = parseGoNumber(unsigned);
    if (v === undefined) throw this.err(`bad number or duration syntax: ${JSON.stringify(text)}`, range(n));
    return sign * v;
  }

  private string(n: SyntaxNode): string {
    try {
      return unquoteString(this.text(n));
    } catch {
      throw this.err(`invalid string literal ${this.text(n)}`, range(n));
    }
  }

  private duration(n: SyntaxNode): number {
    let ms: number;
    try {
      ms = parseDuration(this.text(n));
    } catch (e) {
      throw this.err((e as Error).message, range(n));
    }
    if (ms === 0) throw this.err("duration must be greater than 0", range(n));
    return ms;
  }

  private vectorSelector(n: SyntaxNode, kids: SyntaxNode[]): VectorSelector {
    const nameNode = kids.find((k) => k.name === "Identifier" || k.name === "MetricName");
    const name = nameNode === undefined ? null : this.text(nameNode);
    const matchers: LabelMatcher[] = [];
    const list = kids.find((k) => k.name === "LabelMatchers");
    for (const lm of list === undefined ? [] : children(list)) {
      const parts = children(lm);
      const m: LabelMatcher = {
        name: this.text(need(parts[0], lm)),
        type: this.text(need(parts[1], lm)) as MatchType,
        value: this.string(need(parts[2], lm)),
      };
      if (m.type === "=~" || m.type === "!~") {
        try {
          compilePromRegex(m.value);
        } catch (e) {
          // The message is already Go's whole text ("error parsing regexp: …: `…`").
          throw this.err((e as Error).message, range(lm));
        }
      }
      matchers.push(m);
    }
    const pos = range(n);
    if (name !== null) {
      const dup = matchers.find((m) => m.name === "__name__");
      if (dup !== undefined) {
        throw this.err(
          `metric name must not be set twice: ${JSON.stringify(name)} or ${JSON.stringify(dup.value)}`,
          pos,
        );
      }
      matchers.push({ type: "=", name: "__name__", value: name });
    } else if (!matchers.some((m) => !matchesEmpty(m))) {
      throw this.err("vector selector must contain at least one non-empty matcher", pos);
    }
    return { type: "VectorSelector", name, matchers, offsetMs: 0, at: null, pos };
  }

  private binary(n: SyntaxNode, kids: SyntaxNode[]): Expr {
    const lhsNode = need(kids[0], n);
    const rhsNode = need(kids[kids.length - 1], n);
    const opNode = need(kids[1], n);
    const op = this.text(opNode).toLowerCase();
    if (!BINARY_OPS.has(op))
      throw this.err(`binary expression does not support operator ${op}`, range(opNode));
    const returnBool = kids.some((k) => k.name === "BoolModifier");
    const clause = kids.find((k) => k.name === "MatchingModifierClause");
    const matching: VectorMatching = { card: "one-to-one", on: false, labels: [], include: [] };
    if (clause !== undefined) {
      const parts = children(clause);
      const groups = parts.filter((k) => k.name === "GroupingLabels");
      matching.on = parts.some((k) => k.name === "On");
      matching.labels = groups[0] === undefined ? [] : this.labelList(groups[0]);
      if (parts.some((k) => k.name === "GroupLeft")) matching.card = "many-to-one";
      if (parts.some((k) => k.name === "GroupRight")) matching.card = "one-to-many";
      if (groups[1] !== undefined) matching.include = this.labelList(groups[1]);
    }
    const lhs = this.expr(lhsNode);
    const rhs = this.expr(rhsNode);
    const expr: BinaryExpr = {
      type: "BinaryExpr",
      op: op as BinaryOp,
      lhs,
      rhs,
      returnBool,
      matching,
      pos: range(n),
    };
    // lezer reads `-2 ^ 2` as (-2)^2; Prometheus binds unary minus looser than `^`: -(2^2).
    if (op === "^" && lhs.type === "NumberLiteral" && /^[+-]/.test(this.q.slice(lhs.pos.start))) {
      const sign = this.q[lhs.pos.start] === "-" ? "-" : "+";
      const inner: NumberLiteral = {
        type: "NumberLiteral",
        value: sign === "-" ? -lhs.value : lhs.value,
        pos: { start: lhs.pos.start + 1, end: lhs.pos.end },
      };
      return {
        type: "UnaryExpr",
        op: sign,
        expr: { ...expr, lhs: inner, pos: { start: inner.pos.start, end: expr.pos.end } },
        pos: expr.pos,
      };
    }
    return expr;
  }

  private labelList(n: SyntaxNode): string[] {
    return children(n).map((k) => this.text(k));
  }

  private aggregate(n: SyntaxNode, kids: SyntaxNode[]): AggregateExpr {
    const pos = range(n);
    const op = this.text(need(kids[0], n)).toLowerCase();
    if (!AGGREGATE_OPS.has(op)) throw this.err(`unknown aggregation operator ${JSON.stringify(op)}`, pos);
    const modifier = kids.find((k) => k.name === "AggregateModifier");
    let grouping: string[] = [];
    let without = false;
    if (modifier !== undefined) {
      const parts = children(modifier);
      without = parts.some((k) => k.name === "Without");
      const labels = parts.find((k) => k.name === "GroupingLabels");
      grouping = labels === undefined ? [] : this.labelList(labels);
    }
    const body = kids.find((k) => k.name === "FunctionCallBody");
    const args = body === undefined ? [] : children(body).map((k) => this.expr(k));
    if (args.length === 0) throw this.err("no arguments for aggregate expression provided", pos);
    const desired = PARAM_AGGREGATES.has(op) ? 2 : 1;
    if (args.length !== desired) {
      throw this.err(
        `wrong number of arguments for aggregate expression provided, expected ${desired}, got ${args.length}`,
        pos,
      );
    }
    return {
      type: "AggregateExpr",
      op: op as AggregateOp,
      expr: args[desired - 1] as Expr,
      param: desired === 2 ? (args[0] as Expr) : null,
      grouping,
      without,
      pos,
    };
  }

  private setOffset(e: Expr, ms: number): Expr {
    const target = e.type === "MatrixSelector" ? e.selector : e;
    if (target.type !== "VectorSelector" && target.type !== "SubqueryExpr") {
      throw this.err(
        "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        e.pos,
      );
    }
    if (target.offsetMs !== 0) throw this.err("offset may not be set multiple times", e.pos);
    target.offsetMs = ms;
    return e;
  }

  private setAt(e: Expr, at: AtModifier): Expr {
    const target = e.type === "MatrixSelector" ? e.selector : e;
    if (target.type !== "VectorSelector" && target.type !== "SubqueryExpr") {
      throw this.err(
        "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        e.pos,
      );
    }
    if (target.at !== null) throw this.err("@ <timestamp> may not be set multiple times", e.pos);
    target.at = at;
    return e;
  }

  /** Prometheus's `checkAST`: type rules that the grammar does not express. Returns the expression type. */
  private check(e: Expr): ValueType {
    switch (e.type) {
      case "NumberLiteral":
        return "scalar";
      case "StringLiteral":
        return "string";
      case "VectorSelector":
        return "vector";
      case "MatrixSelector":
        return "matrix";
      case "ParenExpr":
        return this.check(e.expr);
      case "SubqueryExpr": {
        const t = this.check(e.expr);
        if (t !== "vector")
          throw this.err(`subquery is only allowed on instant vector, got ${t} instead`, e.pos);
        return "matrix";
      }
      case "UnaryExpr": {
        const t = this.check(e.expr);
        if (t !== "scalar" && t !== "vector") {
          throw this.err(
            `unary expression only allowed on expressions of type scalar or instant vector, got ${JSON.stringify(DOCUMENTED[t])}`,
            e.pos,
          );
        }
        return t;
      }
      case "AggregateExpr": {
        this.expectType(e.expr, "vector", "aggregation expression");
        if (e.op === "topk" || e.op === "bottomk" || e.op === "quantile") {
          this.expectType(e.param as Expr, "scalar", "aggregation parameter");
        }
        if (e.op === "count_values") this.expectType(e.param as Expr, "string", "aggregation parameter");
        return "vector";
      }
      case "Call": {
        const sig = FUNCTIONS[e.func];
        if (sig === undefined) throw this.err(`unknown function with name ${JSON.stringify(e.func)}`, e.pos);
        const nargs = sig.argTypes.length;
        const got = e.args.length;
        const quoted = JSON.stringify(e.func);
        if (sig.variadic === 0) {
          if (nargs !== got) {
            throw this.err(`expected ${nargs} argument(s) in call to ${quoted}, got ${got}`, e.pos);
          }
        } else if (nargs - 1 > got) {
          throw this.err(
            `expected at least ${nargs - 1} argument(s) in call to ${quoted}, got ${got}`,
            e.pos,
          );
        } else if (sig.variadic > 0 && nargs - 1 + sig.variadic < got) {
          throw this.err(
            `expected at most ${nargs - 1 + sig.variadic} argument(s) in call to ${quoted}, got ${got}`,
            e.pos,
          );
        }
        e.args.forEach((arg, i) => {
          const want = sig.argTypes[Math.min(i, nargs - 1)];
          if (want !== undefined) this.expectType(arg, want, `call to function ${quoted}`);
        });
        return sig.returnType;
      }
      case "BinaryExpr":
        return this.checkBinary(e);
    }
  }

  private expectType(e: Expr, want: ValueType, context: string): void {
    const t = this.check(e);
    if (t !== want) {
      throw this.err(`expected type ${DOCUMENTED[want]} in ${context}, got ${DOCUMENTED[t]}`, e.pos);
    }
  }

  private checkBinary(e: BinaryExpr): ValueType {
    const lt = this.check(e.lhs);
    const rt = this.check(e.rhs);
    const isComparison = COMPARISON_OPS.has(e.op);
    const isSet = SET_OPS.has(e.op);
    if (e.returnBool && !isComparison) {
      throw this.err("bool modifier can only be used on comparison operators", e.pos);
    }
    if (isComparison && !e.returnBool && lt === "scalar" && rt === "scalar") {
      throw this.err("comparisons between scalars must use BOOL modifier", e.pos);
    }
    const m = e.matching as VectorMatching;
    if (isSet && m.card === "one-to-one") m.card = "many-to-many";
    if (m.on) {
      const clash = m.labels.find((l) => m.include.includes(l));
      if (clash !== undefined) {
        throw this.err(`label ${JSON.stringify(clash)} must not occur in ON and GROUP clause at once`, e.pos);
      }
    }
    if (lt !== "scalar" && lt !== "vector") {
      throw this.err("binary expression must contain only scalar and instant vector types", e.lhs.pos);
    }
    if (rt !== "scalar" && rt !== "vector") {
      throw this.err("binary expression must contain only scalar and instant vector types", e.rhs.pos);
    }
    if (lt !== "vector" || rt !== "vector") {
      if (m.labels.length > 0) throw this.err("vector matching only allowed between instant vectors", e.pos);
      e.matching = null;
    } else if (isSet) {
      const card: MatchCardinality = m.card;
      if (card === "one-to-many" || card === "many-to-one") {
        throw this.err(`no grouping allowed for ${JSON.stringify(e.op)} operation`, e.pos);
      }
    }
    if ((lt === "scalar" || rt === "scalar") && isSet) {
      throw this.err(`set operator ${JSON.stringify(e.op)} not allowed in binary scalar expression`, e.pos);
    }
    return lt === "scalar" && rt === "scalar" ? "scalar" : "vector";
  }
}

type NumberLiteral = Extract<Expr, { type: "NumberLiteral" }>;

function makeUnary(op: "-" | "+", expr: Expr, pos: PosRange): Expr {
  // Prometheus folds a sign into a number literal (parser.y unary_expr).
  if (expr.type === "NumberLiteral") return { ...expr, value: op === "-" ? -expr.value : expr.value, pos };
  return { type: "UnaryExpr", op, expr, pos };
}

/**
 * Applies a postfix modifier (range, subquery, offset, @) to the right operand it belongs to: Prometheus
 * binds these tighter than any operator, the lezer grammar binds them to the whole preceding expression.
 */
function applyPostfix(inner: Expr, end: number, f: (e: Expr) => Expr): Expr {
  if (inner.type === "BinaryExpr") {
    return { ...inner, rhs: applyPostfix(inner.rhs, end, f), pos: { start: inner.pos.start, end } };
  }
  if (inner.type === "UnaryExpr") {
    return makeUnary(inner.op, applyPostfix(inner.expr, end, f), { start: inner.pos.start, end });
  }
  return f(inner);
}

function matchesEmpty(m: LabelMatcher): boolean {
  switch (m.type) {
    case "=":
      return m.value === "";
    case "!=":
      return m.value !== "";
    default: {
      try {
        return compilePromRegex(m.value).test("") === (m.type === "=~");
      } catch {
        return false; // invalid: vectorSelector reports it
      }
    }
  }
}

function firstError(n: SyntaxNode): SyntaxNode | null {
  if (n.type.isError) return n;
  for (let c = n.firstChild; c !== null; c = c.nextSibling) {
    const bad = firstError(c);
    if (bad !== null) return bad;
  }
  return null;
}

function children(n: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = n.firstChild; c !== null; c = c.nextSibling) {
    if (c.name !== "LineComment") out.push(c);
  }
  return out;
}

function need(n: SyntaxNode | undefined, parent: SyntaxNode): SyntaxNode {
  if (n === undefined) throw new Error(`internal: malformed ${parent.name} node at ${parent.from}`);
  return n;
}

function range(n: SyntaxNode): PosRange {
  return { start: n.from, end: n.to };
}

function describeToken(text: string): string {
  const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(text);
  if (ident !== null) return `identifier ${JSON.stringify(ident[0])}`;
  const num = /^(?:0[xX][0-9a-fA-F]+|\d*\.?\d+(?:[eE][+-]?\d+)?[a-z]*)/.exec(text);
  if (num !== null) return `number ${JSON.stringify(num[0])}`;
  if (/^["'`]/.test(text)) return "string";
  const op = /^(?:==|!=|>=|<=|=~|!~|[-+*/%^<>=,(){}[\]:@!])/.exec(text);
  if (op !== null) return JSON.stringify(op[0]);
  return `character ${JSON.stringify(text.slice(0, 1))}`;
}
