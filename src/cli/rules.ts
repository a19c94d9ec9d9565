// `tug rules test FILE.yml…`: promtool's rule unit tests against the embedded rule engine.
import { runRuleTestFile } from "../alerts/rules/index.js";

const USAGE = "usage: tug rules test FILE.yml…\n";

/** Runs the `rules` subcommand; returns the exit code (1 when any file fails, 2 on bad usage). */
export function rulesCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  const [sub, ...files] = argv;
  if (sub !== "test" || files.length === 0) {
    err(USAGE);
    return 2;
  }
  let failed = false;
  for (const file of files) {
    const r = runRuleTestFile(file);
    // promtool prints results on stdout and failures on stderr; one blank line after each file.
    (r.ok ? out : err)(`${r.output}\n`);
    if (!r.ok) failed = true;
  }
  return failed ? 1 : 0;
}
