// `tug anomaly detect SERIES.csv [--output OUT.csv]`: scores a `timestamp,value` series with the
// streaming anomaly detector and writes `timestamp,value,anomaly_score`, one row per input row.
import { readFile, writeFile } from "node:fs/promises";
import { AnomalyDetector, type AnomalyDetectorOptions } from "../logs/analysis/anomaly.js";

const USAGE =
  "usage: tug anomaly detect SERIES.csv [--output OUT.csv]\n" +
  "  reads timestamp,value rows (a header line is allowed) and writes timestamp,value,anomaly_score;\n" +
  "  a point is anomalous when its score is >= 0.5\n";

export interface SeriesRow {
  /** The timestamp column exactly as read. */
  timestamp: string;
  /** The value column exactly as read. */
  valueText: string;
  value: number;
  /** Parsed timestamp in ms since the epoch, when recognisable. */
  timestampMs: number | undefined;
}

export class SeriesCsvError extends Error {}

/** Parses `timestamp,value` CSV text; the first line may be a header. Throws SeriesCsvError on a bad row. */
export function parseSeriesCsv(text: string): SeriesRow[] {
  const rows: SeriesRow[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "") continue;
    const cells = line.split(",").map((c) => unquote(c.trim()));
    const [ts, valueText] = cells;
    const value = valueText === undefined || valueText === "" ? Number.NaN : Number(valueText);
    if (cells.length !== 2 || Number.isNaN(value)) {
      if (rows.length === 0 && i === firstNonEmpty(lines)) continue; // header line
      throw new SeriesCsvError(`line ${i + 1}: expected timestamp,value with a numeric value`);
    }
    rows.push({
      timestamp: ts as string,
      valueText: valueText as string,
      value,
      timestampMs: parseTimestamp(ts as string),
    });
  }
  return rows;
}

function firstNonEmpty(lines: string[]): number {
  return lines.findIndex((l) => l.trim() !== "");
}

function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s;
}

/** ISO-like dates (a space instead of T allowed, UTC when no zone), or epoch seconds / milliseconds. */
export function parseTimestamp(s: string): number | undefined {
  if (/^-?\d+(\.\d+)?$/.test(s)) {
    const n = Number(s);
    return Math.abs(n) < 1e11 ? n * 1000 : n;
  }
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return undefined;
  const frac = m[3] ? m[3].slice(0, 4) : "";
  const t = Date.parse(`${m[1]}T${m[2] ?? "00:00:00"}${frac}${m[4] ?? "Z"}`);
  return Number.isNaN(t) ? undefined : t;
}

/** Scores rows in order with one fresh detector: the function behind `tug anomaly detect`. */
export function scoreSeries(rows: SeriesRow[], opts?: AnomalyDetectorOptions): number[] {
  const d = new AnomalyDetector(opts);
  return rows.map((r) => d.update(r.value, r.timestampMs));
}

/** Score as written to CSV: six decimals rounded down, so a written score is ≥ 0.5 exactly when the computed one is. */
export function formatScore(score: number): string {
  return (Math.floor(score * 1e6) / 1e6).toFixed(6);
}

/** Renders the output CSV (header plus one line per row). */
export function formatScoredCsv(rows: SeriesRow[], scores: number[]): string {
  const out = ["timestamp,value,anomaly_score"];
  rows.forEach((r, i) => {
    out.push(`${r.timestamp},${r.valueText},${formatScore(scores[i] as number)}`);
  });
  return `${out.join("\n")}\n`;
}

/** Runs the `anomaly` subcommand; exit code 0, 1 (unreadable or malformed input, unwritable output) or 2 (usage). */
export async function anomalyCommand(
  argv: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "-h" || sub === "--help" || sub === "help") {
    out(USAGE);
    return 0;
  }
  if (sub !== "detect") {
    err(USAGE);
    return 2;
  }
  let input: string | undefined;
  let output: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (a === "--output" || a === "-o") {
      const v = rest[++i];
      if (v === undefined || v === "") return usage(err, `${a} needs a file name`);
      output = v;
    } else if (a.startsWith("--output=")) {
      output = a.slice("--output=".length);
      if (output === "") return usage(err, "--output needs a file name");
    } else if (a === "-h" || a === "--help") {
      out(USAGE);
      return 0;
    } else if (a.startsWith("-") && a !== "-") {
      return usage(err, `unknown option ${a}`);
    } else if (input === undefined) {
      input = a;
    } else {
      return usage(err, `unexpected argument ${a}`);
    }
  }
  if (input === undefined) return usage(err, "missing SERIES.csv");
  let text: string;
  try {
    text = input === "-" ? await readStdin() : await readFile(input, "utf8");
  } catch (e) {
    err(`${input}: cannot read: ${(e as Error).message}\n`);
    return 1;
  }
  let rows: SeriesRow[];
  try {
    rows = parseSeriesCsv(text);
  } catch (e) {
    if (!(e instanceof SeriesCsvError)) throw e;
    err(`${input}: ${e.message}\n`);
    return 1;
  }
  const csv = formatScoredCsv(rows, scoreSeries(rows));
  if (output === undefined) {
    out(csv);
    return 0;
  }
  try {
    await writeFile(output, csv);
  } catch (e) {
    err(`${output}: cannot write: ${(e as Error).message}\n`);
    return 1;
  }
  return 0;
}

function usage(err: (s: string) => void, msg: string): number {
  err(`tug anomaly: ${msg}\n${USAGE}`);
  return 2;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
