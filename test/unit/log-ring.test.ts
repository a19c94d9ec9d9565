import { describe, expect, it } from "vitest";
import {
  type AccessRecord,
  createRingBuffers,
  type RecordHandler,
  RingReader,
  RingWriter,
} from "../../src/logs/thread/ring.js";

type Got =
  | { t: "text"; line: string }
  | { t: "define"; id: number; text: string }
  | { t: "access"; rec: AccessRecord }
  | { t: "big"; id: number };

function collector(bigs: Set<number> = new Set()) {
  const got: Got[] = [];
  const h: RecordHandler = {
    text: (line) => got.push({ t: "text", line }),
    define: (id, text) => got.push({ t: "define", id, text }),
    access: (rec) => got.push({ t: "access", rec: { ...rec } }),
    big: (id) => {
      if (!bigs.has(id)) return false;
      got.push({ t: "big", id });
      return true;
    },
  };
  return { got, h };
}

describe("log ring", () => {
  it("gives back each kind of record as written, strings exactly (non-ASCII, lone surrogates, long)", () => {
    const b = createRingBuffers(64 * 1024);
    const w = new RingWriter(b);
    const r = new RingReader(b);
    const long = `/${"é".repeat(500)}\ud800/${"x".repeat(100)}`;
    expect(w.define(7, ',"event":"access"')).toBe(true);
    expect(w.text('{"level":"INFO","msg":"ünïcode ✓ \u2028"}\n')).toBe(true);
    expect(w.access(200, 1, 7, 2, 1_765_000_000_123, 0.413, 87, ',"reqId":"r1"', "/a?b=1")).toBe(true);
    expect(w.access(503, 1, 7, 2, 1_765_000_000_124, 12.5, undefined, "", long)).toBe(true);
    expect(w.big(9)).toBe(true);
    const { got, h } = collector(new Set([9]));
    expect(r.read(h)).toBe(5);
    expect(got).toEqual([
      { t: "define", id: 7, text: ',"event":"access"' },
      { t: "text", line: '{"level":"INFO","msg":"ünïcode ✓ \u2028"}\n' },
      {
        t: "access",
        rec: {
          status: 200,
          prefixId: 1,
          fieldsId: 7,
          endingId: 2,
          timeMs: 1_765_000_000_123,
          durationMs: 0.413,
          bytes: 87,
          chindings: ',"reqId":"r1"',
          url: "/a?b=1",
        },
      },
      {
        t: "access",
        rec: {
          status: 503,
          prefixId: 1,
          fieldsId: 7,
          endingId: 2,
          timeMs: 1_765_000_000_124,
          durationMs: 12.5,
          bytes: undefined,
          chindings: "",
          url: long,
        },
      },
      { t: "big", id: 9 },
    ]);
    expect(r.empty).toBe(true);
    expect(r.read(h)).toBe(0);
  });

  it("wraps around many times in a small ring, in order, and refuses (writing nothing) when full", () => {
    const b = createRingBuffers(1024);
    const w = new RingWriter(b);
    const r = new RingReader(b);
    const { got, h } = collector();
    let next = 0;
    let refused = 0;
    for (let round = 0; round < 200; round++) {
      // Write until full (a record size that does not divide the ring, so wraps land mid-record).
      for (;;) {
        const line = `line ${next} ${"x".repeat(next % 37)}\n`;
        if (!w.text(line)) {
          refused++;
          break;
        }
        next++;
      }
      // Read part of it, sometimes all.
      r.read(h, round % 3 === 0 ? Number.POSITIVE_INFINITY : 3);
    }
    r.read(h);
    expect(refused).toBe(200);
    expect(got).toHaveLength(next);
    got.forEach((g, i) => {
      expect(g).toEqual({ t: "text", line: `line ${i} ${"x".repeat(i % 37)}\n` });
    });
  });

  it("stops at a line posted aside until it arrives, then resumes in order", () => {
    const b = createRingBuffers(4096);
    const w = new RingWriter(b);
    const r = new RingReader(b);
    const arrived = new Set<number>();
    const { got, h } = collector(arrived);
    w.text("a\n");
    w.big(1);
    w.text("c\n");
    expect(r.read(h)).toBe(1);
    expect(r.empty).toBe(false);
    arrived.add(1);
    expect(r.read(h)).toBe(2);
    expect(got.map((g) => (g.t === "text" ? g.line : g.t))).toEqual(["a\n", "big", "c\n"]);
  });

  it("refuses a record longer than a quarter of the ring", () => {
    const b = createRingBuffers(1024);
    const w = new RingWriter(b);
    expect(w.maxRecordBytes).toBe(256);
    expect(w.text("x".repeat(200))).toBe(false);
    expect(w.text("x".repeat(100))).toBe(true);
    expect(() => createRingBuffers(1000)).toThrow(/multiple of 8/);
  });
});
