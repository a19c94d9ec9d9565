import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  Block,
  BlockCorruptError,
  BlockWriter,
  PART_COUNT,
  PART_LAST,
  PART_MAX,
  PART_MIN,
  PART_RAW,
  PART_SUM,
  type PartKind,
} from "./block.js";
import { ChunkCorruptError, chunkCount, decodeChunk, SAMPLES_PER_CHUNK, XorEncoder } from "./chunkenc.js";
import { DEFAULT_RESOLUTION_MS, downsample } from "./downsample.js";
import { compareLabels, type Labels, labelsKey } from "./labels.js";
import { type CompiledMatcher, type Matcher, matchesAll, toCompiled } from "./matchers.js";
import { isStaleMarker, writeStaleMarker } from "./stale.js";
import {
  type AppendResult,
  DEFAULT_MAX_SERIES,
  type SeriesData,
  type SeriesRef,
  SeriesStore,
  type StoreCounters,
  type WorkMeter,
} from "./store.js";
import { Wal, WalWriteError } from "./wal.js";

/**
 * The embedded store made durable: the in-memory `SeriesStore` is the head (the newest samples,
 * as Prometheus's head block), every append also goes to the write-ahead log (wal.ts), and each
 * completed `blockRangeMs` of the head is compacted into an immutable block file of XOR chunks
 * (block.ts, chunkenc.ts). Start-up loads the blocks' indexes and replays the log into the head.
 *
 * It keeps `SeriesStore`'s interface, so the engine host and PromQL use it unchanged; the host's
 * per-scrape `gc(now)` is where the log is flushed and synced, blocks are cut and retention runs.
 * All of it runs in the engine worker, never on the API's event loop.
 *
 * Data folder:
 *   wal/00000001 …                 the log's segments (wal.ts)
 *   blocks/raw-<minT>-<maxT>.tsb   one file per block range, raw resolution (block.ts)
 *   blocks/*.corrupt               a block that failed to open, set aside and reported
 *
 * Faults: a block whose index is corrupt is renamed `.corrupt`, reported and skipped; a corrupt
 * log record loses its segment's tail only (wal.ts); a failing disk (ENOSPC, EIO) keeps samples
 * in the head, counts the failure and reports `diskFailing` until a write succeeds again. The
 * head keeps `2 × blockRangeMs`, so when blocks cannot be written the samples older than that are
 * lost from memory too; everything written before the failure stays on disk.
 */

export const DEFAULT_BLOCK_RANGE_MS = 2 * 3_600_000;
const DAY_MS = 86_400_000;
export const DEFAULT_RAW_RETENTION_MS = 24 * 3_600_000;
// 31 days: the default SLO window (30 d, monitoring/slos.yml) and a day's margin, so that an error
// budget is computed over its whole window (docs/slo.md).
export const DEFAULT_DOWNSAMPLED_RETENTION_MS = 31 * 24 * 3_600_000;

/** Which downsampled aggregate a read wants where raw samples are gone (see downsample.ts). */
export type AggregateKind = "last" | "min" | "max" | "sum" | "count";

export interface SelectHints {
  /** The aggregate to read from the downsampled tier; default "last". */
  aggregate?: AggregateKind;
}

const PART_OF: Record<AggregateKind, PartKind> = {
  last: PART_LAST,
  min: PART_MIN,
  max: PART_MAX,
  sum: PART_SUM,
  count: PART_COUNT,
};

export interface DurableStoreOptions {
  dir: string;
  maxSeries?: number;
  /** Time range of one block; the head is compacted once it holds 1.5× this. Default 2 h. */
  blockRangeMs?: number;
  /** Raw blocks older than this are deleted (their downsampled copy stays). Default 24 h. */
  rawRetentionMs?: number;
  /** Downsampled blocks older than this are deleted. Default 15 days. */
  downsampledRetentionMs?: number;
  /** Window of the downsampled tier. Default 5 min. */
  resolutionMs?: number;
  /** Cap on the folder's bytes (blocks and log); the oldest blocks go first. 0 or absent: none. */
  maxBytes?: number;
  /** fdatasync the log at most this often; samples written since are lost only on power loss. Default 1 s. */
  syncIntervalMs?: number;
  /** Faults and background work, for the host to log and count. */
  onEvent?: (e: DurableEvent) => void;
}

