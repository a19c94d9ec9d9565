import { type CompiledMatcher, compileRE2, type Matcher } from "../tsdb/index.js";
import { PromQLEvalError } from "./value.js";

export { compileRE2 };

/** A label matcher ready for SeriesStore.select, with RE2 regexes. Throws PromQLEvalError on a bad regex. */
export function compileLabelMatcher(m: Matcher): CompiledMatcher {
  const { name, type, value } = m;
  switch (type) {
    case "=":
      return { name, type, value, matches: (v) => v === value };
    case "!=":
      return { name, type, value, matches: (v) => v !== value };
    case "=~":
    case "!~": {
      let re: RegExp;
      try {
        re = compileRE2(value);
      } catch (err) {
        throw new PromQLEvalError(
          `error parsing regexp: ${(err as Error).message}: ${JSON.stringify(value)}`,
        );
      }
      return type === "=~"
        ? { name, type, value, matches: (v) => re.test(v) }
        : { name, type, value, matches: (v) => !re.test(v) };
    }
  }
}
