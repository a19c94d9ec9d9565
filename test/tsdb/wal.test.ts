import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Labels } from "../../src/tsdb/labels.js";
import { StaleNaN } from "../../src/tsdb/stale.js";
import { Wal, type WalReplayReport } from "../../src/tsdb/wal.js";

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tug-wal-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Replayed {
  series: Map<number, Labels>;
  samples: { t: number; ref: number; bits: [number, number] }[];
  report: WalReplayReport;
}

function replay(dir: string): Replayed {
  const series = new Map<number, Labels>();
  const samples: Replayed["samples"] = [];
  const report = new Wal(dir).replay({
    series: (ref, labels) => series.set(ref, labels),
    samples: (t, refs, values, n) => {
      const w = new Uint32Array(values.buffer);
      for (let i = 0; i < n; i++)
        samples.push({ t, ref: refs[i] as number, bits: [w[2 * i] as number, w[2 * i + 1] as number] });
    },
  });
  return { series, samples, report };
}

const up: Labels = [
  { name: "__name__", value: "up" },
  { name: "job", value: "tug-ü" },
];
const mem: Labels = [{ name: "__name__", value: "process_resident_memory_bytes" }];

function writeScrapes(wal: Wal, from: number, to: number): void {
  for (let k = from; k < to; k++) {
    wal.logSamples(k * 15_000, [1, 2], new Float64Array([1, k * 1.5]), 2);
    wal.flush();
  }
}

describe("write-ahead log", () => {
  it("replays series and samples bit for bit, the staleness marker included", () => {
    const dir = tmp();
    const wal = new Wal(dir);
    wal.logSeries(1, up);
    wal.logSeries(2, mem);
    wal.logSamples(1000, [1, 2], new Float64Array([1, 2.5]), 2);
    wal.logSamples(2000, [1, 2], new Float64Array([StaleNaN, 3]), 2);
    wal.flush();
    wal.close();
    const r = replay(dir);
    expect(r.report.corruptions).toEqual([]);
    expect(r.series.get(1)).toEqual(up);
    expect(r.series.get(2)).toEqual(mem);
    expect(r.samples.map((s) => [s.t, s.ref])).toEqual([
      [1000, 1],
      [1000, 2],
      [2000, 1],
      [2000, 2],
    ]);
    const stale = new Uint32Array(new Float64Array([StaleNaN]).buffer);
    expect(r.samples[2]?.bits).toEqual([stale[0], stale[1]]);
  });

  it("a torn last record is reported, cut away, and later writes follow the good records", () => {
    const dir = tmp();
    const wal = new Wal(dir);
    wal.logSeries(1, up);
    wal.logSeries(2, mem);
    writeScrapes(wal, 0, 10);
    wal.close();
    const seg = join(dir, "00000001");
    const size = statSync(seg).size;
    writeFileSync(seg, readFileSync(seg).subarray(0, size - 7)); // a crash mid-write
    const first = replay(dir);
    expect(first.report.corruptions).toHaveLength(1);
    expect(first.report.corruptions[0]?.reason).toBe("record cut short");
    expect(first.samples).toHaveLength(18);
    expect(statSync(seg).size).toBe(size - 45); // truncated to the last whole record (45 bytes a 2-sample record)

    const again = new Wal(dir);
    again.replay({ series: () => {}, samples: () => {} });
    writeScrapes(again, 10, 12);
    again.close();
    const second = replay(dir);
    expect(second.report.corruptions).toEqual([]);
    expect(second.samples.map((s) => s.t / 15_000)).toEqual([
      0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 10, 10, 11, 11,
    ]);
  });

  it("a corrupted middle segment loses only its own tail; the segments after it load", () => {
    const dir = tmp();
    const live = new Map<number, Labels>([
      [1, up],
      [2, mem],
    ]);
    const wal = new Wal(dir, {
      segmentBytes: 300,
      onSegment: (w) => {
        for (const [ref, labels] of live) w.logSeries(ref, labels);
      },
    });
    for (const [ref, labels] of live) wal.logSeries(ref, labels);
    writeScrapes(wal, 0, 30);
    wal.close();
    const segs = wal.segments();
    expect(segs.length).toBeGreaterThanOrEqual(4);
    const middle = join(dir, String(segs[1]).padStart(8, "0"));
    const bytes = readFileSync(middle);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0xff; // flip bits in its last record
    writeFileSync(middle, bytes);
    const r = replay(dir);
    expect(r.report.corruptions).toEqual([
      expect.objectContaining({ segment: segs[1], reason: "checksum mismatch" }),
    ]);
    const times = new Set(r.samples.map((s) => s.t / 15_000));
    expect(times.has(29)).toBe(true); // later segments loaded
    expect(times.size).toBe(29); // exactly one scrape lost: the corrupted record
    expect(r.series.get(1)).toEqual(up);
  });

  it("deletes segments whose samples are all in a block, and each segment carries the live series", () => {
    const dir = tmp();
    const wal = new Wal(dir, {
      segmentBytes: 300,
      onSegment: (w) => {
        w.logSeries(1, up);
        w.logSeries(2, mem);
      },
    });
    wal.logSeries(1, up);
    wal.logSeries(2, mem);
    writeScrapes(wal, 0, 30);
    const before = wal.segments().length;
    const deleted = wal.deleteSegmentsUpTo(15 * 15_000);
    expect(deleted).toBeGreaterThan(0);
    expect(wal.segments().length).toBe(before - deleted);
    wal.close();
    const r = replay(dir);
    expect(r.report.corruptions).toEqual([]);
    expect(r.series.get(1)).toEqual(up);
    expect(r.series.get(2)).toEqual(mem);
    expect(Math.min(...r.samples.map((s) => s.t / 15_000))).toBeLessThanOrEqual(16);
    expect(Math.max(...r.samples.map((s) => s.t / 15_000))).toBe(29);
  });
});
