// Failing rule evaluations into the app's log, as Prometheus logs them (warn, with the rule, its
// group and the error), without letting a permanently broken rule flood the log: each rule is
// logged when it starts failing and then at most once a minute while it keeps failing, with the
// latest error and how many failed evaluations went unlogged since its previous line. Runs on the API thread,
// fed by the engine's rule_group events (see protocol.ts).

import type { RuleGroupEvaluation } from "./protocol.js";

export interface RuleFailureLogOptions {
  warn: (fields: Record<string, unknown>, msg: string) => void;
  /** Milliseconds since the epoch. Default Date.now. */
  now?: () => number;
  /** At most one line per rule per this long. Default 1 min. */
  intervalMs?: number;
}

interface RuleLogState {
  /** When this rule's last line was written. */
  loggedAt: number;
  /** Failed evaluations of this rule not logged since that line. */
  suppressed: number;
}

const DEFAULT_INTERVAL_MS = 60_000;

export class RuleFailureLog {
  private readonly warn: RuleFailureLogOptions["warn"];
  private readonly now: () => number;
  private readonly intervalMs: number;
  /** Group (file + name) → rule index → state; only rules logged within the interval. */
  private readonly groups = new Map<string, Map<number, RuleLogState>>();

  constructor(opts: RuleFailureLogOptions) {
    this.warn = opts.warn;
    this.now = opts.now ?? Date.now;
    this.intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  /** Logs the failures of one group evaluation that are due. */
  record(e: RuleGroupEvaluation): void {
    const key = `${e.file}\u0000${e.group}`;
    let rules = this.groups.get(key);
    if (rules === undefined && e.failures.length === 0) return;
    if (rules === undefined) {
      rules = new Map();
      this.groups.set(key, rules);
    }
    const now = this.now();
    const failed = new Set<number>();
    for (const f of e.failures) {
      failed.add(f.index);
      const s = rules.get(f.index);
      if (s !== undefined && now - s.loggedAt < this.intervalMs) {
        s.suppressed++;
        continue;
      }
      this.warn(
        {
          event: "rule_evaluation_failed",
          rule: f.rule,
          group: e.group,
          file: e.file,
          error: f.error,
          suppressed: s?.suppressed ?? 0,
        },
        "rule evaluation failed",
      );
      rules.set(f.index, { loggedAt: now, suppressed: 0 });
    }
    // A rule that evaluates again stays throttled for the rest of its interval (a flapping rule
    // is logged once a minute too); after that, with nothing left untold, it is forgotten.
    for (const [index, s] of rules) {
      if (!failed.has(index) && s.suppressed === 0 && now - s.loggedAt >= this.intervalMs)
        rules.delete(index);
    }
    if (rules.size === 0) this.groups.delete(key);
  }
}
