// Scalar lexical helpers shared by the PromQL parser and the test-file parser.
// Each mirrors the Go function Prometheus 2.42 uses, so inputs are accepted or rejected alike.

const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNITS_MS = [
  365 * 24 * 3600_000,
  7 * 24 * 3600_000,
  24 * 3600_000,
  3600_000,
  60_000,
  1000,
  1,
] as const;

/** Parses a Prometheus duration (`5m`, `1h30m`, `0`, `1y2w`) into milliseconds, like prometheus/common `model.ParseDuration`. */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  if (text === "") throw new Error("empty duration string");
  const m = DURATION_RE.exec(text);
  if (m === null) throw new Error(`not a valid duration string: ${JSON.stringify(text)}`);
  let ms = 0;
  for (let i = 0; i < DURATION_UNITS_MS.length; i++) {
    const digits = m[i + 1];
    if (digits === undefined) continue;
    ms += Number(digits) * (DURATION_UNITS_MS[i] ?? 0);
  }
  // model.Duration is an int64 of nanoseconds.
  if (!Number.isSafeInteger(ms) || ms > 9_223_372_036_854) throw new Error("duration out of range");
  return ms;
}

const GO_INT_RE = /^([+-]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$/;
const GO_FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const GO_SPECIAL_RE = /^([+-]?)(inf|infinity|nan)$/i;
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Parses a number the way Prometheus does (`strconv.ParseInt(s, 0, 64)`, then `strconv.ParseFloat`):
 * `0x1F`, octal `010` (= 8), `1e3`, `.5`, `Inf`, `NaN`. Returns undefined when Go would reject it.
 */
export function parseGoNumber(text: string): number | undefined {
  const int = GO_INT_RE.exec(text);
  if (int !== null) {
    const sign = int[1] === "-" ? -1n : 1n;
    const body = int[2] ?? "";
    let n: bigint;
    if (/^0[0-7]+$/.test(body)) n = BigInt(`0o${body.slice(1)}`);
    else n = BigInt(body.toLowerCase());
    n *= sign;
    if (n <= INT64_MAX && n >= -INT64_MAX - 1n) return Number(n);
    // Out of int64 range: Go falls back to ParseFloat, which accepts only the decimal spelling.
    if (/^[+-]?[0-9]+$/.test(text)) return Number(text);
    return undefined;
  }
  const special = GO_SPECIAL_RE.exec(text);
  if (special !== null) {
    const word = (special[2] ?? "").toLowerCase();
    if (word === "nan") return special[1] === "" ? Number.NaN : undefined;
    return special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (GO_FLOAT_RE.test(text)) return Number(text);
  return undefined;
}

const SIMPLE_ESCAPES: Record<string, number> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  "\\": 92,
};

/**
 * Unquotes a PromQL string literal (`"…"`, `'…'` or a raw `` `…` ``) with Go escape rules, like
 * Prometheus's `strutil.Unquote`. Throws with a short reason on an invalid literal.
 */
export function unquoteString(literal: string): string {
  const quote = literal[0];
  if (literal.length < 2 || literal[literal.length - 1] !== quote) throw new Error("invalid syntax");
  const body = literal.slice(1, -1);
  if (quote === "`") {
    if (body.includes("`")) throw new Error("invalid syntax");
    return body.replaceAll("\r", "");
  }
  if (quote !== '"' && quote !== "'") throw new Error("invalid syntax");
  if (!body.includes("\\")) {
    if (body.includes(quote) || body.includes("\n")) throw new Error("invalid syntax");
    return body;
  }
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  let i = 0;
  while (i < body.length) {
    const ch = body[i] as string;
    if (ch === quote || ch === "\n") throw new Error("invalid syntax");
    if (ch !== "\\") {
      const cp = body.codePointAt(i) ?? 0;
      const s = String.fromCodePoint(cp);
      bytes.push(...encoder.encode(s));
      i += s.length;
      continue;
    }
    const esc = body[i + 1];
    if (esc === undefined) throw new Error("invalid syntax");
    const simple = SIMPLE_ESCAPES[esc];
    if (simple !== undefined) {
      bytes.push(simple);
      i += 2;
    } else if (esc === quote) {
      bytes.push(quote.charCodeAt(0));
      i += 2;
    } else if (esc === "x" || esc === "u" || esc === "U") {
      const len = esc === "x" ? 2 : esc === "u" ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) throw new Error("invalid syntax");
      const v = Number.parseInt(hex, 16);
      if (esc === "x") bytes.push(v);
      else {
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw new Error("invalid syntax");
        bytes.push(...encoder.encode(String.fromCodePoint(v)));
      }
      i += 2 + len;
    } else if (esc >= "0" && esc <= "7") {
      const oct = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct)) throw new Error("invalid syntax");
      const v = Number.parseInt(oct, 8);
      if (v > 255) throw new Error("invalid syntax");
      bytes.push(v);
      i += 4;
    } else {
      throw new Error("invalid syntax");
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