export type DurableEvent =
  | { type: "wal_corrupt"; segment: number; offset: number; reason: string }
  | { type: "block_corrupt"; path: string; reason: string }
  | { type: "chunk_corrupt"; path: string; reason: string }
  | { type: "write_failed"; what: "wal" | "block"; error: string }
  | { type: "write_recovered"; what: "wal" | "block" }
  | {
      type: "compacted";
      minT: number;
      maxT: number;
      series: number;
      samples: number;
      bytes: number;
      ms: number;
    }
  | { type: "replayed"; samples: number; series: number; blocks: number; ms: number }
  | { type: "deleted_block"; path: string; reason: "retention" | "size" };

export interface DurableStats {
  blocks: number;
  blockBytes: number;
  walBytes: number;
  persistedUpToMs: number;
  compactions: number;
  walCorruptions: number;
  blockCorruptions: number;
  writeFailures: number;
  diskFailing: boolean;
  replayedSamples: number;
  replayMs: number;
}

export class DurableStore {
  readonly dir: string;
  readonly head: SeriesStore;
  readonly retentionMs: number;
  readonly maxSeries: number;
  readonly downsampledRetentionMs: number;
  readonly resolutionMs: number;
  private readonly blockRangeMs: number;
  private readonly maxBytes: number;
  private readonly syncIntervalMs: number;
  private readonly onEvent: (e: DurableEvent) => void;
  private readonly wal: Wal;
  /** Raw blocks, oldest first. */
  private blocks: Block[] = [];
  /** Downsampled blocks, oldest first. */
  private dsBlocks: Block[] = [];
  private persistedUpTo = Number.NEGATIVE_INFINITY;
  /** Earliest sample appended to the head after the last block. */
  private firstUnpersisted = Number.POSITIVE_INFINITY;
  private latest = Number.NEGATIVE_INFINITY;
  private lastSync = 0;
  private walFailing = false;
  private blockFailing = false;
  private nextCompactionTry = 0;
  // the open samples batch: one timestamp, written to the log as one record
  private batchT = Number.NaN;
  private batchRefs: number[] = [];
  private batchVals = new Float64Array(1024);
  private readonly st: DurableStats = {
    blocks: 0,
    blockBytes: 0,
    walBytes: 0,
    persistedUpToMs: Number.NEGATIVE_INFINITY,
    compactions: 0,
    walCorruptions: 0,
    blockCorruptions: 0,
    writeFailures: 0,
    diskFailing: false,
    replayedSamples: 0,
    replayMs: 0,
  };

  constructor(opts: DurableStoreOptions) {
    this.dir = opts.dir;
    this.blockRangeMs = opts.blockRangeMs ?? DEFAULT_BLOCK_RANGE_MS;
    this.retentionMs = opts.rawRetentionMs ?? DEFAULT_RAW_RETENTION_MS;
    this.downsampledRetentionMs = Math.max(
      this.retentionMs,
      opts.downsampledRetentionMs ?? DEFAULT_DOWNSAMPLED_RETENTION_MS,
    );
    this.resolutionMs = opts.resolutionMs ?? DEFAULT_RESOLUTION_MS;
    this.maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
    this.maxBytes = opts.maxBytes ? opts.maxBytes : Number.POSITIVE_INFINITY; // 0 or absent: no cap
    this.syncIntervalMs = opts.syncIntervalMs ?? 1000;
    this.onEvent = opts.onEvent ?? (() => {});
    this.head = new SeriesStore({ retentionMs: 2 * this.blockRangeMs, maxSeries: this.maxSeries });
    mkdirSync(join(this.dir, "blocks"), { recursive: true });
    const started = Date.now();
    this.loadBlocks();
    this.wal = new Wal(join(this.dir, "wal"), { onSegment: (w) => this.logLiveSeries(w) });
    const series = this.replayWal();
    this.st.replayMs = Date.now() - started;
    this.onEvent({
      type: "replayed",
      samples: this.st.replayedSamples,
      series,
      blocks: this.blocks.length + this.dsBlocks.length,
      ms: this.st.replayMs,
    });
  }

