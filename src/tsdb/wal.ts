import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Labels } from "./labels.js";

/**
 * The store's write-ahead log: every appended sample reaches a file before the next sampling
 * interval, so a crash (SIGKILL) loses nothing written, and power loss at most what was written
 * since the last `sync()` (the host syncs once per interval). It runs in the engine worker, so its
 * synchronous writes never touch the API's event loop.
 *
 * Mirrors Prometheus's `tsdb/wlog` in shape, simplified where the embedded store allows:
 * - A folder of numbered segment files (`00000001`, …), each cut at `segmentBytes`.
 * - Records: `u8 type | u32 payload length | u32 CRC-32 of the payload | payload` (big-endian).
 *   - series  (1): `u32 ref | u16 label count | (u32 len, utf-8)×2 per label`
 *   - samples (2): `f64 timestamp | u32 count | (u32 ref, u32 value-hi, u32 value-lo)×count`
 *     — one record per scrape, since a scrape's samples share its timestamp; values as raw bits
 *     so the staleness marker survives.
 * - Instead of Prometheus's checkpoints, each new segment starts with the series records of every
 *   live series (written by the owner through `onSegment`), so any prefix of segments can be
 *   deleted once its samples are in a block, and replay can start at any segment.
 * - Faults: replay stops a segment at the first record that is cut short or fails its CRC,
 *   reports it (`corruptions`) and goes on with the next segment; a torn tail in the last segment
 *   is truncated away so new records follow good ones.
 */

export const WAL_SERIES = 1;
export const WAL_SAMPLES = 2;
const HEADER = 9;
const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export interface WalOptions {
  segmentBytes?: number;
  /** Called after a new segment is opened (not on the first open); write live series records here. */
  onSegment?: (wal: Wal) => void;
}

export interface WalCorruption {
  segment: number;
  offset: number;
  reason: string;
}

export interface WalReplayHandlers {
  series(ref: number, labels: Labels): void;
  /** Values are given as a Float64Array view holding the raw bits, index i of `count`. */
  samples(t: number, refs: Uint32Array, values: Float64Array, count: number): void;
}

export interface WalReplayReport {
  segments: number;
  records: number;
  samples: number;
  corruptions: WalCorruption[];
}

/** An error writing the log (disk full, I/O error); the store keeps the samples in memory. */
export class WalWriteError extends Error {
  override name = "WalWriteError";
}

export class Wal {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly onSegment?: (wal: Wal) => void;
  private fd = -1;
  private segment = 0;
  private segmentSize = 0;
  private buf = new Uint8Array(64 * 1024);
  private view = new DataView(this.buf.buffer);
  private used = 0;
  /** Highest sample timestamp per segment, for `deleteSegmentsUpTo`. */
  private readonly segmentMaxT = new Map<number, number>();

  constructor(dir: string, opts: WalOptions = {}) {
    this.dir = dir;
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.onSegment = opts.onSegment;
    mkdirSync(dir, { recursive: true });
  }

  /** Segment numbers on disk, ascending. */
  segments(): number[] {
    return readdirSync(this.dir)
      .filter((f) => /^\d{8}$/.test(f))
      .map(Number)
      .sort((a, b) => a - b);
  }

  /**
   * Reads every segment in order, feeding records to the handlers. Call before the first write:
   * it truncates a torn tail of the last segment, then appends go to a new segment.
   */
  replay(h: WalReplayHandlers): WalReplayReport {
    const report: WalReplayReport = { segments: 0, records: 0, samples: 0, corruptions: [] };
    const segs = this.segments();
    for (const [k, seg] of segs.entries()) {
      const path = this.path(seg);
      const data = readFileSync(path);
      report.segments++;
      const end = this.replaySegment(seg, data, h, report);
      if (end < data.length && k === segs.length - 1) {
        // A torn write at the very end (a crash mid-record): cut it so the log stays readable.
        const fd = openSync(path, "r+");
        try {
          ftruncateSync(fd, end);
        } finally {
          closeSync(fd);
        }
      }
    }
    return report;
  }

  private replaySegment(seg: number, data: Buffer, h: WalReplayHandlers, report: WalReplayReport): number {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    let maxT = Number.NEGATIVE_INFINITY;
    while (off < data.length) {
      const bad = (reason: string): number => {
        report.corruptions.push({ segment: seg, offset: off, reason });
        return off;
      };
      if (data.length - off < HEADER) return bad("record header cut short");
      const type = data[off] as number;
      const len = view.getUint32(off + 1);
      const sum = view.getUint32(off + 5);
      if (type !== WAL_SERIES && type !== WAL_SAMPLES) return bad(`unknown record type ${type}`);
      if (off + HEADER + len > data.length) return bad("record cut short");
      const payload = data.subarray(off + HEADER, off + HEADER + len);
      if (crc32(payload) !== sum) return bad("checksum mismatch");
      const p = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      try {
        if (type === WAL_SERIES) h.series(p.getUint32(0), decodeLabels(payload, p, 4));
        else {
          const t = p.getFloat64(0);
          const n = p.getUint32(8);
          if (12 + n * 12 !== len) return bad("sample count does not match the record length");
          const refs = new Uint32Array(n);
          const values = new Float64Array(n);
          const words = new Uint32Array(values.buffer);
          for (let i = 0; i < n; i++) {
            const at = 12 + i * 12;
            refs[i] = p.getUint32(at);
            words[2 * i + HI] = p.getUint32(at + 4);
            words[2 * i + LO] = p.getUint32(at + 8);
          }
          h.samples(t, refs, values, n);
          report.samples += n;
          if (t > maxT) maxT = t;
        }
      } catch (err) {
        if (err instanceof RangeError) return bad(`malformed record: ${err.message}`);
        throw err;
      }
      report.records++;
      off += HEADER + len;
    }
    this.segmentMaxT.set(seg, maxT);
    return off;
  }

