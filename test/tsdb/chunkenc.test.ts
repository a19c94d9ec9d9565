import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChunkCorruptError, chunkCount, decodeChunk, XorEncoder } from "../../src/tsdb/chunkenc.js";
import { StaleNaN } from "../../src/tsdb/stale.js";

function bitsOf(values: Float64Array): number[] {
  return [...new Uint32Array(values.buffer, values.byteOffset, values.length * 2)];
}

function encode(ts: number[], vals: Float64Array): Uint8Array {
  const e = new XorEncoder();
  for (let i = 0; i < ts.length; i++) e.appendFrom(ts[i] as number, vals, i);
  return e.bytes();
}

function roundTrip(ts: number[], vals: Float64Array): { t: number[]; bits: number[] } {
  const bytes = encode(ts, vals);
  expect(chunkCount(bytes)).toBe(ts.length);
  const outT = new Float64Array(ts.length);
  const outV = new Float64Array(ts.length);
  const n = decodeChunk(bytes, outT, outV);
  expect(n).toBe(ts.length);
  return { t: [...outT], bits: bitsOf(outV) };
}

/** Any 64-bit pattern, including NaN payloads and the staleness marker. */
const anyDoubleBits = fc.tuple(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.integer({ min: 0, max: 0xffffffff }),
);

describe("XOR chunk encoding", () => {
  it("round-trips every bit pattern and increasing timestamps of any spacing", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 45), max: 2 ** 45 }),
        fc.array(
          fc.tuple(
            fc.oneof(fc.integer({ min: 1, max: 30_000 }), fc.integer({ min: 1, max: 2 ** 40 })),
            fc.oneof(
              anyDoubleBits,
              fc.double().map((d) => [d, 0] as const),
            ),
          ),
          { minLength: 1, maxLength: 300 },
        ),
        (t0, steps) => {
          const ts: number[] = [];
          const vals = new Float64Array(steps.length);
          const words = new Uint32Array(vals.buffer);
          let t = t0;
          steps.forEach(([dt, v], i) => {
            t += i === 0 ? 0 : dt;
            ts.push(t);
            if (typeof v[0] === "number" && v[1] === 0 && !Number.isInteger(v[0])) vals[i] = v[0];
            else {
              words[2 * i] = v[0] as number;
              words[2 * i + 1] = v[1] as number;
            }
          });
          const out = roundTrip(ts, vals);
          expect(out.t).toEqual(ts);
          expect(out.bits).toEqual(bitsOf(vals));
        },
      ),
      { numRuns: 300, seed: 8044561 },
    );
  });

  it("keeps the staleness marker, -0 and infinities bit for bit", () => {
    const vals = new Float64Array([1, StaleNaN, -0, Number.POSITIVE_INFINITY, Number.NaN, 1]);
    const ts = [0, 15_000, 30_000, 45_000, 60_001, 75_000];
    const out = roundTrip(ts, vals);
    expect(out.bits).toEqual(bitsOf(vals));
  });

  it("spends few bytes a sample on regular scrapes: constant, steady counter, jittery counter", () => {
    const n = 120;
    const sizes = [0, 1, 2].map((kind) => {
      const ts: number[] = [];
      const vals = new Float64Array(n);
      let v = 1000;
      for (let i = 0; i < n; i++) {
        ts.push(1_700_000_000_000 + i * 15_000 + (kind === 2 && i % 7 === 3 ? 1 : 0));
        v += kind === 0 ? 0 : kind === 1 ? 3 : i % 5;
        vals[i] = v;
      }
      const bytes = encode(ts, vals);
      expect(roundTrip(ts, vals).bits).toEqual(bitsOf(vals));
      return bytes.length / n;
    });
    // Gorilla's paper: 1.37 bytes a sample over Facebook's series; Prometheus quotes ≈1.3.
    expect(sizes[0]).toBeLessThan(0.5);
    expect(sizes[1]).toBeLessThan(2);
    expect(sizes[2]).toBeLessThan(3);
  });

  it("decodes only the asked range", () => {
    const ts = [10, 20, 30, 40, 50];
    const vals = new Float64Array([1, 2, 3, 4, 5]);
    const bytes = encode(ts, vals);
    const outT = new Float64Array(5);
    const outV = new Float64Array(5);
    expect(decodeChunk(bytes, outT, outV, 0, 20, 40)).toBe(3);
    expect([...outT.subarray(0, 3)]).toEqual([20, 30, 40]);
    expect([...outV.subarray(0, 3)]).toEqual([2, 3, 4]);
  });

  it("reports a truncated chunk instead of inventing samples", () => {
    const ts = Array.from({ length: 50 }, (_, i) => i * 1000 + ((i * i) % 13));
    const vals = new Float64Array(ts.map((_, i) => Math.sin(i)));
    const bytes = encode(ts, vals);
    const out = new Float64Array(50);
    expect(() => decodeChunk(bytes.subarray(0, bytes.length - 20), out, new Float64Array(50))).toThrow(
      ChunkCorruptError,
    );
  });
});
