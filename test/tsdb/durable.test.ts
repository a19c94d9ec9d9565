import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type DurableEvent, DurableStore } from "../../src/tsdb/durable.js";
import { type Labels, labelsFromObject } from "../../src/tsdb/labels.js";
import { type SeriesData, SeriesStore } from "../../src/tsdb/store.js";

const HOUR = 3_600_000;
const STEP = 15_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR);

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tug-durable-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function seriesLabels(i: number): Labels {
  return labelsFromObject({
    __name__: i % 2 ? "http_requests_total" : "process_cpu_seconds_total",
    instance: `i${i}`,
  });
}

/** Scrapes `n` series from step `from` to `to`, into every store given; series 3 goes stale at step 100. */
function scrape(
  stores: {
    append(l: Labels, t: number, v: number): unknown;
    appendStale(l: Labels, t: number): unknown;
    gc?(t: number): unknown;
  }[],
  from: number,
  to: number,
  n = 12,
): void {
  for (let k = from; k < to; k++) {
    const t = T0 + k * STEP + (k % 5 === 2 ? 3 : 0);
    for (let i = 0; i < n; i++) {
      for (const s of stores) {
        if (i === 3 && k === 100) s.appendStale(seriesLabels(i), t);
        else if (!(i === 3 && k > 100 && k < 200))
          s.append(seriesLabels(i), t, i % 2 ? k * (i + 1) : Math.sin(k / 10) * i);
      }
    }
    for (const s of stores) s.gc?.(t);
  }
}

function bits(d: SeriesData[]): unknown[] {
  return d.map((s) => ({
    labels: s.labels,
    t: [...s.timestamps],
    v: [...new Uint32Array(s.values.buffer, s.values.byteOffset, s.values.length * 2)],
  }));
}

function reference(): SeriesStore {
  return new SeriesStore({ retentionMs: 1000 * HOUR });
}

describe("durable store", () => {
  it("answers exactly as the in-memory store across blocks and the head, the staleness marker included", () => {
    const events: DurableEvent[] = [];
    const store = new DurableStore({
      dir: tmp(),
      blockRangeMs: HOUR,
      syncIntervalMs: HOUR,
      onEvent: (e) => events.push(e),
    });
    const ref = reference();
    scrape([store, ref], 0, 4 * 240); // four hours
    expect(store.stats().blocks).toBeGreaterThanOrEqual(2);
    expect(events.some((e) => e.type === "compacted")).toBe(true);
    for (const [minT, maxT] of [
      [T0, T0 + 4 * HOUR],
      [T0 + 30 * 60_000, T0 + 2.5 * HOUR],
      [T0 + 3.9 * HOUR, T0 + 5 * HOUR],
    ] as const) {
      const m = [{ name: "__name__", type: "=~" as const, value: "http_.*|process_.*" }];
      expect(bits(store.select(m, minT, maxT))).toEqual(bits(ref.select(m, minT, maxT)));
    }
    expect(store.series([{ name: "instance", type: "=", value: "i3" }])).toEqual(
      ref.series([{ name: "instance", type: "=", value: "i3" }]),
    );
    expect(store.labelValues("instance")).toEqual(ref.labelValues("instance"));
    store.close();
  });

  it("a restart without close (a crash after the last flush) loses no flushed sample", () => {
    const dir = tmp();
    const first = new DurableStore({ dir, blockRangeMs: HOUR, syncIntervalMs: HOUR });
    const ref = reference();
    scrape([first, ref], 0, 700);
    // no close(): the process dies here; gc() at the end of each scrape flushed the log
    const second = new DurableStore({ dir, blockRangeMs: HOUR, syncIntervalMs: HOUR });
    expect(second.stats().replayedSamples).toBeGreaterThan(0);
    const all = [{ name: "__name__", type: "!=" as const, value: "" }];
    expect(bits(second.select(all, T0, T0 + 10 * HOUR))).toEqual(bits(ref.select(all, T0, T0 + 10 * HOUR)));
    // and it goes on: appends after the restart follow, and another restart keeps both
    scrape([second, ref], 700, 1100);
    second.close();
    const third = new DurableStore({ dir, blockRangeMs: HOUR, syncIntervalMs: HOUR });
    expect(bits(third.select(all, T0, T0 + 10 * HOUR))).toEqual(bits(ref.select(all, T0, T0 + 10 * HOUR)));
    third.close();
  });

  it("a corrupt block is reported and set aside; the other blocks and the log still load", () => {
    const dir = tmp();
    const first = new DurableStore({ dir, blockRangeMs: HOUR, syncIntervalMs: HOUR });
    scrape([first], 0, 5 * 240);
    first.close();
    const blocks = readdirSync(join(dir, "blocks"))
      .filter((f) => f.startsWith("raw-") && f.endsWith(".tsb"))
      .sort();
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const victim = join(dir, "blocks", blocks[1] as string);
    const bytes = readFileSync(victim);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] as number) ^ 0x55; // inside the index
    writeFileSync(victim, bytes);
    const events: DurableEvent[] = [];
    const second = new DurableStore({ dir, blockRangeMs: HOUR, onEvent: (e) => events.push(e) });
    expect(events).toContainEqual(expect.objectContaining({ type: "block_corrupt", path: victim }));
    expect(second.stats().blockCorruptions).toBe(1);
    expect(readdirSync(join(dir, "blocks"))).toContain(`${blocks[1]}.corrupt`);
    const all = [{ name: "instance", type: "=" as const, value: "i1" }];
    const got = second.select(all, T0, T0 + 10 * HOUR)[0];
    const ts = [...(got?.timestamps ?? [])];
    expect(ts[0]).toBe(T0); // the first block is there
    expect(ts.at(-1)).toBe(T0 + (5 * 240 - 1) * STEP); // and the head
    expect(ts.some((t) => t >= T0 + HOUR && t < T0 + 2 * HOUR)).toBe(false); // the lost hour
    second.close();
  });

  it("drops blocks past retention and past the size cap, oldest first", () => {
    const dir = tmp();
    const events: DurableEvent[] = [];
    const store = new DurableStore({
      dir,
      blockRangeMs: HOUR,
      syncIntervalMs: HOUR,
      rawRetentionMs: 3 * HOUR,
      onEvent: (e) => events.push(e),
    });
    scrape([store], 0, 8 * 240);
    expect(
      events.filter((e) => e.type === "deleted_block" && e.reason === "retention").length,
    ).toBeGreaterThan(0);
    for (const f of readdirSync(join(dir, "blocks")).filter((f) => f.startsWith("raw-"))) {
      const maxT = Number(f.split("-")[2]?.split(".")[0]);
      expect(maxT).toBeGreaterThanOrEqual(T0 + 8 * 240 * STEP - 3 * HOUR - STEP);
    }
    store.close();
    const capped = new DurableStore({
      dir: tmp(),
      blockRangeMs: HOUR,
      syncIntervalMs: HOUR,
      maxBytes: 40_000,
      onEvent: (e) => events.push(e),
    });
    scrape([capped], 0, 8 * 240);
    expect(events.filter((e) => e.type === "deleted_block" && e.reason === "size").length).toBeGreaterThan(0);
    const st = capped.stats();
    // the newest block always stays; beyond it the cap holds
    expect(st.blocks === 1 || st.blockBytes + st.walBytes <= 40_000).toBe(true);
    capped.close();
  });
});

