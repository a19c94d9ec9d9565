// Search over the log files themselves (the current file, then rotated ones, newest first,
// gzipped ones too): recent lines by level, template, request id, time range and text. The
// files are the record; nothing is indexed, so a scan budget bounds the cost of one search.

import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export interface LogQuery {
  /** Minimum level (trace … fatal). */
  level?: string;
  templateId?: string;
  requestId?: string;
  fromMs?: number;
  toMs?: number;
  /** Case-insensitive substring of the whole line. */
  text?: string;
  limit: number;
}

export interface LogSearchResult {
  lines: Array<Record<string, unknown>>;
  scannedBytes: number;
  files: string[];
  /** The scan budget ran out before the oldest file was read. */
  truncated: boolean;
}

/** The log file and its rotated siblings, newest first. */
export async function logFiles(filePath: string): Promise<string[]> {
  const dir = dirname(filePath);
  const ext = extname(filePath);
  const stem = basename(filePath, ext);
  const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`^${quote(stem)}\\.(\\d{4}-\\d{2}-\\d{2})\\.(\\d+)${quote(ext)}(\\.gz)?$`);
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch (err) {
    // No log directory yet (nothing written): nothing to search. Anything else is an error.
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const rotated = names
    .map((n) => ({ n, m: re.exec(n) }))
    .filter((x): x is { n: string; m: RegExpExecArray } => x.m !== null)
    .sort((a, b) =>
      a.m[1] === b.m[1] ? Number(b.m[2]) - Number(a.m[2]) : (b.m[1] as string) < (a.m[1] as string) ? -1 : 1,
    )
    .map((x) => join(dir, x.n));
  return [filePath, ...rotated];
}

function matches(
  rec: Record<string, unknown>,
  q: LogQuery,
  minLevel: number,
  templateIdOf: (msg: string) => string,
): boolean {
  if (minLevel > 0) {
    const l = typeof rec.level === "number" ? rec.level : (LEVELS[String(rec.level).toLowerCase()] ?? 0);
    if (l < minLevel) return false;
  }
  if (q.requestId !== undefined && rec.reqId !== q.requestId && rec.requestId !== q.requestId) return false;
  if (q.fromMs !== undefined || q.toMs !== undefined) {
    const t = typeof rec.time === "number" ? rec.time : Date.parse(String(rec.time));
    if (q.fromMs !== undefined && !(t >= q.fromMs)) return false;
    if (q.toMs !== undefined && !(t <= q.toMs)) return false;
  }
  if (q.templateId !== undefined && templateIdOf(typeof rec.msg === "string" ? rec.msg : "") !== q.templateId)
    return false;
  return true;
}

/** Newest matching lines first, at most `limit`, reading at most `maxBytes` of files. */
export async function searchLogs(
  filePath: string,
  q: LogQuery,
  templateIdOf: (msg: string) => string,
  maxBytes = 256 * 1024 * 1024,
): Promise<LogSearchResult> {
  const minLevel = q.level ? (LEVELS[q.level.toLowerCase()] ?? 0) : 0;
  const text = q.text?.toLowerCase();
  const out: Array<Record<string, unknown>> = [];
  const files: string[] = [];
  let scanned = 0;
  let truncated = false;
  for (const file of await logFiles(filePath)) {
    if (out.length >= q.limit) break;
    let size = 0;
    try {
      size = (await stat(file)).size;
    } catch {
      continue; // rotated away or deleted between listing and reading: nothing left to search
    }
    if (scanned + size > maxBytes && files.length > 0) {
      truncated = true;
      break;
    }
    scanned += size;
    files.push(file);
    // Keep the newest `limit - found` matches of this file: a ring, since lines come oldest first.
    const want = q.limit - out.length;
    const ring: Array<Record<string, unknown>> = [];
    const input = createReadStream(file);
    const lines = createInterface({
      input: file.endsWith(".gz") ? input.pipe(createGunzip()) : input,
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    try {
      for await (const line of lines) {
        if (line === "" || (text !== undefined && !line.toLowerCase().includes(text))) continue;
        let rec: Record<string, unknown>;
        try {
          rec = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // not a JSON record (a torn or foreign line): not searchable
        }
        if (!matches(rec, q, minLevel, templateIdOf)) continue;
        ring.push(rec);
        if (ring.length > want) ring.shift();
      }
    } catch {
      // A file rotated away or a truncated gzip mid-read: keep what was read.
    }
    out.push(...ring.reverse());
  }
  return { lines: out, scannedBytes: scanned, files, truncated };
}
