// The embedded notifier: Alertmanager's pipeline in-process. Alerts arrive as clients post
// them to Alertmanager (the rule engine's NotifierAlert is that shape), are merged in the
// alert store, routed and grouped by the dispatcher, and each group flush runs Alertmanager
// 0.25's notification pipeline: inhibition, active/mute time intervals, silences, then per
// receiver integration the dedup decision against the notification log. What must be sent is
// written to the outbox, which delivers it. See docs/alerting.md.

import {
  AlertStore,
  goTime,
  normalizeAlert,
  type PostableAlert,
  quoteMeta,
  resolvedAt,
  type StoredAlert,
} from "./alerts.js";
import { type AggregationGroup, Dispatcher, realTimers, type Timers } from "./dispatcher.js";
import { Inhibitor } from "./inhibit.js";
import { Nflog, needsUpdate } from "./nflog.js";
import { commonOf, Outbox, type OutboxEvents } from "./outbox.js";
import { Silences } from "./silences.js";
import type { StateDb } from "./state.js";
import { intervalContains } from "./timeinterval.js";
import type { AlertmanagerConfig, Channel, Notification, NotificationAlert, Receiver } from "./types.js";

export interface NotifierOptions {
  config: AlertmanagerConfig;
  db: StateDb;
  /** Builds the channels of a receiver (src/alerts/channels). */
  createChannels(receiver: Receiver): Channel[];
  /** Base of links in notifications (Alertmanager's --web.external-url). */
  externalURL: string;
  initialBackoffMs: number;
  maxBackoffMs: number;
  expiryMs: number;
  ratePerMinute: number;
  events?: NotifierEvents;
  now?: () => number;
  timers?: Timers;
  /** The current value of the rule behind an alert (embedded mode), for messages that show it. */
  ruleValue?: (labels: Record<string, string>) => string | undefined;
  /** Alert store GC period (Alertmanager: 30 min). */
  alertGcIntervalMs?: number;
}

export interface NotifierEvents extends OutboxEvents {
  /** A notification was written to the outbox. */
  queued?(receiver: string, integration: string, notification: Omit<Notification, "dedupKey">): void;
}

export interface AlertStatus {
  state: "active" | "suppressed";
  silencedBy: string[];
  inhibitedBy: string[];
}

/** An alert as GET /monitoring/alerts reports it from the notifier's side (Alertmanager's gettableAlert). */
export interface NotifierAlertView {
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  generatorURL: string;
  receivers: string[];
  status: AlertStatus;
}

export interface HistoryEntry {
  id: number;
  at: string;
  kind: string;
  fingerprint: string;
  alertname: string;
  labels: Record<string, string>;
  detail: Record<string, unknown>;
}

/** History rows kept (oldest dropped first). */
const HISTORY_MAX_ROWS = 100_000;

export function integrationName(c: Pick<Channel, "kind" | "index">): string {
  return `${c.kind}[${c.index}]`;
}

export class Notifier {
  readonly silences: Silences;
  private readonly store = new AlertStore();
  private readonly dispatcher: Dispatcher;
  private readonly inhibitor: Inhibitor;
  private readonly nflog: Nflog;
  readonly outbox: Outbox;
  private readonly channels = new Map<string, Channel[]>();
  private readonly now: () => number;
  private readonly timers: Timers;
  private gcTimer: unknown;
  private readonly historyInsert;

