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

/**
 * Optional masking rules, as bits of `maskMessage`'s `rules`. Each is a general shape, not a
 * pattern of one source; which ones are on by default was chosen by leave-one-out over the
 * Loghub-2k reference sets (test/conformance/loghub.test.ts, docs/logs-analysis.md).
 */
export const MASK = {
  /** Day and month names (`Sun`, `Jul`): the words of an embedded date. */
  dateWords: 1,
  /** Two hex letters next to a colon (`AA` in `AA:0B:1C`): a byte of a MAC address or dump. */
  hexPairs: 2,
  /** A run of two or more dots separates segments (layout such as `name.......ok`). */
  dotRuns: 4,
  /** A host name of three or more labels (`proxy.example.org`, see isDottedName). */
  dottedNames: 8,
  /** A unit after a number (`1.2 KB`, `30 ms`) is part of the number's parameter. */
  units: 16,
} as const;

/** Rules `maskMessage` applies when none are given (the leave-one-out choice). */
export const DEFAULT_MASK_RULES: number =
  MASK.dateWords | MASK.hexPairs | MASK.dotRuns | MASK.dottedNames | MASK.units;

function isSpace(c: number): boolean {
  return c < 128 && CLASS[c] === SPACE;
}

/**
 * Masks a message: runs of whitespace become one space, leading and trailing whitespace go, and
 * every segment (token part between separators) that contains a digit becomes `<*>`, as do paths
 * and, per `rules` (see MASK), hex byte pairs next to a colon, dotted host/class names, day and
 * month names, and a unit after a number. The result is the message's signature: messages with
 * the same signature always share a template.
 *
 * Built from slices of the input rather than char by char: most text is copied unchanged, so a
 * typical line costs a few slice concatenations and no per-token allocation.
 */
export function maskMessage(msg: string, rules: number = DEFAULT_MASK_RULES): string {
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
  let segDots = 0;
  let tokDigit = false;
  const dotRuns = (rules & MASK.dotRuns) !== 0;
  const hexPairs = (rules & MASK.hexPairs) !== 0;
  const dottedNames = (rules & MASK.dottedNames) !== 0;
  const dateWords = (rules & MASK.dateWords) !== 0;
  const units = (rules & MASK.units) !== 0;
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
    // A dot ends a segment only as part of a run (`status.......ok`, `name....0`): layout, not part of a value.
    const dots = dotRuns && k === DOT && i + 1 < end && msg.charCodeAt(i + 1) === 46;
    if (k === DOT && !dots) {
      segDots++;
      i++;
      continue;
    }
    let numeric = false;
    if (segDigit || (hexPairs && i - segStart === 2 && isHexPair(msg, segStart, tokStart, c))) {
      out += msg.slice(copied, segStart) + WILDCARD;
      copied = i;
      tokDigit = true;
      numeric = segDigit;
    } else if (
      segBackslash ||
      (i - segStart > 1 && isPathStart(msg, segStart)) ||
      (segDots >= 2 && dottedNames && isDottedName(msg, segStart, i))
    ) {
      out += msg.slice(copied, segStart) + WILDCARD;
      copied = i;
    }
    segDigit = false;
    segBackslash = false;
    segDots = 0;
    if (dots) {
      let j = i + 1;
      while (j < end && msg.charCodeAt(j) === 46) j++;
      i = j;
    } else if (k === SPACE) {
      if (dateWords && !tokDigit && i - tokStart <= 9 && isDateWord(msg, tokStart, i)) {
        out += msg.slice(copied, tokStart) + WILDCARD;
        copied = i;
      }
      if (i >= end) break;
      let j = i + 1;
      while (j < end && isSpace(msg.charCodeAt(j))) j++;
      if (numeric && units) {
        // `1.2 KB`, `30 ms`: the unit joins the number's parameter, and the token goes on after it
        // (so `(1.2 KB)` masks to `(<*>)` and `384.0 B,` to `<*>,`).
        const u = unitEnd(msg, j, end);
        if (u > 0) {
          copied = u;
          i = u;
          segStart = i;
          continue;
        }
      }
      // Normalise a whitespace run to one space (copy up to it, skip the run).
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

// Units of size and duration: after a number they are part of its value (`384.0 B`, `1.2 KB`,
// `<1 sec`), and a template whose values come in several units must not split by unit.
const UNITS = new Set(
  "B KB MB GB TB PB kB KiB MiB GiB TiB b kb mb gb ms s sec secs us ns min mins h hr hrs".split(" "),
);
/** First letters of the units: most words after a number fail this one table load. */
const UNIT_START = new Uint8Array(128);
for (const u of UNITS) UNIT_START[u.charCodeAt(0)] = 1;

/** End of a unit word starting at `from` (followed by the end, a space or punctuation), else 0. */
function unitEnd(msg: string, from: number, end: number): number {
  const c0 = msg.charCodeAt(from);
  if (c0 >= 128 || UNIT_START[c0] === 0) return 0;
  let j = from;
  while (j < end && j - from < 4) {
    const c = msg.charCodeAt(j);
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) j++;
    else break;
  }
  if (j === from) return 0;
  if (j < end) {
    const c = msg.charCodeAt(j);
    const k = c < 128 ? CLASS[c] : PLAIN;
    if (k !== SPACE && k !== SEP && k !== DOT) return 0;
  }
  return UNITS.has(msg.slice(from, j)) ? j : 0;
}

/**
 * A host name of three or more labels (`proxy.example.org`): letters, digits and `-` between
 * single dots, the last label (the top-level domain) 2 to 6 letters, as in the usual host-name
 * grammar. Names with `_` or a long or non-alphabetic last part (`android.intent.action.SCREEN_ON`,
 * `java.io.IOException`) are identifiers, not hosts, and stay words.
 */
function isDottedName(msg: string, from: number, to: number): boolean {
  let prevDot = true;
  let label = 0; // letters in the current label, or -1 once it holds a non-letter
  for (let j = from; j < to; j++) {
    const c = msg.charCodeAt(j);
    if (c === 46) {
      if (prevDot) return false;
      prevDot = true;
      label = 0;
      continue;
    }
    prevDot = false;
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) {
      if (label >= 0) label++;
    } else if ((c >= 48 && c <= 57) || c === 45) label = -1;
    else return false;
  }
  return !prevDot && label >= 2 && label <= 6;
}

function isHexLetter(c: number): boolean {
  return (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** A two-letter hex segment next to a colon (`AA` in `AA:0B:1C:2D:3E:4F`): a byte of a MAC or dump. */
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

// Day and month names are parameters of an embedded date (`at Mon Mar 2 10:00:00 2026`). "May"
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
