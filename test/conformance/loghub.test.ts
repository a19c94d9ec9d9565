// Template mining against Loghub-2k's corrected ground truth (../shared/conformance/loghub2k or
// CONFORMANCE_DIR/loghub2k). Each dataset goes through `tug logs analyze FILE --format F --output
// OUT.csv` exactly as a user runs it, with only the dataset's log_format from settings.json (no
// masks, no thresholds), and the CSV is scored with the README's definitions: GA, FGA and PA.
// Those are IN-SAMPLE figures (the defaults were chosen on these eight sets). The gate is on the
// LEAVE-ONE-OUT figures: every setting is chosen on seven sets and scored on the eighth, in turn
// (loghub-data.ts, loo.ts), and the shipped defaults must be what that selection picks on all eight.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { logsCommand } from "../../src/cli/logs.js";
import {
  DEFAULT_MINER_SETTINGS,
  describeSettings,
  loghubDir as dir,
  loadDatasets,
  parseCsv,
  runLoghubLoo,
  type Scores,
  sameSettings,
  score,
  loghubSettings as settings,
} from "./loghub-data.js";

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

  it("reports the in-sample figures of the CLI with its defaults", async () => {
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
    // In-sample figures are no evidence of generality (the leave-one-out test below is the gate),
    // but the CLI must still do what the library does with the same defaults.
    expect(avg("ga"), table).toBeGreaterThanOrEqual(0.95);
  });

  it("leave one dataset out: average GA >= 0.95, FGA >= 0.90, no dataset below 0.85", () => {
    const r = runLoghubLoo(loadDatasets());
    const avg = (k: keyof Scores) => r.folds.reduce((n, f) => n + f.scores[k], 0) / r.folds.length;
    const table = [
      `leave-one-out (${r.candidates.length} candidate settings; each row scored with the settings chosen on the other ${r.folds.length - 1})`,
      `${"dataset".padEnd(10)} ${"GA".padStart(6)} ${"FGA".padStart(6)} ${"PA".padStart(6)}  chosen on the others`,
      ...r.folds.map(
        (f) =>
          `${f.dataset.padEnd(10)} ${f.scores.ga.toFixed(3).padStart(6)} ${f.scores.fga.toFixed(3).padStart(6)} ${f.scores.pa.toFixed(3).padStart(6)}  ${describeSettings(f.settings)}`,
      ),
      `${"LOO avg".padEnd(10)} ${avg("ga").toFixed(3).padStart(6)} ${avg("fga").toFixed(3).padStart(6)} ${avg("pa").toFixed(3).padStart(6)}`,
      `chosen on all eight: ${describeSettings(r.chosenOnAll)}; shipped defaults: ${describeSettings(DEFAULT_MINER_SETTINGS)}`,
    ].join("\n");
    console.log(table);
    expect(r.folds.length, "leave-one-out needs all eight datasets").toBe(8);
    expect(
      sameSettings(r.chosenOnAll, DEFAULT_MINER_SETTINGS),
      `defaults differ from the selection\n${table}`,
    ).toBe(true);
    expect(avg("ga"), table).toBeGreaterThanOrEqual(0.95);
    expect(avg("fga"), table).toBeGreaterThanOrEqual(0.9);
    for (const f of r.folds) expect(f.scores.ga, `${f.dataset}\n${table}`).toBeGreaterThanOrEqual(0.85);
  });
});
