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
// Plain characters are class 0 (the table's default); DIGIT and BACKSLASH are bits (the inner
// loop ORs them into the segment's flags); the classes from SPACE on end the inner loop. The table
// covers every UTF-16 code unit, so a lookup needs no range check (non-ASCII units are plain).
const DIGIT = 1;
const BACKSLASH = 2;
const SPACE = 3;
const SEP = 4;
const DOT = 5;
const CLASS = new Uint8Array(65536);
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
  return CLASS[c] === SPACE;
}

/**
 * Masks a message: runs of whitespace become one space, leading and trailing whitespace go, and
 * every segment (token part between separators) that contains a digit becomes `<*>`, as do paths
 * and, per `rules` (see MASK), hex byte pairs next to a colon, dotted host/class names, day and
 * month names, and a unit after a number. The result is the message's signature: messages with
 * the same signature always share a template.
 */
export function maskMessage(msg: string, rules: number = DEFAULT_MASK_RULES): string {
  return SHARED.mask(msg, rules).toString();
}

/** Piece kinds in MaskedMessage.pieces: what follows a verbatim range of the message. */
const END = 0;
const WILD = 1;
const BLANK = 2;
// WILDCARD's code units as constants (`<`, `*`, `>`), which the compiler folds into the compares.
const W0 = 60;
const W1 = 42;
const W2 = 62;
if (String.fromCharCode(W0, W1, W2) !== WILDCARD) throw new Error("W0..W2 must spell WILDCARD");

/**
 * A masked message held as pieces of the original rather than as a new string: verbatim ranges
 * of the message, each followed by `<*>`, one space, or nothing. The miner's hot path hashes and
 * compares these pieces against its stored signatures, so a message whose signature is already
 * known costs one scan and no string building. `toString()` gives exactly `maskMessage`'s text.
 * One instance is reused for message after message (the pieces are overwritten by each `mask`).
 */
export class MaskedMessage {
  /** The text of the message last masked (the message, or the text holding it for maskRange). */
  msg = "";
  /** Triples (from, to, kind): msg[from, to) verbatim, then kind (END, WILD or BLANK). */
  pieces = new Int32Array(96);
  /** Number of triples in `pieces`. */
  count = 0;
  /** Length of the masked text. */
  length = 0;
  /**
   * A cheap hash of the pieces' shape (lengths, kinds, first and last characters), not of the
   * whole text: equal texts may have different fingerprints (a whitespace run normalised or not)
   * and different texts the same one, so it only picks a candidate that `equals` then checks.
   */
  fingerprint = 0;

  /** Masks `msg` into this instance (see maskMessage) and returns it. */
  mask(msg: string, rules: number = DEFAULT_MASK_RULES): this {
    return this.maskRange(msg, 0, msg.length, rules);
  }

  /**
   * Masks the message text[from, to) (a line inside a larger chunk of a file, say): the same as
   * `mask(text.slice(from, to))`, without the slice. Pieces then index into `text`.
   */
  maskRange(text: string, from: number, to: number, rules: number = DEFAULT_MASK_RULES): this {
    const need = 3 * (to - from + 2);
    if (this.pieces.length < need) this.pieces = new Int32Array(Math.max(need, 2 * this.pieces.length));
    this.msg = text;
    this.count = scanMask(text, from, to, rules, this.pieces);
    // Length and fingerprint in one pass over the pieces (not their characters).
    let len = 0;
    let fp = HASH_SEED;
    const p = this.pieces;
    for (let k = 0; k < this.count * 3; k += 3) {
      const a = p[k] as number;
      const b = p[k + 1] as number;
      const kind = p[k + 2] as number;
      const n = b > a ? b - a : 0;
      len += n + (kind === WILD ? 3 : kind === BLANK ? 1 : 0);
      fp = Math.imul(fp ^ ((n << 2) | kind), HASH_PRIME);
      if (n > 0) fp = Math.imul(fp ^ text.charCodeAt(a) ^ (text.charCodeAt(b - 1) << 16), HASH_PRIME);
    }
    this.length = len;
    this.fingerprint = fp & HASH_MASK;
    return this;
  }

