// Slow-query patterns: the database adapter logs statements slower than the threshold
// (event "slow_query", with the SQL text, never its parameters). Statements differing only in
// literals are one pattern; each pattern keeps its count, mean and worst duration.

export interface SlowQueryPattern {
  pattern: string;
  operation: string;
  table: string;
  count: number;
  failed: number;
  meanMs: number;
  maxMs: number;
  firstSeen: number;
  lastSeen: number;
}

/** SQL with its literals replaced: strings, numbers and IN lists become `?`. */
export function sqlPattern(sql: string): string {
  // One pass for strings and numbers; IN lists and whitespace only when present (this runs on
  // the log tap's path for every slow query).
  let out = sql.replace(LITERALS, "?");
  if (IN_LIST_HINT.test(out)) out = out.replace(IN_LIST, "IN (?)");
  if (SPACE_RUN.test(out)) out = out.replace(/\s+/g, " ");
  return out.trim();
}

const LITERALS = /'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b/g;
const IN_LIST_HINT = /\bin\s*\(/i;
const IN_LIST = /\bIN\s*\((?:\s*(?:\?|\$\d+)\s*,?)+\)/gi;
const SPACE_RUN = /\s\s|[\t\n\r]/;

export class SlowQueries {
  private readonly patterns = new Map<string, SlowQueryPattern & { totalMs: number }>();

  constructor(private readonly maxPatterns = 500) {}

  record(e: {
    sql: string;
    operation?: string;
    table?: string;
    durationMs: number;
    failed?: boolean;
    atMs: number;
  }): void {
    const pattern = sqlPattern(e.sql);
    let p = this.patterns.get(pattern);
    if (!p) {
      if (this.patterns.size >= this.maxPatterns) {
        let oldest: string | undefined;
        let at = Number.POSITIVE_INFINITY;
        for (const [k, v] of this.patterns) if (v.lastSeen < at) [oldest, at] = [k, v.lastSeen];
        if (oldest !== undefined) this.patterns.delete(oldest);
      }
      p = {
        pattern,
        operation: e.operation ?? "",
        table: e.table ?? "",
        count: 0,
        failed: 0,
        meanMs: 0,
        maxMs: 0,
        totalMs: 0,
        firstSeen: e.atMs,
        lastSeen: e.atMs,
      };
      this.patterns.set(pattern, p);
    }
    p.count++;
    if (e.failed) p.failed++;
    p.totalMs += e.durationMs;
    p.meanMs = p.totalMs / p.count;
    p.maxMs = Math.max(p.maxMs, e.durationMs);
    p.lastSeen = Math.max(p.lastSeen, e.atMs);
  }

  /** Worst total time first: what costs the most. */
  list(): SlowQueryPattern[] {
    return [...this.patterns.values()]
      .sort((a, b) => b.totalMs - a.totalMs)
      .map(({ totalMs: _t, ...p }) => ({ ...p, meanMs: Math.round(p.meanMs * 1000) / 1000 }));
  }

  toJSON(): unknown {
    return [...this.patterns.values()];
  }

  static fromJSON(data: unknown, maxPatterns?: number): SlowQueries {
    const s = new SlowQueries(maxPatterns);
    if (Array.isArray(data))
      for (const p of data as Array<SlowQueryPattern & { totalMs: number }>)
        if (typeof p?.pattern === "string") s.patterns.set(p.pattern, p);
    return s;
  }
}
