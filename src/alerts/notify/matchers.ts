// Alertmanager 0.25's label matchers (pkg/labels): construction, the "classic" matcher-string
// parser used by `matchers:` in alertmanager.yml and by amtool, and the String() forms that
// Route.Key() is built from. Regex values are Go RE2, compiled and matched by the tsdb's
// re2js-based compiler (linear time, Go 1.19's syntax and error texts), so routes, inhibitions
// and silences read a regex exactly as Alertmanager and PromQL selectors do.

import { type AnchoredRegex, compileGoRegexp, compileRE2 } from "../../tsdb/re2.js";
import type { Matcher } from "./types.js";

export type MatchType = Matcher["type"];

const MATCH_TYPES: ReadonlySet<string> = new Set(["=", "!=", "=~", "!~"]);

/**
 * Alertmanager's String() escapes only `\`, newline and `"` (OpenMetrics escaping), not Go's
 * %q: a tab or a control character is printed raw. Verified against amtool 0.25's route tree.
 */
function openMetricsEscape(s: string): string {
  return s.replace(/[\\\n"]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/**
 * Compiles `^(?:value)$` as labels.NewMatcher does. The error names the matcher and then gives
 * Go's text, which is all Alertmanager prints (`error parsing regexp: invalid escape sequence: \`\\1\``).
 */
function compileAnchored(name: string, type: MatchType, value: string): AnchoredRegex {
  try {
    return compileRE2(value);
  } catch (err) {
    throw new Error(
      `invalid regular expression in matcher ${name}${type}${JSON.stringify(value)}: ${(err as Error).message}`,
    );
  }
}

/** Alertmanager's labels.NewMatcher: regex types are anchored; an invalid regex throws. */
export function newMatcher(name: string, type: MatchType, value: string): Matcher {
  if (!MATCH_TYPES.has(type)) throw new Error(`unknown match type ${JSON.stringify(type)}`);
  const re = type === "=~" || type === "!~" ? compileAnchored(name, type, value) : undefined;
  const matches = (v: string): boolean => {
    switch (type) {
      case "=":
        return v === value;
      case "!=":
        return v !== value;
      case "=~":
        return (re as AnchoredRegex).test(v);
      default:
        return !(re as AnchoredRegex).test(v);
    }
  };
  const text = `${name}${type}"${openMetricsEscape(value)}"`;
  return Object.freeze({ name, type, value, matches, toString: () => text });
}

/**
 * Alertmanager 0.25's silence validation (silence.validateMatcher): a regex matcher's value must
 * also compile on its own, unanchored, so `a)(b` (which `^(?:a)(b)$` accepts) is refused there.
 * Throws Alertmanager's text: `invalid regular expression "a)(b": error parsing regexp: …`.
 */
export function validateSilenceRegex(value: string): void {
  try {
    compileGoRegexp(value);
  } catch (err) {
    throw new Error(`invalid regular expression ${JSON.stringify(value)}: ${(err as Error).message}`);
  }
}

/** Alertmanager's Matchers.String(): `{a="1",b=~"x"}`, comma without a space, in the given order. */
export function matchersString(ms: readonly Matcher[]): string {
  return `{${ms.map((m) => m.toString()).join(",")}}`;
}

const TYPE_ORDER: Record<MatchType, number> = { "=": 0, "!=": 1, "=~": 2, "!~": 3 };

/** Go compares strings bytewise (UTF-8); JS compares UTF-16 units, which differs above U+FFFF. */
function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Alertmanager's Matchers.Less: by name, then value, then match type (= != =~ !~). */
export function compareMatchers(a: Matcher, b: Matcher): number {
  return (
    compareGoStrings(a.name, b.name) ||
    compareGoStrings(a.value, b.value) ||
    TYPE_ORDER[a.type] - TYPE_ORDER[b.type]
  );
}

/** A sorted copy, as config.Matchers and dispatch.NewRoute sort them (Route.Key depends on it). */
export function sortMatchers(ms: readonly Matcher[]): Matcher[] {
  return [...ms].sort(compareMatchers);
}

// ---------------------------------------------------------------------------------------------
// ParseMatchers / ParseMatcher (pkg/labels/parse.go)

// Go's regexp `\s` is ASCII whitespace without \v; JS `\s` would also accept Unicode spaces.
const GO_SPACE = "[\\t\\n\\f\\r ]";
// `=~` before `=`, so `a=~b` is not read as `a` `=` `~b`; the value is lazy so trailing
// whitespace is dropped.
const MATCHER_RE = new RegExp(
  `^${GO_SPACE}*([a-zA-Z_:][a-zA-Z0-9_:]*)${GO_SPACE}*(=~|=|!=|!~)${GO_SPACE}*([\\s\\S]*?)${GO_SPACE}*$`,
);

// strings.TrimSpace uses unicode.IsSpace, which is wider than `\s` above and narrower than JS trim().
const UNICODE_SPACE =
  "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const TRIM_RE = new RegExp(`^[${UNICODE_SPACE}]+|[${UNICODE_SPACE}]+$`, "g");

function goTrimSpace(s: string): string {
  return s.replace(TRIM_RE, "");
}

/**
 * Splits at commas outside double quotes. A backslash escapes the next `"` only; a comma inside
 * quotes does not clear a pending escape (a quirk of Alertmanager's loop, kept for parity).
 */
function splitMatcherList(s: string): string[] {
  const tokens: string[] = [];
  let token = "";
  let insideQuotes = false;
  let escaped = false;
  for (const c of s) {
    if (c === "," && !insideQuotes) {
      tokens.push(token);
      token = "";
      continue;
    }
    if (c === '"') {
      if (escaped) escaped = false;
      else insideQuotes = !insideQuotes;
    } else if (c === "\\") {
      escaped = !escaped;
    } else if (c !== ",") {
      escaped = false;
    }
    token += c;
  }
  const last = goTrimSpace(token);
  if (last !== "") tokens.push(last);
  return tokens;
}

/**
 * Alertmanager 0.25's ParseMatchers: `{a="b", c!~"d|e"}`, `a=b,c=d`; one leading `{`, one
 * trailing `}` and a trailing comma are optional. Throws an Error with Alertmanager's message.
 */
export function parseMatchers(s: string): Matcher[] {
  let body = s.startsWith("{") ? s.slice(1) : s;
  if (body.endsWith("}")) body = body.slice(0, -1);
  return splitMatcherList(body).map(parseMatcher);
}

/**
 * Alertmanager 0.25's ParseMatcher: name, operator, then a value that may be double-quoted.
 * Inside the value `\"`, `\n` and `\\` are escapes; any other backslash is literal.
 */
export function parseMatcher(s: string): Matcher {
  const m = MATCHER_RE.exec(s);
  if (!m) throw new Error(`bad matcher format: ${s}`);
  const [, name = "", op = "", raw = ""] = m;
  return newMatcher(name, op as MatchType, unquoteMatcherValue(raw));
}

function unquoteMatcherValue(raw: string): string {
  const quoted = raw.startsWith('"');
  const chars = Array.from(quoted ? raw.slice(1) : raw);
  const unescapedQuote = () => new Error(`matcher value contains unescaped double quote: ${raw}`);
  let value = "";
  let expectTrailingQuote = quoted;
  let escaped = false;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (escaped) {
      escaped = false;
      if (c === "n") value += "\n";
      else if (c === '"' || c === "\\") value += c;
      else value += `\\${c}`; // a spurious escape: the backslash is literal
      continue;
    }
    const last = i === chars.length - 1;
    if (c === "\\") {
      if (last) value += "\\";
      else escaped = true;
    } else if (c === '"') {
      if (!expectTrailingQuote || !last) throw unescapedQuote();
      expectTrailingQuote = false;
    } else {
      value += c;
    }
  }
  if (expectTrailingQuote) throw unescapedQuote();
  return value;
}
