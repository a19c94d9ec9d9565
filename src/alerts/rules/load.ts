// Prometheus rule files (rulefmt, v2.42): parsed with positions, validated as Prometheus does,
// every error reported as one line `FILE:LINE:COL: ...`.

import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from "yaml";
import { FileLineError } from "../../core/file-error.js";
import { type Expr, PromQLParseError, parseDuration, parseExpr } from "../../promql/index.js";
import { parseTemplate, TemplateError } from "./template.js";

/** One recording or alerting rule, validated, with its expression parsed. */
export interface RuleDef {
  kind: "recording" | "alerting";
  /** The `record` or `alert` name. */
  name: string;
  expr: string;
  parsed: Expr;
  /** `for`, ms (alerting only; 0 when absent). */
  forMs: number;
  /** `keep_firing_for`, ms (alerting only; 0 when absent). */
  keepFiringForMs: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** 1-based position in the group, as Prometheus numbers rules in errors. */
  index: number;
  line: number;
}

export interface GroupDef {
  name: string;
  file: string;
  /** The group's `interval`, ms; undefined means the global evaluation interval. */
  intervalMs: number | undefined;
  /** `limit`: the most alerts or series a rule may produce; 0 = no limit. */
  limit: number;
  rules: RuleDef[];
}

/** An invalid rule file. `message` is one line: `FILE:LINE:COL: reason`. */
export class RuleFileError extends FileLineError {
  constructor(file: string, line: number, column: number, reason: string) {
    super(file, line, column, reason);
    this.name = "RuleFileError";
  }
}

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const GROUP_KEYS = new Set(["name", "interval", "limit", "rules"]);
const RULE_KEYS = new Set(["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"]);

/** Reads and validates a rule file; throws RuleFileError. */
export function loadRuleFile(file: string): GroupDef[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new RuleFileError(file, 0, 0, `cannot read rule file: ${(e as Error).message}`);
  }
  return parseRuleFile(text, file);
}

/** Parses and validates a rule file's text; throws RuleFileError. */
export function parseRuleFile(text: string, file = "<input>"): GroupDef[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const at = (node: Node | null | undefined, reason: string): RuleFileError => {
    const pos = lc.linePos(node?.range?.[0] ?? 0);
    return new RuleFileError(file, pos.line, pos.col, reason);
  };
  const first = doc.errors[0];
  if (first !== undefined) {
    const pos = lc.linePos(first.pos[0]);
    throw new RuleFileError(file, pos.line, pos.col, `yaml: ${first.message.split("\n")[0]}`);
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ""))) return [];
  if (!isMap(root)) throw at(root, "rule file must be a mapping with a `groups` list");
  checkKeys(root, new Set(["groups"]), "rule file", at);
  const groupsNode = root.get("groups", true) as Node | undefined;
  if (groupsNode === undefined || (isScalar(groupsNode) && groupsNode.value === null)) return [];
  if (!isSeq(groupsNode)) throw at(groupsNode, "`groups` must be a list");
  const groups: GroupDef[] = [];
  const seen = new Set<string>();
  for (const gNode of groupsNode.items as Node[]) {
    if (!isMap(gNode)) throw at(gNode, "a group must be a mapping");
    checkKeys(gNode, GROUP_KEYS, "group", at);
    const name = str(gNode, "name", at);
    if (name === undefined || name === "") throw at(gNode, "Groupname must not be empty");
    if (seen.has(name))
      throw at(gNode.get("name", true) as Node, `groupname: "${name}" is repeated in the same file`);
    seen.add(name);
    const intervalText = str(gNode, "interval", at);
    let intervalMs: number | undefined;
    if (intervalText !== undefined)
      intervalMs = duration(intervalText, gNode.get("interval", true) as Node, at);
    const limitNode = gNode.get("limit", true) as Node | undefined;
    let limit = 0;
    if (limitNode !== undefined) {
      const v = isScalar(limitNode) ? limitNode.value : undefined;
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
        throw at(limitNode, "`limit` must be a non-negative integer");
      limit = v;
    }
    const rulesNode = gNode.get("rules", true) as Node | undefined;
    const rules: RuleDef[] = [];
    if (rulesNode !== undefined && !(isScalar(rulesNode) && rulesNode.value === null)) {
      if (!isSeq(rulesNode)) throw at(rulesNode, "`rules` must be a list");
      (rulesNode.items as Node[]).forEach((rNode, j) => {
        rules.push(parseRule(rNode, j + 1, name, lc, at));
      });
    }
    groups.push({ name, file, intervalMs, limit, rules });
  }
  return groups;
}

type At = (node: Node | null | undefined, reason: string) => RuleFileError;

function checkKeys(map: YAMLMap, allowed: Set<string>, what: string, at: At): void {
  for (const pair of map.items) {
    const key = pair.key as Node;
    const name = isScalar(key) ? String(key.value) : "?";
    if (!allowed.has(name)) throw at(key, `field ${name} not found in ${what}`);
  }
}

function str(map: YAMLMap, key: string, at: At): string | undefined {
  const node = map.get(key, true) as Node | undefined;
  if (node === undefined) return undefined;
  if (!isScalar(node)) throw at(node, `\`${key}\` must be a string`);
  if (node.value === null) return undefined;
  if (typeof node.value === "object") throw at(node, `\`${key}\` must be a string`);
  return String(node.value);
}

