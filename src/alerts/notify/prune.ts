// Keeps the notifier's state file bounded: the alert history and the finished rows of the
// outbox are deleted by age (`historyRetentionMs`) and by count (`maxHistoryRows` each), and
// expired notification-log entries go. The work runs in the background in small batches with
// a turn of the event loop between them, so one large backlog never holds the API for one long
// DELETE; afterwards free pages are returned to the file system (incremental vacuum) and the
// WAL is checkpointed and truncated so it cannot grow without bound (state.ts also sets
// journal_size_limit for the checkpoints SQLite runs by itself).

import { systemClock, systemTimers, type TimerHandle, type Timers } from "../../core/clock.js";
import type { NotifierLimits } from "./limits.js";
import type { StateDb } from "./state.js";

export interface PrunerOptions {
  db: StateDb;
  limits: NotifierLimits;
  now?: () => number;
  timers?: Timers;
  /** Time between passes (default 1 min). */
  intervalMs?: number;
  /** Rows one DELETE may remove (default 500). */
  batchRows?: number;
}

export interface PruneResult {
  history: number;
  outbox: number;
  nflog: number;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class StatePruner {
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly batch: number;
  private readonly steps: Array<{ table: keyof PruneResult; run: (now: number) => number }>;
  private readonly checkpoint;
  private timer: TimerHandle | undefined;
  private running: Promise<PruneResult> | undefined;
  private stopped = true;
  /** stop() was called: the file is about to be closed, no further batch may run. */
  private closing = false;

  constructor(private readonly opts: PrunerOptions) {
    this.now = opts.now ?? systemClock.now;
    this.timers = opts.timers ?? systemTimers;
    this.batch = opts.batchRows ?? 500;
    const { db, limits } = opts;
    const historyOld = db.prepare(
      "DELETE FROM alert_history WHERE id IN (SELECT id FROM alert_history WHERE at < ? ORDER BY at LIMIT ?)",
    );
    const historyMany = db.prepare(
      `DELETE FROM alert_history WHERE id IN (SELECT id FROM alert_history
         WHERE id <= (SELECT MAX(id) FROM alert_history) - ? ORDER BY id LIMIT ?)`,
    );
    const outboxOld = db.prepare(
      `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
         WHERE state != 'pending' AND finished_at < ? LIMIT ?)`,
    );
    const outboxMany = db.prepare(
      `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state != 'pending'
         AND id <= (SELECT MAX(id) FROM outbox) - ? ORDER BY id LIMIT ?)`,
    );
    const nflogOld = db.prepare(
      "DELETE FROM nflog WHERE rowid IN (SELECT rowid FROM nflog WHERE expires_at < ? LIMIT ?)",
    );
    const b = this.batch;
    this.steps = [
      { table: "history", run: (now) => historyOld.run(now - limits.historyRetentionMs, b).changes },
      { table: "history", run: () => historyMany.run(limits.maxHistoryRows, b).changes },
      { table: "outbox", run: (now) => outboxOld.run(now - limits.historyRetentionMs, b).changes },
      { table: "outbox", run: () => outboxMany.run(limits.maxHistoryRows, b).changes },
      { table: "nflog", run: (now) => nflogOld.run(now, b).changes },
    ];
    this.checkpoint = () => {
      // At most ~8 MB of free pages returned per pass (a no-op unless auto_vacuum is incremental).
      db.pragma("incremental_vacuum(2000)");
      db.pragma("wal_checkpoint(TRUNCATE)");
    };
  }

  start(): void {
    this.stopped = false;
    this.closing = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.timers
      .setTimeout(() => {
        this.timer = undefined;
        void this.runOnce().finally(() => this.schedule());
      }, this.opts.intervalMs ?? 60_000)
      .unref();
  }

  /** Stops the passes; waits for the batch in progress (the caller closes the file after). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.closing = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass: every step in batches until nothing is left, then a WAL checkpoint. */
  runOnce(): Promise<PruneResult> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<PruneResult> {
    const out: PruneResult = { history: 0, outbox: 0, nflog: 0 };
    try {
      for (const step of this.steps) {
        for (;;) {
          const n = step.run(this.now());
          out[step.table] += n;
          if (n < this.batch) break;
          await turn();
          if (this.closing) return out;
        }
      }
      this.checkpoint();
    } catch {
      // The file refused (disk full, closed at shutdown): the next pass tries again.
    }
    return out;
  }
}
