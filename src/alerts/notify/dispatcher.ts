// Routing and grouping as Alertmanager 0.25 does them (dispatch/route.go, dispatch/dispatch.go):
// every alert is matched against the route tree; each matching route puts it into the
// aggregation group named by the route and the alert's group_by labels; a group first flushes
// group_wait after it forms (at once if its alert is older than that), then every
// group_interval, handing all its alerts to the notification pipeline. Resolved alerts leave
// the group once they were handed on. Empty groups are collected every 30 s, as there.

import { systemClock, systemTimers, type TimerHandle, type Timers } from "../../core/clock.js";
import { compareAlerts, labelSetString, resolvedAt, type StoredAlert } from "./alerts.js";
import { fingerprint } from "./fingerprint.js";
import type { Route } from "./types.js";

/** Alertmanager's Route.Match: depth first; a child without `continue` ends the search. */
export function matchRoutes(route: Route, labels: Record<string, string>): Route[] {
  if (!route.matchers.every((m) => m.matches(labels[m.name] ?? ""))) return [];
  const all: Route[] = [];
  for (const child of route.routes) {
    const matches = matchRoutes(child, labels);
    all.push(...matches);
    if (matches.length > 0 && !child.continue) break;
  }
  if (all.length === 0) all.push(route);
  return all;
}

function groupLabels(route: Route, labels: Record<string, string>): Record<string, string> {
  if (route.opts.groupByAll) return { ...labels };
  const out: Record<string, string> = {};
  for (const name of route.opts.groupBy) {
    const v = labels[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** What a flush hands to the pipeline; returns false when the notification could not be queued. */
export type FlushFn = (group: AggregationGroup, alerts: StoredAlert[], nowMs: number) => boolean;

export class AggregationGroup {
  readonly alerts = new Map<string, StoredAlert>();
  readonly groupKey: string;
  private hasFlushed = false;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    readonly route: Route,
    readonly labels: Record<string, string>,
    private readonly flushFn: FlushFn,
    private readonly now: () => number,
    private readonly timers: Timers,
  ) {
    this.groupKey = `${route.key}:${labelSetString(labels)}`;
    this.schedule(route.opts.groupWaitMs);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => this.tick(), ms).unref();
  }

  insert(alert: StoredAlert): void {
    this.alerts.set(alert.fingerprint, alert);
    // An alert older than group_wait flushes its new group at once.
    if (!this.hasFlushed && alert.startsAt + this.route.opts.groupWaitMs < this.now()) this.schedule(0);
  }

  empty(): boolean {
    return this.alerts.size === 0;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
  }

  private tick(): void {
    this.timer = undefined;
    this.schedule(this.route.opts.groupIntervalMs);
    this.hasFlushed = true;
    this.flush();
  }

  /** Hands the group's alerts on; resolved ones that did not change meanwhile leave the group. */
  flush(): void {
    if (this.empty()) return;
    const now = this.now();
    const copies = [...this.alerts.values()].map((a) => ({
      ...a,
      // Firing alerts go out with the zero end time, so they do not resolve while in flight.
      endsAt: resolvedAt(a, now) ? a.endsAt : 0,
    }));
    copies.sort(compareAlerts);
    if (!this.flushFn(this, copies, now)) return;
    for (const a of copies) {
      if (a.endsAt === 0) continue;
      const got = this.alerts.get(a.fingerprint);
      if (got && got.updatedAt === a.updatedAt) this.alerts.delete(a.fingerprint);
    }
  }
}

export class Dispatcher {
  /** By route id, then by group-label fingerprint. */
  private readonly groups = new Map<string, Map<string, AggregationGroup>>();
  private gcTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly root: Route,
    private readonly flushFn: FlushFn,
    private readonly now: () => number = systemClock.now,
    private readonly timers: Timers = systemTimers,
    private readonly gcIntervalMs = 30_000,
  ) {
    this.scheduleGc();
  }

  private scheduleGc(): void {
    if (this.stopped) return;
    this.gcTimer = this.timers
      .setTimeout(() => {
        this.collectEmpty();
        this.scheduleGc();
      }, this.gcIntervalMs)
      .unref();
  }

  /** Puts one (already merged) alert into the groups of every route it matches. */
  process(alert: StoredAlert): void {
    if (this.stopped) return;
    for (const route of matchRoutes(this.root, alert.labels)) {
      const labels = groupLabels(route, alert.labels);
      const fp = fingerprint(labels);
      let byRoute = this.groups.get(route.id);
      if (!byRoute) {
        byRoute = new Map();
        this.groups.set(route.id, byRoute);
      }
      let group = byRoute.get(fp);
      if (!group) {
        group = new AggregationGroup(route, labels, this.flushFn, this.now, this.timers);
        byRoute.set(fp, group);
      }
      group.insert(alert);
    }
  }

  collectEmpty(): void {
    for (const [id, byRoute] of this.groups) {
      for (const [fp, g] of byRoute) {
        if (g.empty()) {
          g.stop();
          byRoute.delete(fp);
        }
      }
      if (byRoute.size === 0) this.groups.delete(id);
    }
  }

  /** The groups holding an alert with these labels: one lookup per matching route. */
  groupsOf(labels: Record<string, string>): AggregationGroup[] {
    const out: AggregationGroup[] = [];
    for (const route of matchRoutes(this.root, labels)) {
      const g = this.groups.get(route.id)?.get(fingerprint(groupLabels(route, labels)));
      if (g) out.push(g);
    }
    return out;
  }

  /** The receivers an alert with these labels is routed to (Alertmanager's API: route.Match). */
  receiversOf(labels: Record<string, string>): string[] {
    return [...new Set(matchRoutes(this.root, labels).map((r) => r.opts.receiver))];
  }

  /** How many groups there are. */
  size(): number {
    let n = 0;
    for (const byRoute of this.groups.values()) n += byRoute.size;
    return n;
  }

  /** Every group, for the API. */
  list(): AggregationGroup[] {
    return [...this.groups.values()].flatMap((m) => [...m.values()]);
  }

  stop(): void {
    this.stopped = true;
    if (this.gcTimer !== undefined) this.timers.clearTimeout(this.gcTimer);
    for (const g of this.list()) g.stop();
    this.groups.clear();
  }
}
