// Deployment history in SQLite (`deployments.db`, beside the notifier's state): each deployment
// with its configuration, its phase and outcome, every phase transition with the values that
// caused it, every look (health probe and analysis verdict) and the rollback's record. A monitor
// interrupted by a restart finds its deployments here (`active()`) and resumes them or marks
// them `interrupted`; nothing is kept only in memory.
//
// Bounded: looks beyond MAX_LOOKS per deployment drop their oldest (the transitions, which
// explain every decision, are all kept), and deployments beyond `maxDeployments` drop their
// oldest finished ones.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { DeploymentConfig } from "./config.js";
import type { DeploymentOutcome, DeploymentPhase, Verdict, WindowCounts } from "./types.js";

export const MAX_LOOKS = 2000;

export interface Transition {
  at: number;
  from: DeploymentPhase | null;
  to: DeploymentPhase;
  reason: string;
  values?: Record<string, unknown>;
}

export interface HealthResult {
  ok: boolean;
  /** "200 pass", "503", "timeout after 5 s", "connection refused", "health+json status fail"... */
  reason: string;
  status?: number;
  durationMs: number;
}

export interface Look {
  at: number;
  health: HealthResult;
  consecutiveHealthFailures: number;
  verdict?: Verdict;
  consecutiveFailures?: number;
  canary?: WindowCounts;
  baseline?: WindowCounts;
  /** Why the metrics could not be read, when they could not. */
  metricsError?: string;
}

export type RollbackStatus = "not_requested" | "pending" | "succeeded" | "failed";

export interface RollbackRecord {
  status: RollbackStatus;
  reason?: string;
  attempts: number;
  idempotencyKey?: string;
  lastError?: string;
  lastStatus?: number;
  requestedAt?: number;
  finishedAt?: number;
}

