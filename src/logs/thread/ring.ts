// A single-producer, single-consumer ring of log records in a SharedArrayBuffer: the API's
// thread writes, the log thread (src/logs/thread/worker.ts) reads. Why a ring and not
// postMessage: a message is a structured clone and a wake-up of the other thread, ~2–5 µs of the
// API's thread each; a record here is a few stores into shared memory (the access line's fields
// cost ~0.3 µs), and the reader wakes on its own schedule (see LogThread's polling).
//
// Layout. Records start at 8-byte-aligned byte offsets; a record never wraps: when it does not fit
// before the end, a WRAP marker sends the reader back to 0. `control` holds the write position
// (stored after the record, so a reader that loads it sees the whole record: Atomics give the
// happens-before) and the read position (stored by the reader once it is done with what it read).
// Write position == read position means empty; the writer never makes them equal by writing.
//
// Strings are stored as UTF-16 code units: no encoding on the API's thread, and the reader gets
// back exactly the string written (lone surrogates included; the line builder escapes them).
//
//   TEXT    [1 | n units][units…]                       a line already serialized (pino's)
//   DEFINE  [3 | n units][id][units…]                   a constant text the access records name
//   ACCESS  [2][status | 1<<16 if bytes][prefix id][fields id][ending id][n chindings][n url][pad]
//           [time ms f64][duration ms f64][bytes f64][chindings units][url units]
//   BIG     [4][id]                                     a line too long for the ring, posted aside
//   WRAP    [0]

export const REC_WRAP = 0;
export const REC_TEXT = 1;
export const REC_ACCESS = 2;
export const REC_DEFINE = 3;
export const REC_BIG = 4;

/** Indexes into the control Int32Array. */
export const CTL_WRITE = 0;
export const CTL_READ = 1;
/** 1 while the reader waits without a deadline: the writer then wakes it (Atomics.notify). */
export const CTL_SLEEPING = 2;
/** Synchronous flush at exit: the writer bumps REQUEST, the reader sets DONE to it when written. */
export const CTL_SYNC_REQUEST = 3;
export const CTL_SYNC_DONE = 4;
export const CTL_WORDS = 8;

const ACCESS_HEADER_BYTES = 56;

const align8 = (n: number) => (n + 7) & ~7;

export interface RingBuffers {
  data: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

export function createRingBuffers(capacityBytes: number): RingBuffers {
  if (capacityBytes < 1024 || capacityBytes % 8 !== 0) {
    throw new RangeError(
      `log ring: capacity must be a multiple of 8 of at least 1024 bytes, got ${capacityBytes}`,
    );
  }
  return {
    data: new SharedArrayBuffer(capacityBytes),
    control: new SharedArrayBuffer(CTL_WORDS * 4),
  };
}

/** The fields of one access line, as the reader gets them back. */
export interface AccessRecord {
  status: number;
  prefixId: number;
  fieldsId: number;
  endingId: number;
  timeMs: number;
  durationMs: number;
  /** Undefined when the response had no content-length. */
  bytes: number | undefined;
  chindings: string;
  url: string;
}

class Views {
  readonly cap: number;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly ctl: Int32Array;
  constructor(b: RingBuffers) {
    this.cap = b.data.byteLength;
    this.u32 = new Uint32Array(b.data);
    this.f64 = new Float64Array(b.data);
    this.ctl = new Int32Array(b.control);
  }
}

/** The API thread's side. Every method returns false, writing nothing, when the ring is full. */
export class RingWriter {
  private readonly v: Views;
  /** The ring's data as a Buffer (a view, not a copy), for writing strings. */
  private readonly bytes: Buffer;
  private wpos: number;
  /** The reader's position as last loaded: reloaded only when this one says there is no room. */
  private rpos: number;

  constructor(buffers: RingBuffers) {
    this.v = new Views(buffers);
    this.bytes = Buffer.from(buffers.data);
    this.wpos = Atomics.load(this.v.ctl, CTL_WRITE);
    this.rpos = Atomics.load(this.v.ctl, CTL_READ);
  }

  /** Largest record the ring can ever take (a TEXT record of longer lines goes aside: BIG). */
  get maxRecordBytes(): number {
    return this.v.cap / 4;
  }

