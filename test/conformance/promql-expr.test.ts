import { describe, expect, it } from "vitest";
import { parseExpr } from "../../src/promql/parse.js";
import { parseTestFile } from "../../src/promql/testfile.js";
import { promqlTestFiles } from "./promql-files.js";

describe("every eval expression of the PromQL test files parses", () => {
  it.each(promqlTestFiles().map((f) => [f.name, f.text] as const))("%s", (name, text) => {
    const failures: string[] = [];
    for (const c of parseTestFile(text, name)) {
      if (c.kind !== "eval") continue;
      try {
        parseExpr(c.expr);
      } catch (e) {
        // Prometheus 2.42's test.go parses eval_fail expressions too (they fail at evaluation), so none
        // may fail here; the tag only helps reading the report.
        failures.push(
          `${name}:${c.line}${c.expectFail ? " (eval_fail)" : ""}: ${c.expr}: ${(e as Error).message}`,
        );
      }
    }
    if (failures.length > 0) console.log(failures.join("\n"));
    expect(failures).toEqual([]);
  });
});
