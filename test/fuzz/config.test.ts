/**
 * Fuzz: configuration files. Random YAML documents (the repository's own files with settings set
 * to wrong types, unknown keys, deep nesting; alias bombs, broken syntax, huge scalars) through
 * the three loaders, each in a sandboxed worker (./support.ts): the app's config (loadConfig with
 * MONITORING_CONFIG), Prometheus rule files (loadRuleFile) and alertmanager.yml
 * (loadAlertmanagerConfig). Property: the loader returns, or throws its own error type
 * (ConfigError, RuleFileError) whose message names file:line:col — never another exception,
 * never a hang (5 s), never an exhausted heap (512 MB). Budget and seeds: see ./support.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../src/core/config/index.js";
import { aliasBomb, yamlLike, yamlOddities } from "./arbitraries.js";
import { checkProperty, Sandbox, type SandboxOutcome, type SandboxRequest } from "./support.js";

const FILE = "test/fuzz/config.test.ts";
const ROOT = new URL("../..", import.meta.url).pathname;
const HANG_MS = 5_000;
const sandbox = new Sandbox(HANG_MS);
// The worker's start (tsx compiling the sources) is not part of any property's time budget.
beforeAll(() => sandbox.warm(), 60_000);
afterAll(() => sandbox.close());

type Kind = "config" | "rules" | "alertmanager";
const ERROR_TYPE: Record<Kind, string> = {
  config: "ConfigError",
  rules: "RuleFileError",
  alertmanager: "ConfigError",
};

/** Why an outcome breaks the property, or undefined when it holds. */
function violation(kind: Kind, o: SandboxOutcome, empty: boolean): string | undefined {
  if (o.kind === "hang") return `no answer within ${HANG_MS} ms`;
  if (o.kind === "crash") return `the loader crashed its worker: ${o.message}`;
  const { error, file } = o.reply;
  if (!error) return undefined;
  if (error.constructor !== ERROR_TYPE[kind]) {
    return `threw ${error.constructor} (${error.message.slice(0, 300)}), not ${ERROR_TYPE[kind]}`;
  }
  const escaped = (file ?? "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  // A document with nothing in it has no line to name: the file alone will do.
  const where = empty ? `^${escaped}(:[1-9]\\d*:[1-9]\\d*)?: \\S` : `^${escaped}:[1-9]\\d*:[1-9]\\d*: \\S`;
  if (!new RegExp(where).test(error.message)) {
    return `${error.constructor} does not name file:line:col: ${error.message.slice(0, 300)}`;
  }
  return undefined;
}

/** Only blanks and comments. */
function isEmptyDocument(text: string): boolean {
  return text.split("\n").every((l) => /^\s*(#.*)?$/.test(l));
}

async function holds(kind: Kind, text: string): Promise<boolean> {
  const o = await sandbox.run({ kind, text } as SandboxRequest);
  const v = violation(kind, o, isEmptyDocument(text));
  if (v) throw new Error(`${kind} loader: ${v}`);
  return true;
}

const configBase = JSON.parse(JSON.stringify(loadConfig({}))) as unknown;
const rulesBase = parse(readFileSync(join(ROOT, "monitoring/alert_rules.yml"), "utf8")) as unknown;
const amBase = parse(readFileSync(join(ROOT, "monitoring/alertmanager.yml"), "utf8")) as unknown;

const BUDGET = { runs: 250, timeMs: 6_000 };

describe("fuzz: configuration files", () => {
  it("the fuzzed documents start from valid ones", async () => {
    // Otherwise every input would fail for the same reason and test nothing.
    const { stringify } = await import("yaml");
    for (const [kind, base] of [
      ["config", configBase],
      ["rules", rulesBase],
      ["alertmanager", amBase],
    ] as const) {
      const o = await sandbox.run({ kind, text: stringify(base) });
      expect(o.kind === "reply" && o.reply.error, kind).toBeUndefined();
    }
  });

  it("a billion-laughs alias bomb is refused or bounded by every loader", async () => {
    const bomb = aliasBomb(9); // 9^9 ≈ 387 million nodes if expanded
    for (const kind of ["config", "rules", "alertmanager"] as const) {
      const started = performance.now();
      const o = await sandbox.run({ kind, text: bomb });
      expect(violation(kind, o, false), kind).toBeUndefined();
      expect(performance.now() - started, kind).toBeLessThan(HANG_MS);
    }
  });

  for (const [kind, base] of [
    ["config", configBase],
    ["rules", rulesBase],
    ["alertmanager", amBase],
  ] as const) {
    it(`${kind}: a config or a ${ERROR_TYPE[kind]} naming file:line, never another exception or a hang`, async () => {
      const name = `config files: ${kind}`;
      const docs = fc.oneof({ weight: 3, arbitrary: yamlLike(base) }, { weight: 2, arbitrary: yamlOddities });
      await checkProperty(
        name,
        FILE,
        fc.asyncProperty(docs, (text) => holds(kind, text)),
        BUDGET,
      );
    }, 60_000);
  }
});
