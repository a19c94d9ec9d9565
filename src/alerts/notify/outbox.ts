// The outbox: every notification is a row in SQLite before any attempt to send it, so a crash,
// a SIGKILL or a receiver that is down for hours loses nothing. One queue per receiver
// integration, delivered strictly in order (a later message never overtakes an earlier one
// for the same destination), retried with exponential backoff and jitter until delivered or
// expired. A token bucket per receiver integration enforces the rate limit; notifications that
// waited for it are coalesced into the next allowed message: the newest state of each group,
// with the alerts of the messages it replaces merged in, so nothing is dropped.

import { randomUUID } from "node:crypto";
import { systemClock, systemTimers, type TimerHandle, type Timers } from "../../core/clock.js";
import type { StateDb } from "./state.js";
import type { Channel, Notification, NotificationAlert } from "./types.js";

export interface OutboxRow {
  id: number;
  dedupKey: string;
  receiver: string;
  integration: string;
  groupKey: string;
  notification: Omit<Notification, "dedupKey">;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  expiresAt: number;
}

export interface OutboxEvents {
  delivered?(row: OutboxRow, latencyMs: number): void;
  /** A retryable failure; the row is tried again at `retryAt`. */
  failed?(row: OutboxRow, error: string, retryAt: number): void;
  /** The receiver refused it for good (e.g. HTTP 400); not retried. */
  rejected?(row: OutboxRow, error: string): void;
  expired?(row: OutboxRow, lastError: string | undefined): void;
  coalesced?(row: OutboxRow, into: OutboxRow): void;
}

export interface OutboxOptions {
  db: StateDb;
  /** The channel behind a receiver integration, or undefined when it is no longer configured. */
  channel(receiver: string, integration: string): Channel | undefined;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** How long a notification is retried before it is given up (and counted). */
  expiryMs: number;
  /** Messages per minute per receiver integration; 0 for no limit. */
  ratePerMinute: number;
  events?: OutboxEvents;
  now?: () => number;
  timers?: Timers;
  random?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A queued row without its body (read only when the row is sent, merged or reported). */
interface DbRow {
  id: number;
  dedup_key: string;
  receiver: string;
  integration: string;
  group_key: string;
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  expires_at: number;
  last_error: string | null;
}

/** The row with its body parsed on first use: a pump looks at every waiting row, sends one. */
function fromDb(r: DbRow, payload: (id: number) => string): OutboxRow {
  let notification: Omit<Notification, "dedupKey"> | undefined;
  return {
    id: r.id,
    dedupKey: r.dedup_key,
    receiver: r.receiver,
    integration: r.integration,
    groupKey: r.group_key,
    get notification() {
      notification ??= JSON.parse(payload(r.id)) as Omit<Notification, "dedupKey">;
      return notification;
    },
    set notification(n) {
      notification = n;
    },
    createdAt: r.created_at,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    expiresAt: r.expires_at,
  };
}

/** Labels (or annotations) shared by every alert, as Alertmanager computes commonLabels. */
export function commonOf(maps: Array<Record<string, string>>): Record<string, string> {
  const [first, ...rest] = maps;
  if (!first) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first)) if (rest.every((m) => m[k] === v)) out[k] = v;
  return out;
}

/** Merges an older notification of a group into a newer one: newer alert states win. */
export function mergeNotifications(
  older: Omit<Notification, "dedupKey">,
  newer: Omit<Notification, "dedupKey">,
): Omit<Notification, "dedupKey"> {
  const byFp = new Map<string, NotificationAlert>();
  for (const a of older.alerts) byFp.set(a.fingerprint, a);
  for (const a of newer.alerts) byFp.set(a.fingerprint, a);
  const inNewer = new Set(newer.alerts.map((a) => a.fingerprint));
  const alerts = [...newer.alerts, ...older.alerts.filter((a) => !inNewer.has(a.fingerprint))];
  const merged = alerts.map((a) => byFp.get(a.fingerprint) as NotificationAlert);
  return {
    ...newer,
    alerts: merged,
    status: merged.some((a) => a.status === "firing") ? "firing" : "resolved",
    commonLabels: commonOf(merged.map((a) => a.labels)),
    commonAnnotations: commonOf(merged.map((a) => a.annotations)),
  };
}

export class Outbox {
  private readonly buckets = new Map<string, Bucket>();
  /** Queues that had to wait for the rate limit: their next message coalesces. */
  private readonly limited = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly controllers = new Set<AbortController>();
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly random: () => number;
  private timer: TimerHandle | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private stopped = true;
  private pumping = false;
  private pumpAgain = false;
  private readonly insert;
  private readonly heads;
  private readonly queueRows;
  private readonly payloadOf;
  private readonly finishRow;
  private readonly attemptRow;
  private readonly countPending;

