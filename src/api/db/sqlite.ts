import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { toPositional } from "./sql.js";
import { DbError, type Driver, type QueryResult, type Row } from "./types.js";

interface Prepared {
  stmt: BetterSqlite3.Statement;
  order: number[];
}

function classify(err: unknown): DbError {
  const code = (err as { code?: string }).code ?? "";
  const message = (err as Error).message ?? String(err);
  if (code.startsWith("SQLITE_CONSTRAINT_UNIQUE") || code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    return new DbError("unique_violation", message, { cause: err });
  }
  if (
    ["SQLITE_BUSY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_READONLY"].some((c) =>
      code.startsWith(c),
    )
  ) {
    return new DbError("unavailable", message, { cause: err });
  }
  if (message.includes("database connection is not open"))
    return new DbError("unavailable", message, { cause: err });
  return new DbError("other", message, { cause: err });
}

/** SQLite through better-sqlite3: synchronous calls wrapped as promises, statements cached. */
export class SqliteDriver implements Driver {
  readonly dialect = "sqlite" as const;
  private readonly db: BetterSqlite3.Database;
  private readonly statements = new Map<string, Prepared>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new BetterSqlite3(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
  }

  private prepare(sql: string): Prepared {
    let p = this.statements.get(sql);
    if (!p) {
      const { sql: positional, order } = toPositional(sql);
      p = { stmt: this.db.prepare(positional), order };
      if (this.statements.size < 500) this.statements.set(sql, p);
    }
    return p;
  }

  private execSync(sql: string, params: readonly unknown[]): QueryResult<Row> {
    try {
      const { stmt, order } = this.prepare(sql);
      const bound = order.map((i) => {
        const v = params[i];
        return typeof v === "boolean" ? (v ? 1 : 0) : v;
      });
      if (stmt.reader) {
        const rows = stmt.all(...bound) as Row[];
        return { rows, rowCount: rows.length };
      }
      const info = stmt.run(...bound);
      return { rows: [], rowCount: info.changes };
    } catch (err) {
      throw classify(err);
    }
  }

  async exec(sql: string, params: readonly unknown[]): Promise<QueryResult<Row>> {
    return this.execSync(sql, params);
  }

  /**
   * SQLite has one connection: transactions are serialised through a queue so no other
   * caller's statement lands inside one.
   */
  async transaction<T>(fn: (exec: Driver["exec"]) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.execSync("BEGIN IMMEDIATE", []);
      try {
        const result = await fn((sql, params) => this.exec(sql, params));
        this.execSync("COMMIT", []);
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.execSync("ROLLBACK", []);
        throw err;
      }
    };
    const next = this.queue.then(run, run);
    // The queue only orders transactions: a failed one reaches its own caller through `next`.
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