  private loadBlocks(): void {
    const dir = join(this.dir, "blocks");
    for (const f of readdirSync(dir).sort()) {
      const path = join(dir, f);
      if (f.endsWith(".tmp")) {
        rmSync(path, { force: true }); // a block cut short by a crash; its samples are still in the log
        continue;
      }
      if (!f.endsWith(".tsb")) continue;
      try {
        const b = Block.open(path);
        (b.meta.resolutionMs === 0 ? this.blocks : this.dsBlocks).push(b);
      } catch (err) {
        if (!(err instanceof BlockCorruptError)) throw err;
        this.st.blockCorruptions++;
        this.onEvent({ type: "block_corrupt", path, reason: err.message });
        renameSync(path, `${path}.corrupt`);
      }
    }
    this.blocks.sort((a, b) => a.meta.minT - b.meta.minT);
    this.dsBlocks.sort((a, b) => a.meta.minT - b.meta.minT || b.meta.maxT - a.meta.maxT);
    // Blocks inside a wider one are what a merge left when it was cut short: the wider one holds them.
    this.dsBlocks = this.dsBlocks.filter((b, i) => {
      const outer = this.dsBlocks.find(
        (o, k) =>
          k !== i &&
          o.meta.minT <= b.meta.minT &&
          o.meta.maxT >= b.meta.maxT &&
          (o.meta.minT !== b.meta.minT || o.meta.maxT !== b.meta.maxT),
      );
      if (!outer) return true;
      b.close();
      rmSync(b.meta.path, { force: true });
      return false;
    });
    for (const b of [...this.blocks, ...this.dsBlocks])
      if (b.meta.maxT > this.persistedUpTo) this.persistedUpTo = b.meta.maxT;
    this.refreshBlockStats();
  }

  /** Replays the log into the head; samples already in a block are skipped. Returns series seen. */
  private replayWal(): number {
    const refs = new Map<number, SeriesRef>();
    const report = this.wal.replay({
      series: (walRef, labels) => {
        const r = this.head.getOrCreate(labels);
        if (typeof r === "number") refs.set(walRef, r);
      },
      samples: (t, walRefs, values, n) => {
        if (t <= this.persistedUpTo) return;
        for (let i = 0; i < n; i++) {
          const ref = refs.get(walRefs[i] as number);
          if (ref === undefined) continue; // its series record was in a corrupted stretch
          const v = values[i] as number;
          const r = isStaleMarker(v) ? this.head.appendStale(ref, t) : this.head.appendRef(ref, t, v);
          if (r === "ok") {
            this.st.replayedSamples++;
            if (t < this.firstUnpersisted) this.firstUnpersisted = t;
            if (t > this.latest) this.latest = t;
          }
        }
      },
    });
    for (const c of report.corruptions) {
      this.st.walCorruptions++;
      this.onEvent({ type: "wal_corrupt", ...c });
    }
    return refs.size;
  }

  private logLiveSeries(w: Wal): void {
    for (const labels of this.head.series([])) {
      const ref = this.head.lookup(labelsKey(labels));
      if (ref !== undefined) w.logSeries(ref, labels);
    }
  }

  // ---- appends (SeriesStore's interface) ----

  getOrCreate(
    labels: Labels,
    key: string = labelsKey(labels),
  ): SeriesRef | "series_limit" | "invalid_labels" {
    const found = this.head.lookup(key);
    if (found !== undefined) return found;
    const r = this.head.getOrCreate(labels, key);
    if (typeof r === "number") this.wal.logSeries(r, labels);
    return r;
  }

  lookup(key: string): SeriesRef | undefined {
    return this.head.lookup(key);
  }

  append(labels: Labels, timestampMs: number, value: number): AppendResult {
    const ref = this.getOrCreate(labels);
    if (typeof ref !== "number") return ref;
    return this.appendRef(ref, timestampMs, value);
  }

  appendRef(ref: SeriesRef, timestampMs: number, value: number): AppendResult {
    const r = this.head.appendRef(ref, timestampMs, value);
    if (r === "ok") this.logSample(ref, timestampMs, value, false);
    return r;
  }

