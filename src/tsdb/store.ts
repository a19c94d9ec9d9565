import { compareLabels, type Labels, labelsKey } from "./labels.js";
import { type CompiledMatcher, type Matcher, matchesAll, toCompiled } from "./matchers.js";
import { writeStaleMarker } from "./stale.js";

/** Why an append was refused; "ok" when it was stored. Appends never throw. */
export type AppendResult =
  | "ok"
  | "out_of_order"
  | "duplicate"
  | "invalid_timestamp"
  | "invalid_labels"
  | "series_limit"
  | "not_found";

/** A handle to a stored series, valid until `gc` drops the series. */
export type SeriesRef = number;

/** One selected series: its labels and its samples in the requested range, oldest first. */
export interface SeriesData {
  readonly labels: Labels;
  /** Milliseconds since the epoch, integral. */
  readonly timestamps: Float64Array;
  /** Sample values; a staleness marker is kept as `StaleNaN` (see stale.ts). */
  readonly values: Float64Array;
}

/** Refusal counts since creation, for the app to export as counters. */
/**
 * Counts the work of a long loop and may throw to stop it: a PromQL query's guard
 * (promql/limits.ts) passed to `select`, so that a deadline or a cancellation ends a selection
 * over many series or samples while it runs, not after.
 */
export interface WorkMeter {
  tick(units: number): void;
}

export interface StoreCounters {
  seriesRefusedTotal: number;
  outOfOrderTotal: number;
  duplicateTotal: number;
  invalidTotal: number;
}

export interface SeriesStoreOptions {
  /** Samples older than `now - retentionMs` are dropped by `gc`. Default 1 h. */
  retentionMs?: number;
  /** New series beyond this many are refused and counted. Default 10 000. */
  maxSeries?: number;
}

export const DEFAULT_RETENTION_MS = 3_600_000;
export const DEFAULT_MAX_SERIES = 10_000;

// Chunks grow 16 → 256 samples, so short-lived series stay small and a sealed chunk is full.
const MIN_CHUNK = 16;
const MAX_CHUNK = 256;
// gc copies a chunk's live samples to a fresh buffer once this many at its front have expired.
const COMPACT_AFTER = 32;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

// Overheads calibrated against process.memoryUsage() on Node 20 (heapUsed + arrayBuffers);
// rounded up so `bytesUsed` over- rather than under-states.
const CHUNK_OVERHEAD_BYTES = 320; // chunk object + ArrayBuffer + two typed-array views
const SERIES_OVERHEAD_BYTES = 240; // series object, chunk list, key-map and id-map entries
const LABEL_OVERHEAD_BYTES = 96; // label object, its slot, posting-set entry
const STRING_HEADER_BYTES = 16;

/**
 * A chunk holds up to MAX_CHUNK samples in one ArrayBuffer: Float64 values, then timestamp
 * deltas from the previous sample (Uint16, widened to Uint32 once a gap exceeds 65.5 s): 10 bytes a sample.
 * `off` is the first live sample after retention trimmed the front; `minT` is its timestamp.
 */
class Chunk {
  vals: Float64Array;
  dts: Uint16Array | Uint32Array;
  len = 0;
  off = 0;
  minT: number;
  maxT: number;

  constructor(cap: number, wide: boolean, t0: number) {
    const buf = new ArrayBuffer(cap * (wide ? 12 : 10));
    this.vals = new Float64Array(buf, 0, cap);
    this.dts = wide ? new Uint32Array(buf, cap * 8, cap) : new Uint16Array(buf, cap * 8, cap);
    this.minT = t0;
    this.maxT = t0;
  }

  get cap(): number {
    return this.vals.length;
  }

  get wide(): boolean {
    return this.dts instanceof Uint32Array;
  }

  bytes(): number {
    return this.vals.buffer.byteLength + CHUNK_OVERHEAD_BYTES;
  }

