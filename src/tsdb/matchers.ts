import { type Labels, labelValue } from "./labels.js";

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

const cache = new Map<string, RegExp>();
const CACHE_LIMIT = 1000;

/**
 * Compiles an RE2-style pattern fully anchored, as Prometheus 2.x does (`^(?:re)$`, `.` does
 * not match a newline). A leading Go flag group such as `(?i)` becomes a JS flag.
 */
export function compileRegex(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  let body = pattern;
  let flags = "";
  const m = /^\(\?([ims]+)\)/.exec(body);
  if (m?.[1]) {
    flags = [...new Set(m[1])].join("");
    body = body.slice(m[0].length);
  }
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${body})$`, `${flags}u`);
  } catch {
    // Unicode mode rejects some escapes RE2 accepts (e.g. `\-` outside a class).
    re = new RegExp(`^(?:${body})$`, flags);
  }
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(pattern, re);
  return re;
}

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
