export type Row = Record<string, unknown>;

/** Where slow-query lines go. */
export interface QueryLogger {
  warn(obj: object, msg: string): void;
}

export interface QueryResult<T = Row> {
  rows: T[];
  rowCount: number;
}

export type Dialect = "sqlite" | "postgres";

/** What every caller sees: one instrumented adapter, whatever the driver. */
export interface Database {
  readonly dialect: Dialect;
  /**
   * Run one statement with `$1, $2…` placeholders. `log` is the request's logger, so a slow
   * query line carries the request id.
   */
  query<T = Row>(sql: string, params?: readonly unknown[], log?: QueryLogger): Promise<QueryResult<T>>;
  /** Run `fn` in a transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (tx: Database) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The raw driver under the adapter: no metrics, no logging. */
export interface Driver {
  readonly dialect: Dialect;
  exec(sql: string, params: readonly unknown[]): Promise<QueryResult<Row>>;
  transaction<T>(fn: (exec: Driver["exec"]) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Driver errors sorted into what callers act on. */
export type DbErrorKind = "unique_violation" | "unavailable" | "other";

export class DbError extends Error {
  constructor(
    readonly kind: DbErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DbError";
  }
}