  /** The masked text: `hashKey(this.toString()) === this.hash()`. */
  toString(): string {
    const p = this.pieces;
    const msg = this.msg;
    let out = "";
    for (let k = 0; k < this.count * 3; k += 3) {
      const kind = p[k + 2] as number;
      const from = p[k] as number;
      const to = p[k + 1] as number;
      if (to > from) out += msg.slice(from, to);
      if (kind === WILD) out += WILDCARD;
      else if (kind === BLANK) out += " ";
    }
    return out;
  }

  /** The masked text's hash, as `hashKey` computes it from the text. */
  hash(): number {
    const p = this.pieces;
    const msg = this.msg;
    let h = HASH_SEED;
    for (let k = 0; k < this.count * 3; k += 3) {
      const to = p[k + 1] as number;
      for (let j = p[k] as number; j < to; j++) h = Math.imul(h ^ msg.charCodeAt(j), HASH_PRIME);
      const kind = p[k + 2] as number;
      if (kind === WILD) {
        h = Math.imul(h ^ W0, HASH_PRIME);
        h = Math.imul(h ^ W1, HASH_PRIME);
        h = Math.imul(h ^ W2, HASH_PRIME);
      } else if (kind === BLANK) h = Math.imul(h ^ 32, HASH_PRIME);
    }
    return h & HASH_MASK;
  }

  /**
   * True when the masked text equals the text whose code units are `codes` (see keyCodes),
   * compared piece by piece: no string is built, and a typed array reads faster than a string.
   */
  equals(codes: Uint16Array): boolean {
    if (codes.length !== this.length) return false;
    const p = this.pieces;
    const msg = this.msg;
    let at = 0;
    for (let k = 0; k < this.count * 3; k += 3) {
      const to = p[k + 1] as number;
      for (let j = p[k] as number; j < to; j++) if (codes[at++] !== msg.charCodeAt(j)) return false;
      const kind = p[k + 2] as number;
      if (kind === WILD) {
        if (codes[at] !== W0 || codes[at + 1] !== W1 || codes[at + 2] !== W2) return false;
        at += 3;
      } else if (kind === BLANK && codes[at++] !== 32) return false;
    }
    return true;
  }
}

/** The UTF-16 code units of a masked text, for `MaskedMessage.equals`. */
export function keyCodes(key: string): Uint16Array {
  const codes = new Uint16Array(key.length);
  for (let i = 0; i < key.length; i++) codes[i] = key.charCodeAt(i);
  return codes;
}

// FNV-1a over the UTF-16 code units, cut to 30 bits so that it is a small integer (a cheap Map key).
const HASH_SEED = 0x811c9dc5 | 0;
const HASH_PRIME = 0x01000193;
const HASH_MASK = 0x3fffffff;

/** Hash of a masked text: equal to `MaskedMessage.hash()` of any message that masks to it. */
export function hashKey(key: string): number {
  let h = HASH_SEED;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), HASH_PRIME);
  return h & HASH_MASK;
}

/** Reused by maskMessage (single-threaded, and maskMessage does not re-enter). */
const SHARED = new MaskedMessage();

/**
 * The masking scan of the message msg[from, to): writes the pieces of the masked message into
 * `out` (triples, see MaskedMessage) and returns their number. `out` holds at least
 * 3 × (to − from + 2) entries: a piece other than the last ends at a masked segment or a
 * whitespace run, so there are at most to − from + 1 of them. Nothing outside [from, to) is read.
 */
