import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runTestFile } from "../../src/promql/runner.js";
import { promqlTestFiles } from "./promql-files.js";

interface KnownFailure {
  file: string;
  line: number;
  reason: string;
}

const known: KnownFailure[] = JSON.parse(
  readFileSync(new URL("./promql-known-failures.json", import.meta.url), "utf8"),
).failures;

describe("PromQL test files (Prometheus v2.42.0) evaluate as in Prometheus", () => {
  const files = promqlTestFiles();

  it("the known-failures list names only existing files", () => {
    const names = new Set(files.map((f) => f.name));
    for (const k of known) expect(names, `${k.file}:${k.line}`).toContain(k.file);
  });

  it.each(files.map((f) => [f.name, f.text] as const))("%s", (name, text) => {
    const r = runTestFile(text, name);
    console.log(`${name}: ${r.passed} passed, ${r.failed} failed`);
    const allowed = new Set(known.filter((k) => k.file === name).map((k) => k.line));
    const unexpected = r.failures
      .filter((f) => !allowed.has(f.line))
      .map((f) => `${name}:${f.line}: ${f.expr}: ${f.differences.join("; ")}`);
    const failing = new Set(r.failures.map((f) => f.line));
    const nowPassing = [...allowed].filter((line) => !failing.has(line)).map((line) => `${name}:${line}`);
    expect(unexpected, "cases failing that are not in promql-known-failures.json").toEqual([]);
    expect(nowPassing, "listed as known failures but now pass: remove them from the list").toEqual([]);
    expect(r.passed + r.failed).toBeGreaterThan(0);
  });
});