export interface DeploymentRecord {
  id: string;
  version: string;
  environment: string;
  config: DeploymentConfig;
  phase: DeploymentPhase;
  outcome: DeploymentOutcome | null;
  startedAt: number;
  finishedAt: number | null;
  /** Why it ended as it did (the failing check, the health gate, a person's abort...). */
  reason: string | null;
  rollback: RollbackRecord;
  /** Whether the team was told the outcome (so that a restart does not tell it twice). */
  notified: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS deployments (
  id TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  environment TEXT NOT NULL,
  config TEXT NOT NULL,
  phase TEXT NOT NULL,
  outcome TEXT,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  reason TEXT,
  rollback TEXT NOT NULL,
  notified INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deployments_started ON deployments (started_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS transitions (
  deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  from_phase TEXT,
  to_phase TEXT NOT NULL,
  reason TEXT NOT NULL,
  "values" TEXT,
  PRIMARY KEY (deployment_id, seq)
);
CREATE TABLE IF NOT EXISTS looks (
  deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (deployment_id, seq)
);
`;

interface Row {
  id: string;
  version: string;
  environment: string;
  config: string;
  phase: DeploymentPhase;
  outcome: DeploymentOutcome | null;
  started_at: number;
  finished_at: number | null;
  reason: string | null;
  rollback: string;
  notified: number;
}

const fromRow = (r: Row): DeploymentRecord => ({
  id: r.id,
  version: r.version,
  environment: r.environment,
  config: JSON.parse(r.config) as DeploymentConfig,
  phase: r.phase,
  outcome: r.outcome,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  reason: r.reason,
  rollback: JSON.parse(r.rollback) as RollbackRecord,
  notified: r.notified === 1,
});

export class DeploymentConflict extends Error {}

// A histogram's last bound is +Inf, which JSON cannot write (it would come back as null).
const infinityOut = (_k: string, v: unknown) => (v === Number.POSITIVE_INFINITY ? "+Inf" : v);
const infinityIn = (_k: string, v: unknown) => (v === "+Inf" ? Number.POSITIVE_INFINITY : v);

export class DeploymentStore {
  private readonly db: Database.Database;

  constructor(
    file: string,
    private readonly maxDeployments = 1000,
  ) {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("foreign_keys = ON");
    this.db.exec(SCHEMA);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** A new deployment, with its first transition; DeploymentConflict when the id exists. */
  create(record: DeploymentRecord, first: Transition): void {
    this.db.transaction(() => {
      const exists = this.db.prepare("SELECT 1 FROM deployments WHERE id = ?").get(record.id);
      if (exists) throw new DeploymentConflict(`a deployment with id ${record.id} exists already`);
      this.db
        .prepare(
          `INSERT INTO deployments (id, version, environment, config, phase, outcome, started_at, finished_at, reason, rollback, notified)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.id,
          record.version,
          record.environment,
          JSON.stringify(record.config),
          record.phase,
          record.outcome,
          record.startedAt,
          record.finishedAt,
          record.reason,
          JSON.stringify(record.rollback),
          record.notified ? 1 : 0,
        );
      this.insertTransition(record.id, first);
      this.prune();
    })();
  }

  /** Moves a deployment to `t.to`, recording the transition, in one transaction. */
  transition(id: string, t: Transition, outcome?: { outcome: DeploymentOutcome; reason: string }): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          outcome
            ? "UPDATE deployments SET phase = ?, outcome = ?, reason = ?, finished_at = ? WHERE id = ?"
            : "UPDATE deployments SET phase = ? WHERE id = ?",
        )
        .run(...(outcome ? [t.to, outcome.outcome, outcome.reason, t.at, id] : [t.to, id]));
      this.insertTransition(id, t);
    })();
  }

  setRollback(id: string, rollback: RollbackRecord): void {
    this.db.prepare("UPDATE deployments SET rollback = ? WHERE id = ?").run(JSON.stringify(rollback), id);
  }

  setNotified(id: string): void {
    this.db.prepare("UPDATE deployments SET notified = 1 WHERE id = ?").run(id);
  }

  addLook(id: string, look: Look): void {
    this.db.transaction(() => {
      const seq = this.nextSeq("looks", id);
      this.db
        .prepare("INSERT INTO looks (deployment_id, seq, at, body) VALUES (?, ?, ?, ?)")
        .run(id, seq, look.at, JSON.stringify(look, infinityOut));
      if (seq > MAX_LOOKS)
        this.db.prepare("DELETE FROM looks WHERE deployment_id = ? AND seq <= ?").run(id, seq - MAX_LOOKS);
    })();
  }

  get(id: string): DeploymentRecord | undefined {
    const r = this.db.prepare("SELECT * FROM deployments WHERE id = ?").get(id) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  transitions(id: string): Transition[] {
    const rows = this.db
      .prepare(
        'SELECT at, from_phase, to_phase, reason, "values" FROM transitions WHERE deployment_id = ? ORDER BY seq',
      )
      .all(id) as Array<{
      at: number;
      from_phase: DeploymentPhase | null;
      to_phase: DeploymentPhase;
      reason: string;
      values: string | null;
    }>;
    return rows.map((r) => ({
      at: r.at,
      from: r.from_phase,
      to: r.to_phase,
      reason: r.reason,
      ...(r.values ? { values: JSON.parse(r.values) as Record<string, unknown> } : {}),
    }));
  }

  /** The last `limit` looks, oldest first. */
  looks(id: string, limit = MAX_LOOKS): Look[] {
    const rows = this.db
      .prepare("SELECT body FROM looks WHERE deployment_id = ? ORDER BY seq DESC LIMIT ?")
      .all(id, limit) as Array<{ body: string }>;
    return rows.reverse().map((r) => JSON.parse(r.body, infinityIn) as Look);
  }

  /** Newest first; `before` is the cursor a previous page returned. */
  list(limit: number, before?: { startedAt: number; id: string }): DeploymentRecord[] {
    const rows = (
      before
        ? this.db
            .prepare(
              "SELECT * FROM deployments WHERE (started_at, id) < (?, ?) ORDER BY started_at DESC, id DESC LIMIT ?",
            )
            .all(before.startedAt, before.id, limit)
        : this.db.prepare("SELECT * FROM deployments ORDER BY started_at DESC, id DESC LIMIT ?").all(limit)
    ) as Row[];
    return rows.map(fromRow);
  }

  count(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM deployments").get() as { n: number }).n;
  }

  /** Deployments a monitor was still working on: watching, or rolling back. */
  active(): DeploymentRecord[] {
    const rows = this.db
      .prepare("SELECT * FROM deployments WHERE outcome IS NULL OR notified = 0 ORDER BY started_at")
      .all() as Row[];
    return rows.map(fromRow);
  }

  /** When the last deployment (of `environment`, when given) started: log trends' marker. */
  lastStart(environment?: string): number | undefined {
    const r = (
      environment
        ? this.db
            .prepare("SELECT max(started_at) AS t FROM deployments WHERE environment = ?")
            .get(environment)
        : this.db.prepare("SELECT max(started_at) AS t FROM deployments").get()
    ) as { t: number | null };
    return r.t ?? undefined;
  }

  private insertTransition(id: string, t: Transition): void {
    this.db
      .prepare(
        'INSERT INTO transitions (deployment_id, seq, at, from_phase, to_phase, reason, "values") VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        id,
        this.nextSeq("transitions", id),
        t.at,
        t.from,
        t.to,
        t.reason,
        t.values ? JSON.stringify(t.values) : null,
      );
  }

  private nextSeq(table: "transitions" | "looks", id: string): number {
    const r = this.db.prepare(`SELECT max(seq) AS s FROM ${table} WHERE deployment_id = ?`).get(id) as {
      s: number | null;
    };
    return (r.s ?? 0) + 1;
  }

  private prune(): void {
    const n = this.count();
    if (n <= this.maxDeployments) return;
    this.db
      .prepare(
        `DELETE FROM deployments WHERE id IN (
           SELECT id FROM deployments WHERE outcome IS NOT NULL AND notified = 1
           ORDER BY started_at ASC LIMIT ?)`,
      )
      .run(n - this.maxDeployments);
  }
}
