import { readFileSync } from "node:fs";
import {
  type Alias,
  type Document,
  isAlias,
  isCollection,
  isMap,
  isNode,
  isPair,
  isScalar,
  LineCounter,
  type Node,
  parseDocument,
} from "yaml";
import type { z } from "zod";
import { hideUrlCredentials } from "../secrets.js";
import { type Config, configSchema, ENV_SETTINGS, SECRET_PATHS } from "./schema.js";

/** A configuration error: `message` is one line naming the variable or file:line. */
export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object") {
    for (const k of Object.keys(v)) deepFreeze((v as Raw)[k]);
    Object.freeze(v);
  }
  return v;
}

type Env = Record<string, string | undefined>;
type Raw = Record<string, unknown>;

interface YamlSource {
  file: string;
  locate(path: readonly PropertyKey[], key?: string): string;
}

function setPath(obj: Raw, path: readonly string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (next === null || typeof next !== "object" || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Raw;
  }
  cur[path[path.length - 1] as string] = value;
}

function describeValue(v: unknown): string {
  if (typeof v === "string") {
    const safe = hideUrlCredentials(v);
    return JSON.stringify(safe.length > 60 ? `${safe.slice(0, 57)}...` : safe);
  }
  if (v === undefined) return "nothing";
  return JSON.stringify(v) ?? String(v);
}

/** An alias and the node its anchor names (undefined: no such anchor before it). */
interface AliasUse {
  alias: Alias;
  target: Node | undefined;
}

/**
 * Every alias of the document in document order, resolved in the same walk. Not yaml's `visit`
 * or `Alias.resolve`: those copy the path for each node and walk the whole document per alias,
 * quadratic in the nesting depth (seconds for a 25 KB file).
 */
function aliases(doc: Document): AliasUse[] {
  const out: AliasUse[] = [];
  const anchors = new Map<string, Node>();
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isAlias(node)) {
      out.push({ alias: node, target: anchors.get(node.source) });
      continue;
    }
    if (isNode(node) && node.anchor) anchors.set(node.anchor, node);
    if (isPair(node)) stack.push(node.value, node.key);
    else if (isCollection(node)) for (let i = node.items.length - 1; i >= 0; i--) stack.push(node.items[i]);
  }
  return out;
}

/** The alias a failed toJS() is about: the first one without an anchor, else the first one. */
function aliasBlamed(all: AliasUse[]): Alias | undefined {
  return (all.find((a) => a.target === undefined) ?? all[0])?.alias;
}

/** An alias inside the very node its anchor names (a cycle no configuration value can hold). */
function selfContainedAlias(all: AliasUse[]): Alias | undefined {
  return all.find(({ alias, target }) => {
    const at = alias.range?.[0];
    const range = target?.range;
    return range != null && at !== undefined && range[0] <= at && at < range[2];
  })?.alias;
}

function readYaml(file: string): { data: Raw; source: YamlSource } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(
      `MONITORING_CONFIG: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; expected a readable YAML file`,
    );
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const pos = lineCounter.linePos(first.pos[0]);
    const what = first.message.split("\n")[0];
    throw new ConfigError(`${file}:${pos.line}:${pos.col}: invalid YAML: ${what}`);
  }
  const all = aliases(doc);
  const cyclic = selfContainedAlias(all);
  if (cyclic) {
    const pos = lineCounter.linePos(cyclic.range?.[0] ?? 0);
    throw new ConfigError(
      `${file}:${pos.line}:${pos.col}: invalid YAML: alias *${cyclic.source} refers to a value that contains it`,
    );
  }
  let data: unknown;
  try {
    data = doc.toJS() ?? {};
  } catch (err) {
    // yaml refuses an alias without its anchor and an alias bomb ("billion laughs": over its
    // maxAliasCount) only when building values, with a ReferenceError: a configuration error.
    const pos = lineCounter.linePos(aliasBlamed(all)?.range?.[0] ?? 0);
    const what = (err instanceof Error ? err.message : String(err)).split("\n")[0];
    throw new ConfigError(`${file}:${pos.line}:${pos.col}: invalid YAML: ${what}`);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError(`${file}:1:1: expected a mapping of settings at the top level`);
  }
  const at = (node: Node | null | undefined): string => {
    const offset = node?.range?.[0] ?? 0;
    const pos = lineCounter.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const locate = (path: readonly PropertyKey[], key?: string): string => {
    let node: unknown = doc.contents;
    let last: Node | null | undefined = doc.contents as Node | null;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        node = pair.value;
        last = (pair.value as Node) ?? (pair.key as Node);
      } else if (node && typeof node === "object" && "items" in node && typeof seg === "number") {
        const item = (node as { items: unknown[] }).items[seg];
        if (!item) break;
        node = item;
        last = item as Node;
      } else break;
    }
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      if (pair) return at(pair.key as Node);
    }
    return at(last);
  };
  return { data: data as Raw, source: { file, locate } };
}

