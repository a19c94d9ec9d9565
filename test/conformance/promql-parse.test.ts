import { describe, expect, it } from "vitest";
import { parseTestFile } from "../../src/promql/testfile.js";
import { promqlTestFiles } from "./promql-files.js";

describe("PromQL test files (Prometheus v2.42.0) parse", () => {
  const files = promqlTestFiles();

  it.each(files.map((f) => [f.name, f.text] as const))("%s", (name, text) => {
    const cmds = parseTestFile(text, name);
    const evals = cmds.filter((c) => c.kind === "eval");
    const counts = {
      load: cmds.filter((c) => c.kind === "load").length,
      clear: cmds.filter((c) => c.kind === "clear").length,
      eval: evals.length,
      eval_fail: evals.filter((c) => c.expectFail).length,
      eval_ordered: evals.filter((c) => c.ordered).length,
    };
    console.log(`${name}: ${JSON.stringify(counts)}`);
    expect(evals.length).toBeGreaterThan(0);
    for (const c of cmds) expect(c.line).toBeGreaterThan(0);
  });

  it("totals match the files' command lines", () => {
    let load = 0;
    let clear = 0;
    let evals = 0;
    let commandLines = 0;
    for (const f of files) {
      const cmds = parseTestFile(f.text, f.name);
      load += cmds.filter((c) => c.kind === "load").length;
      clear += cmds.filter((c) => c.kind === "clear").length;
      evals += cmds.filter((c) => c.kind === "eval").length;
      commandLines += f.text
        .split("\n")
        .filter((l) => /^(load|clear|eval(_fail|_ordered)?)(\s|$)/.test(l.trim())).length;
    }
    expect(load + clear + evals).toBe(commandLines);
  });
});