  /** A position with `size` bytes free, or -1; writes the WRAP marker when it wraps. */
  private reserve(size: number): number {
    let at = this.place(size, this.rpos);
    if (at < 0) {
      this.rpos = Atomics.load(this.v.ctl, CTL_READ);
      at = this.place(size, this.rpos);
    }
    return at;
  }

  private place(size: number, r: number): number {
    const w = this.wpos;
    const cap = this.v.cap;
    if (w >= r) {
      // Fits before the end (ending exactly at the end only if the reader is not at 0: full ≠ empty).
      if (size < cap - w || (size === cap - w && r !== 0)) return w;
      if (size < r) {
        this.v.u32[w >>> 2] = REC_WRAP;
        this.wpos = 0;
        return 0;
      }
      return -1;
    }
    return w + size < r ? w : -1;
  }

  private commit(at: number, size: number): void {
    const next = at + size;
    this.wpos = next === this.v.cap ? 0 : next;
    Atomics.store(this.v.ctl, CTL_WRITE, this.wpos);
    // A reader that went to sleep without a deadline is woken; one that polls finds it itself.
    if (Atomics.load(this.v.ctl, CTL_SLEEPING) === 1) {
      Atomics.store(this.v.ctl, CTL_SLEEPING, 0);
      Atomics.notify(this.v.ctl, CTL_WRITE);
    }
  }

  /**
   * The string's UTF-16 code units at `byteAt`, as they are (lone surrogates too), little-endian
   * as the reader decodes them. One native copy: a JavaScript loop of `charCodeAt` costs ~40
   * instructions a unit on the strings this gets — pino's bindings are concatenations (cons
   * strings), which `charCodeAt` walks on its generic path — ~3,000 a request for the access
   * line's request id and URL (bench/instructions.ts; bench/README.md, "Issue 12, session 14").
   */
  private putString(byteAt: number, s: string): void {
    if (s.length > 0) this.bytes.write(s, byteAt, 2 * s.length, "utf16le");
  }

  text(line: string): boolean {
    const size = align8(8 + 2 * line.length);
    if (size > this.maxRecordBytes) return false;
    const at = this.reserve(size);
    if (at < 0) return false;
    const w = at >>> 2;
    this.v.u32[w] = REC_TEXT;
    this.v.u32[w + 1] = line.length;
    this.putString(at + 8, line);
    this.commit(at, size);
    return true;
  }

  define(id: number, text: string): boolean {
    const size = align8(12 + 2 * text.length);
    if (size > this.maxRecordBytes)
      throw new RangeError("log ring: a constant text longer than a quarter of the ring");
    const at = this.reserve(size);
    if (at < 0) return false;
    const w = at >>> 2;
    this.v.u32[w] = REC_DEFINE;
    this.v.u32[w + 1] = text.length;
    this.v.u32[w + 2] = id;
    this.putString(at + 12, text);
    this.commit(at, size);
    return true;
  }

  big(id: number): boolean {
    const at = this.reserve(8);
    if (at < 0) return false;
    const w = at >>> 2;
    this.v.u32[w] = REC_BIG;
    this.v.u32[w + 1] = id;
    this.commit(at, 8);
    return true;
  }

  access(
    status: number,
    prefixId: number,
    fieldsId: number,
    endingId: number,
    timeMs: number,
    durationMs: number,
    bytes: number | undefined,
    chindings: string,
    url: string,
  ): boolean {
    const size = align8(ACCESS_HEADER_BYTES + 2 * (chindings.length + url.length));
    if (size > this.maxRecordBytes) return false;
    const at = this.reserve(size);
    if (at < 0) return false;
    const { u32, f64 } = this.v;
    const w = at >>> 2;
    u32[w] = REC_ACCESS;
    u32[w + 1] = (status & 0xffff) | (bytes === undefined ? 0 : 0x10000);
    u32[w + 2] = prefixId;
    u32[w + 3] = fieldsId;
    u32[w + 4] = endingId;
    u32[w + 5] = chindings.length;
    u32[w + 6] = url.length;
    const d = (at + 32) >>> 3;
    f64[d] = timeMs;
    f64[d + 1] = durationMs;
    f64[d + 2] = bytes ?? 0;
    // Both strings in one copy: the reader finds them back to back.
    this.putString(at + ACCESS_HEADER_BYTES, chindings + url);
    this.commit(at, size);
    return true;
  }
}

/** What the reader hands each record to. */
export interface RecordHandler {
  text(line: string): void;
  define(id: number, text: string): void;
  access(rec: AccessRecord): void;
  /** A line posted aside; false when it has not arrived yet (the reader stops there and resumes). */
  big(id: number): boolean;
}

/** The log thread's side (or the API thread's, if the log thread is gone). */
export class RingReader {
  private readonly v: Views;
  private readonly rec: AccessRecord = {
    status: 0,
    prefixId: 0,
    fieldsId: 0,
    endingId: 0,
    timeMs: 0,
    durationMs: 0,
    bytes: 0,
    chindings: "",
    url: "",
  };

