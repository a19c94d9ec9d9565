// The embedded notifier: Alertmanager's pipeline in-process. Alerts arrive as clients post
// them to Alertmanager (the rule engine's PostableAlert, src/alerts/wire.ts), are merged in the
// alert store, routed and grouped by the dispatcher, and each group flush runs Alertmanager
// 0.25's notification pipeline: inhibition, active/mute time intervals, silences, then per
// receiver integration the dedup decision against the notification log. What must be sent is
// written to the outbox, which delivers it. See docs/alerting.md.
//
// Everything it holds is bounded by `notifications.limits` (limits.ts): alerts per request and
// per source, the size of an alert, silences, and the history in the state file (prune.ts).
// Whether an alert is silenced or inhibited is cached per alert and recomputed only when the
// silences or the inhibiting alerts change, so the pipeline, the listing and the status share
// one computation and a listing page costs what is on it.

import { systemClock, systemTimers, type TimerHandle, type Timers } from "../../core/clock.js";
import type { EscalationConfig } from "../escalation/config.js";
import { type Ack, Escalator } from "../escalation/escalator.js";
import { AckLinks, ackLinkSecret } from "../escalation/links.js";
import {
  AlertInputError,
  type AlertSource,
  AlertStore,
  goTime,
  normalizeAlert,
  type PostableAlert,
  quoteMeta,
  type RefusalReason,
  resolvedAt,
  type StoredAlert,
} from "./alerts.js";
import { type AggregationGroup, Dispatcher } from "./dispatcher.js";
import { fingerprint } from "./fingerprint.js";
import { type InhibitionDeps, Inhibitor } from "./inhibit.js";
import { type NotifierLimits, notifierLimits } from "./limits.js";
import { Nflog, needsUpdate } from "./nflog.js";
import { commonOf, Outbox, type OutboxEvents } from "./outbox.js";
import { StatePruner } from "./prune.js";
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
  /** Intake and state-file bounds (`notifications.limits`); each absent one has its default. */
  limits?: Partial<NotifierLimits>;
  /** Refused alerts are reported (events.refused) at most this often; default 1 min. */
  refusalReportIntervalMs?: number;
  /** Period of the state file's pruning pass; default 1 min. */
  pruneIntervalMs?: number;
  /** Escalation policies (monitoring/escalation.yml); none by default. */
  escalation?: EscalationConfig;
  /** Key of the signed acknowledgement links; else a random one kept in the state file. */
  ackLinkSecret?: string;
}

export interface NotifierEvents extends OutboxEvents {
  /** A notification was written to the outbox. */
  queued?(receiver: string, integration: string, notification: Omit<Notification, "dedupKey">): void;
  /** Alerts were refused since the last report; called at most once per refusalReportIntervalMs. */
  refused?(report: RefusalReport): void;
  /**
   * A group reached a receiver with no integrations (Alertmanager's "null" receiver): nothing is
   * sent. Told once per group, so that it is seen without repeating.
   */
  unsent?(receiver: string, groupKey: string, groupLabels: Record<string, string>, alerts: number): void;
}

/** What receive() did with a batch: nothing is refused without being named here. */
export interface ReceiveResult {
  /** Alerts stored (new or updated). */
  accepted: number;
  /** Alerts refused as invalid or too large, each naming its index and field. */
  invalid: AlertInputError[];
  /** Indices of new alerts refused because the store holds maxAlerts alerts of this source. */
  refused: number[];
}

/** Refusals summed over one report interval (for one log line). */
export interface RefusalReport {
  since: string;
  refused: Array<{ source: AlertSource; reason: RefusalReason; count: number }>;
  /** The last refusal's message, as an example. */
  example: string;
}

export interface AlertStatus {
  state: "active" | "suppressed";
  silencedBy: string[];
  inhibitedBy: string[];
}

