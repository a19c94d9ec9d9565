// `tug promql test FILE…`: runs Prometheus PromQL test files against the embedded engine.
import { readFileSync } from "node:fs";
import { TestFileParseError } from "../promql/index.js";
import { formatFileResult, runTestFile } from "../promql/runner.js";

const USAGE = "usage: tug promql test FILE.test…\n";

/** Runs the `promql` subcommand; returns the exit code (1 on any failed case or unreadable file). */
export function promqlCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  const [sub, ...files] = argv;
  if (sub !== "test" || files.length === 0) {
    err(USAGE);
    return 2;
  }
  let failed = false;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      err(`${file}: cannot read: ${(e as Error).message}\n`);
      failed = true;
      continue;
    }
    try {
      const r = runTestFile(text, file);
      out(`${formatFileResult(r)}\n`);
      if (r.failed > 0) failed = true;
    } catch (e) {
      if (!(e instanceof TestFileParseError)) throw e;
      err(`${e.message}\n`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
