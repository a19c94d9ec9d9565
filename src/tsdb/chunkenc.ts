/**
 * Compressed sample chunks: timestamps as delta-of-delta, values XOR-encoded against the previous
 * value — the Gorilla encoding (Pelkonen et al., VLDB 2015) that Prometheus's `tsdb/chunkenc/xor.go`
 * uses, with the same bit buckets, so the size per sample is comparable (≈1.3 bytes on regular
 * scrapes). Written here because no maintained npm package encodes Gorilla chunks without BigInt
 * (which costs ~10× per sample in V8); 64-bit words are handled as two 32-bit halves instead.
 *
 * Layout of one chunk (bits, most significant first):
 *   u16   sample count (bytes 0–1, big-endian, written when the chunk is sealed)
 *   64    first timestamp (two's complement, high word then low word)
 *   64    first value's IEEE-754 bits
 *   then per sample: timestamp delta-of-delta, then value XOR
 *     dod   '0' = 0 | '10'+14 bits | '110'+17 bits | '1110'+20 bits | '1111'+64 bits (signed)
 *     xor   '0' = same value | '10' + meaningful bits inside the previous window
 *           | '11' + 5 bits leading zeros + 6 bits length (0 = 64) + meaningful bits
 * The second sample's delta-of-delta is its delta (the previous delta is 0), which keeps one code
 * path; Prometheus writes it as a varint instead, so the bytes are not interchangeable with its.
 *
 * Values round-trip bit for bit, so Prometheus's staleness marker (a signalling NaN, see stale.ts)
 * survives: bits are read and written through a Uint32Array view, never through a JS number.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;
const TWO32 = 4294967296;

/** Samples per chunk, as Prometheus cuts its head chunks (120 at a 15 s interval = 30 min). */
export const SAMPLES_PER_CHUNK = 120;
/** A chunk holds at most this many samples (its count is a u16). */
export const MAX_CHUNK_SAMPLES = 0xffff;

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Appends bits to a growing byte buffer. */
class BitWriter {
  buf: Uint8Array;
  byte = 0;
  bit = 0; // bits used in buf[byte]

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }

  /** Writes the low `n` bits of `v` (n ≤ 32), most significant first. */
  write(v: number, n: number): void {
    while (n > 0) {
      if (this.byte >= this.buf.length - 1) this.grow();
      const free = 8 - this.bit;
      const take = Math.min(free, n);
      const bits = (v >>> (n - take)) & ((1 << take) - 1);
      this.buf[this.byte] = (this.buf[this.byte] as number) | (bits << (free - take));
      this.bit += take;
      if (this.bit === 8) {
        this.byte++;
        this.bit = 0;
      }
      n -= take;
    }
  }

  writeBit(b: number): void {
    if (this.byte >= this.buf.length - 1) this.grow();
    if (b) this.buf[this.byte] = (this.buf[this.byte] as number) | (0x80 >>> this.bit);
    if (++this.bit === 8) {
      this.byte++;
      this.bit = 0;
    }
  }

  private grow(): void {
    const next = new Uint8Array(this.buf.length * 2);
    next.set(this.buf);
    this.buf = next;
  }

  get length(): number {
    return this.byte + (this.bit > 0 ? 1 : 0);
  }
}

/** Reads bits written by BitWriter. */
class BitReader {
  private byte: number;
  private bit = 0;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.byte = start;
  }

  /** Reads `n` bits (n ≤ 32) as an unsigned integer. */
  read(n: number): number {
    let out = 0;
    while (n > 0) {
      if (this.byte >= this.end) throw new ChunkCorruptError("chunk ends inside a sample");
      const avail = 8 - this.bit;
      const take = Math.min(avail, n);
      const bits = ((this.buf[this.byte] as number) >>> (avail - take)) & ((1 << take) - 1);
      out = ((out << take) | bits) >>> 0;
      this.bit += take;
      if (this.bit === 8) {
        this.byte++;
        this.bit = 0;
      }
      n -= take;
    }
    return out;
  }

  readBit(): number {
    if (this.byte >= this.end) throw new ChunkCorruptError("chunk ends inside a sample");
    const b = ((this.buf[this.byte] as number) >>> (7 - this.bit)) & 1;
    if (++this.bit === 8) {
      this.byte++;
      this.bit = 0;
    }
    return b;
  }
}