describe("downsampled tier", () => {
  it("serves each 5-minute window's count, sum, min, max and last where raw samples are gone", () => {
    const store = new DurableStore({
      dir: tmp(),
      blockRangeMs: HOUR,
      syncIntervalMs: HOUR,
      rawRetentionMs: 2 * HOUR,
    });
    const ref = reference();
    scrape([store, ref], 0, 8 * 240);
    const rawStart = store.rawStart();
    expect(rawStart).toBeGreaterThan(T0 + 4 * HOUR);
    const m = [{ name: "instance", type: "=" as const, value: "i3" }]; // the series that went stale at step 100
    const raw = ref.select(m, T0, rawStart - 1)[0] as SeriesData;
    // expected per window, staleness markers left out
    const windows = new Map<number, number[]>();
    const times = new Map<number, number>();
    raw.timestamps.forEach((t, i) => {
      const v = raw.values[i] as number;
      if (Number.isNaN(v)) return;
      const w = Math.floor(t / 300_000);
      windows.set(w, [...(windows.get(w) ?? []), v]);
      times.set(w, t);
    });
    const expected = {
      last: [...windows.values()].map((vs) => vs.at(-1)),
      min: [...windows.values()].map((vs) => Math.min(...vs)),
      max: [...windows.values()].map((vs) => Math.max(...vs)),
      sum: [...windows.values()].map((vs) => vs.reduce((a, b) => a + b, 0)),
      count: [...windows.values()].map((vs) => vs.length),
    };
    for (const kind of ["last", "min", "max", "sum", "count"] as const) {
      const got = store.select(m, T0, rawStart - 1, undefined, { aggregate: kind })[0] as SeriesData;
      expect([...got.timestamps]).toEqual([...times.values()]);
      expect([...got.values]).toEqual(expected[kind]);
    }
    // a range across the boundary: downsampled points, then every raw sample
    const across = store.select(m, rawStart - HOUR, rawStart + HOUR)[0] as SeriesData;
    const before = [...across.timestamps].filter((t) => t < rawStart);
    expect(before).toHaveLength(12);
    expect([...across.timestamps].filter((t) => t >= rawStart)).toEqual([
      ...(ref.select(m, rawStart, rawStart + HOUR)[0] as SeriesData).timestamps,
    ]);
    // counting across the boundary: each window's count, then 1 per raw sample, sums to the raw count
    const counted = store.select(m, rawStart - HOUR, rawStart + HOUR, undefined, {
      aggregate: "count",
    })[0] as SeriesData;
    const rawAll = ref.select(m, rawStart - HOUR, rawStart + HOUR)[0] as SeriesData;
    const firstWindow = Math.floor((rawStart - HOUR) / 300_000) * 300_000;
    const expectedCount = [...(ref.select(m, firstWindow, rawStart + HOUR)[0] as SeriesData).values].filter(
      (v) => !Number.isNaN(v),
    ).length;
    expect([...counted.values].reduce((a, b) => a + b, 0)).toBe(expectedCount);
    expect(rawAll.values.length).toBeGreaterThan(0);
    store.close();
  });
});