function parseEnv(env: Env, raw: Raw, fromEnv: Map<string, string>): void {
  for (const s of ENV_SETTINGS) {
    const value = env[s.env];
    if (value === undefined || value === "") continue;
    let parsed: unknown = value;
    if (s.kind === "integer") {
      if (!/^\s*-?\d+\s*$/.test(value)) {
        throw new ConfigError(`${s.env}=${describeValue(value)} is not valid: expected a whole number`);
      }
      parsed = Number.parseInt(value, 10);
    } else if (s.kind === "boolean") {
      const v = value.trim().toLowerCase();
      if (!["true", "false", "1", "0", "yes", "no"].includes(v)) {
        throw new ConfigError(`${s.env}=${describeValue(value)} is not valid: expected true or false`);
      }
      parsed = v === "true" || v === "1" || v === "yes";
    } else if (s.kind === "list") {
      // Comma-separated, blanks ignored: ALERTMANAGER_URLS=http://am1:9093,http://am2:9093
      parsed = value
        .split(",")
        .map((v) => v.trim())
        .filter((v) => v !== "");
    }
    setPath(raw, s.path, parsed);
    fromEnv.set(s.path.join("."), s.env);
  }
}

function getPath(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

const TYPE_WORDS: Record<string, string> = {
  number: "a number",
  string: "a string",
  boolean: "true or false",
  array: "a list",
  object: "a mapping of settings",
};

function explain(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}`;
    case "too_small":
      return `expected ${issue.origin === "string" ? "a length" : issue.origin === "array" ? "a count" : "a value"} of at least ${issue.minimum}${issue.message && !issue.message.startsWith("Too small") ? ` (${issue.message})` : ""}`;
    case "too_big":
      return `expected ${issue.origin === "string" ? "a length" : "a value"} of at most ${issue.maximum}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "unrecognized_keys":
      return "unknown setting";
    default:
      return issue.message;
  }
}

/** Load the configuration from the environment and the optional YAML file, validated once. */
export function loadConfig(env: Env = process.env): Config {
  const raw: Raw = {};
  let source: YamlSource | undefined;
  const file = env.MONITORING_CONFIG;
  if (file) {
    const yaml = readYaml(file);
    Object.assign(raw, yaml.data);
    source = yaml.source;
  }
  const fromEnv = new Map<string, string>();
  parseEnv(env, raw, fromEnv);

  const result = configSchema.safeParse(raw);
  if (result.success) {
    const config = result.data;
    if (config.environment !== "development" && !config.monitoring.token) {
      throw new ConfigError(
        `MONITORING_TOKEN is required when ENVIRONMENT=${config.environment}: set it to a random string of at least 16 characters (e.g. openssl rand -hex 32)`,
      );
    }
    return deepFreeze(config);
  }

  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const path = issue.path.map((p) => String(p));
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0] as string;
    const dotted = [...path, key].join(".");
    const where = source ? source.locate(issue.path, key) : "configuration";
    throw new ConfigError(
      `${where}: unknown setting "${dotted}"; see docs/configuration.md for the settings`,
    );
  }
  const dotted = path.join(".");
  const value = getPath(raw, issue.path);
  const envName = fromEnv.get(dotted) ?? fromEnv.get(path.slice(0, -1).join("."));
  const secret = (SECRET_PATHS as readonly string[]).includes(dotted);
  const shown = secret ? "(secret, not shown)" : describeValue(value);
  if (envName) throw new ConfigError(`${envName}=${shown} is not valid: ${explain(issue)}`);
  const where = source ? source.locate(issue.path) : "configuration";
  throw new ConfigError(`${where}: ${dotted} = ${shown} is not valid: ${explain(issue)}`);
}

/** A deep copy of the configuration with every secret and URL credential replaced. */
export function redactConfig(config: Config): unknown {
  const copy = JSON.parse(JSON.stringify(config)) as Raw;
  for (const p of SECRET_PATHS) {
    const path = p.split(".");
    if (getPath(copy, path) !== undefined) setPath(copy, path, "[REDACTED]");
  }
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return hideUrlCredentials(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      for (const k of Object.keys(v)) (v as Raw)[k] = walk((v as Raw)[k]);
    }
    return v;
  };
  return walk(copy);
}
