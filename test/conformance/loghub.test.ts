// Template mining against Loghub-2k's corrected ground truth (../shared/conformance/loghub2k or
// CONFORMANCE_DIR/loghub2k). Each dataset goes through `tug logs analyze FILE --format F --output
// OUT.csv` exactly as a user runs it, with only the dataset's log_format from settings.json (no
// masks, no thresholds), and the CSV is scored with the README's definitions: GA, FGA and PA.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { logsCommand } from "../../src/cli/logs.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const base = process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance");
const dir = join(base, "loghub2k");

function settings(): Record<string, { log_format: string }> {
  const file = join(dir, "settings.json");
  if (!existsSync(file)) {
    throw new Error(
      `Loghub-2k data not found at ${dir}: set CONFORMANCE_DIR to the folder holding loghub2k/`,
    );
  }
  return JSON.parse(readFileSync(file, "utf8"));
}

/** Drain3 tuned per dataset, GA on this data (conformance README). */
const DRAIN3_GA: Record<string, number> = {
  HDFS: 0.998,
  Hadoop: 0.948,
  Zookeeper: 0.967,
  BGL: 0.963,
  Linux: 0.876,
  HealthApp: 0.78,
  OpenSSH: 0.789,
  Apache: 1.0,
};

/** RFC 4180 CSV (quoted fields with doubled quotes, CRLF or LF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else if (c !== "\r") field += c;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

interface Scores {
  ga: number;
  fga: number;
  pa: number;
}

/**
 * GA: a ground-truth group is correct when all its lines got one parsed id and that id holds no
 * other line; GA = lines in correct groups / lines. FGA: F1 of correct groups over the parsed and
 * the ground-truth group counts. PA: lines whose parsed template equals the truth exactly.
 */
function score(truthIds: string[], truthTpl: string[], ids: string[], tpl: string[]): Scores {
  const truthGroups = new Map<string, number[]>();
  truthIds.forEach((g, i) => {
    const l = truthGroups.get(g);
    if (l) l.push(i);
    else truthGroups.set(g, [i]);
  });
  const parsedSize = new Map<string, number>();
  for (const p of ids) parsedSize.set(p, (parsedSize.get(p) ?? 0) + 1);
  let okLines = 0;
  let okGroups = 0;
  for (const lines of truthGroups.values()) {
    const p = ids[lines[0] as number] as string;
    if (lines.every((i) => ids[i] === p) && parsedSize.get(p) === lines.length) {
      okLines += lines.length;
      okGroups++;
    }
  }
  const precision = okGroups / parsedSize.size;
  const recall = okGroups / truthGroups.size;
  const fga = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  const pa = tpl.filter((t, i) => t === truthTpl[i]).length / tpl.length;
  return { ga: okLines / truthIds.length, fga, pa };
}

describe("scoring", () => {
  it("follows the README's definitions on a small case", () => {
    // Truth: A = {0,1}, B = {2}, C = {3}; parsed: x = {0,1}, y = {2,3}. Only A is correct.
    const s = score(["A", "A", "B", "C"], ["a", "a", "b", "c"], ["x", "x", "y", "y"], ["a", "a", "b", "z"]);
    expect(s.ga).toBe(0.5);
    const p = 1 / 2;
    const r = 1 / 3;
    expect(s.fga).toBeCloseTo((2 * p * r) / (p + r), 10);
    expect(s.pa).toBe(0.75);
  });
});

describe("Loghub-2k template mining", () => {
  const tmp = mkdtempSync(join(tmpdir(), "tug-loghub-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("reaches average GA >= 0.95 and FGA >= 0.90 with no per-dataset tuning", async () => {
    const sets = settings();
    const rows: Array<{ ds: string } & Scores> = [];
    for (const [ds, cfg] of Object.entries(sets)) {
      const log = join(dir, ds, `${ds}_2k.log`);
      const out = join(tmp, `${ds}.csv`);
      let errText = "";
      const code = await logsCommand(
        ["analyze", log, "--format", cfg.log_format, "--output", out],
        () => {},
        (s) => {
          errText += s;
        },
      );
      expect(code, errText).toBe(0);
      const parsed = parseCsv(readFileSync(out, "utf8"));
      expect(parsed[0]).toEqual(["LineId", "EventId", "EventTemplate"]);
      const truth = parseCsv(readFileSync(join(dir, ds, `${ds}_2k.log_structured_corrected.csv`), "utf8"));
      const head = truth[0] as string[];
      const ei = head.indexOf("EventId");
      const ti = head.indexOf("EventTemplate");
      const t = truth.slice(1);
      const p = parsed.slice(1);
      expect(p.length, `${ds}: one CSV row per log line`).toBe(t.length);
      p.forEach((r, i) => {
        if (r[0] !== String(i + 1)) throw new Error(`${ds}: row ${i + 1} has LineId ${r[0]}`);
      });
      const s = score(
        t.map((r) => r[ei] as string),
        t.map((r) => r[ti] as string),
        p.map((r) => r[1] as string),
        p.map((r) => r[2] as string),
      );
      rows.push({ ds, ...s });
    }
    const avg = (k: keyof Scores) => rows.reduce((n, r) => n + r[k], 0) / rows.length;
    const drainAvg = rows.reduce((n, r) => n + (DRAIN3_GA[r.ds] ?? 0), 0) / rows.length;
    const line = (name: string, ga: number, fga: number, pa: number, drain: number) =>
      `${name.padEnd(10)} ${ga.toFixed(3).padStart(6)} ${fga.toFixed(3).padStart(6)} ${pa.toFixed(3).padStart(6)} ${drain.toFixed(3).padStart(9)}`;
    const table = [
      `${"dataset".padEnd(10)} ${"GA".padStart(6)} ${"FGA".padStart(6)} ${"PA".padStart(6)} ${"Drain3 GA".padStart(9)}`,
      ...rows.map((r) => line(r.ds, r.ga, r.fga, r.pa, DRAIN3_GA[r.ds] ?? Number.NaN)),
      line("average", avg("ga"), avg("fga"), avg("pa"), drainAvg),
    ].join("\n");
    console.log(table);
    expect(rows.length).toBe(8);
    expect(avg("ga"), table).toBeGreaterThanOrEqual(0.95);
    expect(avg("fga"), table).toBeGreaterThanOrEqual(0.9);
  });
});
