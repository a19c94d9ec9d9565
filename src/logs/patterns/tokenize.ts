// Masking by a single character scan. A regex per token (or a list of regexes per line, as Drain3's
// masking does) costs far more than one pass over the characters, and the rule below subsumes the
// usual mask list: numbers, hex, IPs, ports, UUIDs, block ids, timestamps, durations and sizes all
// contain a digit, and so do paths and hosts that vary by number.

/** What replaces a parameter in a template. */
export const WILDCARD = "<*>";

// Character classes for the scan, one table load per character. Punctuation in SEP splits a token
// into segments, so `uid=0` masks to `uid=<*>` and `[10.0.0.1]` to `[<*>]`: the key stays, the
// value goes. `.`, `/`, `-` and `_` are not separators: they sit inside numbers, IPs, paths and
// identifiers, which mask as a whole (a run of two or more dots does separate, see below).
const PLAIN = 0;
const DIGIT = 1;
const SPACE = 2;
const SEP = 3;
const DOT = 4;
const BACKSLASH = 5;
const CLASS = new Uint8Array(128);
for (let c = 48; c <= 57; c++) CLASS[c] = DIGIT;
for (const c of [32, 9, 10, 11, 12, 13]) CLASS[c] = SPACE;
for (const c of "=:,;()[]{}\"'|@") CLASS[c.charCodeAt(0)] = SEP;
CLASS[46] = DOT;
CLASS[92] = BACKSLASH;

function isSpace(c: number): boolean {
  return c < 128 && CLASS[c] === SPACE;
}

/**
 * Masks a message: runs of whitespace become one space, leading and trailing whitespace go, and
 * every segment (token part between separators) that contains a digit becomes `<*>`, as do paths,
 * hex byte pairs next to a colon (`FF:9F:…`) and day/month names. The result is the message's
 * signature: messages with the same signature always share a template.
 *
 * Built from slices of the input rather than char by char: most text is copied unchanged, so a
 * typical line costs a few slice concatenations and no per-token allocation.
 */
export function maskMessage(msg: string): string {
  const n = msg.length;
  let i = 0;
  while (i < n && isSpace(msg.charCodeAt(i))) i++;
  let end = n;
  while (end > i && isSpace(msg.charCodeAt(end - 1))) end--;
  let out = "";
  let copied = i; // msg[copied, i) is pending verbatim output
  let tokStart = i;
  let segStart = i;
  let segDigit = false;
  let segBackslash = false;
  let tokDigit = false;
  for (;;) {
    // Inner loop: ordinary characters and digits, the bulk of every line.
    let c = 32;
    let k = SPACE;
    while (i < end) {
      c = msg.charCodeAt(i);
      k = c < 128 ? (CLASS[c] as number) : PLAIN;
      if (k === PLAIN) i++;
      else if (k === DIGIT) {
        segDigit = true;
        i++;
      } else if (k === BACKSLASH) {
        segBackslash = true;
        i++;
      } else break;
    }
    if (i >= end) {
      c = 32;
      k = SPACE;
    }
    // A dot ends a segment only as part of a run (`dcbf.........0`): layout, not part of a value.
    const dots = k === DOT && i + 1 < end && msg.charCodeAt(i + 1) === 46;
    if (k === DOT && !dots) {
      i++;
      continue;
    }
    if (segDigit || (i - segStart === 2 && isHexPair(msg, segStart, tokStart, c))) {
      out += msg.slice(copied, segStart) + WILDCARD;
      copied = i;
      tokDigit = true;
    } else if (segBackslash || (i - segStart > 1 && isPathStart(msg, segStart))) {
      out += msg.slice(copied, segStart) + WILDCARD;
      copied = i;
    }
    segDigit = false;
    segBackslash = false;
    if (dots) {
      let j = i + 1;
      while (j < end && msg.charCodeAt(j) === 46) j++;
      i = j;
    } else if (k === SPACE) {
      if (!tokDigit && i - tokStart <= 9 && isDateWord(msg, tokStart, i)) {
        out += msg.slice(copied, tokStart) + WILDCARD;
        copied = i;
      }
      if (i >= end) break;
      // Normalise a whitespace run to one space (copy up to it, skip the run).
      let j = i + 1;
      while (j < end && isSpace(msg.charCodeAt(j))) j++;
      if (c !== 32 || j !== i + 1) {
        out += `${msg.slice(copied, i)} `;
        copied = j;
      }
      i = j;
      tokStart = i;
      tokDigit = false;
    } else i++;
    segStart = i;
  }
  return copied < end ? out + msg.slice(copied, end) : out;
}

function isHexLetter(c: number): boolean {
  return (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** A two-letter hex segment next to a colon (`FF` in `FF:F2:9F:16:E5:DC`): a byte of a MAC or dump. */
function isHexPair(msg: string, at: number, tokStart: number, next: number): boolean {
  if (!isHexLetter(msg.charCodeAt(at)) || !isHexLetter(msg.charCodeAt(at + 1))) return false;
  return next === 58 || (at > tokStart && msg.charCodeAt(at - 1) === 58);
}

/** A segment that starts like a file path: `/a/b`, `./a`, `~/a` (backslash paths are caught in the scan). */
function isPathStart(msg: string, from: number): boolean {
  const c0 = msg.charCodeAt(from);
  if (c0 === 47 /* / */) return true;
  return (c0 === 46 || c0 === 126) && msg.charCodeAt(from + 1) === 47;
}

// Day and month names are parameters of an embedded date (`at Sun Jul 10 04:36:37 2005`). "May"
// is left out: it is also an ordinary word.
const DATE_WORDS = new Set(
  (
    "Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday Thursday Friday Saturday Sunday " +
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec January February March April June July August " +
    "September October November December"
  ).split(" "),
);

function isDateWord(msg: string, from: number, to: number): boolean {
  const c = msg.charCodeAt(from);
  return c >= 65 && c <= 90 && to - from >= 3 && DATE_WORDS.has(msg.slice(from, to));
}
