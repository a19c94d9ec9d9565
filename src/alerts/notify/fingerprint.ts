// Alertmanager identifies an alert by model.LabelSet.Fingerprint(): FNV-1a 64 over the label
// names in sorted order, each name and value followed by the 0xff separator byte. Our
// fingerprints must be the same numbers so that API answers, webhook bodies and inhibition
// `inhibitedBy` lists agree with a real Alertmanager holding the same alerts.

const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
// FNV prime 2^40 + 2^8 + 0xb3, split so that 32-bit multiplications stay exact.
const PRIME_LO = 0x1b3;
const encoder = new TextEncoder();

/** 16 lower-case hex digits, as Alertmanager prints Fingerprint.String(). */
export function fingerprint(labels: Record<string, string>): string {
  let hi = OFFSET_HI;
  let lo = OFFSET_LO;
  const add = (byte: number): void => {
    lo ^= byte;
    // (hi:lo) * (2^40 + 0x1b3) mod 2^64, with 16-bit limbs to stay within 2^53.
    const l0 = lo & 0xffff;
    const l1 = lo >>> 16;
    const m0 = l0 * PRIME_LO;
    const m1 = l1 * PRIME_LO + (m0 >>> 16);
    const newLo = ((m1 & 0xffff) << 16) | (m0 & 0xffff);
    // high word: hi * 0x1b3 + carry + lo * 2^8 (the 2^40 part shifted down by 32)
    const carry = Math.floor(m1 / 0x10000);
    const h = (Math.imul(hi, PRIME_LO) + carry + (lo << 8)) | 0;
    hi = h >>> 0;
    lo = newLo >>> 0;
  };
  // UTF-8 bytes of a string; ASCII (nearly every label) without encoding into a new array.
  const addString = (s: string): void => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        // Everything before i was ASCII, so i is at a character boundary.
        for (const b of encoder.encode(s.slice(i))) add(b);
        return;
      }
      add(c);
    }
  };
  for (const name of Object.keys(labels).sort()) {
    addString(name);
    add(0xff);
    addString(labels[name] as string);
    add(0xff);
  }
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}
