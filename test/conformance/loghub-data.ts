// Loghub-2k data, scoring and the leave-one-out grid for the template miner. Used by
// loghub.test.ts; also runnable on its own for the full table: `npx tsx test/conformance/loghub-data.ts`.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compileLogFormat, LineParser } from "../../src/logs/patterns/format.js";
import { DEFAULT_MINER_SETTINGS, type MinerSettings, TemplateMiner } from "../../src/logs/patterns/miner.js";
import { MASK, maskMessage } from "../../src/logs/patterns/tokenize.js";
import { grid, leaveOneOut } from "./loo.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const loghubDir = join(
  process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance"),
  "loghub2k",
);

/** The eight datasets and their log formats; throws one line naming the folder when absent. */
export function loghubSettings(): Record<string, { log_format: string }> {
  const file = join(loghubDir, "settings.json");
  if (!existsSync(file)) {
    throw new Error(
      `Loghub-2k data not found at ${loghubDir}: set CONFORMANCE_DIR to the folder holding loghub2k/`,
    );
  }
  return JSON.parse(readFileSync(file, "utf8"));
}

/** RFC 4180 CSV (quoted fields with doubled quotes, CRLF or LF). */
export function parseCsv(text: string): string[][] {
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

export interface Scores {
  ga: number;
  fga: number;
  pa: number;
}

/**
 * GA: a ground-truth group is correct when all its lines got one parsed id and that id holds no
 * other line; GA = lines in correct groups / lines. FGA: F1 of correct groups over the parsed and
 * the ground-truth group counts. PA: lines whose parsed template equals the truth exactly.
 */
export function score(truthIds: string[], truthTpl: string[], ids: string[], tpl: string[]): Scores {
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

export interface Dataset {
  name: string;
  format: string;
  messages: string[];
  truthIds: string[];
  truthTpl: string[];
}

/** Reads every dataset: messages parsed with its log_format, and the corrected ground truth. */
export function loadDatasets(): Dataset[] {
  const out: Dataset[] = [];
  for (const [name, cfg] of Object.entries(loghubSettings())) {
    const parser = new LineParser({ kind: "format", format: compileLogFormat(cfg.log_format) });
    const messages: string[] = [];
    for (const line of readFileSync(join(loghubDir, name, `${name}_2k.log`), "utf8").split("\n")) {
      if (line.trim() === "") continue;
      parser.parse(line);
      messages.push(parser.message);
    }
    const truth = parseCsv(
      readFileSync(join(loghubDir, name, `${name}_2k.log_structured_corrected.csv`), "utf8"),
    );
    const head = truth[0] as string[];
    const ei = head.indexOf("EventId");
    const ti = head.indexOf("EventTemplate");
    const rows = truth.slice(1).filter((r) => r.length > 1);
    if (rows.length !== messages.length)
      throw new Error(`${name}: ${messages.length} log lines but ${rows.length} ground-truth rows`);
    out.push({
      name,
      format: cfg.log_format,
      messages,
      truthIds: rows.map((r) => r[ei] as string),
      truthTpl: rows.map((r) => r[ti] as string),
    });
  }
  if (out.length === 0)
    throw new Error(`no Loghub-2k datasets listed in ${join(loghubDir, "settings.json")}`);
  return out;
}

/** The candidate settings, in order of preference (ties go to the earlier one): see loo.ts. */
export function minerCandidates(): MinerSettings[] {
  const g = grid<{
    dateWords: boolean;
    hexPairs: boolean;
    dotRuns: boolean;
    dottedNames: boolean;
    units: boolean;
    minDistinct: number;
    firstTokenPartition: boolean;
    firstTokenMerge: boolean;
    lockstep: boolean;
    asides: boolean;
  }>({
    // The general shapes first and on: a rule is dropped only when the data argues against it.
    dottedNames: [true, false],
    units: [true, false],
    asides: [true, false],
    hexPairs: [true, false],
    dateWords: [true, false],
    dotRuns: [true, false],
    minDistinct: [4, 3, 5, 6, 8],
    lockstep: [true, false],
    firstTokenPartition: [true, false],
    firstTokenMerge: [true, false],
  });
  return g.map((o) => ({
    maskRules:
      (o.dateWords ? MASK.dateWords : 0) |
      (o.hexPairs ? MASK.hexPairs : 0) |
      (o.dotRuns ? MASK.dotRuns : 0) |
      (o.dottedNames ? MASK.dottedNames : 0) |
      (o.units ? MASK.units : 0),
    minDistinct: o.minDistinct,
    firstTokenPartition: o.firstTokenPartition,
    firstTokenMerge: o.firstTokenMerge,
    lockstep: o.lockstep,
    asides: o.asides,
  }));
}

export function describeSettings(s: MinerSettings): string {
  const rules = Object.entries(MASK)
    .filter(([, bit]) => (s.maskRules & bit) === 0)
    .map(([k]) => k);
  const parts = [`minDistinct=${s.minDistinct}`];
  if (rules.length > 0) parts.push(`off: ${rules.join(",")}`);
  if (!s.firstTokenPartition) parts.push("no first-token partition");
  else if (!s.firstTokenMerge) parts.push("no first-token merge");
  if (!s.lockstep) parts.push("no lockstep");
  if (!s.asides) parts.push("no asides");
  return parts.join("; ");
}

export function sameSettings(a: MinerSettings, b: MinerSettings): boolean {
  return (
    a.maskRules === b.maskRules &&
    a.minDistinct === b.minDistinct &&
    a.firstTokenPartition === b.firstTokenPartition &&
    a.firstTokenMerge === b.firstTokenMerge &&
    a.lockstep === b.lockstep &&
    a.asides === b.asides
  );
}

/** Mines one dataset with the given settings (masking precomputed per rule set) and scores it. */
function mine(ds: Dataset, keys: string[], settings: MinerSettings): Scores {
  const miner = new TemplateMiner({ settings });
  const sigs = keys.map((k) => miner.observeKey(k));
  miner.refine();
  const ids: string[] = [];
  const tpls: string[] = [];
  for (const s of sigs) {
    const t = miner.templateOf(s);
    ids.push(t.id);
    tpls.push(t.template);
  }
  return score(ds.truthIds, ds.truthTpl, ids, tpls);
}

export interface LoghubLoo {
  datasets: string[];
  candidates: MinerSettings[];
  /** Scores of each candidate on each dataset. */
  table: Scores[][];
  /** Per held-out dataset: the settings chosen on the other seven and its scores with them. */
  folds: Array<{ dataset: string; settings: MinerSettings; scores: Scores }>;
  /** The selection on all eight: must equal the shipped defaults. */
  chosenOnAll: MinerSettings;
}

/** Objective of the selection: mean over the training datasets of (GA + FGA) / 2. */
export function runLoghubLoo(datasets: Dataset[]): LoghubLoo {
  const candidates = minerCandidates();
  const keyCache = new Map<string, string[]>();
  const keysFor = (ds: Dataset, rules: number): string[] => {
    const k = `${ds.name}/${rules}`;
    let keys = keyCache.get(k);
    if (keys === undefined) {
      keys = ds.messages.map((m) => maskMessage(m, rules));
      keyCache.set(k, keys);
    }
    return keys;
  };
  const table = candidates.map((c) => datasets.map((ds) => mine(ds, keysFor(ds, c.maskRules), c)));
  const objective = table.map((row) => row.map((s) => (s.ga + s.fga) / 2));
  const sel = leaveOneOut(
    candidates,
    datasets.map((d) => d.name),
    objective,
    (v) => v.reduce((a, b) => a + b, 0) / v.length,
  );
  return {
    datasets: datasets.map((d) => d.name),
    candidates,
    table,
    folds: sel.folds.map((f, i) => ({
      dataset: f.heldOut,
      settings: f.chosen,
      scores: (table[f.chosenIndex] as Scores[])[i] as Scores,
    })),
    chosenOnAll: sel.all.chosen,
  };
}

export { DEFAULT_MINER_SETTINGS };

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const t0 = performance.now();
  const data = loadDatasets();
  const r = runLoghubLoo(data);
  console.log(
    `${r.candidates.length} candidates x ${r.datasets.length} datasets in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  for (const f of r.folds)
    console.log(
      `${f.dataset.padEnd(10)} GA ${f.scores.ga.toFixed(3)} FGA ${f.scores.fga.toFixed(3)} PA ${f.scores.pa.toFixed(3)}  [${describeSettings(f.settings)}]`,
    );
  const avg = (k: keyof Scores) => r.folds.reduce((a, f) => a + f.scores[k], 0) / r.folds.length;
  console.log(
    `LOO average GA ${avg("ga").toFixed(3)} FGA ${avg("fga").toFixed(3)} PA ${avg("pa").toFixed(3)}`,
  );
  console.log(
    `chosen on all: ${describeSettings(r.chosenOnAll)}; defaults: ${describeSettings(DEFAULT_MINER_SETTINGS)}`,
  );
  const di = r.candidates.findIndex((c) => sameSettings(c, DEFAULT_MINER_SETTINGS));
  if (di >= 0)
    console.log(
      `defaults per dataset: ${r.datasets.map((d, i) => `${d} ${(r.table[di] as Scores[])[i]?.ga.toFixed(3)}`).join(", ")}`,
    );
  // Ablation: each single rule off against the defaults.
  for (let c = 0; c < r.candidates.length; c++) {
    const cand = r.candidates[c] as MinerSettings;
    const diff =
      Number(cand.maskRules !== DEFAULT_MINER_SETTINGS.maskRules) +
      Number(cand.minDistinct !== DEFAULT_MINER_SETTINGS.minDistinct) +
      Number(cand.firstTokenPartition !== DEFAULT_MINER_SETTINGS.firstTokenPartition) +
      Number(cand.firstTokenMerge !== DEFAULT_MINER_SETTINGS.firstTokenMerge) +
      Number(cand.lockstep !== DEFAULT_MINER_SETTINGS.lockstep) +
      Number(cand.asides !== DEFAULT_MINER_SETTINGS.asides);
    if (diff !== 1) continue;
    const row = r.table[c] as Scores[];
    const bits = cand.maskRules ^ DEFAULT_MINER_SETTINGS.maskRules;
    if (bits !== 0 && (bits & (bits - 1)) !== 0) continue;
    console.log(
      `  ${describeSettings(cand).padEnd(50)} avg GA ${(row.reduce((a, s) => a + s.ga, 0) / row.length).toFixed(3)}  ${row.map((s, i) => `${r.datasets[i]} ${s.ga.toFixed(3)}`).join(" ")}`,
    );
  }
}