  constructor(private readonly opts: NotifierOptions) {
    this.now = opts.now ?? Date.now;
    this.timers = opts.timers ?? realTimers;
    for (const r of opts.config.receivers.values()) this.channels.set(r.name, opts.createChannels(r));
    this.silences = new Silences(opts.db, this.now);
    this.nflog = new Nflog(opts.db);
    this.inhibitor = new Inhibitor(opts.config.inhibitRules, () => this.store.list());
    this.historyInsert = opts.db.prepare(
      "INSERT INTO alert_history (at, kind, fingerprint, alertname, labels, detail) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const events = opts.events ?? {};
    this.outbox = new Outbox({
      db: opts.db,
      channel: (receiver, integration) =>
        this.channels.get(receiver)?.find((c) => integrationName(c) === integration),
      initialBackoffMs: opts.initialBackoffMs,
      maxBackoffMs: opts.maxBackoffMs,
      expiryMs: opts.expiryMs,
      ratePerMinute: opts.ratePerMinute,
      now: this.now,
      timers: this.timers,
      events: {
        ...events,
        delivered: (row, latencyMs) => {
          this.history("notified", row.groupKey, {
            receiver: row.receiver,
            integration: row.integration,
            status: row.notification.status,
            alerts: row.notification.alerts.length,
            dedupKey: row.dedupKey,
            latencyMs,
          });
          events.delivered?.(row, latencyMs);
        },
        rejected: (row, error) => {
          this.history("notification_rejected", row.groupKey, {
            receiver: row.receiver,
            integration: row.integration,
            error,
          });
          events.rejected?.(row, error);
        },
        expired: (row, lastError) => {
          this.history("notification_expired", row.groupKey, {
            receiver: row.receiver,
            integration: row.integration,
            lastError,
          });
          events.expired?.(row, lastError);
        },
      },
    });
    this.dispatcher = new Dispatcher(
      opts.config.route,
      (g, alerts, now) => this.pipeline(g, alerts, now),
      this.now,
      this.timers,
    );
  }

  get config(): AlertmanagerConfig {
    return this.opts.config;
  }

  start(): void {
    this.outbox.start();
    const gc = (): void => {
      this.gcTimer = this.timers.setTimeout(
        () => {
          this.gc();
          gc();
        },
        this.opts.alertGcIntervalMs ?? 30 * 60_000,
      );
    };
    gc();
  }

  async stop(graceMs = 5_000): Promise<void> {
    if (this.gcTimer !== undefined) this.timers.clearTimeout(this.gcTimer);
    this.dispatcher.stop();
    await this.outbox.stop(graceMs);
  }

  /** Alertmanager's POST /api/v2/alerts: validates all, then merges and dispatches each. */
  receive(alerts: PostableAlert[]): number {
    const now = this.now();
    const normalized = alerts.map((a, i) =>
      normalizeAlert(a, i, now, this.opts.config.global.resolveTimeoutMs),
    );
    for (const alert of normalized) {
      const before = this.store.get(alert.fingerprint);
      const merged = this.store.put(alert, now);
      const wasFiring = before !== undefined && !resolvedAt(before, now);
      const isFiring = !resolvedAt(merged, now);
      if (isFiring && !wasFiring) this.history("firing", merged, { startsAt: goTime(merged.startsAt) });
      if (!isFiring && wasFiring) this.history("resolved", merged, { endsAt: goTime(merged.endsAt) });
      this.dispatcher.process(merged);
    }
    return normalized.length;
  }

  /** Why an alert with these labels would not be sent now. */
  status(labels: Record<string, string>): AlertStatus {
    const now = this.now();
    const silencedBy = this.silences.mutedBy(labels);
    const inhibitedBy = this.inhibitor.inhibitedBy(labels, now);
    return {
      state: silencedBy.length > 0 || inhibitedBy.length > 0 ? "suppressed" : "active",
      silencedBy,
      inhibitedBy,
    };
  }

  /** The alerts the notifier holds that have not resolved. */
  alerts(): NotifierAlertView[] {
    const now = this.now();
    return this.store
      .list()
      .filter((a) => !resolvedAt(a, now))
      .map((a) => ({
        fingerprint: a.fingerprint,
        labels: a.labels,
        annotations: a.annotations,
        startsAt: goTime(a.startsAt),
        endsAt: goTime(a.endsAt),
        updatedAt: goTime(a.updatedAt),
        generatorURL: a.generatorURL,
        receivers: this.dispatcherReceivers(a),
        status: this.status(a.labels),
      }));
  }

  private dispatcherReceivers(a: StoredAlert): string[] {
    return [
      ...new Set(
        this.dispatcher
          .list()
          .filter((g) => g.alerts.has(a.fingerprint))
          .map((g) => g.route.opts.receiver),
      ),
    ];
  }

  /** Aggregation groups with their alerts (Alertmanager's GET /api/v2/alerts/groups). */
  groups(): Array<{ groupKey: string; labels: Record<string, string>; receiver: string; alerts: number }> {
    return this.dispatcher.list().map((g) => ({
      groupKey: g.groupKey,
      labels: g.labels,
      receiver: g.route.opts.receiver,
      alerts: g.alerts.size,
    }));
  }

  receiverNames(): string[] {
    return [...this.opts.config.receivers.keys()];
  }

  /** Sends a test notification through every integration of one receiver, now, bypassing the outbox. */
  async test(
    receiverName: string,
    signal?: AbortSignal,
  ): Promise<Array<{ integration: string; ok: boolean; error?: string }>> {
    const channels = this.channels.get(receiverName);
    if (!channels) throw new Error(`unknown receiver ${JSON.stringify(receiverName)}`);
    return testNotification(receiverName, channels, this.opts.externalURL, this.now(), signal);
  }

  /** Records a rule-engine transition the notifier does not see itself (e.g. pending). */
  recordHistory(kind: string, labels: Record<string, string>, detail: Record<string, unknown>): void {
    const a = normalizeAlert({ labels }, 0, this.now(), 0);
    this.history(kind, a, detail);
  }

  /** Newest first. */
  listHistory(q: { limit: number; since?: number; alertname?: string }): HistoryEntry[] {
    const rows = this.opts.db
      .prepare(
        `SELECT * FROM alert_history WHERE at >= ? AND (? IS NULL OR alertname = ?)
         ORDER BY id DESC LIMIT ?`,
      )
      .all(q.since ?? 0, q.alertname ?? null, q.alertname ?? null, q.limit) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: Number(r.id),
      at: new Date(Number(r.at)).toISOString(),
      kind: String(r.kind),
      fingerprint: String(r.fingerprint),
      alertname: String(r.alertname),
      labels: JSON.parse(String(r.labels)) as Record<string, string>,
      detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
    }));
  }

  /** Counts for /monitoring/status. */
  summary(): {
    firing: number;
    suppressed: number;
    groups: number;
    silences: { active: number; pending: number };
    outboxPending: number;
  } {
    const alerts = this.alerts();
    const suppressed = alerts.filter((a) => a.status.state === "suppressed").length;
    const s = this.silences.counts();
    return {
      firing: alerts.length - suppressed,
      suppressed,
      groups: this.dispatcher.list().length,
      silences: { active: s.active, pending: s.pending },
      outboxPending: this.outbox.pendingCount(),
    };
  }

  /** Unresolved alerts by severity label (for alerts_firing). */
  firingBySeverity(): Map<string, number> {
    const out = new Map<string, number>();
    const now = this.now();
    for (const a of this.store.list()) {
      if (resolvedAt(a, now)) continue;
      const sev = a.labels.severity ?? "none";
      out.set(sev, (out.get(sev) ?? 0) + 1);
    }
    return out;
  }

  private gc(): void {
    const now = this.now();
    this.store.gc(now);
    this.silences.gc();
    this.nflog.gc(now);
    this.opts.db
      .prepare("DELETE FROM alert_history WHERE id <= (SELECT MAX(id) FROM alert_history) - ?")
      .run(HISTORY_MAX_ROWS);
    this.opts.db
      .prepare("DELETE FROM outbox WHERE state != 'pending' AND finished_at < ?")
      .run(now - 7 * 86_400_000);
  }

  private history(kind: string, subject: StoredAlert | string, detail: Record<string, unknown>): void {
    try {
      if (typeof subject === "string") {
        this.historyInsert.run(
          this.now(),
          kind,
          "",
          "",
          "{}",
          JSON.stringify({ groupKey: subject, ...detail }),
        );
      } else {
        this.historyInsert.run(
          this.now(),
          kind,
          subject.fingerprint,
          subject.labels.alertname ?? "",
          JSON.stringify(subject.labels),
          JSON.stringify(detail),
        );
      }
    } catch {
      // History is a convenience: a full disk must not stop notifications.
    }
  }

  /** One group flush through Alertmanager's notification pipeline; false: retry on the next flush. */
  private pipeline(group: AggregationGroup, alerts: StoredAlert[], now: number): boolean {
    const route = group.route;
    const cfg = this.opts.config;
    const at = new Date(now);
    let pass = alerts.filter((a) => this.inhibitor.inhibitedBy(a.labels, now).length === 0);
    if (pass.length === 0) return true;
    const active = route.opts.activeTimeIntervals;
    if (active.length > 0 && !active.some((n) => intervalContains(cfg.timeIntervals.get(n) ?? [], at)))
      return true;
    if (route.opts.muteTimeIntervals.some((n) => intervalContains(cfg.timeIntervals.get(n) ?? [], at)))
      return true;
    pass = pass.filter((a) => this.silences.mutedBy(a.labels).length === 0);
    if (pass.length === 0) return true;

    const receiver = route.opts.receiver;
    const firing = new Set(pass.filter((a) => a.endsAt === 0).map((a) => a.fingerprint));
    const resolved = new Set(pass.filter((a) => a.endsAt !== 0).map((a) => a.fingerprint));
    try {
      for (const channel of this.channels.get(receiver) ?? []) {
        const integration = integrationName(channel);
        const entry = this.nflog.get(receiver, integration, group.groupKey);
        if (!needsUpdate(entry, firing, resolved, channel.sendResolved, route.opts.repeatIntervalMs, now))
          continue;
        // Without send_resolved, resolved alerts are left out; all-resolved is logged, not sent.
        const toSend = channel.sendResolved ? pass : pass.filter((a) => a.endsAt === 0);
        // One transaction: a crash between queueing and logging would otherwise re-send the
        // same news under a new dedup key after a restart.
        const notification = toSend.length > 0 ? this.buildNotification(receiver, group, toSend) : undefined;
        this.opts.db.transaction(() => {
          if (notification) this.outbox.enqueue(receiver, integration, notification);
          this.nflog.log(receiver, integration, group.groupKey, firing, resolved, now);
        })();
        if (notification) this.opts.events?.queued?.(receiver, integration, notification);
      }
    } catch {
      // The state file refused the write: keep the group's resolved alerts for the next flush.
      return false;
    }
    return true;
  }

  private buildNotification(
    receiver: string,
    group: AggregationGroup,
    alerts: StoredAlert[],
  ): Omit<Notification, "dedupKey"> {
    const out: NotificationAlert[] = alerts.map((a) => {
      const value = a.endsAt === 0 ? this.opts.ruleValue?.(a.labels) : undefined;
      return {
        status: a.endsAt === 0 ? "firing" : "resolved",
        labels: a.labels,
        annotations: a.annotations,
        startsAt: goTime(a.startsAt),
        endsAt: goTime(a.endsAt),
        generatorURL: a.generatorURL,
        fingerprint: a.fingerprint,
        ...(value !== undefined ? { value } : {}),
      };
    });
    return {
      receiver: quoteMeta(receiver),
      status: out.some((a) => a.status === "firing") ? "firing" : "resolved",
      alerts: out,
      groupLabels: group.labels,
      commonLabels: commonOf(out.map((a) => a.labels)),
      commonAnnotations: commonOf(out.map((a) => a.annotations)),
      externalURL: this.opts.externalURL,
      groupKey: group.groupKey,
    };
  }
}