  /** The ring's data as a Buffer (a view, not a copy), for decoding strings. */
  private readonly bytes: Buffer;

  constructor(buffers: RingBuffers) {
    this.v = new Views(buffers);
    this.bytes = Buffer.from(buffers.data);
  }

  /** True when nothing is waiting. */
  get empty(): boolean {
    return Atomics.load(this.v.ctl, CTL_READ) === Atomics.load(this.v.ctl, CTL_WRITE);
  }

  /**
   * The string of `n` units at `byteAt`, decoded by Buffer's UTF-16LE slice: V8 makes the string
   * from the units as they are (a lone surrogate stays one, where a TextDecoder would write U+FFFD;
   * a line must come back exactly as logged) and one-byte when every unit fits. 3–8 times cheaper
   * than String.fromCharCode over the units, the thread's largest cost per line before (89 against
   * 240 ns for a request id, 112 against 864 for a 270-character line).
   */
  private getString(byteAt: number, n: number): string {
    return n === 0 ? "" : this.bytes.toString("utf16le", byteAt, byteAt + 2 * n);
  }

  /** Hands every record written so far to `h`, up to `max` of them; returns how many. */
  read(h: RecordHandler, max = Number.POSITIVE_INFINITY): number {
    const { u32, f64, ctl, cap } = this.v;
    let r = Atomics.load(ctl, CTL_READ);
    const w = Atomics.load(ctl, CTL_WRITE);
    let n = 0;
    while (r !== w && n < max) {
      const i = r >>> 2;
      const type = u32[i] as number;
      let size: number;
      if (type === REC_WRAP) {
        r = 0;
        continue;
      }
      if (type === REC_TEXT) {
        const len = u32[i + 1] as number;
        size = align8(8 + 2 * len);
        h.text(this.getString(r + 8, len));
      } else if (type === REC_ACCESS) {
        const rec = this.rec;
        const word = u32[i + 1] as number;
        rec.status = word & 0xffff;
        rec.prefixId = u32[i + 2] as number;
        rec.fieldsId = u32[i + 3] as number;
        rec.endingId = u32[i + 4] as number;
        const nc = u32[i + 5] as number;
        const nu = u32[i + 6] as number;
        const d = (r + 32) >>> 3;
        rec.timeMs = f64[d] as number;
        rec.durationMs = f64[d + 1] as number;
        rec.bytes = word & 0x10000 ? (f64[d + 2] as number) : undefined;
        rec.chindings = this.getString(r + ACCESS_HEADER_BYTES, nc);
        rec.url = this.getString(r + ACCESS_HEADER_BYTES + 2 * nc, nu);
        size = align8(ACCESS_HEADER_BYTES + 2 * (nc + nu));
        h.access(rec);
      } else if (type === REC_DEFINE) {
        const len = u32[i + 1] as number;
        size = align8(12 + 2 * len);
        h.define(u32[i + 2] as number, this.getString(r + 12, len));
      } else if (type === REC_BIG) {
        if (!h.big(u32[i + 1] as number)) break;
        size = 8;
      } else {
        throw new Error(`log ring: unknown record type ${type} at ${r}`);
      }
      r += size;
      if (r === cap) r = 0;
      n++;
    }
    Atomics.store(ctl, CTL_READ, r);
    return n;
  }
}