  appendStale(series: Labels | string | SeriesRef, timestampMs: number): AppendResult {
    const ref =
      typeof series === "number"
        ? series
        : this.head.lookup(typeof series === "string" ? series : labelsKey(series));
    if (ref === undefined) return "not_found";
    const r = this.head.appendStale(ref, timestampMs);
    if (r === "ok") this.logSample(ref, timestampMs, 0, true);
    return r;
  }

  private logSample(ref: SeriesRef, t: number, v: number, stale: boolean): void {
    if (t !== this.batchT) this.sealBatch(t);
    const i = this.batchRefs.length;
    if (i === this.batchVals.length) {
      const next = new Float64Array(i * 2);
      next.set(this.batchVals);
      this.batchVals = next;
    }
    this.batchRefs.push(ref);
    if (stale) writeStaleMarker(this.batchVals, i);
    else this.batchVals[i] = v;
    if (t < this.firstUnpersisted) this.firstUnpersisted = t;
    if (t > this.latest) this.latest = t;
  }

  private sealBatch(nextT: number): void {
    if (this.batchRefs.length > 0)
      this.wal.logSamples(this.batchT, this.batchRefs, this.batchVals, this.batchRefs.length);
    this.batchRefs = [];
    this.batchT = nextT;
  }

  /**
   * The end of a scrape (the host calls it after each one): the log is flushed (and synced at
   * most once per `syncIntervalMs`), a completed block range is compacted, retention runs.
   */
  gc(nowMs: number): { droppedSamples: number; droppedSeries: number } {
    this.flush(nowMs);
    this.compact(nowMs);
    this.enforceRetention(nowMs);
    return this.head.gc(nowMs);
  }

  /** Writes what is buffered to the log; a failure is counted and the samples stay in memory. */
  flush(nowMs = Date.now()): void {
    this.sealBatch(Number.NaN);
    try {
      this.wal.flush();
      if (nowMs - this.lastSync >= this.syncIntervalMs) {
        this.wal.sync();
        this.lastSync = nowMs;
      }
      if (this.walFailing) {
        this.walFailing = false;
        this.onEvent({ type: "write_recovered", what: "wal" });
      }
    } catch (err) {
      if (!(err instanceof WalWriteError) && !isIoError(err)) throw err;
      this.st.writeFailures++;
      if (!this.walFailing)
        this.onEvent({ type: "write_failed", what: "wal", error: (err as Error).message });
      this.walFailing = true;
    }
    this.st.diskFailing = this.walFailing || this.blockFailing;
  }

  /** Cuts every block range the head has completed (holding 1.5× the range past its start). */
  private compact(nowMs: number): void {
    if (nowMs < this.nextCompactionTry) return;
    for (;;) {
      if (!Number.isFinite(this.firstUnpersisted)) return;
      const start = Math.floor(this.firstUnpersisted / this.blockRangeMs) * this.blockRangeMs;
      const end = start + this.blockRangeMs - 1;
      if (this.latest - start < 1.5 * this.blockRangeMs) return;
      if (!this.writeBlock(start, end) || !this.mergeDownsampled()) {
        this.nextCompactionTry = nowMs + 60_000;
        return;
      }
    }
  }

