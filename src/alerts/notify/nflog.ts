// Alertmanager's notification log (nflog): per receiver integration and group, which alerts
// were firing and resolved in the last notification and when it was sent. The dedup decision
// (Alertmanager 0.25 notify.DedupStage.needsUpdate) reads it; persisting it means a restart
// does not re-page people about alerts they were already told about.

import type { StateDb } from "./state.js";

export interface NflogEntry {
  firing: Set<string>;
  resolved: Set<string>;
  atMs: number;
}

/** Entries are kept this long after their last update (Alertmanager's --data.retention). */
export const NFLOG_RETENTION_MS = 120 * 3_600_000;

export class Nflog {
  private readonly getStmt;
  private readonly putStmt;

  constructor(private readonly db: StateDb) {
    this.getStmt = db.prepare(
      "SELECT firing, resolved, at FROM nflog WHERE receiver = ? AND integration = ? AND group_key = ?",
    );
    this.putStmt = db.prepare(
      `INSERT INTO nflog (receiver, integration, group_key, firing, resolved, at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(receiver, integration, group_key) DO UPDATE SET firing = excluded.firing,
         resolved = excluded.resolved, at = excluded.at, expires_at = excluded.expires_at`,
    );
  }

  get(receiver: string, integration: string, groupKey: string): NflogEntry | undefined {
    const row = this.getStmt.get(receiver, integration, groupKey) as
      | { firing: string; resolved: string; at: number }
      | undefined;
    if (!row) return undefined;
    return {
      firing: new Set(JSON.parse(row.firing) as string[]),
      resolved: new Set(JSON.parse(row.resolved) as string[]),
      atMs: row.at,
    };
  }

  log(
    receiver: string,
    integration: string,
    groupKey: string,
    firing: Iterable<string>,
    resolved: Iterable<string>,
    atMs: number,
  ): void {
    this.putStmt.run(
      receiver,
      integration,
      groupKey,
      JSON.stringify([...firing].sort()),
      JSON.stringify([...resolved].sort()),
      atMs,
      atMs + NFLOG_RETENTION_MS,
    );
  }

  gc(nowMs: number): number {
    return this.db.prepare("DELETE FROM nflog WHERE expires_at < ?").run(nowMs).changes;
  }
}

function isSubset(set: Set<string>, subset: Set<string>): boolean {
  for (const k of subset) if (!set.has(k)) return false;
  return true;
}

/**
 * Whether a group must be notified again (Alertmanager 0.25 DedupStage.needsUpdate): new
 * firing alerts always; all resolved only when the receiver had been told something was
 * firing; newly resolved alerts when the integration sends resolved ones; otherwise only
 * after the repeat interval.
 */
export function needsUpdate(
  entry: NflogEntry | undefined,
  firing: Set<string>,
  resolved: Set<string>,
  sendResolved: boolean,
  repeatIntervalMs: number,
  nowMs: number,
): boolean {
  if (entry === undefined) return firing.size > 0;
  if (!isSubset(entry.firing, firing)) return true;
  if (firing.size === 0) return entry.firing.size > 0;
  if (sendResolved && !isSubset(entry.resolved, resolved)) return true;
  return entry.atMs < nowMs - repeatIntervalMs;
}
