import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { anomalyCommand, formatScore, parseSeriesCsv, parseTimestamp } from "../src/cli/anomaly.js";
import { ANOMALY_THRESHOLD, AnomalyDetector, AnomalyRegistry } from "../src/logs/analysis/anomaly.js";
import { runAsync } from "./support/cli.js";
import { mulberry32 as rng } from "./support/prng.js";

function gaussian(seed: number): () => number {
  const u = rng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

function run(values: number[], d = new AnomalyDetector()): number[] {
  return values.map((v, i) => d.update(v, i * 60_000));
}

const detections = (scores: number[]) => scores.filter((s) => s >= ANOMALY_THRESHOLD).length;

describe("AnomalyDetector", () => {
  it("keeps scores in [0, 1] whatever the scale", () => {
    for (const [scale, offset] of [
      [1, 0],
      [1e-9, 0],
      [1e9, -3e9],
      [0.01, 1e6],
    ] as const) {
      const g = gaussian(7);
      const u = rng(8);
      const values = Array.from(
        { length: 3000 },
        (_, i) => offset + scale * (g() + (u() < 0.01 ? 50 * g() : 0) + (i > 2000 ? 10 : 0)),
      );
      for (const s of run(values)) {
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
      }
    }
  });

  it("learns before scoring", () => {
    const scores = run([1, 1, 1, 1000, -1000, 5, 1e9, 0]);
    expect(scores.every((s) => s === 0)).toBe(true);
  });

  it("detects a spike in noise", () => {
    const g = gaussian(1);
    const values = Array.from({ length: 800 }, () => 100 + 5 * g());
    values[600] = 160;
    const scores = run(values);
    expect(scores[600]).toBeGreaterThanOrEqual(ANOMALY_THRESHOLD);
    expect(scores[600]).toBe(Math.max(...scores));
    expect(detections(scores.slice(0, 600))).toBeLessThanOrEqual(1); // about 1 false alarm per 1000 noise points
  });

  it("detects a downward spike too", () => {
    const g = gaussian(2);
    const values = Array.from({ length: 800 }, () => 100 + 5 * g());
    values[500] = 40;
    expect(run(values)[500]).toBeGreaterThanOrEqual(ANOMALY_THRESHOLD);
  });

  it("detects a level shift soon after it starts, and only once", () => {
    const g = gaussian(3);
    const values = Array.from({ length: 1200 }, (_, i) => 20 * g() + (i >= 700 ? 60 : 0));
    const scores = run(values);
    const first = scores.findIndex((s, i) => i >= 700 && s >= ANOMALY_THRESHOLD);
    expect(first).toBeGreaterThanOrEqual(700);
    expect(first).toBeLessThan(716);
    expect(detections(scores.slice(0, 700))).toBeLessThanOrEqual(1);
    expect(detections(scores.slice(700, 800))).toBe(1); // the refractory period holds repeats back
  });

  it("detects a stuck (suddenly flat) series", () => {
    const g = gaussian(4);
    const values = Array.from({ length: 1200 }, (_, i) => (i >= 900 ? 50 : 50 + 10 * g()));
    const scores = run(values);
    expect(detections(scores.slice(0, 900))).toBeLessThanOrEqual(1);
    expect(detections(scores.slice(900, 960))).toBe(1);
  });

  it("gives a flat series no anomalies, and flags the first change after it", () => {
    const flat = run(Array.from({ length: 3000 }, () => 42));
    expect(flat.every((s) => s === 0)).toBe(true);
    const d = new AnomalyDetector();
    run(
      Array.from({ length: 500 }, () => 0),
      d,
    );
    expect(d.update(3)).toBe(1);
  });

  it("rarely scores noise at 0.5 or above", () => {
    let points = 0;
    let hits = 0;
    for (let seed = 10; seed < 15; seed++) {
      const g = gaussian(seed);
      const u = rng(seed + 100);
      // Gaussian, heavy-tailed, and skewed count-like noise
      const series = [
        Array.from({ length: 10_000 }, () => g()),
        Array.from({ length: 10_000 }, () => g() / Math.max(0.05, Math.abs(g()))),
        Array.from({ length: 10_000 }, () => Math.floor(-Math.log(1 - u()) * 3)),
      ];
      for (const values of series) {
        points += values.length;
        hits += detections(run(values));
      }
    }
    expect(hits / points).toBeLessThan(0.002);
  });

  it("is invariant to the unit of the series", () => {
    const g = gaussian(5);
    const values = Array.from({ length: 1500 }, (_, i) => g() + (i % 97 === 0 ? 8 : 0));
    const a = run(values);
    const b = run(values.map((v) => 1000 * v + 250));
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i] as number, 6);
  });

  it("gives identical subsequent scores after a persistence round trip", () => {
    const g = gaussian(6);
    const values = Array.from(
      { length: 2500 },
      (_, i) => 10 + g() + (i === 1800 ? 30 : 0) + (i > 2200 ? 5 : 0),
    );
    const d = new AnomalyDetector({ window: 500 });
    run(values.slice(0, 1200), d);
    const restored = AnomalyDetector.fromJSON(JSON.parse(JSON.stringify(d)));
    expect(restored.points).toBe(1200);
    expect(restored.options).toEqual(d.options);
    const rest = values.slice(1200);
    const a = run(rest, d);
    const b = run(rest, restored);
    expect(b).toEqual(a);
    expect(detections(a)).toBeGreaterThan(0);
    expect(JSON.stringify(restored)).toBe(JSON.stringify(d));
  });

  it("rejects bad options and states, and skips non-finite values", () => {
    expect(() => new AnomalyDetector({ window: 3 })).toThrow(RangeError);
    expect(() => new AnomalyDetector({ significance: 0 })).toThrow(RangeError);
    expect(() => AnomalyDetector.fromJSON({} as never)).toThrow();
    const d = new AnomalyDetector();
    expect(d.update(Number.NaN)).toBe(0);
    expect(d.points).toBe(0);
  });
});