  /**
   * Merges the downsampled blocks of each complete day into one (level-2 compaction, as
   * Prometheus and Thanos merge blocks): 15 days are then 15 files and 15 index entries per
   * series instead of 180. Chunks are copied as they are, not re-encoded. A crash between the
   * new file's rename and the old files' deletion leaves blocks inside the day block, which
   * start-up deletes. False when the disk refused.
   */
  private mergeDownsampled(): boolean {
    const byDay = new Map<number, Block[]>();
    for (const b of this.dsBlocks) {
      const day = Math.floor(b.meta.minT / DAY_MS);
      if (Math.floor(b.meta.maxT / DAY_MS) !== day) continue; // already spans days (a wide block range)
      const list = byDay.get(day);
      if (list) list.push(b);
      else byDay.set(day, [b]);
    }
    for (const [day, group] of byDay) {
      const dayEnd = (day + 1) * DAY_MS - 1;
      if (group.length < 2 || this.persistedUpTo < dayEnd) continue;
      const minT = Math.min(...group.map((b) => b.meta.minT));
      const maxT = Math.max(...group.map((b) => b.meta.maxT));
      const path = join(this.dir, "blocks", `ds${this.resolutionMs / 1000}s-${minT}-${maxT}.tsb`);
      let writer: BlockWriter | undefined;
      try {
        writer = new BlockWriter(path, this.resolutionMs, minT, maxT);
        const series = new Map<
          string,
          { labels: Labels; parts: Map<PartKind, { minT: number; maxT: number; bytes: Uint8Array }[]> }
        >();
        for (const b of group) {
          for (const s of b.series) {
            let e = series.get(s.key);
            if (!e) {
              e = { labels: s.labels, parts: new Map() };
              series.set(s.key, e);
            }
            for (const [kind, chunks] of s.parts) {
              const list = e.parts.get(kind) ?? [];
              for (const c of chunks) {
                try {
                  list.push({ minT: c.minT, maxT: c.maxT, bytes: b.readChunk(c) });
                } catch (err) {
                  if (!(err instanceof BlockCorruptError)) throw err;
                  this.chunkCorrupt(b, err);
                }
              }
              e.parts.set(kind, list);
            }
          }
        }
        for (const e of [...series.values()].sort((a, b) => compareLabels(a.labels, b.labels))) {
          writer.addSeries(e.labels, [...e.parts]);
        }
        writer.finish();
        const merged = Block.open(path);
        for (const b of group) {
          b.close();
          rmSync(b.meta.path, { force: true });
        }
        this.dsBlocks = [...this.dsBlocks.filter((b) => !group.includes(b)), merged].sort(
          (a, b) => a.meta.minT - b.meta.minT,
        );
        this.refreshBlockStats();
      } catch (err) {
        if (!isIoError(err)) throw err;
        writer?.abort();
        rmSync(`${path}.tmp`, { force: true });
        this.blockWriteFailed(err as Error);
        return false;
      }
    }
    return true;
  }

  /** Writes the raw block of [minT, maxT] and its downsampled copy; false when the disk refused. */
  private writeBlock(minT: number, maxT: number): boolean {
    const started = Date.now();
    const rawPath = join(this.dir, "blocks", `raw-${minT}-${maxT}.tsb`);
    const dsPath = join(this.dir, "blocks", `ds${this.resolutionMs / 1000}s-${minT}-${maxT}.tsb`);
    const writers: BlockWriter[] = [];
    let samples = 0;
    let series = 0;
    try {
      const raw = new BlockWriter(rawPath, 0, minT, maxT);
      writers.push(raw);
      const ds = new BlockWriter(dsPath, this.resolutionMs, minT, maxT);
      writers.push(ds);
      for (const s of this.head.select([], Math.max(minT, this.persistedUpTo + 1), maxT)) {
        raw.addSeries(s.labels, [[PART_RAW, encodeChunks(s.timestamps, s.values)]]);
        const a = downsample(s.timestamps, s.values, this.resolutionMs);
        if (a.t.length > 0) {
          ds.addSeries(s.labels, [
            [PART_COUNT, encodeChunks(a.t, a.count)],
            [PART_SUM, encodeChunks(a.t, a.sum)],
            [PART_MIN, encodeChunks(a.t, a.min)],
            [PART_MAX, encodeChunks(a.t, a.max)],
            [PART_LAST, encodeChunks(a.t, a.last)],
          ]);
        }
        samples += s.timestamps.length;
        series++;
      }
      // The downsampled copy first: a crash between the two leaves the raw range in the log.
      const bytes = ds.finish() + raw.finish();
      this.dsBlocks.push(Block.open(dsPath));
      this.blocks.push(Block.open(rawPath));
      this.persistedUpTo = maxT;
      this.firstUnpersisted = this.firstHeadSampleAfter(maxT);
      this.st.compactions++;
      this.refreshBlockStats();
      this.onEvent({ type: "compacted", minT, maxT, series, samples, bytes, ms: Date.now() - started });
      // The log's older segments now hold nothing the blocks lack; start a fresh one so the
      // current one can go at the next compaction.
      this.wal.deleteSegmentsUpTo(maxT);
      this.wal.cut();
      if (this.blockFailing) {
        this.blockFailing = false;
        this.onEvent({ type: "write_recovered", what: "block" });
      }
      return true;
    } catch (err) {
      if (!isIoError(err) && !(err instanceof WalWriteError)) throw err;
      for (const w of writers) w.abort();
      rmSync(`${rawPath}.tmp`, { force: true });
      rmSync(`${dsPath}.tmp`, { force: true });
      this.blockWriteFailed(err as Error);
      return false;
    }
  }