  /** Drops the trimmed front so retention does not keep dead samples; the copy is amortised. */
  compact(): void {
    const live = this.len - this.off;
    const cap = Math.max(live, MIN_CHUNK);
    const buf = new ArrayBuffer(cap * (this.wide ? 12 : 10));
    const vals = new Float64Array(buf, 0, cap);
    const dts = this.wide ? new Uint32Array(buf, cap * 8, cap) : new Uint16Array(buf, cap * 8, cap);
    vals.set(this.vals.subarray(this.off, this.len));
    dts.set(this.dts.subarray(this.off, this.len));
    dts[0] = 0;
    this.vals = vals;
    this.dts = dts;
    this.len = live;
    this.off = 0;
  }

  /** Re-allocates with a new capacity and/or delta width, keeping the samples. */
  resize(cap: number, wide: boolean): void {
    const buf = new ArrayBuffer(cap * (wide ? 12 : 10));
    const vals = new Float64Array(buf, 0, cap);
    const dts = wide ? new Uint32Array(buf, cap * 8, cap) : new Uint16Array(buf, cap * 8, cap);
    vals.set(this.vals.subarray(0, this.len));
    dts.set(this.dts.subarray(0, this.len));
    this.vals = vals;
    this.dts = dts;
  }
}

interface Series {
  readonly id: SeriesRef;
  readonly key: string;
  readonly labels: Labels;
  readonly chunks: Chunk[];
  /** Last appended timestamp, -Infinity before the first. */
  maxT: number;
  /** Live samples (after retention trimming). */
  count: number;
}

let scratchT = new Float64Array(1024);
let scratchV = new Float64Array(1024);

/**
 * In-memory time-series store: bounded series count, time-bounded retention, samples in
 * typed-array chunks (≈10 bytes per sample plus per-chunk and per-series overhead).
 */
export class SeriesStore {
  readonly retentionMs: number;
  readonly maxSeries: number;
  private readonly byKey = new Map<string, Series>();
  private readonly byId = new Map<SeriesRef, Series>();
  /** Inverted index: label name → value → series ids. */
  private readonly postings = new Map<string, Map<string, Set<SeriesRef>>>();
  private nextId = 1;
  private samples = 0;
  private readonly stats: StoreCounters = {
    seriesRefusedTotal: 0,
    outOfOrderTotal: 0,
    duplicateTotal: 0,
    invalidTotal: 0,
  };

  constructor(opts: SeriesStoreOptions = {}) {
    this.retentionMs = opts.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
  }

  /** The series for these labels, created if new; a refusal reason if it cannot be. */
  getOrCreate(
    labels: Labels,
    key: string = labelsKey(labels),
  ): SeriesRef | "series_limit" | "invalid_labels" {
    const found = this.byKey.get(key);
    if (found) return found.id;
    if (!validLabels(labels)) {
      this.stats.invalidTotal++;
      return "invalid_labels";
    }
    if (this.byKey.size >= this.maxSeries) {
      this.stats.seriesRefusedTotal++;
      return "series_limit";
    }
    const s: Series = { id: this.nextId++, key, labels, chunks: [], maxT: -Infinity, count: 0 };
    this.byKey.set(key, s);
    this.byId.set(s.id, s);
    for (const l of labels) {
      let values = this.postings.get(l.name);
      if (!values) {
        values = new Map();
        this.postings.set(l.name, values);
      }
      let ids = values.get(l.value);
      if (!ids) {
        ids = new Set();
        values.set(l.value, ids);
      }
      ids.add(s.id);
    }
    return s.id;
  }

  /** The ref of an existing series by key, or undefined. */
  lookup(key: string): SeriesRef | undefined {
    return this.byKey.get(key)?.id;
  }

  /** Appends one sample; timestamps are integral ms and strictly increasing per series. */
  append(labels: Labels, timestampMs: number, value: number): AppendResult {
    const ref = this.getOrCreate(labels);
    if (typeof ref !== "number") return ref;
    return this.appendRef(ref, timestampMs, value);
  }

  /** Appends to a series by ref (skips the key lookup on a hot path). */
  appendRef(ref: SeriesRef, timestampMs: number, value: number): AppendResult {
    const s = this.byId.get(ref);
    if (!s) return "not_found";
    return this.put(s, timestampMs, value, false);
  }

