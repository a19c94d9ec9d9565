import pg from "pg";
import { DbError, type Driver, type QueryResult, type Row } from "./types.js";

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "EPIPE",
  "57P01", // admin_shutdown
  "57P02",
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "08000",
  "08003",
  "08006",
  "08001",
  "08004",
]);

function classify(err: unknown): DbError {
  const code = (err as { code?: string }).code ?? "";
  const message = (err as Error).message ?? String(err);
  if (code === "23505") return new DbError("unique_violation", message, { cause: err });
  if (
    UNAVAILABLE_CODES.has(code) ||
    /Connection terminated|timeout exceeded when trying to connect/i.test(message)
  ) {
    return new DbError("unavailable", message, { cause: err });
  }
  return new DbError("other", message, { cause: err });
}

// BIGINT columns hold millisecond timestamps: read them as numbers, as SQLite does.
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PostgresOptions {
  url: string;
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  onError?: (err: Error) => void;
}

/** PostgreSQL through a pg pool. */
export class PostgresDriver implements Driver {
  readonly dialect = "postgres" as const;
  private readonly pool: pg.Pool;

  constructor(opts: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize,
      connectionTimeoutMillis: opts.connectTimeoutMs,
      statement_timeout: opts.statementTimeoutMs,
      idleTimeoutMillis: 30_000,
      types,
    });
    // An idle client whose server went away emits 'error' on the pool: without a listener
    // that would crash the process.
    this.pool.on("error", (err) => opts.onError?.(err));
  }

  async exec(sql: string, params: readonly unknown[]): Promise<QueryResult<Row>> {
    try {
      const r = await this.pool.query(sql, params as unknown[]);
      return { rows: r.rows as Row[], rowCount: r.rowCount ?? r.rows.length };
    } catch (err) {
      throw classify(err);
    }
  }

  async transaction<T>(fn: (exec: Driver["exec"]) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw classify(err);
    }
    const exec = async (sql: string, params: readonly unknown[]): Promise<QueryResult<Row>> => {
      try {
        const r = await client.query(sql, params as unknown[]);
        return { rows: r.rows as Row[], rowCount: r.rowCount ?? r.rows.length };
      } catch (err) {
        throw classify(err);
      }
    };
    try {
      await exec("BEGIN", []);
      const result = await fn(exec);
      await exec("COMMIT", []);
      client.release();
      return result;
    } catch (err) {
      // The caller gets the transaction's own error; a connection whose ROLLBACK failed is in an
      // unknown state, so it is destroyed instead of going back to the pool.
      const broken = await exec("ROLLBACK", []).then(
        () => false,
        () => true,
      );
      client.release(broken);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