  /** A block could not be written: counted, reported once, retried at a later compaction. */
  private blockWriteFailed(err: Error): void {
    this.st.writeFailures++;
    if (!this.blockFailing) this.onEvent({ type: "write_failed", what: "block", error: err.message });
    this.blockFailing = true;
    this.st.diskFailing = true;
  }

  private firstHeadSampleAfter(t: number): number {
    let first = Number.POSITIVE_INFINITY;
    for (const s of this.head.select([], t + 1, Number.POSITIVE_INFINITY)) {
      const t0 = s.timestamps[0] as number;
      if (t0 < first) first = t0;
    }
    return first;
  }

  /**
   * Deletes raw blocks past raw retention and downsampled ones past theirs; then, while the
   * folder is over `maxBytes`, the oldest data goes first (a range's raw block before its
   * downsampled copy), never the newest raw block.
   */
  private enforceRetention(nowMs: number): void {
    const rawCutoff = nowMs - this.retentionMs;
    const dsCutoff = nowMs - this.downsampledRetentionMs;
    let total = this.st.blockBytes + this.st.walBytes;
    const all = [...this.blocks, ...this.dsBlocks].sort(
      (a, b) => a.meta.maxT - b.meta.maxT || a.meta.resolutionMs - b.meta.resolutionMs,
    );
    const newestRaw = this.blocks.at(-1);
    const gone = new Set<Block>();
    for (const b of all) {
      const old = b.meta.maxT < (b.meta.resolutionMs === 0 ? rawCutoff : dsCutoff);
      const over = total > this.maxBytes && b !== newestRaw;
      if (!old && !over) continue;
      b.close();
      rmSync(b.meta.path, { force: true });
      total -= b.meta.bytes;
      gone.add(b);
      this.onEvent({ type: "deleted_block", path: b.meta.path, reason: old ? "retention" : "size" });
    }
    if (gone.size > 0) {
      this.blocks = this.blocks.filter((b) => !gone.has(b));
      this.dsBlocks = this.dsBlocks.filter((b) => !gone.has(b));
      this.refreshBlockStats();
    }
  }

  private refreshBlockStats(): void {
    this.st.blocks = this.blocks.length + this.dsBlocks.length;
    this.st.blockBytes = [...this.blocks, ...this.dsBlocks].reduce((n, b) => n + b.meta.bytes, 0);
    this.st.persistedUpToMs = this.persistedUpTo;
    try {
      this.st.walBytes = this.wal ? this.wal.sizeBytes() : 0;
    } catch (err) {
      if (!isIoError(err)) throw err;
      // Size unknown while the disk fails; keep the last figure.
    }
  }

  // ---- reads ----