/** A chunk's bytes do not decode: truncated or overwritten. */
export class ChunkCorruptError extends Error {
  override name = "ChunkCorruptError";
}

/**
 * Encodes samples one at a time into a chunk. Timestamps must be integral and strictly
 * increasing (the store guarantees it); values are passed as their two 32-bit halves.
 */
export class XorEncoder {
  private readonly w: BitWriter;
  private n = 0;
  private t = 0;
  private delta = 0;
  private vHi = 0;
  private vLo = 0;
  private leading = 0xff; // 0xff: no window yet
  private trailing = 0;
  minT = 0;
  maxT = 0;

  constructor(expectedSamples = SAMPLES_PER_CHUNK) {
    this.w = new BitWriter(2 + expectedSamples * 2);
    this.w.write(0, 16); // count, filled in by bytes()
  }

  get count(): number {
    return this.n;
  }

  /** Bytes written so far (including the count header). */
  get size(): number {
    return this.w.length;
  }

  /** Appends a sample; `values[i]` is read bit for bit. */
  appendFrom(t: number, values: Float64Array, i: number): void {
    const words = new Uint32Array(values.buffer, values.byteOffset + i * 8, 2);
    this.append(t, words[HI] as number, words[LO] as number);
  }

  append(t: number, hi: number, lo: number): void {
    if (this.n >= MAX_CHUNK_SAMPLES) throw new RangeError("chunk is full");
    const w = this.w;
    if (this.n === 0) {
      writeSigned64(w, t);
      w.write(hi, 32);
      w.write(lo, 32);
      this.minT = t;
    } else {
      const delta = t - this.t;
      writeDod(w, delta - this.delta);
      this.delta = delta;
      this.writeValue(hi, lo);
    }
    this.t = t;
    this.maxT = t;
    this.vHi = hi;
    this.vLo = lo;
    this.n++;
  }

  private writeValue(hi: number, lo: number): void {
    const w = this.w;
    const xh = (hi ^ this.vHi) >>> 0;
    const xl = (lo ^ this.vLo) >>> 0;
    if (xh === 0 && xl === 0) {
      w.writeBit(0);
      return;
    }
    w.writeBit(1);
    let leading = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    const trailing = xl !== 0 ? ctz32(xl) : 32 + ctz32(xh);
    if (leading >= 32) leading = 31; // 5 bits; Prometheus caps the same way
    if (this.leading !== 0xff && leading >= this.leading && trailing >= this.trailing) {
      w.writeBit(0);
      writeShifted(w, xh, xl, this.trailing, 64 - this.leading - this.trailing);
      return;
    }
    this.leading = leading;
    this.trailing = trailing;
    const sig = 64 - leading - trailing;
    w.writeBit(1);
    w.write(leading, 5);
    w.write(sig & 63, 6); // 64 is written as 0
    writeShifted(w, xh, xl, trailing, sig);
  }

  /** The sealed chunk's bytes (a copy; the encoder can go on appending). */
  bytes(): Uint8Array {
    const out = this.w.buf.slice(0, this.w.length);
    out[0] = this.n >>> 8;
    out[1] = this.n & 0xff;
    return out;
  }
}

function writeSigned64(w: BitWriter, v: number): void {
  const hi = Math.floor(v / TWO32);
  w.write(hi >>> 0, 32);
  w.write((v - hi * TWO32) >>> 0, 32);
}

function readSigned64(r: BitReader): number {
  const hi = r.read(32) | 0;
  return hi * TWO32 + r.read(32);
}

