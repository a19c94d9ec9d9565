/** What the metrics and logs say about a statement: its operation, its main table. */
export interface StatementInfo {
  operation: string;
  table: string;
}

const OPERATIONS = new Set([
  "select",
  "insert",
  "update",
  "delete",
  "create",
  "alter",
  "drop",
  "begin",
  "commit",
  "rollback",
  "pragma",
]);

const TABLE_PATTERNS: Array<[RegExp, number]> = [
  [/^\s*insert\s+into\s+"?([a-z_][a-z0-9_]*)/i, 1],
  [/^\s*update\s+"?([a-z_][a-z0-9_]*)/i, 1],
  [/^\s*delete\s+from\s+"?([a-z_][a-z0-9_]*)/i, 1],
  [/^\s*create\s+(?:unique\s+)?index\s+[\s\S]*?\bon\s+"?([a-z_][a-z0-9_]*)/i, 1],
  [/^\s*create\s+table\s+(?:if\s+not\s+exists\s+)?"?([a-z_][a-z0-9_]*)/i, 1],
  [/\bfrom\s+"?([a-z_][a-z0-9_]*)/i, 1],
];

/**
 * Operation and table of a SQL statement, from its text alone (no parameters). Bounded label
 * values: unknown verbs read "other", statements without a table read "none".
 */
export function describeStatement(sql: string): StatementInfo {
  const verb = /^\s*(?:with\b[\s\S]*?\)\s*)?([a-z]+)/i.exec(sql)?.[1]?.toLowerCase() ?? "other";
  const operation = OPERATIONS.has(verb) ? verb : "other";
  let table = "none";
  for (const [re, group] of TABLE_PATTERNS) {
    const m = re.exec(sql);
    if (m?.[group]) {
      table = m[group].toLowerCase();
      break;
    }
  }
  return { operation, table };
}

/**
 * Rewrite PostgreSQL's `$1, $2` placeholders as SQLite's positional `?`, returning the order
 * in which the parameters must be bound (a `$n` may repeat).
 */
export function toPositional(sql: string): { sql: string; order: number[] } {
  const order: number[] = [];
  const out = sql.replace(/\$(\d+)/g, (_m, n: string) => {
    order.push(Number(n) - 1);
    return "?";
  });
  return { sql: out, order };
}

/** One line of SQL for logs: whitespace folded, long statements cut. */
export function oneLine(sql: string, max = 300): string {
  const s = sql.replace(/\s+/g, " ").trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