describe("downsampled blocks of a complete day", () => {
  it("are merged into one file per day, answer the same, and load again", () => {
    const dir = tmp();
    const DAY = 24 * HOUR;
    const day0 = T0 - (T0 % DAY);
    const opts = { dir, blockRangeMs: 2 * HOUR, rawRetentionMs: HOUR, syncIntervalMs: HOUR };
    const store = new DurableStore(opts);
    const ref = reference();
    const labels = labelsFromObject({ __name__: "g", instance: "a" });
    for (let t = day0; t < day0 + 2.5 * DAY; t += 60_000) {
      const v = Math.sin(t / 3_600_000) * 100;
      store.append(labels, t, v);
      ref.append(labels, t, v);
      store.gc(t);
    }
    const files = readdirSync(join(dir, "blocks")).filter((f) => f.startsWith("ds"));
    const perDay = (d: number) =>
      files.filter((f) => Math.floor(Number(f.split("-")[1]) / DAY) === Math.floor((day0 + d * DAY) / DAY));
    expect(perDay(0)).toHaveLength(1);
    expect(perDay(1)).toHaveLength(1);
    expect(perDay(2).length).toBeGreaterThan(1); // the day is not over
    const m = [{ name: "instance", type: "=" as const, value: "a" }];
    const expected = (end: number) => {
      const raw = ref.select(m, day0, end)[0] as SeriesData;
      const max = new Map<number, number>();
      raw.timestamps.forEach((t, i) => {
        const w = Math.floor(t / 300_000);
        max.set(w, Math.max(max.get(w) ?? Number.NEGATIVE_INFINITY, raw.values[i] as number));
      });
      return [...max.values()];
    };
    const end = store.rawStart() - 1;
    const got = [...(store.select(m, day0, end, undefined, { aggregate: "max" })[0] as SeriesData).values];
    expect(got).toEqual(expected(end));
    store.close();
    const again = new DurableStore(opts);
    expect([
      ...(again.select(m, day0, end, undefined, { aggregate: "max" })[0] as SeriesData).values,
    ]).toEqual(got);
    again.close();
  });
});

describe("durable store on a full disk", () => {
  it("keeps sampling in memory, reports the failure, recovers, and loses nothing written before it", () => {
    const dir = tmp();
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", dir]);
    } catch (err) {
      throw new Error(
        `this test mounts a 512 KiB tmpfs to fill a disk and needs root: ${(err as Error).message}`,
      );
    }
    try {
      const events: DurableEvent[] = [];
      const store = new DurableStore({ dir, blockRangeMs: HOUR, onEvent: (e) => events.push(e) });
      const ref = reference();
      scrape([store, ref], 0, 100);
      // fill what is left of the disk
      mkdirSync(join(dir, "filler"));
      let i = 0;
      try {
        for (;;) writeFileSync(join(dir, "filler", String(i++)), Buffer.alloc(16 * 1024));
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe("ENOSPC");
      }
      scrape([store, ref], 100, 200);
      expect(store.stats().diskFailing).toBe(true);
      expect(events).toContainEqual(expect.objectContaining({ type: "write_failed", what: "wal" }));
      const all = [{ name: "__name__", type: "!=" as const, value: "" }];
      // sampling went on in memory
      expect(bits(store.select(all, T0, T0 + HOUR))).toEqual(bits(ref.select(all, T0, T0 + HOUR)));
      rmSync(join(dir, "filler"), { recursive: true });
      scrape([store, ref], 200, 260);
      expect(store.stats().diskFailing).toBe(false);
      expect(events).toContainEqual({ type: "write_recovered", what: "wal" });
      // a crash now: what was written before the failure and after the recovery is on disk
      const againEvents: DurableEvent[] = [];
      const again = new DurableStore({
        dir,
        blockRangeMs: HOUR,
        syncIntervalMs: HOUR,
        onEvent: (e) => againEvents.push(e),
      });
      expect(againEvents.filter((e) => e.type !== "replayed")).toEqual([]);
      const got = again.select([{ name: "instance", type: "=", value: "i1" }], T0, T0 + 2 * HOUR)[0];
      const steps = new Set([...(got?.timestamps ?? [])].map((t) => Math.floor((t - T0) / STEP)));
      for (let k = 0; k < 100; k++) expect(steps.has(k)).toBe(true);
      for (let k = 201; k < 260; k++) expect(steps.has(k)).toBe(true);
      again.close();
      store.close();
    } finally {
      // lazy: a store left open by a failed assertion must not hide that assertion's error
      execFileSync("umount", ["-l", dir]);
    }
  });
});