  /** Buffers a series record. */
  logSeries(ref: number, labels: Labels): void {
    const parts: Uint8Array[] = [];
    let len = 6;
    for (const l of labels) {
      const n = textEncoder.encode(l.name);
      const v = textEncoder.encode(l.value);
      parts.push(n, v);
      len += 8 + n.length + v.length;
    }
    const at = this.reserve(WAL_SERIES, len);
    this.view.setUint32(at, ref);
    this.view.setUint16(at + 4, labels.length);
    let o = at + 6;
    for (const part of parts) {
      this.view.setUint32(o, part.length);
      this.buf.set(part, o + 4);
      o += 4 + part.length;
    }
    this.seal(at, len);
  }

  /** Buffers one scrape's samples: `values[i]`'s bits for series `refs[i]`, all at `t`. */
  logSamples(t: number, refs: ArrayLike<number>, values: Float64Array, count: number): void {
    if (count === 0) return;
    const len = 12 + count * 12;
    const at = this.reserve(WAL_SAMPLES, len);
    this.view.setFloat64(at, t);
    this.view.setUint32(at + 8, count);
    const words = new Uint32Array(values.buffer, values.byteOffset, count * 2);
    for (let i = 0; i < count; i++) {
      const o = at + 12 + i * 12;
      this.view.setUint32(o, refs[i] as number);
      this.view.setUint32(o + 4, words[2 * i + HI] as number);
      this.view.setUint32(o + 8, words[2 * i + LO] as number);
    }
    this.seal(at, len);
    const seg = this.segment;
    if (t > (this.segmentMaxT.get(seg) ?? Number.NEGATIVE_INFINITY)) this.segmentMaxT.set(seg, t);
  }

  private reserve(type: number, len: number): number {
    const need = this.used + HEADER + len;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.used));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.buf[this.used] = type;
    this.view.setUint32(this.used + 1, len);
    return this.used + HEADER;
  }

  private seal(at: number, len: number): void {
    this.view.setUint32(at - 4, crc32(this.buf.subarray(at, at + len)));
    this.used = at + len;
  }

  /** Writes buffered records to the current segment (cutting a new one when full). */
  flush(): void {
    if (this.used === 0) return;
    if (this.fd < 0 || this.segmentSize + this.used > this.segmentBytes) this.cut();
    const data = this.buf.subarray(0, this.used);
    this.used = 0;
    let written = 0;
    try {
      while (written < data.length) written += writeSync(this.fd, data, written);
    } catch (err) {
      // Keep the segment readable: drop the partial record, the caller keeps the samples in memory.
      try {
        ftruncateSync(this.fd, this.segmentSize);
      } catch {
        // The disk is failing; replay truncates the torn tail at the next start.
      }
      throw new WalWriteError(`writing ${this.path(this.segment)}: ${(err as Error).message}`);
    }
    this.segmentSize += data.length;
  }

  /** Makes written records durable against power loss. */
  sync(): void {
    if (this.fd >= 0) fdatasyncSync(this.fd);
  }

  /** Starts a new segment now; the owner's onSegment writes live series into it. */
  cut(): void {
    const pending = this.used > 0 ? this.buf.slice(0, this.used) : undefined;
    this.used = 0;
    const first = this.fd < 0;
    if (this.fd >= 0) {
      fdatasyncSync(this.fd);
      closeSync(this.fd);
    }
    const last = this.segments().at(-1) ?? 0;
    this.segment = Math.max(last, this.segment) + 1;
    this.fd = openSync(this.path(this.segment), "a");
    this.segmentSize = fstatSync(this.fd).size;
    if (!first || last > 0) this.onSegment?.(this);
    if (pending) {
      const at = this.used;
      this.reserveRaw(pending.length);
      this.buf.set(pending, at);
      this.used = at + pending.length;
    }
  }

  private reserveRaw(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.used + n, this.buf.length * 2));
    next.set(this.buf.subarray(0, this.used));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Deletes whole segments whose samples are all at or before `t` (now held in a block). */
  deleteSegmentsUpTo(t: number): number {
    let deleted = 0;
    for (const seg of this.segments()) {
      if (seg === this.segment) break;
      const maxT = this.segmentMaxT.get(seg);
      if (maxT === undefined || maxT > t) break;
      unlinkSync(this.path(seg));
      this.segmentMaxT.delete(seg);
      deleted++;
    }
    return deleted;
  }

  /** Bytes of all segments on disk. */
  sizeBytes(): number {
    let total = 0;
    for (const seg of this.segments()) total += statSync(this.path(seg)).size;
    return total;
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
      this.sync();
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  private path(seg: number): string {
    return join(this.dir, String(seg).padStart(8, "0"));
  }
}

function decodeLabels(payload: Uint8Array, p: DataView, at: number): Labels {
  const n = p.getUint16(at);
  let o = at + 2;
  const labels: { name: string; value: string }[] = [];
  for (let i = 0; i < n; i++) {
    const nl = p.getUint32(o);
    const name = textDecoder.decode(payload.subarray(o + 4, o + 4 + nl));
    o += 4 + nl;
    const vl = p.getUint32(o);
    const value = textDecoder.decode(payload.subarray(o + 4, o + 4 + vl));
    o += 4 + vl;
    if (o > payload.length) throw new RangeError("labels run past the record");
    labels.push({ name, value });
  }
  return labels;
}