  constructor(private readonly opts: OutboxOptions) {
    this.now = opts.now ?? systemClock.now;
    this.timers = opts.timers ?? systemTimers;
    this.random = opts.random ?? Math.random;
    this.insert = opts.db.prepare(
      `INSERT INTO outbox (dedup_key, receiver, integration, group_key, payload, state, created_at,
         next_attempt_at, expires_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
    );
    this.heads = opts.db.prepare(
      "SELECT receiver, integration FROM outbox WHERE state = 'pending' GROUP BY receiver, integration",
    );
    this.queueRows = opts.db.prepare(
      `SELECT id, dedup_key, receiver, integration, group_key, created_at, attempts, next_attempt_at,
         expires_at, last_error FROM outbox WHERE state = 'pending' AND receiver = ? AND integration = ? ORDER BY id`,
    );
    this.payloadOf = opts.db.prepare("SELECT payload FROM outbox WHERE id = ?").pluck();
    // A finished row keeps its record (receiver, group, outcome, times, error) but not its body:
    // nothing reads it again, and bodies of large groups are what made the state file grow.
    this.finishRow = opts.db.prepare(
      "UPDATE outbox SET state = ?, finished_at = ?, last_error = COALESCE(?, last_error), payload = '' WHERE id = ?",
    );
    // One statement for the three outcomes of an attempt: delivered, refused (both finished) or
    // to be retried (pending, with the next attempt's time); a null leaves the column as it was.
    this.attemptRow = opts.db.prepare(
      `UPDATE outbox SET state = @state, attempts = attempts + 1, finished_at = COALESCE(@finishedAt, finished_at),
         next_attempt_at = COALESCE(@retryAt, next_attempt_at), last_error = COALESCE(@error, last_error),
         payload = CASE WHEN @state = 'pending' THEN payload ELSE '' END WHERE id = @id`,
    );
    this.countPending = opts.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'");
  }

  /** Writes a notification; it is sent by the worker as soon as its queue allows. */
  enqueue(
    receiver: string,
    integration: string,
    notification: Omit<Notification, "dedupKey">,
  ): { id: number; dedupKey: string } {
    const now = this.now();
    const dedupKey = randomUUID();
    const info = this.insert.run(
      dedupKey,
      receiver,
      integration,
      notification.groupKey,
      JSON.stringify(notification),
      now,
      now,
      now + this.opts.expiryMs,
    );
    this.kick();
    return { id: Number(info.lastInsertRowid), dedupKey };
  }

  start(): void {
    this.stopped = false;
    this.kick();
  }

  /** Stops the worker; waits up to `graceMs` for messages in flight, then aborts them (they stay queued). */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    const pending = [...this.inFlight.values()];
    if (pending.length === 0) return;
    let handle: TimerHandle | undefined;
    const timeout = new Promise<void>((resolve) => {
      handle = this.timers.setTimeout(resolve, graceMs).unref();
    });
    await Promise.race([Promise.all(pending), timeout]);
    this.timers.clearTimeout(handle);
    for (const c of this.controllers) c.abort(new Error("notifier stopping"));
    await Promise.all(pending);
  }

  /** Rows not yet delivered, expired or refused. */
  pendingCount(): number {
    return (this.countPending.get() as { n: number }).n;
  }

  private kick(): void {
    this.scheduleAt(this.now());
  }

  private scheduleAt(at: number): void {
    if (this.stopped || at >= this.wakeAt) return;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.wakeAt = at;
    this.timer = this.timers
      .setTimeout(
        () => {
          this.timer = undefined;
          this.wakeAt = Number.POSITIVE_INFINITY;
          this.pump();
        },
        Math.max(0, at - this.now()),
      )
      .unref();
  }

  private takeToken(key: string, now: number): { ok: boolean; nextAt: number } {
    const rate = this.opts.ratePerMinute;
    if (rate <= 0) return { ok: true, nextAt: now };
    const perMs = rate / 60_000;
    const b = this.buckets.get(key) ?? { tokens: rate, at: now };
    b.tokens = Math.min(rate, b.tokens + (now - b.at) * perMs);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, nextAt: now };
    }
    return { ok: false, nextAt: now + Math.ceil((1 - b.tokens) / perMs) };
  }

  private finish(ids: number[], state: string, now: number, error?: string): void {
    for (const id of ids) this.finishRow.run(state, now, error ?? null, id);
  }

  private pump(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.pumpOnce();
      } while (this.pumpAgain && !this.stopped);
    } finally {
      this.pumping = false;
    }
  }

  private pumpOnce(): void {
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const q of this.heads.all() as Array<{ receiver: string; integration: string }>) {
      const key = `${q.receiver}\u0000${q.integration}`;
      if (this.inFlight.has(key)) continue;
      const payload = (id: number) => String(this.payloadOf.get(id) ?? "");
      let rows = (this.queueRows.all(q.receiver, q.integration) as DbRow[]).map((r, i, all) => ({
        row: fromDb(r, payload),
        lastError: all[i]?.last_error ?? undefined,
      }));
      for (const r of rows.filter((x) => x.row.expiresAt <= now)) {
        void r.row.notification; // read before finishing drops the body, for the event's listeners
        this.finish([r.row.id], "expired", now);
        this.opts.events?.expired?.(r.row, r.lastError);
      }
      rows = rows.filter((x) => x.row.expiresAt > now);
      const head = rows[0]?.row;
      if (!head) continue;
      if (head.nextAttemptAt > now) {
        next = Math.min(next, head.nextAttemptAt);
        continue;
      }
      const channel = this.opts.channel(q.receiver, q.integration);
      if (!channel) {
        const error = `receiver ${q.receiver} has no integration ${q.integration} any more`;
        for (const r of rows) {
          void r.row.notification;
          this.finish([r.row.id], "failed", now, error);
          this.opts.events?.rejected?.(r.row, error);
        }
        continue;
      }
      const token = this.takeToken(key, now);
      if (!token.ok) {
        if (rows.length > 1) this.limited.add(key);
        next = Math.min(next, token.nextAt);
        continue;
      }
      // A newer notification of the head's group is waiting (the head failed and waited for its
      // retry meanwhile): it carries the group's newest state, so they are merged rather than
      // sent one after the other, as for the rate limit.
      const superseded = rows.some((r, i) => i > 0 && r.row.groupKey === head.groupKey);
      const batch =
        this.limited.has(key) || superseded
          ? this.coalesce(
              rows.map((r) => r.row),
              channel,
            )
          : [head];
      this.limited.delete(key);
      const p = this.send(key, batch, channel).finally(() => {
        this.inFlight.delete(key);
        this.kick();
      });
      this.inFlight.set(key, p);
    }
    if (next !== Number.POSITIVE_INFINITY) this.scheduleAt(next);
  }

  /** Newest row per group absorbs the older ones; multi-group channels take every group. */
  private coalesce(rows: OutboxRow[], channel: Channel): OutboxRow[] {
    const byGroup = new Map<string, OutboxRow>();
    const firstId = new Map<string, number>();
    const absorbed: Array<{ row: OutboxRow; into: OutboxRow }> = [];
    for (const row of rows) {
      if (!firstId.has(row.groupKey)) firstId.set(row.groupKey, row.id);
      const prev = byGroup.get(row.groupKey);
      if (prev) {
        row.notification = mergeNotifications(prev.notification, row.notification);
        // The retries go on from where the absorbed row's had got (its backoff is kept).
        row.attempts = Math.max(row.attempts, prev.attempts);
        absorbed.push({ row: prev, into: row });
      }
      byGroup.set(row.groupKey, row);
    }
    // Groups keep the order in which they first waited.
    const survivors = [...byGroup.values()].sort(
      (a, b) => (firstId.get(a.groupKey) as number) - (firstId.get(b.groupKey) as number),
    );
    const now = this.now();
    const update = this.opts.db.prepare("UPDATE outbox SET payload = ?, attempts = ? WHERE id = ?");
    const merged = new Set(absorbed.map((a) => a.into));
    this.opts.db.transaction(() => {
      for (const s of merged) update.run(JSON.stringify(s.notification), s.attempts, s.id);
      for (const a of absorbed) this.finish([a.row.id], "coalesced", now, `coalesced into ${a.into.id}`);
    })();
    for (const a of absorbed) this.opts.events?.coalesced?.(a.row, a.into);
    const head = rows[0] as OutboxRow;
    if (channel.multiGroup) return survivors;
    return [byGroup.get(head.groupKey) as OutboxRow];
  }

  private backoff(attempts: number): number {
    const base = Math.min(
      this.opts.maxBackoffMs,
      this.opts.initialBackoffMs * 2 ** Math.max(0, attempts - 1),
    );
    return Math.round(base / 2 + (this.random() * base) / 2);
  }

  private async send(_key: string, batch: OutboxRow[], channel: Channel): Promise<void> {
    const controller = new AbortController();
    this.controllers.add(controller);
    const notifications = batch.map((r) => ({ ...r.notification, dedupKey: r.dedupKey }));
    let result: Awaited<ReturnType<Channel["send"]>>;
    try {
      result = await channel.send(notifications, controller.signal);
    } catch (err) {
      result = { ok: false, retryable: true, error: err instanceof Error ? err.message : String(err) };
    } finally {
      this.controllers.delete(controller);
    }
    const now = this.now();
    const db = this.opts.db;
    try {
      const retryAt =
        result.ok || !result.retryable
          ? undefined
          : now + this.backoff(Math.max(...batch.map((r) => r.attempts)) + 1);
      const state = result.ok ? "delivered" : result.retryable ? "pending" : "failed";
      const error = result.ok ? null : result.error;
      db.transaction(() => {
        for (const r of batch)
          this.attemptRow.run({
            state,
            finishedAt: retryAt === undefined ? now : null,
            retryAt: retryAt ?? null,
            error,
            id: r.id,
          });
      })();
      for (const r of batch) {
        if (result.ok) this.opts.events?.delivered?.(r, now - r.createdAt);
        else if (retryAt === undefined) this.opts.events?.rejected?.(r, result.error);
        else this.opts.events?.failed?.(r, result.error, retryAt);
      }
    } catch {
      // The state file failed (disk full, closed during shutdown): the row stays pending and
      // is tried again, so at worst the receiver sees a duplicate with the same dedup key.
    }
  }
}
