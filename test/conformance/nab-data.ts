// NAB data, the scorer as the conformance README defines it, and the leave-one-category-out
// selection of the anomaly detector's settings. Used by nab.test.ts; also runnable on its own for
// the full table: `npx tsx test/conformance/nab-data.ts`.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ANOMALY_THRESHOLD,
  AnomalyDetector,
  type AnomalyDetectorOptions,
  DEFAULT_ANOMALY_OPTIONS,
} from "../../src/logs/analysis/anomaly.js";
import { grid, leaveOneOut } from "./loo.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface Profile {
  tp: number;
  fn: number;
  fp: number;
}

export const PROFILES: Record<string, Profile> = {
  standard: { tp: 1, fn: 1, fp: 0.11 },
  reward_low_FP_rate: { tp: 1, fn: 1, fp: 0.22 },
  reward_low_FN_rate: { tp: 1, fn: 2, fp: 0.11 },
};
export const STANDARD = PROFILES.standard as Profile;

export function nabDir(): string {
  const base = process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance");
  const dir = join(base, "nab");
  if (!existsSync(join(dir, "combined_windows.json")) || !existsSync(join(dir, "data")))
    throw new Error(`NAB data not found at ${dir}: set CONFORMANCE_DIR to the folder holding nab/`);
  return dir;
}

/** NAB timestamps ("2015-03-03 04:37:53" or with ".000000"), read as UTC milliseconds. */
export function nabTime(s: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?$/.exec(s.trim());
  if (!m) throw new Error(`bad NAB timestamp ${s}`);
  return Date.parse(`${m[1]}T${m[2]}${m[3] ? m[3].slice(0, 4) : ""}Z`);
}

/** σ(y) = 2/(1 + e^{5y}) − 1. */
export const sigma = (y: number): number => 2 / (1 + Math.exp(5 * y)) - 1;

/** Raw NAB score S of one file, per the README: probation, earliest detection per window, FP weighting. */
export function scoreFile(
  times: number[],
  detections: boolean[],
  windows: Array<[number, number]>,
  p: Profile,
) {
  const n = times.length;
  const probation = Math.min(Math.floor(0.15 * n), 750);
  const rows = windows
    .map(([a, b]) => {
      let left = -1;
      let right = -1;
      times.forEach((t, i) => {
        if (t >= a && t <= b) {
          if (left < 0) left = i;
          right = i;
        }
      });
      return [left, right] as [number, number];
    })
    .filter(([l]) => l >= 0)
    .sort((x, y) => x[0] - y[0]);
  const detected = rows.map(() => false);
  let s = 0;
  let tp = 0;
  let fp = 0;
  let w = 0; // first window not yet over
  let prevRight = -1;
  let prevWidth = 0;
  for (let i = 0; i < n; i++) {
    while (w < rows.length && (rows[w] as [number, number])[1] < i) {
      const [l, r] = rows[w] as [number, number];
      prevRight = r;
      prevWidth = r - l + 1;
      w++;
    }
    if (i < probation || !detections[i]) continue;
    const cur = rows[w];
    if (cur && cur[0] <= i) {
      if (!detected[w]) {
        detected[w] = true;
        const width = cur[1] - cur[0] + 1;
        s += (sigma(-(cur[1] - i + 1) / width) * p.tp) / sigma(-1);
        tp++;
      }
    } else if (prevRight < 0) {
      s -= p.fp;
      fp++;
    } else {
      s += p.fp * sigma(Math.abs(i - prevRight) / (prevWidth - 1));
      fp++;
    }
  }
  const fn = detected.filter((d) => !d).length;
  s -= fn * p.fn;
  return { s, windows: rows.length, tp, fp, fn };
}

export interface Scored {
  times: number[];
  detections: boolean[];
  windows: Array<[number, number]>;
}

/** Normalised score 100·(S − S_null)/(S_perfect − S_null) over a set of files. */
export function normalised(files: Scored[], p: Profile) {
  let s = 0;
  let windows = 0;
  let tp = 0;
  let fp = 0;
  for (const f of files) {
    const r = scoreFile(f.times, f.detections, f.windows, p);
    s += r.s;
    windows += r.windows;
    tp += r.tp;
    fp += r.fp;
  }
  const perfect = windows * p.tp;
  const nul = -windows * p.fn;
  return { score: windows > 0 ? (100 * (s - nul)) / (perfect - nul) : Number.NaN, s, windows, tp, fp };
}

export interface Series {
  name: string;
  category: string;
  times: number[];
  values: number[];
  windows: Array<[number, number]>;
}

/** Every series of the NAB subset, with its anomaly windows. */
export function loadSeries(): Series[] {
  const dir = nabDir();
  const windows = JSON.parse(readFileSync(join(dir, "combined_windows.json"), "utf8")) as Record<
    string,
    Array<[string, string]>
  >;
  const out: Series[] = [];
  for (const category of readdirSync(join(dir, "data")).sort()) {
    for (const file of readdirSync(join(dir, "data", category))
      .filter((f) => f.endsWith(".csv"))
      .sort()) {
      const name = `${category}/${file}`;
      const rows = readFileSync(join(dir, "data", category, file), "utf8")
        .trim()
        .split(/\r?\n/)
        .slice(1);
      const times: number[] = [];
      const values: number[] = [];
      for (const r of rows) {
        const [ts, v] = r.split(",");
        times.push(nabTime(ts as string));
        values.push(Number(v));
      }
      const ws = (windows[name] ?? []).map(([a, b]) => [nabTime(a), nabTime(b)] as [number, number]);
      out.push({ name, category, times, values, windows: ws });
    }
  }
  if (out.length === 0) throw new Error(`no NAB series under ${join(dir, "data")}`);
  return out;
}