  /**
   * Series matching all matchers with their samples in [minT, maxT], sorted by labels: raw
   * samples where they are kept (raw blocks, then the head), and before that the downsampled
   * tier's `hints.aggregate` (default "last"), one point per window.
   */
  select(
    matchers: readonly (Matcher | CompiledMatcher)[],
    minT: number,
    maxT: number,
    meter?: WorkMeter,
    hints: SelectHints = {},
  ): SeriesData[] {
    const compiled = matchers.map(toCompiled);
    // First the chunks' bytes (one read per series and block) and the head's arrays, in time
    // order; then each series is decoded once into arrays sized from the chunks' counts — no
    // per-block arrays and no copy to join them (the 7-day query's time went to those).
    const found = new Map<string, { labels: Labels; sources: Source[]; cap: number }>();
    const add = (key: string, labels: Labels, src: Source, count: number): void => {
      if (count === 0) return;
      const e = found.get(key);
      if (e) {
        e.sources.push(src);
        e.cap += count;
      } else found.set(key, { labels, sources: [src], cap: count });
    };
    const counting = hints.aggregate === "count";
    const fromBlocks = (
      blocks: readonly Block[],
      kind: PartKind,
      lo: number,
      hi: number,
      ones: boolean,
    ): void => {
      for (const b of blocks) {
        if (b.meta.maxT < lo || b.meta.minT > hi) continue;
        for (const s of this.blockMatches(b, compiled, meter)) {
          const wanted = (s.parts.get(kind) ?? []).filter((c) => c.maxT >= lo && c.minT <= hi);
          const chunks: Uint8Array[] = [];
          let count = 0;
          for (const r of b.readChunks(wanted)) {
            if (r instanceof BlockCorruptError) {
              this.chunkCorrupt(b, r);
              continue;
            }
            const n = chunkCount(r);
            meter?.tick(n);
            chunks.push(r);
            count += n;
          }
          add(s.key, s.labels, { block: b, chunks, lo, hi, ones }, count);
        }
      }
    };
    const rawStart = this.rawStart();
    if (minT < rawStart) {
      fromBlocks(
        this.dsBlocks,
        PART_OF[hints.aggregate ?? "last"],
        minT,
        Math.min(maxT, rawStart - 1),
        false,
      );
    }
    // Counting reads the downsampled tier's counts, so each raw sample counts one.
    fromBlocks(this.blocks, PART_RAW, minT, maxT, counting);
    const headMin = Math.max(minT, this.persistedUpTo + 1);
    if (headMin <= maxT) {
      for (const s of this.head.select(compiled, headMin, maxT, meter)) {
        add(
          labelsKey(s.labels),
          s.labels,
          { t: s.timestamps, v: s.values, ones: counting },
          s.timestamps.length,
        );
      }
    }
    const out: SeriesData[] = [];
    for (const { labels, sources, cap } of found.values()) {
      const d = this.assemble(sources, cap);
      if (d.t.length > 0) out.push({ labels, timestamps: d.t, values: d.v });
    }
    return out.sort((a, b) => compareLabels(a.labels, b.labels));
  }

  /** One series' samples from its sources (oldest first) into one pair of arrays. */
  private assemble(sources: readonly Source[], cap: number): { t: Float64Array; v: Float64Array } {
    if (sources.length === 1) {
      const only = sources[0] as Source;
      if ("t" in only) {
        if (!only.ones) return { t: only.t, v: only.v };
        const v = only.v.slice();
        setOnes(v, 0, v.length);
        return { t: only.t, v };
      }
    }
    const t = new Float64Array(cap);
    const v = new Float64Array(cap);
    let n = 0;
    for (const src of sources) {
      const from = n;
      if ("t" in src) {
        t.set(src.t, n);
        v.set(src.v, n);
        n += src.t.length;
      } else {
        for (const bytes of src.chunks) {
          try {
            n += decodeChunk(bytes, t, v, n, src.lo, src.hi);
          } catch (err) {
            if (!(err instanceof ChunkCorruptError)) throw err;
            this.chunkCorrupt(src.block, err);
          }
        }
      }
      if (src.ones) setOnes(v, from, n);
      // Sources do not overlap in time (the head starts after the blocks, the downsampled tier
      // ends before the raw one); should one ever, the earlier source's samples win.
      if (from > 0 && n > from && (t[from] as number) <= (t[from - 1] as number))
        n = dropOverlap(t, v, from, n);
    }
    return { t: t.subarray(0, n), v: v.subarray(0, n) };
  }

  /** Earliest time from which raw samples are kept (blocks or head); before it, the downsampled tier. */
  rawStart(): number {
    const first = this.blocks[0];
    if (first) return first.meta.minT;
    return Number.isFinite(this.persistedUpTo) ? this.persistedUpTo + 1 : Number.NEGATIVE_INFINITY;
  }

  private blockMatches(b: Block, matchers: readonly CompiledMatcher[], meter?: WorkMeter) {
    const equal = matchers.filter((m) => m.type === "=" && m.value !== "");
    const ids = b.candidates(equal);
    const out = [];
    if (ids) {
      for (const i of ids) {
        meter?.tick(1);
        const s = b.series[i];
        if (s && matchesAll(s.labels, matchers)) out.push(s);
      }
    } else {
      for (const s of b.series) {
        meter?.tick(1);
        if (matchesAll(s.labels, matchers)) out.push(s);
      }
    }
    return out;
  }

