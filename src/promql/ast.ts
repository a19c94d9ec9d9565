// Typed PromQL AST, shaped like Prometheus 2.42's `promql/parser/ast.go`. Durations and times are in ms.

/** Character offsets into the query text: [start, end). */
export interface PosRange {
  start: number;
  end: number;
}

export type ValueType = "scalar" | "vector" | "matrix" | "string";

export type MatchType = "=" | "!=" | "=~" | "!~";

export interface LabelMatcher {
  type: MatchType;
  name: string;
  value: string;
}

/** `@ <seconds>` (stored as ms, rounded like Prometheus), `@ start()` or `@ end()`. */
export type AtModifier = { kind: "timestamp"; timestampMs: number } | { kind: "start" } | { kind: "end" };

export interface NumberLiteral {
  type: "NumberLiteral";
  value: number;
  pos: PosRange;
}

export interface StringLiteral {
  type: "StringLiteral";
  value: string;
  pos: PosRange;
}

export interface VectorSelector {
  type: "VectorSelector";
  /** The metric name written before the braces, or null (`{__name__="x"}` keeps it in `matchers` only). */
  name: string | null;
  /** All matchers, including `__name__="<name>"` appended when `name` is set (as Prometheus does). */
  matchers: LabelMatcher[];
  /** 0 = no offset. Negative offsets look into the future. */
  offsetMs: number;
  at: AtModifier | null;
  pos: PosRange;
}

export interface MatrixSelector {
  type: "MatrixSelector";
  /** Holds the offset and `@` even when they are written after the range (`foo[5m] offset 1m`). */
  selector: VectorSelector;
  rangeMs: number;
  pos: PosRange;
}

export interface SubqueryExpr {
  type: "SubqueryExpr";
  expr: Expr;
  rangeMs: number;
  /** 0 = not given: the evaluator uses the default evaluation interval. */
  stepMs: number;
  offsetMs: number;
  at: AtModifier | null;
  pos: PosRange;
}

export interface ParenExpr {
  type: "ParenExpr";
  expr: Expr;
  pos: PosRange;
}

export interface UnaryExpr {
  type: "UnaryExpr";
  op: "-" | "+";
  expr: Expr;
  pos: PosRange;
}

export type ArithmeticOp = "+" | "-" | "*" | "/" | "%" | "^" | "atan2";
export type ComparisonOp = "==" | "!=" | ">" | "<" | ">=" | "<=";
export type SetOp = "and" | "or" | "unless";
export type BinaryOp = ArithmeticOp | ComparisonOp | SetOp;

export type MatchCardinality = "one-to-one" | "many-to-one" | "one-to-many" | "many-to-many";

export interface VectorMatching {
  card: MatchCardinality;
  /** true for `on(...)`, false for `ignoring(...)` or no clause. */
  on: boolean;
  labels: string[];
  /** Extra labels from `group_left(...)` / `group_right(...)`. */
  include: string[];
}

export interface BinaryExpr {
  type: "BinaryExpr";
  op: BinaryOp;
  lhs: Expr;
  rhs: Expr;
  returnBool: boolean;
  /** Set only when both sides are instant vectors (as Prometheus leaves it nil otherwise). */
  matching: VectorMatching | null;
  pos: PosRange;
}

export type AggregateOp =
  | "sum"
  | "avg"
  | "count"
  | "min"
  | "max"
  | "group"
  | "stddev"
  | "stdvar"
  | "topk"
  | "bottomk"
  | "count_values"
  | "quantile";

export interface AggregateExpr {
  type: "AggregateExpr";
  op: AggregateOp;
  expr: Expr;
  /** The first argument of topk, bottomk, quantile and count_values; otherwise null. */
  param: Expr | null;
  grouping: string[];
  without: boolean;
  pos: PosRange;
}

export interface Call {
  type: "Call";
  func: string;
  args: Expr[];
  pos: PosRange;
}

export type Expr =
  | NumberLiteral
  | StringLiteral
  | VectorSelector
  | MatrixSelector
  | SubqueryExpr
  | ParenExpr
  | UnaryExpr
  | BinaryExpr
  | AggregateExpr
  | Call;
