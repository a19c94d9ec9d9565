// PromQL evaluation values (Prometheus 2.42 `promql/value.go`): scalar, string, instant vector, range vector.

import type { Labels } from "../tsdb/index.js";

export interface ScalarValue {
  type: "scalar";
  value: number;
}

export interface StringValue {
  type: "string";
  value: string;
}

/** One element of an instant vector. Never holds a staleness marker. */
export interface Sample {
  labels: Labels;
  value: number;
}

export interface VectorValue {
  type: "vector";
  samples: Sample[];
}

/** One series of a range vector: samples oldest first, staleness markers already dropped. */
export interface RangeSeries {
  labels: Labels;
  timestamps: number[];
  values: number[];
}

export interface MatrixValue {
  type: "matrix";
  series: RangeSeries[];
}

export type Value = ScalarValue | StringValue | VectorValue | MatrixValue;

/** An evaluation error; `message` reads like Prometheus's. */
export class PromQLEvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PromQLEvalError";
  }
}

/** Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip digits, never an exponent. */
export function formatFloatPlain(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  const s = String(v);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (m === null) return s;
  const sign = m[1] ?? "";
  const digits = (m[2] ?? "") + (m[3] ?? "");
  const exp = Number(m[4]);
  const point = 1 + exp; // position of the decimal point within `digits`
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Go's `strconv.ParseFloat(s, 64)` for the forms label values use; undefined when it would fail. */
export function parseGoFloat(text: string): number | undefined {
  const s = text;
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith("-") ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(s)) return Number.NaN;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Number(s);
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?\d+)$/.exec(s);
  if (hex !== null && (hex[2] !== "" || hex[3] !== "")) {
    const frac = hex[3] ?? "";
    const mant = Number.parseInt(`${hex[2] ?? ""}${frac}` || "0", 16);
    const v = mant * 2 ** (Number(hex[4]) - 4 * frac.length);
    return hex[1] === "-" ? -v : v;
  }
  return undefined;
}
