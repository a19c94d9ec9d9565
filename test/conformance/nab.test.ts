// Numenta Anomaly Benchmark: runs `tug anomaly detect` (anomalyCommand) on every series of
// ../shared/conformance/nab (or CONFORMANCE_DIR/nab), reads the written anomaly_score column back,
// and scores the detections (score ≥ 0.5) with NAB's rules as the conformance README states them.
// Those are IN-SAMPLE figures (the defaults were chosen on these series). The gate is on the
// LEAVE-ONE-CATEGORY-OUT figures (nab-data.ts, loo.ts): each category is scored with the settings
// chosen on the other categories, and the defaults must be what the selection picks on all.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { anomalyCommand } from "../../src/cli/anomaly.js";
import {
  DEFAULT_ANOMALY_OPTIONS,
  describeOptions,
  loadSeries,
  nabDir,
  nabTime,
  normalised,
  PROFILES,
  type Profile,
  runNabLoo,
  scoreFile,
  sigma,
} from "./nab-data.js";

const THRESHOLD = 0.5;

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

  it("reports the in-sample scores of the CLI with its defaults", () => {
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
    console.log(`NAB scores IN-SAMPLE, ${results.length} files:\n  ${table.join("\n  ")}`);
    expect(standard).toBeGreaterThan(0);
  });
});

describe("NAB leave one category out", () => {
  it("standard score >= 65 overall and >= 55 in every category with windows", () => {
    const r = runNabLoo(loadSeries());
    const lines = [
      `leave-one-category-out (${r.candidates.length} candidate settings; each category scored with the settings chosen on the others)`,
      ...r.folds.map(
        (f) =>
          `  ${f.category.padEnd(22)} ${f.score.windows > 0 ? f.score.score.toFixed(1).padStart(5) : `S=${f.score.s.toFixed(2)}`} (tp ${f.score.tp}/${f.score.windows}, fp ${f.score.fp})  ${describeOptions(f.options)}`,
      ),
      ...Object.entries(r.overall).map(
        ([k, v]) => `  LOO ${k}: ${v.score.toFixed(1)} (tp ${v.tp}/${v.windows}, fp ${v.fp})`,
      ),
      `  chosen on all categories: ${describeOptions(r.chosenOnAll)}; shipped defaults: ${describeOptions(DEFAULT_ANOMALY_OPTIONS)}`,
    ];
    const table = lines.join("\n");
    console.log(table);
    expect(r.folds.length, "leave-one-out needs at least two categories").toBeGreaterThan(1);
    expect(describeOptions(r.chosenOnAll), "defaults differ from the selection").toBe(
      describeOptions(DEFAULT_ANOMALY_OPTIONS),
    );
    const standard = r.overall.standard;
    expect(standard?.score, table).toBeGreaterThanOrEqual(65);
    for (const f of r.folds)
      if (f.score.windows > 0) expect(f.score.score, `${f.category}\n${table}`).toBeGreaterThanOrEqual(55);
  });
});