/** A synthetic firing alert through each channel, reporting each integration's outcome. */
export async function testNotification(
  receiver: string,
  channels: Channel[],
  externalURL: string,
  nowMs: number,
  signal?: AbortSignal,
): Promise<Array<{ integration: string; ok: boolean; error?: string }>> {
  const labels = { alertname: "TestAlert", severity: "none", receiver };
  const alert: NotificationAlert = {
    status: "firing",
    labels,
    annotations: {
      summary: "Test notification from TUG monitoring",
      description: `If you can read this, receiver "${receiver}" delivers notifications.`,
    },
    startsAt: goTime(nowMs),
    endsAt: goTime(0),
    generatorURL: externalURL,
    fingerprint: normalizeAlert({ labels }, 0, nowMs, 0).fingerprint,
  };
  const notification: Notification = {
    receiver,
    status: "firing",
    alerts: [alert],
    groupLabels: { alertname: "TestAlert" },
    commonLabels: labels,
    commonAnnotations: alert.annotations,
    externalURL,
    groupKey: `{}/test:{alertname="TestAlert"}`,
    dedupKey: `test-${nowMs}`,
  };
  const results: Array<{ integration: string; ok: boolean; error?: string }> = [];
  for (const c of channels) {
    const r = await c.send([notification], signal ?? new AbortController().signal).catch((err: unknown) => ({
      ok: false as const,
      retryable: false,
      error: err instanceof Error ? err.message : String(err),
    }));
    results.push(
      r.ok
        ? { integration: integrationName(c), ok: true }
        : { integration: integrationName(c), ok: false, error: r.error },
    );
  }
  return results;
}