  /** One bad chunk loses its own samples, not the query: reported, counted, skipped. */
  private chunkCorrupt(b: Block, err: Error): void {
    this.st.blockCorruptions++;
    this.onEvent({ type: "chunk_corrupt", path: b.meta.path, reason: err.message });
  }

  series(matchers: readonly (Matcher | CompiledMatcher)[]): Labels[] {
    const compiled = matchers.map(toCompiled);
    const seen = new Map<string, Labels>();
    for (const b of [...this.dsBlocks, ...this.blocks]) {
      for (const s of this.blockMatches(b, compiled)) seen.set(s.key, s.labels);
    }
    for (const l of this.head.series(compiled)) seen.set(labelsKey(l), l);
    return [...seen.values()].sort(compareLabels);
  }

  labelNames(): string[] {
    const names = new Set(this.head.labelNames());
    for (const b of [...this.dsBlocks, ...this.blocks]) for (const n of b.labelNames()) names.add(n);
    return [...names].sort();
  }

  labelValues(name: string): string[] {
    const values = new Set(this.head.labelValues(name));
    for (const b of [...this.dsBlocks, ...this.blocks]) for (const v of b.labelValues(name)) values.add(v);
    return [...values].sort();
  }

  seriesCount(): number {
    return this.head.seriesCount();
  }

  sampleCount(): number {
    return this.head.sampleCount();
  }

  counters(): StoreCounters {
    return this.head.counters();
  }

  /** Memory: the head plus the blocks' indexes (labels and chunk references). */
  bytesUsed(): number {
    let index = 0;
    for (const b of [...this.dsBlocks, ...this.blocks]) {
      for (const s of b.series) {
        index += 240 + s.key.length * 2;
        for (const list of s.parts.values()) index += 64 + list.length * 72;
      }
    }
    return this.head.bytesUsed() + index;
  }

  stats(): DurableStats {
    return { ...this.st };
  }

  /** Flushes and syncs the log and closes files (the host's stop). */
  close(): void {
    this.flush(Number.POSITIVE_INFINITY);
    this.wal.close();
    for (const b of [...this.dsBlocks, ...this.blocks]) b.close();
  }
}

function encodeChunks(
  ts: Float64Array,
  vals: Float64Array,
): { minT: number; maxT: number; bytes: Uint8Array }[] {
  const out: { minT: number; maxT: number; bytes: Uint8Array }[] = [];
  for (let i = 0; i < ts.length; i += SAMPLES_PER_CHUNK) {
    const e = new XorEncoder();
    const end = Math.min(ts.length, i + SAMPLES_PER_CHUNK);
    for (let k = i; k < end; k++) e.appendFrom(ts[k] as number, vals, k);
    out.push({ minT: e.minT, maxT: e.maxT, bytes: e.bytes() });
  }
  return out;
}

/** Where one series' samples come from: chunks of a block (decoded into [lo, hi]) or head arrays. */
type Source =
  | { block: Block; chunks: Uint8Array[]; lo: number; hi: number; ones: boolean }
  | { t: Float64Array; v: Float64Array; ones: boolean };

/** Each sample in v[from, to) counts one; a staleness marker stays (it is no sample). */
function setOnes(v: Float64Array, from: number, to: number): void {
  for (let i = from; i < to; i++) if (!isStaleMarker(v[i] as number)) v[i] = 1;
}

/** Drops samples of [from, n) not after t[from - 1]; returns the new length. */
function dropOverlap(t: Float64Array, v: Float64Array, from: number, n: number): number {
  let k = from;
  let last = t[from - 1] as number;
  for (let i = from; i < n; i++) {
    const ti = t[i] as number;
    if (ti <= last) continue;
    t[k] = ti;
    v[k] = v[i] as number; // typed array to typed array keeps a NaN's payload in V8
    k++;
    last = ti;
  }
  return k;
}

function isIoError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return (
    typeof code === "string" && /^(ENOSPC|EIO|EDQUOT|EROFS|EFBIG|EACCES|EPERM|EMFILE|ENFILE)$/.test(code)
  );
}
