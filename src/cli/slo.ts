// `tug slo generate [--input monitoring/slos.yml] [--output monitoring/slo_rules.yml] [--check]`:
// the SLO file's recording and alerting rules (docs/slo.md).
import { readFileSync, writeFileSync } from "node:fs";
import { ConfigError, loadConfig } from "../core/config/index.js";
import { generateRules, loadSloFile, SloFileError } from "../slo/index.js";

const USAGE =
  "usage: tug slo generate [--input monitoring/slos.yml] [--output monitoring/slo_rules.yml] [--check]\n";

/** The command line written into the generated file's header. */
export const GENERATE_COMMAND = "npm run tug -- slo generate";

/** Runs the `slo` subcommand; returns the exit code (1 invalid input or --check differs, 2 bad usage). */
export function sloCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  const [sub, ...args] = argv;
  const opts = { input: "monitoring/slos.yml", output: "monitoring/slo_rules.yml", check: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--check") opts.check = true;
    else if ((a === "--input" || a === "--output") && args[i + 1] !== undefined) {
      opts[a === "--input" ? "input" : "output"] = args[++i] as string;
    } else {
      err(`tug slo: unknown or incomplete option ${a}\n${USAGE}`);
      return 2;
    }
  }
  if (sub !== "generate") {
    err(USAGE);
    return 2;
  }
  let text: string;
  try {
    // The latency thresholds must be bucket bounds of the buckets this configuration exports.
    const { metrics } = loadConfig();
    const spec = loadSloFile(opts.input, {
      http: metrics.httpDurationBuckets,
      db: metrics.dbDurationBuckets,
    });
    text = generateRules(spec, opts.input, GENERATE_COMMAND);
  } catch (e) {
    if (e instanceof SloFileError || e instanceof ConfigError) {
      err(`tug slo: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (opts.check) {
    let current = "";
    try {
      current = readFileSync(opts.output, "utf8");
    } catch {
      // a missing file differs like any other: reported below
    }
    if (current !== text) {
      err(`tug slo: ${opts.output} is not what ${opts.input} implies: run \`${GENERATE_COMMAND}\`\n`);
      return 1;
    }
    out(`${opts.output} is up to date\n`);
    return 0;
  }
  writeFileSync(opts.output, text);
  out(`wrote ${opts.output} from ${opts.input}\n`);
  return 0;
}
