// Inhibition as Alertmanager 0.25 applies it (inhibit/inhibit.go): an alert matching a rule's
// target matchers is muted while some unresolved alert matching the source matchers carries
// the same values of the `equal` labels; an alert matching both sides cannot inhibit another
// that also matches both sides (so a rule never mutes the very alerts that drive it).

import { resolvedAt, type StoredAlert } from "./alerts.js";
import type { InhibitRule, Matcher } from "./types.js";

function matchesAll(ms: Matcher[], labels: Record<string, string>): boolean {
  return ms.every((m) => m.matches(labels[m.name] ?? ""));
}

export class Inhibitor {
  constructor(
    private readonly rules: InhibitRule[],
    private readonly alerts: () => Iterable<StoredAlert>,
  ) {}

  /** Fingerprints of the alerts that inhibit these labels (empty: not inhibited). */
  inhibitedBy(labels: Record<string, string>, nowMs: number): string[] {
    const by = new Set<string>();
    for (const rule of this.rules) {
      if (!matchesAll(rule.targetMatchers, labels)) continue;
      const twoSided = matchesAll(rule.sourceMatchers, labels);
      for (const a of this.alerts()) {
        if (resolvedAt(a, nowMs) || !matchesAll(rule.sourceMatchers, a.labels)) continue;
        if (!rule.equal.every((n) => (a.labels[n] ?? "") === (labels[n] ?? ""))) continue;
        if (twoSided && matchesAll(rule.targetMatchers, a.labels)) continue;
        by.add(a.fingerprint);
        // Alertmanager reports the first inhibiting alert of the first rule that applies.
        return [...by];
      }
    }
    return [];
  }
}
