import { type Labels, labelValue } from "./labels.js";
import { type AnchoredRegex, compilePromRegex } from "./re2.js";

export type MatchType = "=" | "!=" | "=~" | "!~";

/** A label matcher as written in a PromQL selector. */
export interface Matcher {
  readonly name: string;
  readonly type: MatchType;
  readonly value: string;
}

/** A matcher ready to test values; regexes are compiled once. */
export interface CompiledMatcher extends Matcher {
  readonly matches: (value: string) => boolean;
}

export type CompileResult = { ok: true; matcher: CompiledMatcher } | { ok: false; error: string };

/**
 * Compiles a label matcher's RE2 (Go) pattern as Prometheus 2.42 does (labels.NewFastRegexMatcher:
 * anchored `^(?:re)$`, linear-time matching on re2js). One compiler serves the store, the query
 * API and the PromQL engine (see re2.ts). Throws RE2SyntaxError with Go's message.
 */
export const compileRegex = compilePromRegex;

/** Compiles a matcher; an invalid regex is reported, not thrown. */
export function compileMatcher(m: Matcher): CompileResult {
  const { name, type, value } = m;
  switch (type) {
    case "=":
      return { ok: true, matcher: { name, type, value, matches: (v) => v === value } };
    case "!=":
      return { ok: true, matcher: { name, type, value, matches: (v) => v !== value } };
    case "=~":
    case "!~": {
      let re: AnchoredRegex;
      try {
        re = compileRegex(value);
      } catch (err) {
        return { ok: false, error: `invalid regex ${JSON.stringify(value)}: ${(err as Error).message}` };
      }
      const test = re.test; // a bound function: no method lookup per value on the hot path
      const matches = type === "=~" ? test : (v: string) => !test(v);
      return { ok: true, matcher: { name, type, value, matches } };
    }
    default:
      return { ok: false, error: `unknown matcher type ${JSON.stringify(type)}` };
  }
}

/** True when every matcher accepts the series (a missing label compares as ""). */
export function matchesAll(labels: Labels, matchers: readonly CompiledMatcher[]): boolean {
  for (const m of matchers) if (!m.matches(labelValue(labels, m.name))) return false;
  return true;
}

/** A matcher ready to test values: compiled ones as they are, plain ones compiled (a bad regex throws TypeError). */
export function toCompiled(m: Matcher | CompiledMatcher): CompiledMatcher {
  if ("matches" in m) return m;
  const r = compileMatcher(m);
  if (!r.ok) throw new TypeError(r.error);
  return r.matcher;
}
