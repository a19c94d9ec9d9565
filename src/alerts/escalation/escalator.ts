// Acknowledgement and escalation (docs/escalation.md): what Alertmanager cannot do and teams buy
// PagerDuty or run Grafana OnCall for. An alert that matches a policy starts an episode when it
// is first paged (by the notifier's pipeline, or by the stack's Alertmanager through its webhook);
// while nobody acknowledges it, each step pages its receiver at its time after that first page,
// repeating as configured; an acknowledgement stops the steps; the resolution is sent once to
// every receiver a step paged.
//
// Durable and exactly once: the episode, each page done (by its idempotency key: fingerprint,
// episode, step) and the acknowledgements are rows in the notifier's state file, and a page's
// row is written in the same transaction as its outbox rows. So a restart neither loses a due
// step (the timer is re-armed from the table) nor repeats one (the key is already there), and a
// receiver that is down gets the page from the outbox's retries, as any notification.

import type { TimerHandle, Timers } from "../../core/clock.js";
import { goTime, quoteMeta, type StoredAlert } from "../notify/alerts.js";
import type { StateDb } from "../notify/state.js";
import type { Channel, Notification, NotificationAlert } from "../notify/types.js";
import { type EscalationConfig, type EscalationPolicy, policyFor, schedule } from "./config.js";
import type { AckLinks } from "./links.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS escalations (
  fingerprint TEXT PRIMARY KEY,
  policy TEXT NOT NULL,
  labels TEXT NOT NULL,
  annotations TEXT NOT NULL,
  generator_url TEXT NOT NULL,
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  routed_to TEXT NOT NULL,
  paged_at INTEGER NOT NULL,
  next_due INTEGER,
  resolved_at INTEGER
);
CREATE INDEX IF NOT EXISTS escalations_due ON escalations (next_due) WHERE next_due IS NOT NULL;
CREATE TABLE IF NOT EXISTS escalation_pages (
  fingerprint TEXT NOT NULL,
  paged_at INTEGER NOT NULL,
  key TEXT NOT NULL,
  receiver TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (fingerprint, paged_at, key)
);
CREATE TABLE IF NOT EXISTS alert_acks (
  fingerprint TEXT PRIMARY KEY,
  starts_at INTEGER NOT NULL,
  at INTEGER NOT NULL,
  by TEXT NOT NULL,
  comment TEXT NOT NULL
);
`;

/** Resolved episodes (and their pages) are kept this long, then pruned. */
export const ESCALATION_RETENTION_MS = 7 * 86_400_000;

/**
 * An alert as the escalation needs it: the notifier's StoredAlert fields it reads (`endsAt` 0:
 * firing with no known end).
 */
export type EscalatedAlert = Pick<
  StoredAlert,
  "fingerprint" | "labels" | "annotations" | "startsAt" | "endsAt" | "generatorURL"
>;

export interface Ack {
  fingerprint: string;
  acknowledgedAt: string;
  by: string;
  comment: string;
}

export interface EscalatorOptions {
  db: StateDb;
  config: EscalationConfig;
  links: AckLinks;
  externalURL: string;
  now: () => number;
  timers: Timers;
  channelsOf(receiver: string): Channel[];
  /** Writes one notification to the outbox (called inside the escalator's transaction). */
  enqueue(receiver: string, integration: string, notification: Omit<Notification, "dedupKey">): void;
  /** The alert as the notifier holds it: "unknown" when it holds none (e.g. after a restart). */
  alertState(fingerprint: string): "firing" | "resolved" | "unknown";
  /** Silenced or inhibited: a due step waits (rechecked every recheckMs). */
  suppressed(fingerprint: string, labels: Record<string, string>): boolean;
  history?(
    kind: string,
    alert: { fingerprint: string; labels: Record<string, string> },
    detail: object,
  ): void;
  recheckMs?: number;
  /** Open episodes at most (the notifier passes notifications.limits.maxAlerts); more are not started. */
  maxOpen?: number;
}

interface Row {
  fingerprint: string;
  policy: string;
  labels: string;
  annotations: string;
  generator_url: string;
  starts_at: number;
  ends_at: number;
  routed_to: string;
  paged_at: number;
  next_due: number | null;
  resolved_at: number | null;
}

export class Escalator {
  private readonly policies: Map<string, EscalationPolicy>;
  /** Fingerprints of unresolved episodes (so the intake looks nothing up for the others). */
  private readonly active = new Set<string>();
  private timer: TimerHandle | undefined;
  private stopped = true;
  /** Episodes not started because maxOpen were open (since start). */
  refused = 0;
  private readonly q;

  constructor(private readonly opts: EscalatorOptions) {
    opts.db.exec(SCHEMA);
    this.policies = new Map(opts.config.policies.map((p) => [p.name, p]));
    const db = opts.db;
    this.q = {
      get: db.prepare("SELECT * FROM escalations WHERE fingerprint = ?"),
      due: db.prepare(
        "SELECT * FROM escalations WHERE next_due <= ? AND resolved_at IS NULL ORDER BY next_due",
      ),
      nextDue: db
        .prepare("SELECT MIN(next_due) FROM escalations WHERE next_due IS NOT NULL AND resolved_at IS NULL")
        .pluck(),
      open: db.prepare("SELECT fingerprint FROM escalations WHERE resolved_at IS NULL").pluck(),
      start: db.prepare(
        `INSERT OR REPLACE INTO escalations (fingerprint, policy, labels, annotations, generator_url, starts_at,
           ends_at, routed_to, paged_at, next_due, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
      ),
      dropPages: db.prepare("DELETE FROM escalation_pages WHERE fingerprint = ?"),
      routedTo: db.prepare("UPDATE escalations SET routed_to = ? WHERE fingerprint = ?"),
      endsAt: db.prepare("UPDATE escalations SET ends_at = ? WHERE fingerprint = ?"),
      setDue: db.prepare("UPDATE escalations SET next_due = ? WHERE fingerprint = ?"),
      resolved: db.prepare("UPDATE escalations SET resolved_at = ?, next_due = NULL WHERE fingerprint = ?"),
      page: db.prepare(
        "INSERT OR IGNORE INTO escalation_pages (fingerprint, paged_at, key, receiver, at) VALUES (?, ?, ?, ?, ?)",
      ),
      pages: db.prepare("SELECT key, receiver FROM escalation_pages WHERE fingerprint = ? AND paged_at = ?"),
      ack: db.prepare("SELECT * FROM alert_acks WHERE fingerprint = ?"),
      putAck: db.prepare(
        "INSERT OR REPLACE INTO alert_acks (fingerprint, starts_at, at, by, comment) VALUES (?, ?, ?, ?, ?)",
      ),
      dropAck: db.prepare("DELETE FROM alert_acks WHERE fingerprint = ?"),
    };
  }

  start(): void {
    this.stopped = false;
    for (const fp of this.q.open.all() as string[]) this.active.add(fp);
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Episodes not resolved yet. */
  openCount(): number {
    return this.active.size;
  }

  /** Whether messages about this alert carry an acknowledgement link (a policy covers it). */
  ackURL(labels: Record<string, string>, fingerprint: string, receiver: string): string | undefined {
    return policyFor(this.opts.config, labels, [receiver])
      ? this.opts.links.url(fingerprint, this.opts.now())
      : undefined;
  }

  /**
   * The pipeline queued firing alerts for `receiver` (call inside its transaction): an alert a
   * policy covers starts its episode now, unless this firing of it has one already.
   */
  paged(receiver: string, alerts: readonly EscalatedAlert[]): void {
    let started = false;
    for (const a of alerts) {
      const policy = policyFor(this.opts.config, a.labels, [receiver]);
      if (policy) started = this.begin(a, policy, [receiver]) || started;
    }
    if (started) this.arm();
  }

  /**
   * Alerts handed over by the stack's Alertmanager (its webhook, docs/escalation.md): Alertmanager
   * paged the route's receivers itself; `routedTo` are those receivers by our copy of its routes.
   */
  fromAlertmanager(
    alerts: readonly EscalatedAlert[],
    routedTo: (labels: Record<string, string>) => string[],
  ) {
    const now = this.opts.now();
    let started = 0;
    let resolved = 0;
    const refusedBefore = this.refused;
    for (const a of alerts) {
      if (a.endsAt !== 0 && a.endsAt <= now) {
        if (this.active.has(a.fingerprint)) {
          this.opts.db.transaction(() => this.resolve(this.row(a.fingerprint) as Row, now))();
          resolved++;
        }
        continue;
      }
      const to = routedTo(a.labels);
      const policy = policyFor(this.opts.config, a.labels, to);
      if (policy && this.opts.db.transaction(() => this.begin(a, policy, to))()) started++;
    }
    this.arm();
    return { started, resolved, refused: this.refused - refusedBefore };
  }

  /** Starts an episode; false when this firing (same startsAt) has one already. */
  private begin(a: EscalatedAlert, policy: EscalationPolicy, routedTo: string[]): boolean {
    const row = this.row(a.fingerprint);
    if (row && row.starts_at === a.startsAt && row.resolved_at === null) {
      const to: string[] = JSON.parse(row.routed_to);
      const more = routedTo.filter((r) => !to.includes(r));
      if (more.length > 0) this.q.routedTo.run(JSON.stringify([...to, ...more]), a.fingerprint);
      return false;
    }
    if (this.active.size >= (this.opts.maxOpen ?? 10_000) && !this.active.has(a.fingerprint)) {
      this.refused++;
      return false;
    }
    const now = this.opts.now();
    const first = schedule(policy)[0];
    this.q.dropPages.run(a.fingerprint);
    const ack = this.q.ack.get(a.fingerprint) as { starts_at: number } | undefined;
    if (ack && ack.starts_at !== a.startsAt) this.q.dropAck.run(a.fingerprint);
    this.q.start.run(
      a.fingerprint,
      policy.name,
      JSON.stringify(a.labels),
      JSON.stringify(a.annotations),
      a.generatorURL,
      a.startsAt,
      a.endsAt,
      JSON.stringify(routedTo),
      now,
      first ? now + first.offsetMs : null,
    );
    this.active.add(a.fingerprint);
    this.opts.history?.("escalation_started", a, { policy: policy.name, routedTo });
    return true;
  }

  /** The notifier merged an alert: a resolution ends its episode (and its acknowledgement). */
  observe(a: EscalatedAlert, firing: boolean, wasFiring: boolean): void {
    const now = this.opts.now();
    if (!firing && wasFiring) this.q.dropAck.run(a.fingerprint);
    if (!this.active.has(a.fingerprint)) return;
    const row = this.row(a.fingerprint);
    if (!row || row.starts_at !== a.startsAt) return;
    if (!firing) {
      this.opts.db.transaction(() => this.resolve(row, now))();
      this.arm();
    } else if (row.ends_at !== a.endsAt) this.q.endsAt.run(a.endsAt, a.fingerprint);
  }

  /** A resolved alert went by (a group flush): its episode, if open, ends now. */
  noteResolved(a: Pick<EscalatedAlert, "fingerprint" | "startsAt">): void {
    if (!this.active.has(a.fingerprint)) return;
    const row = this.row(a.fingerprint);
    if (!row || row.starts_at !== a.startsAt || row.resolved_at !== null) return;
    this.opts.db.transaction(() => this.resolve(row, this.opts.now()))();
    this.arm();
  }

  /**
   * Ends the open episodes whose alert resolved without anyone seeing it: no longer held and past
   * its last known end time (the notifier's GC calls it). Steps due meanwhile already did this.
   */
  sweep(): void {
    const now = this.opts.now();
    for (const fp of [...this.active]) {
      const row = this.row(fp);
      if (!row || row.resolved_at !== null) {
        this.active.delete(fp);
        continue;
      }
      const state = this.opts.alertState(fp);
      if (state === "resolved" || (state === "unknown" && row.ends_at !== 0 && row.ends_at <= now))
        this.opts.db.transaction(() => this.resolve(row, now))();
    }
    this.arm();
  }

  /** The acknowledgement of this firing of an alert, if any. */
  ackOf(fingerprint: string): Ack | undefined {
    const r = this.q.ack.get(fingerprint) as
      | { fingerprint: string; at: number; by: string; comment: string }
      | undefined;
    return r && { fingerprint, acknowledgedAt: new Date(r.at).toISOString(), by: r.by, comment: r.comment };
  }

  /** An open episode's alert (for an acknowledgement of an alert the notifier does not hold). */
  episodeAlert(fingerprint: string): EscalatedAlert | undefined {
    const row = this.active.has(fingerprint) ? this.row(fingerprint) : undefined;
    return row && row.resolved_at === null ? alertOf(row) : undefined;
  }

  /**
   * Acknowledges the firing that started at `startsAt`: no further step pages for it. A repeated
   * acknowledgement of the same firing returns the first one unchanged.
   */
  acknowledge(
    a: Pick<EscalatedAlert, "fingerprint" | "labels" | "startsAt">,
    by: string,
    comment: string,
  ): Ack {
    const existing = this.q.ack.get(a.fingerprint) as { starts_at: number } | undefined;
    if (existing && existing.starts_at === a.startsAt) return this.ackOf(a.fingerprint) as Ack;
    const now = this.opts.now();
    this.opts.db.transaction(() => {
      this.q.putAck.run(a.fingerprint, a.startsAt, now, by, comment);
      const row = this.row(a.fingerprint);
      if (row && row.starts_at === a.startsAt && row.resolved_at === null)
        this.q.setDue.run(null, a.fingerprint);
    })();
    this.opts.history?.("acknowledged", a, { by, comment });
    this.arm();
    return this.ackOf(a.fingerprint) as Ack;
  }

  private row(fingerprint: string): Row | undefined {
    return this.q.get.get(fingerprint) as Row | undefined;
  }

  /** Sets the timer to the earliest due step. */
  arm(): void {
    if (this.stopped) return;
    this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.q.nextDue.get() as number | null;
    if (at === null) return;
    this.timer = this.opts.timers
      .setTimeout(
        () => {
          this.timer = undefined;
          this.tick();
        },
        Math.max(0, at - this.opts.now()),
      )
      .unref();
  }

  /** Runs every due step now (the timer calls it). */
  tick(): void {
    const now = this.opts.now();
    for (const row of this.q.due.all(now) as Row[]) {
      try {
        this.opts.db.transaction(() => this.advance(row, now))();
      } catch {
        // The state file refused the write: nothing of this step was recorded; try again later.
        try {
          this.q.setDue.run(now + (this.opts.recheckMs ?? 60_000), row.fingerprint);
        } catch {
          // Not even that: the row keeps its due time and the next arm() picks it up again.
        }
      }
    }
    this.arm();
  }

  private advance(row: Row, now: number): void {
    const fp = row.fingerprint;
    const policy = this.policies.get(row.policy);
    const ack = this.q.ack.get(fp) as { starts_at: number } | undefined;
    if (!policy || (ack && ack.starts_at === row.starts_at)) {
      this.q.setDue.run(null, fp); // acknowledged, or the policy is gone from the file
      return;
    }
    const state = this.opts.alertState(fp);
    if (state === "resolved" || (state === "unknown" && row.ends_at !== 0 && row.ends_at <= now)) {
      this.resolve(row, now);
      return;
    }
    const labels = JSON.parse(row.labels) as Record<string, string>;
    if (this.opts.suppressed(fp, labels)) {
      this.q.setDue.run(now + (this.opts.recheckMs ?? 60_000), fp);
      return;
    }
    const done = new Set((this.q.pages.all(fp, row.paged_at) as Array<{ key: string }>).map((p) => p.key));
    const todo = schedule(policy).filter((p) => !done.has(p.key));
    const paged = new Set<string>();
    for (const p of todo) {
      if (row.paged_at + p.offsetMs > now) break;
      // The idempotency key: a page recorded is never sent again, whatever restarts happen.
      if (this.q.page.run(fp, row.paged_at, p.key, p.receiver, now).changes === 0) continue;
      // Several steps of one receiver overdue at once (after downtime) page it once.
      if (paged.has(p.receiver)) continue;
      paged.add(p.receiver);
      const after = formatMs(now - row.paged_at);
      const note = `Not acknowledged ${after} after the first page (escalation policy ${policy.name}, ${p.key})`;
      this.send(p.receiver, row, "firing", now, { policy: policy.name, step: p.key, note });
      this.opts.history?.("escalated", alertOf(row), {
        policy: policy.name,
        step: p.key,
        receiver: p.receiver,
      });
    }
    const next = todo.find((p) => row.paged_at + p.offsetMs > now);
    this.q.setDue.run(next ? row.paged_at + next.offsetMs : null, fp);
  }

  /** Ends an episode: every receiver a step paged is told once (inside the caller's transaction). */
  private resolve(row: Row, now: number): void {
    const receivers = new Set(
      (this.q.pages.all(row.fingerprint, row.paged_at) as Array<{ key: string; receiver: string }>)
        .filter((p) => p.key.startsWith("step"))
        .map((p) => p.receiver),
    );
    for (const r of receivers) {
      if (this.q.page.run(row.fingerprint, row.paged_at, `resolved:${r}`, r, now).changes === 0) continue;
      const note = `Resolved (escalation policy ${row.policy})`;
      this.send(r, row, "resolved", now, { policy: row.policy, step: "resolved", note });
    }
    this.q.resolved.run(now, row.fingerprint);
    this.q.dropAck.run(row.fingerprint);
    this.active.delete(row.fingerprint);
    this.opts.history?.("escalation_resolved", alertOf(row), { policy: row.policy, told: [...receivers] });
  }

  /**
   * One message per integration of the receiver. A resolution skips the integrations that hear it
   * from the route itself (the alert is routed to this receiver and the integration sends resolved).
   */
  private send(
    receiver: string,
    row: Row,
    status: "firing" | "resolved",
    now: number,
    escalation: NonNullable<Notification["escalation"]>,
  ): void {
    const a = alertOf(row);
    const routed = (JSON.parse(row.routed_to) as string[]).includes(receiver);
    const alert: NotificationAlert = {
      status,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: goTime(a.startsAt),
      endsAt: goTime(status === "resolved" ? row.ends_at || now : 0),
      generatorURL: a.generatorURL,
      fingerprint: a.fingerprint,
      ...(status === "firing" ? { ackURL: this.opts.links.url(a.fingerprint, now) } : {}),
    };
    const notification: Omit<Notification, "dedupKey"> = {
      receiver: quoteMeta(receiver),
      status,
      alerts: [alert],
      groupLabels: a.labels.alertname !== undefined ? { alertname: a.labels.alertname } : {},
      commonLabels: a.labels,
      commonAnnotations: a.annotations,
      externalURL: this.opts.externalURL,
      groupKey: `{}/escalation/${row.policy}:{fingerprint="${a.fingerprint}"}`,
      escalation,
    };
    for (const c of this.opts.channelsOf(receiver)) {
      if (status === "resolved" && routed && c.sendResolved) continue;
      this.opts.enqueue(receiver, `${c.kind}[${c.index}]`, notification);
    }
  }

  /** Prunes resolved episodes and their pages past the retention. */
  gc(now: number): void {
    const before = now - ESCALATION_RETENTION_MS;
    this.opts.db.transaction(() => {
      this.opts.db
        .prepare(
          `DELETE FROM escalation_pages WHERE fingerprint IN
             (SELECT fingerprint FROM escalations WHERE resolved_at < ?)`,
        )
        .run(before);
      this.opts.db.prepare("DELETE FROM escalations WHERE resolved_at < ?").run(before);
      this.opts.db.prepare("DELETE FROM alert_acks WHERE at < ?").run(now - 4 * ESCALATION_RETENTION_MS);
    })();
  }
}

function alertOf(row: Row): EscalatedAlert {
  return {
    fingerprint: row.fingerprint,
    labels: JSON.parse(row.labels),
    annotations: JSON.parse(row.annotations),
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    generatorURL: row.generator_url,
  };
}

/** 900000 → "15m", 5400000 → "1h30m". */
export function formatMs(ms: number): string {
  const s = Math.round(ms / 1000);
  const parts: string[] = [];
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) parts.push(`${h}h`);
  if (m) parts.push(`${m}m`);
  if (s % 60 || parts.length === 0) parts.push(`${s % 60}s`);
  return parts.join("");
}