type Options = Required<AnomalyDetectorOptions>;

/** Candidates in order of preference (ties go to the earlier): the prior defaults first. */
export function detectorCandidates(): Options[] {
  return grid<Options>({
    seasonal: [0.25, 0.5, 0],
    window: [1000, 500, 2000],
    significance: [2.5, 2, 2.25, 2.75, 3, 3.5],
    refractory: [100, 50, 200, 400, 0],
    warmup: [60, 20, 150],
  });
}

export function describeOptions(o: Options): string {
  return `seasonal ${o.seasonal}, window ${o.window}, significance ${o.significance}, refractory ${o.refractory}, warmup ${o.warmup}`;
}

/**
 * Detections of one series for every candidate. The p-values depend only on `window` and
 * `seasonal` (significance and refractory only read the p-values, and the warm-up only hides
 * the first points' scores), so each series runs once per such pair with warm-up 0 and the rest
 * is replayed from the p-values, exactly as AnomalyDetector.update would score them.
 */
function detectionsFor(series: Series[], candidates: Options[]): boolean[][][] {
  const pByWindow = new Map<string, Float64Array[]>();
  const runKey = (c: Options) => `${c.window}/${c.seasonal}`;
  for (const c of candidates) {
    const key = runKey(c);
    if (pByWindow.has(key)) continue;
    pByWindow.set(
      key,
      series.map((s) => {
        const d = new AnomalyDetector({
          window: c.window,
          seasonal: c.seasonal,
          warmup: 0,
          significance: 1,
          refractory: 0,
        });
        const p = new Float64Array(s.values.length);
        s.values.forEach((v, i) => {
          d.update(v, s.times[i]);
          p[i] = d.lastPValue;
        });
        return p;
      }),
    );
  }
  return candidates.map((c) =>
    series.map((_, si) => {
      const p = (pByWindow.get(runKey(c)) as Float64Array[])[si] as Float64Array;
      const det: boolean[] = new Array(p.length).fill(false);
      let quiet = 0;
      for (let i = c.warmup; i < p.length; i++) {
        const pv = p[i] as number;
        const score = pv <= 0 ? 1 : Math.min(1, Math.max(0, -Math.log10(pv) / (2 * c.significance)));
        if (quiet > 0) quiet--;
        else if (score >= ANOMALY_THRESHOLD) {
          det[i] = true;
          quiet = c.refractory;
        }
      }
      return det;
    }),
  );
}

export interface NabLoo {
  categories: string[];
  candidates: Options[];
  /** Per held-out category: the options chosen on the others and the category's score with them. */
  folds: Array<{ category: string; options: Options; score: ReturnType<typeof normalised> }>;
  /** All series scored with their fold's choice, per profile. */
  overall: Record<string, ReturnType<typeof normalised>>;
  chosenOnAll: Options;
}

export function runNabLoo(series: Series[]): NabLoo {
  const candidates = detectorCandidates();
  const det = detectionsFor(series, candidates);
  const categories = [...new Set(series.map((s) => s.category))].sort();
  const asScored = (c: number, si: number): Scored => ({
    times: (series[si] as Series).times,
    windows: (series[si] as Series).windows,
    detections: (det[c] as boolean[][])[si] as boolean[],
  });
  const idxOf = (cat: string) => series.map((s, i) => (s.category === cat ? i : -1)).filter((i) => i >= 0);
  // Per candidate and category, raw S and window counts, so that any union scores without a rerun.
  const parts = candidates.map((_, c) =>
    categories.map((cat) => {
      const r = normalised(
        idxOf(cat).map((si) => asScored(c, si)),
        STANDARD,
      );
      return r;
    }),
  );
  // Objective: the standard score over the union of the training categories' series, from each
  // category's raw S and window count (the windows do not depend on the candidate).
  const windowsOf = categories.map((_, g) => (parts[0] as ReturnType<typeof normalised>[])[g]?.windows ?? 0);
  const sel = leaveOneOut(
    candidates,
    categories,
    parts.map((row) => row.map((r) => r.s)),
    (s, groupIdx) => {
      const sum = s.reduce((a, b) => a + b, 0);
      const w = groupIdx.reduce((a, g) => a + (windowsOf[g] as number), 0);
      return w > 0 ? (sum + w) / (2 * w) : sum;
    },
  );
  const folds = sel.folds.map((f, g) => ({
    category: f.heldOut,
    options: f.chosen,
    score: (parts[f.chosenIndex] as ReturnType<typeof normalised>[])[g] as ReturnType<typeof normalised>,
  }));
  const overall: NabLoo["overall"] = {};
  for (const [name, p] of Object.entries(PROFILES)) {
    const files: Scored[] = [];
    sel.folds.forEach((f) => {
      for (const si of idxOf(f.heldOut)) files.push(asScored(f.chosenIndex, si));
    });
    overall[name] = normalised(files, p);
  }
  return { categories, candidates, folds, overall, chosenOnAll: sel.all.chosen };
}

export { DEFAULT_ANOMALY_OPTIONS };

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const t0 = performance.now();
  const r = runNabLoo(loadSeries());
  console.log(`${r.candidates.length} candidates in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  for (const f of r.folds)
    console.log(
      `${f.category.padEnd(22)} ${Number.isNaN(f.score.score) ? `S=${f.score.s.toFixed(2)}` : f.score.score.toFixed(1)} (tp ${f.score.tp}/${f.score.windows}, fp ${f.score.fp})  [${describeOptions(f.options)}]`,
    );
  for (const [k, v] of Object.entries(r.overall))
    console.log(`LOO ${k}: ${v.score.toFixed(1)} (tp ${v.tp}/${v.windows}, fp ${v.fp})`);
  console.log(`chosen on all: ${describeOptions(r.chosenOnAll)}`);
}
