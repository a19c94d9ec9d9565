// The PromQL engine's regexes: selectors' `=~`/`!~` (Prometheus's FastRegexMatcher) and
// label_replace's anchored regexp, both Go RE2 on re2js (see tsdb/re2.ts).

import {
  type AnchoredRegex,
  type CompiledMatcher,
  compilePromRegex,
  compileRE2,
  type Matcher,
  RE2SyntaxError,
} from "../tsdb/index.js";
import { PromQLEvalError } from "./value.js";

export { type AnchoredRegex, compilePromRegex, compileRE2, RE2SyntaxError };

/**
 * A label matcher ready for SeriesStore.select, with RE2 regexes. Throws PromQLEvalError with
 * Go's message (`error parsing regexp: …`) on a bad regex; the parser normally refuses it first.
 */
export function compileLabelMatcher(m: Matcher): CompiledMatcher {
  const { name, type, value } = m;
  switch (type) {
    case "=":
      return { name, type, value, matches: (v) => v === value };
    case "!=":
      return { name, type, value, matches: (v) => v !== value };
    case "=~":
    case "!~": {
      let test: (v: string) => boolean;
      try {
        test = compilePromRegex(value).test;
      } catch (err) {
        throw new PromQLEvalError((err as Error).message);
      }
      return type === "=~"
        ? { name, type, value, matches: test }
        : { name, type, value, matches: (v) => !test(v) };
    }
  }
}
