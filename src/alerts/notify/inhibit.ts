// Inhibition as Alertmanager 0.25 applies it (inhibit/inhibit.go): an alert matching a rule's
// target matchers is muted while some unresolved alert matching the source matchers carries
// the same values of the `equal` labels; an alert matching both sides cannot inhibit another
// that also matches both sides (so a rule never mutes the very alerts that drive it).
//
// Alertmanager scans every source alert of a rule for each check. Here the unresolved source
// alerts are indexed per rule by their `equal` values (and by whether they match both sides),
// so a check costs one lookup per rule instead of a scan of every alert held: the listing and
// the pipeline check thousands of alerts. Each (rule, equal values) bucket has a version that
// changes whenever its set of unresolved source alerts does; a check returns the versions it
// read, so a cached result stays valid exactly as long as those buckets are unchanged.

import { resolvedAt, type StoredAlert } from "./alerts.js";
import type { InhibitRule, Matcher } from "./types.js";

function matchesAll(ms: Matcher[], labels: Record<string, string>): boolean {
  return ms.every((m) => m.matches(labels[m.name] ?? ""));
}

function equalKey(equal: string[], labels: Record<string, string>): string {
  return JSON.stringify(equal.map((n) => labels[n] ?? ""));
}

/** Unresolved source alerts of one rule: equal-label key → fingerprint → alert. */
type Buckets = Map<string, Map<string, StoredAlert>>;

/** What a check read: bucket id and its version then (0: the bucket did not exist). */
export type InhibitionDeps = Array<[string, number]>;

interface RuleIndex {
  rule: InhibitRule;
  /** Sources that do not match the target matchers: they may inhibit any target. */
  oneSided: Buckets;
  /** Sources that match the target matchers too: they cannot inhibit a two-sided target. */
  twoSided: Buckets;
}

export class Inhibitor {
  private readonly index: RuleIndex[];
  /** Bucket id (`rule index \0 equal key`) → version; a changed bucket takes a new clock value. */
  private readonly versions = new Map<string, number>();
  private clock = 0;
  /** No source alert resolves by time before this (a lower bound; rechecked when it passes). */
  private nextExpiry = Number.POSITIVE_INFINITY;

  constructor(rules: InhibitRule[]) {
    this.index = rules.map((rule) => ({ rule, oneSided: new Map(), twoSided: new Map() }));
  }

  /** Keeps the index current: call with every alert as stored (after merging). */
  update(alert: StoredAlert, nowMs: number): void {
    for (const [r, ix] of this.index.entries()) {
      if (!matchesAll(ix.rule.sourceMatchers, alert.labels)) continue;
      const side = matchesAll(ix.rule.targetMatchers, alert.labels) ? ix.twoSided : ix.oneSided;
      const key = equalKey(ix.rule.equal, alert.labels);
      const bucket = side.get(key);
      const had = bucket?.has(alert.fingerprint) ?? false;
      if (resolvedAt(alert, nowMs)) {
        if (had) this.drop(r, side, key, alert.fingerprint);
        continue;
      }
      if (bucket) bucket.set(alert.fingerprint, alert);
      else side.set(key, new Map([[alert.fingerprint, alert]]));
      if (!had) this.versions.set(`${r}\u0000${key}`, ++this.clock);
      if (alert.endsAt < this.nextExpiry) this.nextExpiry = alert.endsAt;
    }
  }

  /** Forgets an alert the store dropped. */
  remove(alert: StoredAlert): void {
    for (const [r, ix] of this.index.entries()) {
      const key = equalKey(ix.rule.equal, alert.labels);
      for (const side of [ix.oneSided, ix.twoSided])
        if (side.get(key)?.has(alert.fingerprint)) this.drop(r, side, key, alert.fingerprint);
    }
  }

  private drop(r: number, side: Buckets, key: string, fp: string): void {
    const bucket = side.get(key);
    bucket?.delete(fp);
    if (bucket?.size === 0) side.delete(key);
    const id = `${r}\u0000${key}`;
    const ix = this.index[r] as RuleIndex;
    if (ix.oneSided.has(key) || ix.twoSided.has(key)) this.versions.set(id, ++this.clock);
    else this.versions.delete(id);
  }

  /** Drops the source alerts that resolved by time (their endsAt passed) from the index. */
  sweep(nowMs: number): void {
    if (nowMs < this.nextExpiry) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [r, ix] of this.index.entries()) {
      for (const side of [ix.oneSided, ix.twoSided]) {
        for (const [key, bucket] of side) {
          for (const [fp, a] of bucket) {
            if (resolvedAt(a, nowMs)) this.drop(r, side, key, fp);
            else if (a.endsAt < next) next = a.endsAt;
          }
        }
      }
    }
    this.nextExpiry = next;
  }

  /** Whether nothing a check read (`deps`) has changed since; call sweep() first. */
  unchanged(deps: InhibitionDeps): boolean {
    return deps.every(([id, version]) => (this.versions.get(id) ?? 0) === version);
  }

  /** Fingerprints of the alerts that inhibit these labels (empty: not inhibited). */
  inhibitedBy(labels: Record<string, string>, nowMs: number): string[] {
    return this.check(labels, nowMs).by;
  }

  /** inhibitedBy, with the buckets it read (for a cached result's validity). */
  check(labels: Record<string, string>, nowMs: number): { by: string[]; deps: InhibitionDeps } {
    this.sweep(nowMs);
    const deps: InhibitionDeps = [];
    for (const [r, ix] of this.index.entries()) {
      if (!matchesAll(ix.rule.targetMatchers, labels)) continue;
      const key = equalKey(ix.rule.equal, labels);
      const id = `${r}\u0000${key}`;
      deps.push([id, this.versions.get(id) ?? 0]);
      const twoSided = matchesAll(ix.rule.sourceMatchers, labels);
      for (const side of twoSided ? [ix.oneSided] : [ix.oneSided, ix.twoSided]) {
        // After sweep() every entry is unresolved; the check stays for alerts resolving meanwhile.
        for (const a of side.get(key)?.values() ?? []) {
          // Alertmanager reports the first inhibiting alert of the first rule that applies.
          if (!resolvedAt(a, nowMs)) return { by: [a.fingerprint], deps };
        }
      }
    }
    return { by: [], deps };
  }
}