/** An alert as GET /monitoring/alerts reports it from the notifier's side (Alertmanager's gettableAlert). */
export interface GettableAlert {
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

/** A history row's labels beyond this many bytes of JSON are cut (alertname always kept). */
const HISTORY_LABELS_MAX_BYTES = 4096;

/** Labels for a history row: all of them, or as many as fit (alertname first) and a flag. */
function historyLabels(labels: Record<string, string>): { json: string; truncated: boolean } {
  const json = JSON.stringify(labels);
  if (json.length <= HISTORY_LABELS_MAX_BYTES) return { json, truncated: false };
  const kept: Record<string, string> = {};
  let size = 2;
  const names = Object.keys(labels).sort((a, b) => (a === "alertname" ? -1 : b === "alertname" ? 1 : 0));
  for (const name of names) {
    const value = labels[name] as string;
    const add = JSON.stringify(name).length + JSON.stringify(value).length + 2;
    if (size + add > HISTORY_LABELS_MAX_BYTES) continue;
    kept[name] = value;
    size += add;
  }
  return { json: JSON.stringify(kept), truncated: true };
}

type HistoryRow = [number, string, string, string, string, string];

interface CachedStatus {
  /** Silences.epoch() when computed. */
  silences: number;
  /** The inhibition buckets the result was read from. */
  inhibitions: InhibitionDeps;
  status: AlertStatus;
}

export function integrationName(c: Pick<Channel, "kind" | "index">): string {
  return `${c.kind}[${c.index}]`;
}

export class Notifier {
  readonly silences: Silences;
  readonly limits: NotifierLimits;
  private readonly store = new AlertStore();
  private readonly dispatcher: Dispatcher;
  private readonly inhibitor: Inhibitor;
  private readonly nflog: Nflog;
  readonly outbox: Outbox;
  /** Acknowledgements and escalation steps (src/alerts/escalation). */
  readonly escalation: Escalator;
  readonly ackLinks: AckLinks;
  private readonly pruner: StatePruner;
  private readonly channels = new Map<string, Channel[]>();
  private readonly now: () => number;
  private readonly timers: Timers;
  private gcTimer: TimerHandle | undefined;
  private readonly historyInsert;
  /** Silenced/inhibited state per held alert, valid while both epochs are unchanged. */
  private readonly statusCache = new Map<string, CachedStatus>();
  /** Refusals since start, by `source\0reason` (for notifier_alerts_refused_total). */
  private readonly refusedTotals = new Map<string, number>();
  /** Refusals not yet reported. */
  private unreported = new Map<string, number>();
  private unreportedSince = 0;
  private lastRefusal = "";
  private lastReportAt = Number.NEGATIVE_INFINITY;
  private reportTimer: TimerHandle | undefined;
  /** History rows of the batch receive() is handling, written together at its end. */
  private historyBatch: HistoryRow[] | undefined;