function duration(text: string, node: Node, at: At): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw at(node, `${(e as Error).message}`);
  }
}

function stringMap(map: YAMLMap, key: string, at: At): Record<string, string> {
  const node = map.get(key, true) as Node | undefined;
  const out: Record<string, string> = {};
  if (node === undefined || (isScalar(node) && node.value === null)) return out;
  if (!isMap(node)) throw at(node, `\`${key}\` must be a mapping of strings`);
  for (const pair of node.items) {
    const k = pair.key as Node;
    const v = pair.value as Node | null;
    if (!isScalar(k)) throw at(k, `\`${key}\` keys must be strings`);
    if (v !== null && (!isScalar(v) || (typeof v.value === "object" && v.value !== null)))
      throw at(v, `\`${key}\` values must be strings`);
    out[String(k.value)] = v === null || v.value === null ? "" : String(v.value);
  }
  return out;
}

function parseRule(node: Node, index: number, group: string, lc: LineCounter, at: At): RuleDef {
  if (!isMap(node)) throw at(node, `group "${group}", rule ${index}: a rule must be a mapping`);
  const record = str(node, "record", at);
  const alert = str(node, "alert", at);
  const name = record ?? alert ?? "";
  const ruleAt = (n: Node | null | undefined, reason: string) =>
    at(n ?? node, `group "${group}", rule ${index}, "${name}": ${reason}`);
  for (const pair of node.items) {
    const key = pair.key as Node;
    const k = isScalar(key) ? String(key.value) : "?";
    if (!RULE_KEYS.has(k)) throw ruleAt(key, `field ${k} not found in rule`);
  }
  if (record !== undefined && alert !== undefined)
    throw ruleAt(node, "only one of 'record' and 'alert' must be set");
  if (record === undefined && alert === undefined)
    throw ruleAt(node, "one of 'record' or 'alert' must be set");
  if (name === "")
    throw ruleAt(node, `field '${record !== undefined ? "record" : "alert"}' must not be empty`);
  const exprNode = node.get("expr", true) as Node | undefined;
  const expr = str(node, "expr", at);
  if (expr === undefined || expr.trim() === "") throw ruleAt(exprNode, "field 'expr' must be set in rule");
  let parsed: Expr;
  try {
    parsed = parseExpr(expr);
  } catch (e) {
    if (e instanceof PromQLParseError) throw ruleAt(exprNode, `could not parse expression: ${e.message}`);
    throw e;
  }
  const labels = stringMap(node, "labels", at);
  const annotations = stringMap(node, "annotations", at);
  const forText = str(node, "for", at);
  const kffText = str(node, "keep_firing_for", at);
  if (record !== undefined) {
    if (node.has("annotations"))
      throw ruleAt(node.get("annotations", true) as Node, "invalid field 'annotations' in recording rule");
    if (forText !== undefined)
      throw ruleAt(node.get("for", true) as Node, "invalid field 'for' in recording rule");
    if (kffText !== undefined)
      throw ruleAt(
        node.get("keep_firing_for", true) as Node,
        "invalid field 'keep_firing_for' in recording rule",
      );
    if (!METRIC_NAME_RE.test(record))
      throw ruleAt(node.get("record", true) as Node, `invalid recording rule name: ${record}`);
  }
  for (const k of Object.keys(labels)) {
    if (!LABEL_NAME_RE.test(k) || k === "__name__")
      throw ruleAt(node.get("labels", true) as Node, `invalid label name: ${k}`);
  }
  for (const k of Object.keys(annotations)) {
    if (!LABEL_NAME_RE.test(k))
      throw ruleAt(node.get("annotations", true) as Node, `invalid annotation name: ${k}`);
  }
  const forMs = forText === undefined ? 0 : durationFor(forText, node.get("for", true) as Node, ruleAt);
  const keepFiringForMs =
    kffText === undefined ? 0 : durationFor(kffText, node.get("keep_firing_for", true) as Node, ruleAt);
  if (alert !== undefined) {
    // Prometheus parses every label and annotation template at load time.
    for (const [kind, m] of [
      ["labels", labels],
      ["annotations", annotations],
    ] as const) {
      for (const [k, v] of Object.entries(m)) {
        try {
          parseTemplate(v, `__alert_${alert}`);
        } catch (e) {
          if (e instanceof TemplateError) {
            const holder = node.get(kind, true) as unknown as YAMLMap;
            throw ruleAt(holder.get(k, true) as Node, `${kind}.${k}: ${e.message}`);
          }
          throw e;
        }
      }
    }
  }
  const pos = lc.linePos(node.range?.[0] ?? 0);
  return {
    kind: record !== undefined ? "recording" : "alerting",
    name,
    expr,
    parsed,
    forMs,
    keepFiringForMs,
    labels,
    annotations,
    index,
    line: pos.line,
  };
}

function durationFor(text: string, node: Node, ruleAt: (n: Node, reason: string) => RuleFileError): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw ruleAt(node, (e as Error).message);
  }
}