  /** Appends Prometheus's staleness marker to an existing series (by labels, key or ref). */
  appendStale(series: Labels | string | SeriesRef, timestampMs: number): AppendResult {
    const s =
      typeof series === "number"
        ? this.byId.get(series)
        : this.byKey.get(typeof series === "string" ? series : labelsKey(series));
    if (!s) return "not_found";
    return this.put(s, timestampMs, 0, true);
  }

  private put(s: Series, t: number, v: number, stale: boolean): AppendResult {
    if (!Number.isSafeInteger(t)) {
      this.stats.invalidTotal++;
      return "invalid_timestamp";
    }
    if (t <= s.maxT) {
      if (t === s.maxT) {
        this.stats.duplicateTotal++;
        return "duplicate";
      }
      this.stats.outOfOrderTotal++;
      return "out_of_order";
    }
    let c = s.chunks[s.chunks.length - 1];
    const d = t - s.maxT;
    if (!c || c.len >= MAX_CHUNK || d > U32_MAX) {
      c = new Chunk(MIN_CHUNK, false, t);
      s.chunks.push(c);
    } else {
      const cap = c.len === c.cap ? Math.min(c.cap * 2, MAX_CHUNK) : c.cap;
      const wide = c.wide || d > U16_MAX;
      if (cap !== c.cap || wide !== c.wide) c.resize(cap, wide);
    }
    const i = c.len;
    if (stale) writeStaleMarker(c.vals, i);
    else c.vals[i] = v;
    c.dts[i] = i === 0 ? 0 : d;
    c.len = i + 1;
    c.maxT = t;
    s.maxT = t;
    s.count++;
    this.samples++;
    return "ok";
  }

  /**
   * Series matching all matchers, with their samples in [minT, maxT], sorted by labels. `meter`
   * is ticked by every loop here (postings, matching, sorting, copying), one unit per label
   * value, series, comparison or sample; an exception it throws ends the selection.
   */
  select(
    matchers: readonly (Matcher | CompiledMatcher)[],
    minT: number,
    maxT: number,
    meter?: WorkMeter,
  ): SeriesData[] {
    const out: SeriesData[] = [];
    for (const s of this.matching(matchers, meter)) {
      const n = this.copyRange(s, minT, maxT, meter);
      if (n === 0) continue;
      out.push({ labels: s.labels, timestamps: scratchT.slice(0, n), values: scratchV.slice(0, n) });
    }
    return out;
  }

  /** Label sets of the series matching all matchers (with or without samples in a range). */
  series(matchers: readonly (Matcher | CompiledMatcher)[]): Labels[] {
    return this.matching(matchers).map((s) => s.labels);
  }

  /** All label names in use, sorted. */
  labelNames(): string[] {
    return [...this.postings.keys()].sort();
  }

  /** All values of a label in use, sorted. */
  labelValues(name: string): string[] {
    const values = this.postings.get(name);
    return values ? [...values.keys()].sort() : [];
  }

  seriesCount(): number {
    return this.byKey.size;
  }

  sampleCount(): number {
    return this.samples;
  }

  /** Refusal counters (a copy). */
  counters(): StoreCounters {
    return { ...this.stats };
  }

  /** Estimated bytes held: typed-array buffers plus per-chunk, per-series and per-label overhead. */
  bytesUsed(): number {
    let bytes = 0;
    for (const s of this.byKey.values()) {
      bytes += SERIES_OVERHEAD_BYTES + STRING_HEADER_BYTES + s.key.length;
      for (const l of s.labels) {
        bytes += LABEL_OVERHEAD_BYTES + 2 * STRING_HEADER_BYTES + l.name.length + l.value.length;
      }
      for (const c of s.chunks) bytes += c.bytes();
    }
    return bytes;
  }