describe("AnomalyRegistry", () => {
  it("keeps one detector per series, evicts the least recently updated, and lists recent anomalies", () => {
    const seen: string[] = [];
    const r = new AnomalyRegistry({ maxSeries: 2, onAnomaly: (a) => seen.push(a.series) });
    const g = gaussian(9);
    for (let i = 0; i < 400; i++) {
      r.observe("a", g(), i * 1000);
      r.observe("b", 5 + g(), i * 1000);
    }
    expect(r.observe("a", 40, 400_000)).toBeGreaterThanOrEqual(ANOMALY_THRESHOLD);
    expect(seen.at(-1)).toBe("a");
    expect(r.recent()[0]).toEqual({
      series: "a",
      timestampMs: 400_000,
      value: 40,
      score: expect.any(Number),
    });
    expect(r.recent({ limit: 1 })).toHaveLength(1);
    expect(r.recent({ series: "a", sinceMs: 400_000 })).toHaveLength(1);
    expect(r.recent().length).toBe(seen.length);
    r.observe("c", 1, 401_000); // evicts b, the least recently updated
    expect(r.has("b")).toBe(false);
    expect(r.has("a")).toBe(true);
    expect(r.size).toBe(2);
    expect(r.evicted).toBe(1);
    expect(r.scores().map((s) => s.series)).toEqual(["a", "c"]);
    const copy = AnomalyRegistry.fromJSON(JSON.parse(JSON.stringify(r)));
    expect(copy.recent()).toEqual(r.recent());
    expect(copy.observe("a", 0.5, 402_000)).toBe(r.observe("a", 0.5, 402_000));
  });
});

describe("tug anomaly detect", () => {
  const dir = mkdtempSync(join(tmpdir(), "tug-anomaly-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cli = (argv: string[]) => runAsync(anomalyCommand, argv);

  const g = gaussian(11);
  const values = Array.from({ length: 400 }, (_, i) => (i === 300 ? "95.5" : (50 + g()).toFixed(3)));
  const start = Date.parse("2024-01-01T00:00:00Z");
  const stamps = values.map((_, i) =>
    new Date(start + i * 300_000).toISOString().replace("T", " ").slice(0, 19),
  );
  const csv = `timestamp,value\n${values.map((v, i) => `${stamps[i]},${v}`).join("\n")}\n`;
  const input = join(dir, "series.csv");
  writeFileSync(input, csv);

  it("writes timestamp,value,anomaly_score to stdout, one row per input row in order", async () => {
    const r = await cli(["detect", input]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toBe("timestamp,value,anomaly_score");
    expect(lines).toHaveLength(values.length + 1);
    for (let i = 0; i < values.length; i++) {
      const [ts, v, score] = (lines[i + 1] as string).split(",");
      expect(ts).toBe(stamps[i]);
      expect(v).toBe(values[i]);
      expect(score).toMatch(/^[01]\.\d{6}$/);
    }
    expect(Number((lines[301] as string).split(",")[2])).toBeGreaterThanOrEqual(0.5);
  });

  it("writes the same to --output and accepts a file without header", async () => {
    const out = join(dir, "out.csv");
    const r = await cli(["detect", input, "--output", out]);
    expect(r).toEqual({ code: 0, out: "", err: "" });
    const stdout = await cli(["detect", input]);
    expect(readFileSync(out, "utf8")).toBe(stdout.out);
    const bare = join(dir, "bare.csv");
    writeFileSync(bare, csv.split("\n").slice(1).join("\n"));
    const r2 = await cli(["detect", bare, `--output=${join(dir, "out2.csv")}`]);
    expect(r2.code).toBe(0);
    expect(readFileSync(join(dir, "out2.csv"), "utf8")).toBe(stdout.out);
  });

  it("exits 2 on usage errors and 1 on unreadable or malformed input", async () => {
    expect((await cli([])).code).toBe(2);
    expect((await cli(["score", input])).code).toBe(2);
    expect((await cli(["detect"])).code).toBe(2);
    expect((await cli(["detect", input, "--bogus"])).code).toBe(2);
    expect((await cli(["detect", input, "--output"])).code).toBe(2);
    expect((await cli(["detect", input, input])).code).toBe(2);
    const missing = await cli(["detect", join(dir, "nope.csv")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("cannot read");
    const bad = join(dir, "bad.csv");
    writeFileSync(bad, "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,oops\n");
    const r = await cli(["detect", bad]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("line 3");
    expect((await cli(["detect", input, "--output", join(dir, "no/such/dir/out.csv")])).code).toBe(1);
  });

  it("parses NAB-style rows and timestamps, and rounds scores down", () => {
    expect(parseSeriesCsv("timestamp,value\r\n2015-02-26 21:42:53,35\r\n\r\n")).toEqual([
      {
        timestamp: "2015-02-26 21:42:53",
        valueText: "35",
        value: 35,
        timestampMs: Date.parse("2015-02-26T21:42:53Z"),
      },
    ]);
    expect(parseTimestamp("2014-04-10 07:15:00.000000")).toBe(Date.parse("2014-04-10T07:15:00Z"));
    expect(parseTimestamp("1700000000")).toBe(1_700_000_000_000);
    expect(parseTimestamp("yesterday")).toBeUndefined();
    expect(formatScore(0.4999999)).toBe("0.499999");
    expect(formatScore(1)).toBe("1.000000");
  });
});
