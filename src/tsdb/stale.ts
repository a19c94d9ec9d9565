/**
 * Prometheus's staleness marker: the NaN with bit pattern 0x7ff0000000000002 (`value.StaleNaN`
 * in prometheus/model). It is a signalling NaN, distinct from the quiet NaN JS produces.
 *
 * V8 keeps the payload in typed arrays, object properties and locals, but canonicalises it in
 * plain double arrays (`[StaleNaN, 1.5]` holds an ordinary NaN) and any arithmetic quiets it.
 * Keep sample values in Float64Arrays; check staleness before computing with a value.
 */
const scratch = new Float64Array(1);
const words = new Uint32Array(scratch.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;

const STALE_HI = 0x7ff00000;
const STALE_LO = 0x00000002;

words[HI] = STALE_HI;
words[LO] = STALE_LO;

/** The staleness marker value. */
export const StaleNaN: number = scratch[0] as number;

/** True only for the staleness marker, not for an ordinary NaN. */
export function isStaleMarker(v: number): boolean {
  if (!Number.isNaN(v)) return false; // the common case: no memory traffic
  scratch[0] = v;
  return words[HI] === STALE_HI && words[LO] === STALE_LO;
}

/** Writes the staleness marker into `values[i]` bit-exactly, without passing through a JS number. */
export function writeStaleMarker(values: Float64Array, i: number): void {
  const w = new Uint32Array(values.buffer, values.byteOffset + i * 8, 2);
  w[HI] = STALE_HI;
  w[LO] = STALE_LO;
}