  /** Drops samples older than `nowMs - retentionMs` and series left without samples. */
  gc(nowMs: number): { droppedSamples: number; droppedSeries: number } {
    const cutoff = nowMs - this.retentionMs;
    let droppedSamples = 0;
    let droppedSeries = 0;
    for (const s of this.byKey.values()) {
      if (s.chunks[0] && s.chunks[0].minT < cutoff) {
        let k = 0;
        while (k < s.chunks.length && (s.chunks[k] as Chunk).maxT < cutoff) {
          const c = s.chunks[k] as Chunk;
          droppedSamples += c.len - c.off;
          s.count -= c.len - c.off;
          k++;
        }
        if (k > 0) s.chunks.splice(0, k);
        const c = s.chunks[0];
        if (c && c.minT < cutoff) {
          // Walk the deltas to the first sample at or after the cutoff; maxT ≥ cutoff bounds it.
          let i = c.off;
          let t = c.minT;
          while (t < cutoff) {
            i++;
            t += c.dts[i] as number;
          }
          droppedSamples += i - c.off;
          s.count -= i - c.off;
          c.off = i;
          c.minT = t;
          if (c.off >= COMPACT_AFTER) c.compact();
        }
      }
      if (s.chunks.length === 0) {
        this.drop(s);
        droppedSeries++;
      }
    }
    this.samples -= droppedSamples;
    return { droppedSamples, droppedSeries };
  }

  private drop(s: Series): void {
    this.byKey.delete(s.key);
    this.byId.delete(s.id);
    for (const l of s.labels) {
      const values = this.postings.get(l.name);
      const ids = values?.get(l.value);
      if (!values || !ids) continue;
      ids.delete(s.id);
      if (ids.size === 0) values.delete(l.value);
      if (values.size === 0) this.postings.delete(l.name);
    }
  }

  /** Series matching all matchers, sorted by labels; narrows through the postings first. */
  private matching(raw: readonly (Matcher | CompiledMatcher)[], meter?: WorkMeter): Series[] {
    const matchers = raw.map(toCompiled);
    let candidates: Iterable<SeriesRef> | undefined;
    let best = Infinity;
    for (const m of matchers) {
      // Only matchers that reject "" can narrow: a series without the label matches the others.
      if (m.matches("")) continue;
      const values = this.postings.get(m.name);
      if (!values) return [];
      let ids: Set<SeriesRef> | undefined;
      if (m.type === "=") {
        ids = values.get(m.value);
        if (!ids) return [];
      } else {
        ids = new Set();
        for (const [value, set] of values) {
          meter?.tick(1);
          if (!m.matches(value)) continue;
          meter?.tick(set.size);
          for (const id of set) ids.add(id);
        }
      }
      if (ids.size < best) {
        best = ids.size;
        candidates = ids;
      }
    }
    const out: Series[] = [];
    if (candidates) {
      for (const id of candidates) {
        meter?.tick(1);
        const s = this.byId.get(id);
        if (s && matchesAll(s.labels, matchers)) out.push(s);
      }
    } else {
      for (const s of this.byKey.values()) {
        meter?.tick(1);
        if (matchesAll(s.labels, matchers)) out.push(s);
      }
    }
    if (meter === undefined) return out.sort((a, b) => compareLabels(a.labels, b.labels));
    return out.sort((a, b) => {
      meter.tick(1);
      return compareLabels(a.labels, b.labels);
    });
  }

  /** Copies the samples of `s` in [minT, maxT] into the scratch arrays; returns their count. */
  private copyRange(s: Series, minT: number, maxT: number, meter?: WorkMeter): number {
    if (scratchT.length < s.count) {
      const size = Math.max(s.count, scratchT.length * 2);
      scratchT = new Float64Array(size);
      scratchV = new Float64Array(size);
    }
    let n = 0;
    for (const c of s.chunks) {
      if (c.maxT < minT) continue;
      if (c.minT > maxT) break;
      meter?.tick(c.len - c.off);
      let t = c.minT;
      for (let i = c.off; i < c.len; i++) {
        if (i > c.off) t += c.dts[i] as number;
        if (t > maxT) return n;
        if (t < minT) continue;
        scratchT[n] = t;
        scratchV[n] = c.vals[i] as number;
        n++;
      }
    }
    return n;
  }
}

function validLabels(labels: Labels): boolean {
  let prev = "";
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!l || l.name === "" || l.value === "" || (i > 0 && l.name <= prev)) return false;
    prev = l.name;
  }
  return true;
}