function scanMask(msg: string, from: number, to: number, rules: number, out: Int32Array): number {
  let i = from;
  while (i < to && isSpace(msg.charCodeAt(i))) i++;
  let end = to;
  while (end > i && isSpace(msg.charCodeAt(end - 1))) end--;
  let np = 0; // entries written to out
  let copied = i; // msg[copied, i) is pending verbatim output
  let tokStart = i;
  let segStart = i;
  let segFlags = 0; // DIGIT | BACKSLASH when the segment holds one
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
      k = CLASS[c] as number;
      if (k >= SPACE) break;
      segFlags |= k;
      i++;
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
    const segDigit = (segFlags & DIGIT) !== 0;
    let numeric = false;
    if (segDigit || (hexPairs && i - segStart === 2 && isHexPair(msg, segStart, tokStart, c))) {
      out[np++] = copied;
      out[np++] = segStart;
      out[np++] = WILD;
      copied = i;
      tokDigit = true;
      numeric = segDigit;
    } else if (
      (segFlags & BACKSLASH) !== 0 ||
      (i - segStart > 1 && isPathStart(msg, segStart)) ||
      (segDots >= 2 && dottedNames && isDottedName(msg, segStart, i))
    ) {
      out[np++] = copied;
      out[np++] = segStart;
      out[np++] = WILD;
      copied = i;
    }
    segFlags = 0;
    segDots = 0;
    if (dots) {
      let j = i + 1;
      while (j < end && msg.charCodeAt(j) === 46) j++;
      i = j;
    } else if (k === SPACE) {
      if (dateWords && !tokDigit && i - tokStart <= 9 && isDateWord(msg, tokStart, i)) {
        out[np++] = copied;
        out[np++] = tokStart;
        out[np++] = WILD;
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
        out[np++] = copied;
        out[np++] = i;
        out[np++] = BLANK;
        copied = j;
      }
      i = j;
      tokStart = i;
      tokDigit = false;
    } else i++;
    segStart = i;
  }
  if (copied < end) {
    out[np++] = copied;
    out[np++] = end;
    out[np++] = END;
  }
  return np / 3;
}

// Units of size and duration: after a number they are part of its value (`384.0 B`, `1.2 KB`,
// `<1 sec`), and a template whose values come in several units must not split by unit.
const UNITS = new Set(
  "B KB MB GB TB PB kB KiB MiB GiB TiB b kb mb gb ms s sec secs us ns min mins h hr hrs".split(" "),
);
/** The units by first letter: most words after a number have none (one array load). */
const UNITS_BY_FIRST = byFirstChar(UNITS);

/** Words grouped by their first UTF-16 unit (ASCII words only), for lookups that slice nothing. */
function byFirstChar(words: Iterable<string>): Array<string[] | undefined> {
  const out: Array<string[] | undefined> = new Array(128).fill(undefined);
  for (const w of words) {
    const c = w.charCodeAt(0);
    const list = out[c];
    if (list === undefined) out[c] = [w];
    else list.push(w);
  }
  return out;
}

/** True when msg[from, to) is one of `words` (grouped by byFirstChar): `Set.has(msg.slice(from, to))` without the slice. */
function isWordAt(words: Array<string[] | undefined>, msg: string, from: number, to: number): boolean {
  const c = msg.charCodeAt(from);
  const list = c < 128 ? words[c] : undefined;
  if (list === undefined) return false;
  const len = to - from;
  for (const w of list) if (w.length === len && msg.startsWith(w, from)) return true;
  return false;
}

/** End of a unit word starting at `from` (followed by the end, a space or punctuation), else 0. */
function unitEnd(msg: string, from: number, end: number): number {
  const c0 = msg.charCodeAt(from);
  if (c0 >= 128 || UNITS_BY_FIRST[c0] === undefined) return 0;
  let j = from;
  while (j < end && j - from < 4) {
    const c = msg.charCodeAt(j);
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) j++;
    else break;
  }
  if (j === from) return 0;
  if (j < end) {
    const c = msg.charCodeAt(j);
    const k = CLASS[c];
    if (k !== SPACE && k !== SEP && k !== DOT) return 0;
  }
  return isWordAt(UNITS_BY_FIRST, msg, from, j) ? j : 0;
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
const DATE_WORDS = byFirstChar(
  (
    "Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday Thursday Friday Saturday Sunday " +
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec January February March April June July August " +
    "September October November December"
  ).split(" "),
);

function isDateWord(msg: string, from: number, to: number): boolean {
  const c = msg.charCodeAt(from);
  return c >= 65 && c <= 90 && to - from >= 3 && isWordAt(DATE_WORDS, msg, from, to);
}
