import { type Labels, labelValue } from "./labels.js";
import { compileRE2 } from "./re2.js";

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
 * Compiles an RE2 (Go) pattern fully anchored, as Prometheus 2.x does (`^(?:re)$`, `.` does
 * not match a newline, inline flags anywhere). One translator serves the store, the query API
 * and the PromQL engine (see re2.ts).
 */
export const compileRegex = compileRE2;

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
      let re: RegExp;
      try {
        re = compileRegex(value);
      } catch (err) {
        return { ok: false, error: `invalid regex ${JSON.stringify(value)}: ${(err as Error).message}` };
      }
      const matches = type === "=~" ? (v: string) => re.test(v) : (v: string) => !re.test(v);
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
