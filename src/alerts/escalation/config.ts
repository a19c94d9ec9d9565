// The escalation policies (monitoring/escalation.yml, docs/escalation.md): our own file, not
// alertmanager.yml, which a real Alertmanager must keep loading and which refuses unknown keys.
// A policy names the alerts it applies to (label matchers in Alertmanager's syntax, optionally
// only those routed to given receivers) and its steps: page receiver X when the alert is still
// unacknowledged N after its first page, optionally again every M, a bounded number of times.
// Errors name file:line:col; receivers are checked against alertmanager.yml's.

import { existsSync, readFileSync } from "node:fs";
import { isMap, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { z } from "zod";
import { ConfigError } from "../../core/config/index.js";
import { parseDuration } from "../../promql/index.js";
import { parseMatchers } from "../notify/matchers.js";
import type { Matcher } from "../notify/types.js";

export interface EscalationStep {
  receiver: string;
  /** Since the alert's first page. */
  afterMs: number;
  /** 0: once. */
  repeatMs: number;
  /** Further pages after the first one (0 without `repeat`). */
  maxRepeats: number;
}

export interface EscalationPolicy {
  name: string;
  matchers: Matcher[];
  /** Applies only to alerts routed to one of these receivers; empty: any receiver. */
  receivers: string[];
  steps: EscalationStep[];
}

export interface EscalationConfig {
  file: string;
  policies: EscalationPolicy[];
}

/** Bounds that keep one alert's schedule small (steps × repeats pages at most). */
export const MAX_STEPS = 10;
export const MAX_REPEATS = 100;

const duration = (what: string) =>
  z.string().transform((s, ctx) => {
    try {
      const ms = parseDuration(s);
      if (ms <= 0) ctx.addIssue({ code: "custom", message: `${what} must be longer than 0` });
      return ms;
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `${what}: ${(err as Error).message}` });
      return z.NEVER;
    }
  });

const stepSchema = z
  .strictObject({
    receiver: z.string().min(1),
    after: duration("after"),
    repeat: duration("repeat").optional(),
    max_repeats: z.number().int().min(1).max(MAX_REPEATS).optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.repeat === undefined) !== (s.max_repeats === undefined))
      ctx.addIssue({
        code: "custom",
        path: [s.repeat === undefined ? "max_repeats" : "repeat"],
        message: "repeat and max_repeats go together (repeat every M, at most max_repeats more times)",
      });
  });

const policySchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "1-64 letters, digits, '_', '.' or '-'"),
  matchers: z.array(z.string().min(1)).min(1),
  receivers: z.array(z.string().min(1)).default([]),
  steps: z.array(stepSchema).min(1).max(MAX_STEPS),
});

const fileSchema = z.strictObject({ policies: z.array(policySchema).default([]) });

/** The node a zod issue path points at, for its line. */
function nodeAt(root: Node | null, path: PropertyKey[]): Node | undefined {
  let node: unknown = root;
  let found: Node | undefined = root ?? undefined;
  for (const key of path) {
    if (isMap(node)) node = node.get(key as string, true);
    else if (isSeq(node)) node = node.get(key as number, true);
    else break;
    if (node && typeof node === "object" && "range" in node) found = node as Node;
  }
  return found;
}

/**
 * Parses the policies. Throws ConfigError `file:line:col: problem` for bad YAML, unknown keys,
 * bad durations or matchers, duplicate names, unknown receivers (when `receivers` is given) and
 * steps out of order.
 */
export function parseEscalationConfig(text: string, file: string, receivers?: Set<string>): EscalationConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (node: Node | undefined) => {
    const offset = node?.range?.[0];
    if (offset === undefined) return file;
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lines.linePos(first.pos[0]);
    throw new ConfigError(`${file}:${line}:${col}: invalid YAML: ${first.message.split("\n")[0]}`);
  }
  const root = doc.contents as Node | null;
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // yaml refuses alias bombs (and anything else it cannot build) here: name the file.
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(data ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const path = issue.path.map(String).join(".");
    const what =
      issue.code === "unrecognized_keys" ? `unknown field ${issue.keys.join(", ")}` : issue.message;
    throw new ConfigError(`${at(nodeAt(root, issue.path))}: ${path ? `${path}: ` : ""}${what}`);
  }
  const names = new Set<string>();
  const policies = parsed.data.policies.map((p, i): EscalationPolicy => {
    const node = (...rest: PropertyKey[]) => nodeAt(root, ["policies", i, ...rest]);
    if (names.has(p.name)) throw new ConfigError(`${at(node("name"))}: duplicate policy name ${p.name}`);
    names.add(p.name);
    const matchers = p.matchers.flatMap((m, j) => {
      try {
        return parseMatchers(m);
      } catch (err) {
        throw new ConfigError(
          `${at(node("matchers", j))}: bad matcher ${JSON.stringify(m)}: ${(err as Error).message}`,
        );
      }
    });
    const known = (r: string, n: Node | undefined) => {
      if (receivers && !receivers.has(r))
        throw new ConfigError(`${at(n)}: no receiver named ${JSON.stringify(r)} in alertmanager.yml`);
    };
    for (const [j, r] of p.receivers.entries()) known(r, node("receivers", j));
    let last = 0;
    const steps = p.steps.map((s, j): EscalationStep => {
      known(s.receiver, node("steps", j, "receiver"));
      if (s.after < last)
        throw new ConfigError(`${at(node("steps", j, "after"))}: steps must be in order of 'after'`);
      last = s.after;
      return {
        receiver: s.receiver,
        afterMs: s.after,
        repeatMs: s.repeat ?? 0,
        maxRepeats: s.max_repeats ?? 0,
      };
    });
    return { name: p.name, matchers, receivers: p.receivers, steps };
  });
  return { file, policies };
}

/** The file's policies; none when the file does not exist (escalation is opt-in). */
export function loadEscalationConfig(file: string, receivers?: Set<string>): EscalationConfig {
  if (!existsSync(file)) return { file, policies: [] };
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(
      `${file}: cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return parseEscalationConfig(text, file, receivers);
}

/** The first policy for an alert routed to these receivers, if any. */
export function policyFor(
  config: EscalationConfig,
  labels: Record<string, string>,
  routedTo: readonly string[],
): EscalationPolicy | undefined {
  return config.policies.find(
    (p) =>
      p.matchers.every((m) => m.matches(labels[m.name] ?? "")) &&
      (p.receivers.length === 0 || p.receivers.some((r) => routedTo.includes(r))),
  );
}

/** One page of a policy's schedule: `key` is the idempotency key of the page within an episode. */
export interface ScheduledPage {
  key: string;
  receiver: string;
  /** Since the first page. */
  offsetMs: number;
}

/** Every page of a policy in order of time (bounded: MAX_STEPS × (1 + MAX_REPEATS)). */
export function schedule(policy: EscalationPolicy): ScheduledPage[] {
  const out: ScheduledPage[] = [];
  policy.steps.forEach((s, i) => {
    for (let k = 0; k <= s.maxRepeats; k++)
      out.push({ key: `step${i + 1}.${k}`, receiver: s.receiver, offsetMs: s.afterMs + k * s.repeatMs });
  });
  return out.sort((a, b) => a.offsetMs - b.offsetMs);
}
