// The notifier's durable state in one SQLite file: the outbox (every notification is written
// here before it is sent), the notification log (what each receiver was last told about each
// group, Alertmanager's nflog), silences, and the alert history. WAL with synchronous=NORMAL
// survives a killed process: a committed row is in the WAL before the call returns. The file is
// kept bounded by prune.ts; journal_size_limit truncates the WAL after each checkpoint.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

export type StateDb = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dedup_key TEXT NOT NULL,
  receiver TEXT NOT NULL,
  integration TEXT NOT NULL,
  group_key TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  finished_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, receiver, integration, id);
CREATE INDEX IF NOT EXISTS outbox_finished ON outbox (finished_at) WHERE state != 'pending';
CREATE TABLE IF NOT EXISTS nflog (
  receiver TEXT NOT NULL,
  integration TEXT NOT NULL,
  group_key TEXT NOT NULL,
  firing TEXT NOT NULL,
  resolved TEXT NOT NULL,
  at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (receiver, integration, group_key)
);
CREATE TABLE IF NOT EXISTS silences (
  id TEXT PRIMARY KEY,
  matchers TEXT NOT NULL,
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  comment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  alertname TEXT NOT NULL,
  labels TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_history_at ON alert_history (at);
CREATE INDEX IF NOT EXISTS alert_history_alertname ON alert_history (alertname, id);
`;

/** The WAL is truncated to this after a checkpoint (SQLite checkpoints every ~4 MB written). */
export const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;

/** Opens (creating when needed) the notifier's state file; `:memory:` for throwaway state. */
export function openStateDb(file: string): StateDb {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  // Free pages go back to the file system (prune.ts runs the vacuum); only a new file can
  // take this, an existing one keeps its mode.
  db.pragma("auto_vacuum = INCREMENTAL");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  // After a checkpoint the WAL is cut back to this size instead of staying at its largest.
  db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  db.exec(SCHEMA);
  return db;
}
