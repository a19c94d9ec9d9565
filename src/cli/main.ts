import { readFileSync, writeFileSync } from "node:fs";
import { DOCS_BEGIN, DOCS_END, settingsTable } from "../core/config/docs.js";
import { ConfigError, loadConfig, redactConfig } from "../core/config/index.js";

const HELP = `tug — the TUG API and its monitoring

Usage:
  tug serve                      run the API with all monitoring (what npm start runs)
  tug config check               validate the configuration (environment + MONITORING_CONFIG) and print it, secrets redacted
  tug config docs [--write FILE] print the settings table of docs/configuration.md, or rewrite it in FILE
  tug promql test FILE.test…     run Prometheus PromQL test files against the embedded engine
  tug rules test FILE.yml…       run promtool rule unit-test files against the embedded rule engine
  tug slo generate [--input F] [--output F] [--check]
                                 write the SLO file's recording and burn-rate alert rules (monitoring/slo_rules.yml)
  tug logs analyze FILE [--format FORMAT|pino] [--output OUT.csv]
                                 mine templates from a log file: summary, and LineId,EventId,EventTemplate rows
  tug anomaly detect SERIES.csv [--output OUT.csv]
                                 score timestamp,value rows (anomalous at >= 0.5)
  tug alerts test --receiver NAME [--config FILE]
                                 send a test notification through one receiver of alertmanager.yml
  tug deploy watch --version V --health-url URL [--rollback-url URL] [--duration 15m] …
                                 watch a deployment as a CI/CD gate: exit 0 succeeded, 1 failed or rolled back, 2 could not run
  tug help                       this text
`;

/** Run the CLI with `argv` (without node and the script); returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  switch (command) {
    case "serve": {
      const { serve } = await import("./serve.js");
      await serve();
      return -1; // keeps running
    }
    case "config":
      if (sub === "check") {
        try {
          process.stdout.write(`${JSON.stringify(redactConfig(loadConfig()), null, 2)}\n`);
          return 0;
        } catch (err) {
          if (err instanceof ConfigError) {
            process.stderr.write(`tug: invalid configuration: ${err.message}\n`);
            return 78;
          }
          throw err;
        }
      }
      if (sub === "docs") {
        const table = settingsTable();
        if (rest[0] === "--write" && rest[1]) {
          const text = readFileSync(rest[1], "utf8");
          const a = text.indexOf(DOCS_BEGIN);
          const b = text.indexOf(DOCS_END);
          if (a < 0 || b < 0) {
            process.stderr.write(`tug: ${rest[1]} has no settings markers\n`);
            return 1;
          }
          writeFileSync(rest[1], text.slice(0, a) + table + text.slice(b + DOCS_END.length));
          return 0;
        }
        process.stdout.write(`${table}\n`);
        return 0;
      }
      process.stderr.write(`tug: unknown config command ${sub ?? ""}\n${HELP}`);
      return 2;
    case "promql": {
      const { promqlCommand } = await import("./promql.js");
      return promqlCommand(
        [sub ?? "", ...rest],
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    }
    case "rules":
      return (await import("./rules.js")).rulesCommand(
        [sub ?? "", ...rest],
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    case "slo":
      return (await import("./slo.js")).sloCommand(
        [sub ?? "", ...rest],
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    case "logs":
      return (await import("./logs.js")).logsCommand(
        [sub ?? "", ...rest],
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    case "anomaly":
      return (await import("./anomaly.js")).anomalyCommand(
        [sub ?? "", ...rest],
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    case "alerts":
      return (await import("./alerts.js")).alertsCommand(
        [sub ?? "", ...rest],
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    case "deploy":
      return (await import("./deploy.js")).deployCommand(
        [sub ?? "", ...rest],
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`tug: unknown command "${command}"\n${HELP}`);
      return 2;
  }
}
