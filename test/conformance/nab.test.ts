// Numenta Anomaly Benchmark: runs `tug anomaly detect` (anomalyCommand) on every series of
// ../shared/conformance/nab (or CONFORMANCE_DIR/nab), reads the written anomaly_score column back,
// and scores the detections (score ≥ 0.5) with NAB's rules as the conformance README states them.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { anomalyCommand } from "../../src/cli/anomaly.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const THRESHOLD = 0.5;

interface Profile {
  tp: number;
  fn: number;
  fp: number;
}

const PROFILES: Record<string, Profile> = {
  standard: { tp: 1, fn: 1, fp: 0.11 },
  reward_low_FP_rate: { tp: 1, fn: 1, fp: 0.22 },
  reward_low_FN_rate: { tp: 1, fn: 2, fp: 0.11 },
};

function nabDir(): string {
  const base = process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance");
  const dir = join(base, "nab");
  if (!existsSync(join(dir, "combined_windows.json")) || !existsSync(join(dir, "data")))
    throw new Error(`NAB data not found at ${dir}: set CONFORMANCE_DIR to the folder holding nab/`);
  return dir;
}

/** NAB timestamps ("2015-03-03 04:37:53" or with ".000000"), read as UTC milliseconds. */
function nabTime(s: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?$/.exec(s.trim());
  if (!m) throw new Error(`bad NAB timestamp ${s}`);
  return Date.parse(`${m[1]}T${m[2]}${m[3] ? m[3].slice(0, 4) : ""}Z`);
}

/** σ(y) = 2/(1 + e^{5y}) − 1. */
const sigma = (y: number): number => 2 / (1 + Math.exp(5 * y)) - 1;

/** Raw NAB score S of one file, per the README: probation, earliest detection per window, FP weighting. */
function scoreFile(times: number[], detections: boolean[], windows: Array<[number, number]>, p: Profile) {
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

interface FileResult {
  name: string;
  category: string;
  times: number[];
  detections: boolean[];
  windows: Array<[number, number]>;
}

const work = mkdtempSync(join(tmpdir(), "tug-nab-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function detectAll(): Promise<FileResult[]> {
  const dir = nabDir();
  const windows = JSON.parse(readFileSync(join(dir, "combined_windows.json"), "utf8")) as Record<
    string,
    Array<[string, string]>
  >;
  const results: FileResult[] = [];
  for (const category of readdirSync(join(dir, "data")).sort()) {
    for (const file of readdirSync(join(dir, "data", category))
      .filter((f) => f.endsWith(".csv"))
      .sort()) {
      const name = `${category}/${file}`;
      const outFile = join(work, `${category}-${file}`);
      const errs: string[] = [];
      const code = await anomalyCommand(
        ["detect", join(dir, "data", category, file), "--output", outFile],
        () => {},
        (s) => errs.push(s),
      );
      expect(errs.join(""), name).toBe("");
      expect(code, name).toBe(0);
      const input = readFileSync(join(dir, "data", category, file), "utf8")
        .trim()
        .split(/\r?\n/)
        .slice(1);
      const lines = readFileSync(outFile, "utf8").trim().split("\n");
      expect(lines[0]).toBe("timestamp,value,anomaly_score");
      expect(lines.length - 1, name).toBe(input.length);
      const times: number[] = [];
      const detections: boolean[] = [];
      for (const line of lines.slice(1)) {
        const [ts, , score] = line.split(",");
        const v = Number(score);
        expect(v >= 0 && v <= 1, `${name}: score ${score}`).toBe(true);
        times.push(nabTime(ts as string));
        detections.push(v >= THRESHOLD);
      }
      const ws = (windows[name] ?? []).map(([a, b]) => [nabTime(a), nabTime(b)] as [number, number]);
      results.push({ name, category, times, detections, windows: ws });
    }
  }
  expect(results.length).toBeGreaterThan(0);
  return results;
}

/** Normalised score 100·(S − S_null)/(S_perfect − S_null) over a set of files. */
function normalised(
  files: FileResult[],
  p: Profile,
): { score: number; s: number; windows: number; tp: number; fp: number } {
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

describe("the NAB scorer", () => {
  // 100 rows (probation 15), one window over rows 40..59
  const times = Array.from({ length: 100 }, (_, i) => i * 1000);
  const win: Array<[number, number]> = [[40_000, 59_000]];
  const det = (...rows: number[]) => times.map((_, i) => rows.includes(i));
  const std = PROFILES.standard as Profile;

  it("follows the README rules", () => {
    expect(scoreFile(times, det(), win, std).s).toBe(-1);
    expect(scoreFile(times, det(40), win, std).s).toBeCloseTo(1, 12);
    expect(scoreFile(times, det(59), win, std).s).toBeCloseTo(sigma(-1 / 20) / sigma(-1), 12);
    expect(scoreFile(times, det(50, 40), win, std).s).toBeCloseTo(1, 12); // only the earliest counts
    expect(scoreFile(times, det(10, 40), win, std).s).toBeCloseTo(1, 12); // probation never counts
    expect(scoreFile(times, det(20, 40), win, std).s).toBeCloseTo(1 - 0.11, 12);
    expect(scoreFile(times, det(40, 70), win, std).s).toBeCloseTo(1 + 0.11 * sigma(11 / 19), 12);
    expect(scoreFile(times, det(40, 99), win, std).s).toBeCloseTo(1 - 0.11 * 1, 2);
    expect(scoreFile(times, det(), win, PROFILES.reward_low_FN_rate as Profile).s).toBe(-2);
    expect(scoreFile(times, det(20), [], PROFILES.reward_low_FP_rate as Profile).s).toBeCloseTo(-0.22, 12);
  });
});

describe("NAB with tug anomaly detect (threshold 0.5)", () => {
  let results: FileResult[] = [];

  it("scores every series through the CLI", async () => {
    results = await detectAll();
  });

  it("scores at least 60 on the standard profile", () => {
    expect(results.length).toBeGreaterThan(0);
    const categories = [...new Set(results.map((r) => r.category))].sort();
    const table: string[] = [];
    let standard = Number.NaN;
    for (const [name, p] of Object.entries(PROFILES)) {
      const parts: string[] = [];
      for (const c of categories) {
        const r = normalised(
          results.filter((f) => f.category === c),
          p,
        );
        parts.push(
          r.windows > 0
            ? `${c} ${r.score.toFixed(1)} (tp ${r.tp}/${r.windows}, fp ${r.fp})`
            : `${c} S=${r.s.toFixed(2)} (fp ${r.fp})`,
        );
      }
      const all = normalised(results, p);
      if (name === "standard") standard = all.score;
      table.push(
        `${name}: overall ${all.score.toFixed(1)} (tp ${all.tp}/${all.windows}, fp ${all.fp})\n    ${parts.join("\n    ")}`,
      );
    }
    console.log(`NAB scores, ${results.length} files:\n  ${table.join("\n  ")}`);
    expect(standard).toBeGreaterThanOrEqual(60);
  });
});
