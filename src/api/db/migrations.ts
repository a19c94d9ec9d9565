import { systemClock } from "../../core/clock.js";
import type { Database } from "./types.js";

/**
 * Schema migrations, applied in order at start-up. The SQL is common to SQLite and
 * PostgreSQL on purpose: text ids, BIGINT millisecond timestamps. Never edit one that has
 * shipped; add the next.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; statements: string[] }> = [
  {
    version: 1,
    name: "users, sessions, activities",
    statements: [
      `CREATE TABLE users (
         id TEXT PRIMARY KEY,
         email TEXT NOT NULL UNIQUE,
         name TEXT,
         password_hash TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL
       )`,
      `CREATE TABLE sessions (
         token_hash TEXT PRIMARY KEY,
         user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
         created_at BIGINT NOT NULL,
         expires_at BIGINT NOT NULL
       )`,
      "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
      `CREATE TABLE activities (
         id TEXT PRIMARY KEY,
         user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
         type TEXT NOT NULL,
         title TEXT NOT NULL,
         description TEXT,
         duration_minutes INTEGER,
         occurred_at BIGINT NOT NULL,
         created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL
       )`,
      "CREATE INDEX activities_user_occurred ON activities (user_id, occurred_at, id)",
    ],
  },
];

// Any fixed 64-bit number: replicas starting together on one PostgreSQL take turns.
const PG_LOCK_KEY = 7_310_452_001;

/** Apply every pending migration; returns the versions applied. */
export async function migrate(db: Database, now: () => number = systemClock.now): Promise<number[]> {
  return db.transaction(async (tx) => {
    if (tx.dialect === "postgres") await tx.query("SELECT pg_advisory_xact_lock($1)", [PG_LOCK_KEY]);
    await tx.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    );
    const { rows } = await tx.query<{ version: number }>("SELECT version FROM schema_migrations");
    const done = new Set(rows.map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const stmt of m.statements) await tx.query(stmt);
      await tx.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [
        m.version,
        m.name,
        now(),
      ]);
      applied.push(m.version);
    }
    return applied;
  });
}