function writeDod(w: BitWriter, dod: number): void {
  if (dod === 0) {
    w.writeBit(0);
  } else if (dod >= -8191 && dod <= 8192) {
    w.write(0b10, 2);
    w.write(dod & 0x3fff, 14);
  } else if (dod >= -65535 && dod <= 65536) {
    w.write(0b110, 3);
    w.write(dod & 0x1ffff, 17);
  } else if (dod >= -524287 && dod <= 524288) {
    w.write(0b1110, 4);
    w.write(dod & 0xfffff, 20);
  } else {
    w.write(0b1111, 4);
    writeSigned64(w, dod);
  }
}

function readDod(r: BitReader): number {
  if (r.readBit() === 0) return 0;
  if (r.readBit() === 0) return signExtend(r.read(14), 14);
  if (r.readBit() === 0) return signExtend(r.read(17), 17);
  if (r.readBit() === 0) return signExtend(r.read(20), 20);
  return readSigned64(r);
}

/** Two's complement of an n-bit field, as Prometheus decodes it (values above 2^(n-1) wrap). */
function signExtend(v: number, n: number): number {
  return v > 1 << (n - 1) ? v - (1 << n) : v;
}

/** Writes bits [trailing, trailing+sig) of the 64-bit word (xh:xl). */
function writeShifted(w: BitWriter, xh: number, xl: number, trailing: number, sig: number): void {
  let h: number;
  let l: number;
  if (trailing === 0) {
    h = xh;
    l = xl;
  } else if (trailing < 32) {
    l = ((xl >>> trailing) | (xh << (32 - trailing))) >>> 0;
    h = xh >>> trailing;
  } else {
    l = xh >>> (trailing - 32);
    h = 0;
  }
  if (sig > 32) {
    w.write(h, sig - 32);
    w.write(l, 32);
  } else {
    w.write(l, sig);
  }
}

/** Sample count of an encoded chunk. */
export function chunkCount(bytes: Uint8Array, offset = 0): number {
  return (((bytes[offset] as number) << 8) | (bytes[offset + 1] as number)) >>> 0;
}

/**
 * Decodes a chunk into `ts`/`vals` from index `at`, keeping only samples in [minT, maxT];
 * returns the number written. The arrays must have room for the chunk's count.
 */
export function decodeChunk(
  bytes: Uint8Array,
  ts: Float64Array,
  vals: Float64Array,
  at = 0,
  minT = -Infinity,
  maxT = Infinity,
  start = 0,
  end = bytes.length,
): number {
  if (end - start < 2) throw new ChunkCorruptError("chunk shorter than its header");
  const n = chunkCount(bytes, start);
  if (n === 0) return 0;
  const words = new Uint32Array(vals.buffer, vals.byteOffset, vals.length * 2);
  const r = new BitReader(bytes, start + 2, end);
  let t = readSigned64(r);
  let hi = r.read(32);
  let lo = r.read(32);
  let delta = 0;
  let leading = 0;
  let trailing = 0;
  let k = at;
  for (let i = 0; ; i++) {
    if (t > maxT) break;
    if (t >= minT) {
      ts[k] = t;
      words[2 * k + HI] = hi;
      words[2 * k + LO] = lo;
      k++;
    }
    if (i + 1 >= n) break;
    delta += readDod(r);
    if (delta <= 0) throw new ChunkCorruptError("timestamps do not increase");
    t += delta;
    if (r.readBit() === 1) {
      if (r.readBit() === 1) {
        leading = r.read(5);
        const s = r.read(6);
        trailing = 64 - leading - (s === 0 ? 64 : s);
        if (trailing < 0) throw new ChunkCorruptError("value window out of range");
      }
      const sig = 64 - leading - trailing;
      let h = sig > 32 ? r.read(sig - 32) : 0;
      let l = r.read(Math.min(sig, 32));
      // shift (h:l) left by trailing to restore the XOR word
      if (trailing >= 32) {
        h = trailing === 32 ? l : (l << (trailing - 32)) >>> 0;
        l = 0;
      } else if (trailing > 0) {
        h = ((h << trailing) | (l >>> (32 - trailing))) >>> 0;
        l = (l << trailing) >>> 0;
      }
      hi = (hi ^ h) >>> 0;
      lo = (lo ^ l) >>> 0;
    }
  }
  return k - at;
}