  constructor(private readonly opts: NotifierOptions) {
    this.now = opts.now ?? systemClock.now;
    this.timers = opts.timers ?? systemTimers;
    this.limits = notifierLimits(opts.limits);
    for (const r of opts.config.receivers.values()) this.channels.set(r.name, opts.createChannels(r));
    this.silences = new Silences(opts.db, this.now, this.limits);
    this.nflog = new Nflog(opts.db);
    this.inhibitor = new Inhibitor(opts.config.inhibitRules);
    this.pruner = new StatePruner({
      db: opts.db,
      limits: this.limits,
      now: this.now,
      timers: this.timers,
      ...(opts.pruneIntervalMs !== undefined ? { intervalMs: opts.pruneIntervalMs } : {}),
    });
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
    this.ackLinks = new AckLinks(ackLinkSecret(opts.db, opts.ackLinkSecret), opts.externalURL);
    this.escalation = new Escalator({
      db: opts.db,
      config: opts.escalation ?? { file: "", policies: [] },
      links: this.ackLinks,
      externalURL: opts.externalURL,
      now: this.now,
      timers: this.timers,
      channelsOf: (receiver) => this.channels.get(receiver) ?? [],
      enqueue: (receiver, integration, n) => {
        this.outbox.enqueue(receiver, integration, n);
        this.opts.events?.queued?.(receiver, integration, n);
      },
      alertState: (fp) => {
        const a = this.store.get(fp);
        return a === undefined ? "unknown" : resolvedAt(a, this.now()) ? "resolved" : "firing";
      },
      suppressed: (fp, labels) => this.statusOf(fp, labels, this.now()).state === "suppressed",
      history: (kind, alert, detail) => this.history(kind, alert, detail as Record<string, unknown>),
      maxOpen: this.limits.maxAlerts,
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
    this.escalation.start();
    this.pruner.start();
    const gc = (): void => {
      this.gcTimer = this.timers
        .setTimeout(
          () => {
            this.gc();
            gc();
          },
          this.opts.alertGcIntervalMs ?? 30 * 60_000,
        )
        .unref();
    };
    gc();
  }

  async stop(graceMs = 5_000): Promise<void> {
    if (this.gcTimer !== undefined) this.timers.clearTimeout(this.gcTimer);
    if (this.reportTimer !== undefined) this.timers.clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
    if (this.unreported.size > 0) this.reportRefusals();
    this.dispatcher.stop();
    this.escalation.stop();
    await Promise.all([this.outbox.stop(graceMs), this.pruner.stop()]);
  }

  /**
   * Alertmanager's POST /api/v2/alerts: each alert is validated on its own; the valid ones are
   * merged and dispatched, the invalid ones refused (as Alertmanager does, which stores the
   * valid alerts of a batch and answers 400 for the rest). A new alert is refused when the
   * alerts this source holds number maxAlerts; alerts already held are always updated. From
   * the API, a batch of more than maxAlertsPerRequest is refused whole (AlertInputError).
   * Refusals are counted and reported; nothing here throws at the rule engine.
   */
  receive(alerts: PostableAlert[], source: AlertSource = "rules"): ReceiveResult {
    if (source === "api") this.admitBatch(alerts.length, source);
    const result: ReceiveResult = { accepted: 0, invalid: [], refused: [] };
    this.take(alerts, 0, alerts.length, source, result, { collected: false });
    this.noteStoreFull(source, result.refused.length);
    return result;
  }

  /**
   * receive() in slices of `slice` alerts with a turn of the event loop between them, so that a
   * batch of 1,000 does not hold the loop for the whole of it (the HTTP intake uses this).
   */
  async receiveInSlices(alerts: PostableAlert[], source: AlertSource, slice = 100): Promise<ReceiveResult> {
    if (source === "api") this.admitBatch(alerts.length, source);
    const result: ReceiveResult = { accepted: 0, invalid: [], refused: [] };
    const state = { collected: false };
    for (let from = 0; from < alerts.length; from += slice) {
      if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      this.take(alerts, from, Math.min(from + slice, alerts.length), source, result, state);
    }
    this.noteStoreFull(source, result.refused.length);
    return result;
  }

  /** Validates, merges and dispatches alerts[from, to), adding to `result`. */
  private take(
    alerts: PostableAlert[],
    from: number,
    to: number,
    source: AlertSource,
    result: ReceiveResult,
    state: { collected: boolean },
  ): void {
    const now = this.now();
    const limits = this.limits;
    // History rows of the batch are written in one transaction at the end (one commit, not one each).
    this.historyBatch = [];
    try {
      for (let i = from; i < to; i++) {
        let alert: StoredAlert;
        try {
          alert = normalizeAlert(
            alerts[i] as PostableAlert,
            i,
            now,
            this.opts.config.global.resolveTimeoutMs,
            limits,
          );
        } catch (err) {
          if (!(err instanceof AlertInputError)) throw err;
          result.invalid.push(err);
          this.noteRefused(source, err.reason, 1, err.message);
          continue;
        }
        if (!this.store.has(alert.fingerprint) && this.store.count(source) >= limits.maxAlerts) {
          // Resolved alerts wait for the periodic GC; make room from them once per batch first.
          if (!state.collected) this.collectResolved(now);
          state.collected = true;
          if (this.store.count(source) >= limits.maxAlerts) {
            result.refused.push(i);
            continue;
          }
        }
        const before = this.store.get(alert.fingerprint);
        const merged = this.store.put(alert, now, source);
        this.inhibitor.update(merged, now);
        const wasFiring = before !== undefined && !resolvedAt(before, now);
        const isFiring = !resolvedAt(merged, now);
        if (isFiring && !wasFiring) this.history("firing", merged, { startsAt: goTime(merged.startsAt) });
        if (!isFiring && wasFiring) this.history("resolved", merged, { endsAt: goTime(merged.endsAt) });
        this.escalation.observe(merged, isFiring, wasFiring);
        this.dispatcher.process(merged);
        result.accepted++;
      }
    } finally {
      this.flushHistory();
    }
  }

  private noteStoreFull(source: AlertSource, refused: number): void {
    if (refused === 0) return;
    this.noteRefused(
      source,
      "store_full",
      refused,
      `${refused} new alerts refused: ${this.limits.maxAlerts} alerts from ${source === "api" ? "API clients" : "the rule engine"} are held (notifications.limits.maxAlerts)`,
    );
  }

  /**
   * Refuses a batch of more than `max` alerts (maxAlertsPerRequest) before any of it is read:
   * throws AlertInputError naming the bound, and counts the refusal.
   */
  admitBatch(count: number, source: AlertSource, max = this.limits.maxAlertsPerRequest): void {
    if (count <= max) return;
    const err = new AlertInputError(
      `alerts: ${count} alerts in one request, more than the ${max} allowed (notifications.limits.maxAlertsPerRequest)`,
      "alerts",
      "request_too_large",
    );
    this.noteRefused(source, "request_too_large", count, err.message);
    throw err;
  }

  /** Why an alert with these labels would not be sent now. */
  status(labels: Record<string, string>): AlertStatus {
    return this.statusOf(fingerprint(labels), labels, this.now());
  }

  /**
   * The cached status of an alert, brought up to date by testing only the silences that came
   * into or left effect since (all of them when that is unknown or many), and recomputing the
   * inhibition only when a bucket it was read from gained or lost an unresolved source.
   */
  private statusOf(fp: string, labels: Record<string, string>, now: number): AlertStatus {
    const version = this.silences.epoch();
    this.inhibitor.sweep(now);
    const cached = this.statusCache.get(fp);
    const silencedBy =
      (cached && this.silencedSince(cached, version, labels)) ?? this.silences.mutedBy(labels);
    let inhibitedBy: string[];
    let inhibitions: InhibitionDeps;
    if (cached && this.inhibitor.unchanged(cached.inhibitions)) {
      inhibitedBy = cached.status.inhibitedBy;
      inhibitions = cached.inhibitions;
    } else {
      ({ by: inhibitedBy, deps: inhibitions } = this.inhibitor.check(labels, now));
    }
    if (cached && silencedBy === cached.status.silencedBy && inhibitions === cached.inhibitions) {
      cached.silences = version;
      return cached.status;
    }
    const status: AlertStatus = {
      state: silencedBy.length > 0 || inhibitedBy.length > 0 ? "suppressed" : "active",
      silencedBy,
      inhibitedBy,
    };
    // Only alerts held are cached (the cache is as bounded as the store).
    if (this.store.has(fp)) this.statusCache.set(fp, { silences: version, inhibitions, status });
    return status;
  }

  /** A cached silencedBy updated by the silence changes since; undefined: recompute it. */
  private silencedSince(cached: CachedStatus, version: number, labels: Record<string, string>) {
    if (cached.silences === version) return cached.status.silencedBy;
    const changes = this.silences.changesSince(cached.silences);
    if (changes === undefined || changes.length > 32) return undefined;
    if (changes.length === 0) return cached.status.silencedBy;
    const ids = new Set(cached.status.silencedBy);
    for (const c of changes) {
      if (c.on && this.silences.mutes(c.id, labels)) ids.add(c.id);
      else ids.delete(c.id);
    }
    const out = [...ids].sort();
    const before = cached.status.silencedBy;
    return out.length === before.length && out.every((id, i) => id === before[i]) ? before : out;
  }

  /**
   * One page of the unresolved alerts held, in order of first arrival, leaving out those
   * `skip` names (e.g. the rule engine's, listed from the rules); `total` counts them all.
   * Only the alerts on the page are turned into views.
   */
  alertPage(q: { offset: number; limit: number; skip?: (fp: string) => boolean }): {
    total: number;
    alerts: GettableAlert[];
  } {
    const now = this.now();
    const page: StoredAlert[] = [];
    let total = 0;
    for (const a of this.store.values()) {
      if (resolvedAt(a, now) || q.skip?.(a.fingerprint)) continue;
      if (total >= q.offset && page.length < q.limit) page.push(a);
      total++;
    }
    return {
      total,
      alerts: page.map((a) => ({
        fingerprint: a.fingerprint,
        labels: a.labels,
        annotations: a.annotations,
        startsAt: goTime(a.startsAt),
        endsAt: goTime(a.endsAt),
        updatedAt: goTime(a.updatedAt),
        generatorURL: a.generatorURL,
        receivers: this.dispatcher.receiversOf(a.labels),
        status: this.statusOf(a.fingerprint, a.labels, now),
      })),
    };
  }

  /** The aggregation groups holding alerts with these label sets (one lookup per route each). */
  groupsOf(labelSets: Iterable<Record<string, string>>): Array<{
    groupKey: string;
    labels: Record<string, string>;
    receiver: string;
    alerts: number;
  }> {
    const seen = new Map<string, AggregationGroup>();
    for (const labels of labelSets) for (const g of this.dispatcher.groupsOf(labels)) seen.set(g.groupKey, g);
    return [...seen.values()].map((g) => ({
      groupKey: g.groupKey,
      labels: g.labels,
      receiver: g.route.opts.receiver,
      alerts: g.alerts.size,
    }));
  }

  /** Refusals since start by source and reason (notifier_alerts_refused_total). */
  refusedCounts(): Array<{ source: AlertSource; reason: RefusalReason; count: number }> {
    return [...this.refusedTotals].map(([key, count]) => {
      const [source, reason] = key.split("\u0000") as [AlertSource, RefusalReason];
      return { source, reason, count };
    });
  }

  private noteRefused(source: AlertSource, reason: RefusalReason, n: number, message: string): void {
    const key = `${source}\u0000${reason}`;
    this.refusedTotals.set(key, (this.refusedTotals.get(key) ?? 0) + n);
    if (this.unreported.size === 0) this.unreportedSince = this.now();
    this.unreported.set(key, (this.unreported.get(key) ?? 0) + n);
    this.lastRefusal = message;
    if (this.reportTimer !== undefined) return;
    const interval = this.opts.refusalReportIntervalMs ?? 60_000;
    const wait = this.lastReportAt + interval - this.now();
    if (wait <= 0) {
      this.reportRefusals();
      return;
    }
    this.reportTimer = this.timers
      .setTimeout(() => {
        this.reportTimer = undefined;
        this.reportRefusals();
      }, wait)
      .unref();
  }

  private reportRefusals(): void {
    const refused = [...this.unreported].map(([key, count]) => {
      const [source, reason] = key.split("\u0000") as [AlertSource, RefusalReason];
      return { source, reason, count };
    });
    const report: RefusalReport = {
      since: new Date(this.unreportedSince).toISOString(),
      refused,
      example: this.lastRefusal,
    };
    this.unreported = new Map();
    this.lastReportAt = this.now();
    try {
      this.opts.events?.refused?.(report);
    } catch {
      // A failing listener must not turn into a failed intake.
    }
  }

  /**
   * Acknowledges a firing alert (held by the notifier, or escalating after the stack's
   * Alertmanager handed it over): its escalation stops. Undefined when no such alert fires.
   */
  acknowledge(fp: string, by: string, comment: string): Ack | undefined {
    const held = this.store.get(fp);
    const alert = held && !resolvedAt(held, this.now()) ? held : this.escalation.episodeAlert(fp);
    return alert && this.escalation.acknowledge(alert, by, comment);
  }

  /** The labels of a firing alert held here or escalating (for the ack page). */
  labelsOf(fp: string): Record<string, string> | undefined {
    const held = this.store.get(fp);
    return held && !resolvedAt(held, this.now()) ? held.labels : this.escalation.episodeAlert(fp)?.labels;
  }

  /** The acknowledgement of a firing alert, or null. */
  ackOf(fp: string): { by: string; at: string } | null {
    const a = this.escalation.ackOf(fp);
    return a ? { by: a.by, at: a.acknowledgedAt } : null;
  }

  /**
   * Alerts from the stack's Alertmanager webhook (docs/escalation.md): only the escalation takes
   * them (Alertmanager already sent them to the route's receivers); routed as our routes would.
   */
  fromAlertmanager(alerts: PostableAlert[]): {
    started: number;
    resolved: number;
    refused: number;
    invalid: AlertInputError[];
  } {
    this.admitBatch(alerts.length, "api");
    const now = this.now();
    const valid: StoredAlert[] = [];
    const invalid: AlertInputError[] = [];
    alerts.forEach((a, i) => {
      try {
        valid.push(normalizeAlert(a, i, now, this.opts.config.global.resolveTimeoutMs, this.limits));
      } catch (err) {
        if (!(err instanceof AlertInputError)) throw err;
        invalid.push(err);
      }
    });
    // Alertmanager sends firing alerts with Go's zero end time: firing until it says resolved.
    const held = valid.map((a) => (a.timeout ? { ...a, endsAt: 0 } : a));
    return {
      ...this.escalation.fromAlertmanager(held, (labels) => this.dispatcher.receiversOf(labels)),
      invalid,
    };
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
    this.history(kind, { fingerprint: fingerprint(labels), labels }, detail);
  }

  /** Newest first; `total` counts every entry the filters select. */
  listHistory(q: { limit: number; offset?: number; since?: number; alertname?: string }): {
    entries: HistoryEntry[];
    total: number;
  } {
    const where = "WHERE at >= ? AND (? IS NULL OR alertname = ?)";
    const args = [q.since ?? 0, q.alertname ?? null, q.alertname ?? null];
    const total = (
      this.opts.db.prepare(`SELECT COUNT(*) AS n FROM alert_history ${where}`).get(...args) as { n: number }
    ).n;
    const rows = this.opts.db
      .prepare(`SELECT * FROM alert_history ${where} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .all(...args, q.limit, q.offset ?? 0) as Array<Record<string, unknown>>;
    const entries = rows.map((r) => ({
      id: Number(r.id),
      at: new Date(Number(r.at)).toISOString(),
      kind: String(r.kind),
      fingerprint: String(r.fingerprint),
      alertname: String(r.alertname),
      labels: JSON.parse(String(r.labels)) as Record<string, string>,
      detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
    }));
    return { entries, total };
  }

  /** Runs one pruning pass of the state file now (tests, and after a large intake). */
  prune(): ReturnType<StatePruner["runOnce"]> {
    return this.pruner.runOnce();
  }

  /** Counts for /monitoring/status. */
  summary(): {
    firing: number;
    suppressed: number;
    groups: number;
    silences: { active: number; pending: number };
    outboxPending: number;
  } {
    const now = this.now();
    let firing = 0;
    let suppressed = 0;
    for (const a of this.store.values()) {
      if (resolvedAt(a, now)) continue;
      if (this.statusOf(a.fingerprint, a.labels, now).state === "suppressed") suppressed++;
      else firing++;
    }
    const s = this.silences.counts();
    return {
      firing,
      suppressed,
      groups: this.dispatcher.size(),
      silences: { active: s.active, pending: s.pending },
      outboxPending: this.outbox.pendingCount(),
    };
  }

  /** Unresolved alerts by severity label (for alerts_firing). */
  firingBySeverity(): Map<string, number> {
    const out = new Map<string, number>();
    const now = this.now();
    for (const a of this.store.values()) {
      if (resolvedAt(a, now)) continue;
      const sev = a.labels.severity ?? "none";
      out.set(sev, (out.get(sev) ?? 0) + 1);
    }
    return out;
  }

  /** Alertmanager's periodic GC; the state file's history is pruned by the StatePruner. */
  private gc(): void {
    this.collectResolved(this.now());
    try {
      this.silences.gc();
      this.escalation.gc(this.now());
      this.escalation.sweep();
    } catch {
      // The state file refused the delete: the next GC tries again.
    }
  }

  /** Drops resolved alerts from the store and from what is derived from it. */
  private collectResolved(now: number): void {
    for (const a of this.store.gc(now)) {
      this.inhibitor.remove(a);
      this.statusCache.delete(a.fingerprint);
    }
  }

  private history(
    kind: string,
    subject: Pick<StoredAlert, "fingerprint" | "labels"> | string,
    detail: Record<string, unknown>,
  ): void {
    let row: HistoryRow;
    if (typeof subject === "string") {
      row = [this.now(), kind, "", "", "{}", JSON.stringify({ groupKey: subject, ...detail })];
    } else {
      const labels = historyLabels(subject.labels);
      row = [
        this.now(),
        kind,
        subject.fingerprint,
        subject.labels.alertname ?? "",
        labels.json,
        JSON.stringify(labels.truncated ? { ...detail, labelsTruncated: true } : detail),
      ];
    }
    if (this.historyBatch) this.historyBatch.push(row);
    else this.writeHistory([row]);
  }

  private flushHistory(): void {
    const rows = this.historyBatch ?? [];
    this.historyBatch = undefined;
    if (rows.length > 0) this.writeHistory(rows);
  }

  private writeHistory(rows: HistoryRow[]): void {
    try {
      this.opts.db.transaction(() => {
        for (const r of rows) this.historyInsert.run(...r);
      })();
    } catch {
      // History is a convenience: a full disk must not stop notifications.
    }
  }

  /** One group flush through Alertmanager's notification pipeline; false: retry on the next flush. */
  private pipeline(group: AggregationGroup, alerts: StoredAlert[], now: number): boolean {
    const route = group.route;
    const cfg = this.opts.config;
    const at = new Date(now);
    // An alert that resolved by its end time (no one posted its resolution) ends its episode here.
    try {
      for (const a of alerts) if (a.endsAt !== 0) this.escalation.noteResolved(a);
    } catch {
      // The state file refused the write: the next flush, or the GC's sweep, ends the episode.
    }
    let pass = alerts.filter((a) => this.statusOf(a.fingerprint, a.labels, now).inhibitedBy.length === 0);
    if (pass.length === 0) return true;
    const active = route.opts.activeTimeIntervals;
    if (active.length > 0 && !active.some((n) => intervalContains(cfg.timeIntervals.get(n) ?? [], at)))
      return true;
    if (route.opts.muteTimeIntervals.some((n) => intervalContains(cfg.timeIntervals.get(n) ?? [], at)))
      return true;
    pass = pass.filter((a) => this.statusOf(a.fingerprint, a.labels, now).silencedBy.length === 0);
    if (pass.length === 0) return true;

    const receiver = route.opts.receiver;
    if ((this.channels.get(receiver) ?? []).length === 0) this.tellUnsent(receiver, group, pass.length);
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
          // In the same transaction: a page sent is an escalation started, or neither.
          // The store's end time (not the copy's zero): after a restart that never hears of the
          // alert again, the episode ends when the alert would have.
          if (notification)
            this.escalation.paged(
              receiver,
              pass
                .filter((a) => a.endsAt === 0)
                .map((a) => ({ ...a, endsAt: this.store.get(a.fingerprint)?.endsAt ?? 0 })),
            );
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

  /** Groups already told to go nowhere (bounded: cleared when full, so a group is told again). */
  private readonly unsentTold = new Set<string>();

  private tellUnsent(receiver: string, group: AggregationGroup, alerts: number): void {
    if (this.unsentTold.has(group.groupKey)) return;
    if (this.unsentTold.size >= 10_000) this.unsentTold.clear();
    this.unsentTold.add(group.groupKey);
    this.opts.events?.unsent?.(receiver, group.groupKey, group.labels, alerts);
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
    for (const a of out) {
      const ackURL =
        a.status === "firing" ? this.escalation.ackURL(a.labels, a.fingerprint, receiver) : undefined;
      if (ackURL !== undefined) a.ackURL = ackURL;
    }
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
    fingerprint: fingerprint(labels),
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
