// Go regular expressions (RE2 syntax and semantics) for every place a user's pattern is matched:
// PromQL selectors and label_replace, Alertmanager matchers, rule templates. Matching runs on
// re2js, a port of RE2/Go regexp with linear-time matching, so no pattern can backtrack for
// seconds (JS RegExp ran `(a+)+b` on 48 characters for over 30 s) and patterns mean what they
// mean in Prometheus: `.` stops at `\n`, `\d` is ASCII, `\pL`, `[[:alpha:]]`, `\Q…\E`, `\z`,
// code points rather than UTF-16 units, and back-references or look-around are refused.
//
// Prometheus 2.42 and Alertmanager 0.25 are built with Go 1.19; re2js follows a newer Go, which
// also accepts `(?<name>…)` and knows more Unicode classes. `goCompile` refuses those two the
// way Go 1.19 does, with Go's error text, so an expression valid here is valid there.

import { RE2JS, RE2JSSyntaxException } from "re2js";

/** Go's *syntax.Error: the message is `error parsing regexp: CODE: \`EXPR\``, as Go prints it. */
export class RE2SyntaxError extends SyntaxError {
  constructor(
    readonly code: string,
    readonly expr: string,
  ) {
    super(`error parsing regexp: ${code}: \`${expr}\``);
    this.name = "RE2SyntaxError";
  }
}

/** `\p{…}` names Go 1.19 knows (Unicode 13 categories and scripts, and Any): read from Prometheus 2.42. */
const GO119_UNICODE_CLASSES = new Set(
  `Adlam Ahom Anatolian_Hieroglyphs Any Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak
  Bengali Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid C Canadian_Aboriginal Carian
  Caucasian_Albanian Cc Cf Chakma Cham Cherokee Chorasmian Co Common Coptic Cs Cuneiform Cypriot
  Cyrillic Deseret Devanagari Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs Elbasan Elymaic
  Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi Gurmukhi Han Hangul
  Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic Inherited Inscriptional_Pahlavi
  Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kayah_Li Kharoshthi Khitan_Small_Script
  Khmer Khojki Khudawadi L Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Ll Lm Lo Lt Lu Lycian
  Lydian M Mahajani Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Mc Me Medefaidrin
  Meetei_Mayek Mende_Kikakui Meroitic_Cursive Meroitic_Hieroglyphs Miao Mn Modi Mongolian Mro
  Multani Myanmar N Nabataean Nandinagari Nd New_Tai_Lue Newa Nko Nl No Nushu
  Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic Old_North_Arabian Old_Permic
  Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Oriya Osage Osmanya P Pahawh_Hmong
  Palmyrene Pau_Cin_Hau Pc Pd Pe Pf Phags_Pa Phoenician Pi Po Ps Psalter_Pahlavi Rejang Runic S
  Samaritan Saurashtra Sc Sharada Shavian Siddham SignWriting Sinhala Sk Sm So Sogdian
  Sora_Sompeng Soyombo Sundanese Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet
  Takri Tamil Tangut Telugu Thaana Thai Tibetan Tifinagh Tirhuta Ugaritic Vai Wancho Warang_Citi
  Yezidi Yi Z Zanabazar_Square Zl Zp Zs`.split(/\s+/),
);

const PERL_OP = "invalid or unsupported Perl syntax";
const CHAR_RANGE = "invalid character class range";

/** A place where Go 1.19 stops with an error that re2js (newer Go) would not raise. */
interface Divergence {
  at: number;
  length: number;
  code: string;
  /** The text Go 1.19 quotes. */
  text: string;
  /** What replaces expr[at, at+length] so that re2js fails right there, and its error's Expr. */
  probe(sentinel: string): { replacement: string; expr: string };
}

/**
 * The first `(?<` that opens a group (Go 1.19 has no `(?<name>`, and reads `(?<=`/`(?<!` the same
 * way) or the first `\p{Name}` Go 1.19 does not know, found by reading the expression the way Go's
 * parser tokenizes it: `\Q…\E` literals, escapes, character classes with `[:name:]` and `(?P<n>`.
 */
function go119Divergence(expr: string): Divergence | undefined {
  let i = 0;
  const n = expr.length;
  const unicodeClass = (at: number): Divergence | "ok" | "stop" => {
    // expr[at] is `\`, expr[at+1] is p or P.
    let end: number;
    let name: string;
    if (expr[at + 2] === "{") {
      const close = expr.indexOf("}", at + 3);
      if (close < 0) return "stop"; // an error either way
      end = close + 1;
      name = expr.slice(at + 3, close);
    } else {
      const cp = expr.codePointAt(at + 2);
      if (cp === undefined) return "stop";
      end = at + 2 + (cp > 0xffff ? 2 : 1);
      name = expr.slice(at + 2, end);
    }
    if (name.startsWith("^")) name = name.slice(1);
    if (GO119_UNICODE_CLASSES.has(name)) return "ok";
    const text = expr.slice(at, end);
    return {
      at,
      length: end - at,
      code: CHAR_RANGE,
      text,
      probe: (s) => ({ replacement: `\\p{${s}}`, expr: `\\p{${s}}` }),
    };
  };
  while (i < n) {
    const c = expr[i];
    if (c === "\\") {
      const d = expr[i + 1];
      if (d === "Q") {
        const e = expr.indexOf("\\E", i + 2);
        i = e < 0 ? n : e + 2;
      } else if (d === "p" || d === "P") {
        const r = unicodeClass(i);
        if (r === "stop") return undefined;
        if (r !== "ok") return r;
        i = skipUnicodeClass(expr, i);
      } else {
        i += 2;
      }
      continue;
    }
    if (c === "[") {
      // Go's parseClass: an optional ^, then a `]` in first position is a literal.
      i++;
      if (expr[i] === "^") i++;
      let first = true;
      while (i < n && (expr[i] !== "]" || first)) {
        first = false;
        if (expr.startsWith("[:", i)) {
          const e = expr.indexOf(":]", i + 2);
          if (e >= 0) {
            i = e + 2;
            continue;
          }
        }
        if (expr[i] === "\\" && (expr[i + 1] === "p" || expr[i + 1] === "P")) {
          const r = unicodeClass(i);
          if (r === "stop") return undefined;
          if (r !== "ok") return r;
          i = skipUnicodeClass(expr, i);
          continue;
        }
        i += expr[i] === "\\" ? 2 : 1;
      }
      i++; // the closing ]
      continue;
    }
    if (c === "(" && expr[i + 1] === "?") {
      if (expr[i + 2] === "P" && expr[i + 3] === "<" && n - i > 4) {
        const e = expr.indexOf(">", i);
        if (e < 0) return undefined; // invalid named capture either way
        i = e + 1;
        continue;
      }
      if (expr[i + 2] === "<") {
        return {
          at: i + 2,
          length: 1,
          code: PERL_OP,
          text: "(?<",
          probe: (s) => ({ replacement: s, expr: `(?${s}` }),
        };
      }
      i += 2;
      continue;
    }
    i++;
  }
  return undefined;
}

function skipUnicodeClass(expr: string, at: number): number {
  if (expr[at + 2] === "{") return expr.indexOf("}", at + 3) + 1;
  const cp = expr.codePointAt(at + 2) ?? 0;
  return at + 2 + (cp > 0xffff ? 2 : 1);
}

/** A private-use character absent from `expr`: no valid name, flag or class can hold it. */
function sentinelFor(expr: string): string {
  for (let cp = 0xe000; cp <= 0xf8ff; cp++) {
    const s = String.fromCharCode(cp);
    if (!expr.includes(s)) return s;
  }
  return "\u{F0000}";
}

function toGoError(err: unknown, expr: string): unknown {
  if (!(err instanceof RE2JSSyntaxException)) return err;
  const code = err.error;
  // Go quotes the whole expression for its size limits and nothing for a trailing backslash.
  const quoted = err.input ?? (code.startsWith("expression") ? expr : "");
  return new RE2SyntaxError(code, quoted);
}

/**
 * Go 1.19's regexp.Compile(expr) (leftmost-first, Perl syntax), on re2js. Throws RE2SyntaxError
 * with the message Go would print.
 */
export function goCompile(expr: string): RE2JS {
  const odd = go119Divergence(expr);
  if (odd !== undefined) {
    // re2js would accept the construct, but only if nothing before it is wrong: replace it by
    // something re2js refuses right there and see whether that is the error it reports.
    const sentinel = sentinelFor(expr);
    const { replacement, expr: sentinelExpr } = odd.probe(sentinel);
    try {
      RE2JS.compile(expr.slice(0, odd.at) + replacement + expr.slice(odd.at + odd.length));
    } catch (err) {
      if (err instanceof RE2JSSyntaxException && err.input === sentinelExpr)
        throw new RE2SyntaxError(odd.code, odd.text);
      // An earlier error: the original expression reports it below.
    }
  }
  try {
    return RE2JS.compile(expr);
  } catch (err) {
    throw toGoError(err, expr);
  }
}

// ---------------------------------------------------------------------------------------------
// Go's regexp.Expand and ReplaceAllString

const NAME_CHAR = /[\p{L}\p{Nd}_]/u;

/**
 * Go's regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`. A name is the longest run of
 * letters, digits and `_` (so `$1x` is the group named `1x`), a number with a leading zero is a
 * name, a missing or unmatched group expands to "", and a malformed `$` is kept as is.
 */
export function goExpand(template: string, group: (ref: number | string) => string | undefined): string {
  let out = "";
  let rest = template;
  for (;;) {
    const dollar = rest.indexOf("$");
    if (dollar < 0) break;
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith("$")) {
      out += "$";
      rest = rest.slice(1);
      continue;
    }
    const brace = rest.startsWith("{");
    let i = brace ? 1 : 0;
    while (i < rest.length) {
      const cp = rest.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      if (!NAME_CHAR.test(ch)) break;
      i += ch.length;
    }
    const name = rest.slice(brace ? 1 : 0, i);
    if (name === "" || (brace && rest[i] !== "}")) {
      out += "$";
      continue;
    }
    rest = rest.slice(brace ? i + 1 : i);
    // Go stops reading a number once it reaches 1e8, so ten digits or more make a name.
    const isNum = /^[0-9]{1,9}$/.test(name) && !(name.length > 1 && name.startsWith("0"));
    out += group(isNum ? Number(name) : name) ?? "";
  }
  return out + rest;
}

/** A compiled Go regexp, unanchored, as regexp.Compile(expr) gives it (templates use these). */
export class GoRegexp {
  constructor(
    readonly source: string,
    readonly re: RE2JS,
  ) {}

  /** regexp.MatchString: a match anywhere in `s`. */
  matchString(s: string): boolean {
    return this.re.test(s);
  }

  /**
   * regexp.ReplaceAllString: non-overlapping matches left to right, `$` references expanded as
   * by goExpand, and an empty match right after a previous match is not replaced (Go's rule, which
   * differs from JS's String.replace: `a*` on "baaac" gives "XbXcX", not "XbXXcX").
   */
  replaceAllString(src: string, repl: string): string {
    const m = this.re.matcher(src);
    const names = this.re.namedGroups();
    const ngroups = this.re.groupCount();
    let out = "";
    let lastMatchEnd = 0;
    let searchPos = 0;
    while (searchPos <= src.length) {
      if (!m.find(searchPos)) break;
      const start = m.start();
      const end = m.end();
      out += src.slice(lastMatchEnd, start);
      if (end > lastMatchEnd || start === 0) {
        out += goExpand(repl, (ref) => {
          const idx = typeof ref === "number" ? ref : Object.hasOwn(names, ref) ? names[ref] : undefined;
          if (idx === undefined || idx > ngroups) return undefined;
          return m.group(idx) ?? undefined;
        });
      }
      lastMatchEnd = end;
      // Advance by one code point at least (Go steps one UTF-8 rune).
      const cp = searchPos < src.length ? (src.codePointAt(searchPos) as number) : 0;
      const width = searchPos < src.length ? (cp > 0xffff ? 2 : 1) : 0;
      if (searchPos + width > end) searchPos += width;
      else if (searchPos + 1 > end) searchPos++;
      else searchPos = end;
    }
    return out + src.slice(lastMatchEnd);
  }
}

// ---------------------------------------------------------------------------------------------
// Anchored patterns: Prometheus's label matchers and label_replace, Alertmanager's matchers

/** A pattern matched against a whole value, as Prometheus and Alertmanager compile `^(?:p)$`. */
export interface AnchoredRegex {
  /** The pattern as written, without the anchors. */
  readonly source: string;
  /** True when the whole of `value` matches (a bound function: it may be passed around). */
  readonly test: (value: string) => boolean;
  /** The whole-value match with its groups (Go's FindStringSubmatch), or null. */
  exec(value: string): RegExpExecArray | null;
  /** Go's Expand of `template` with the groups of a match from exec. */
  expand(template: string, match: RegExpExecArray): string;
}

class Anchored implements AnchoredRegex {
  private compiled: RE2JS | undefined;
  readonly test: (value: string) => boolean;

  constructor(
    readonly source: string,
    compiled: RE2JS | undefined,
    fast: ((value: string) => boolean) | undefined,
  ) {
    this.compiled = compiled;
    if (fast !== undefined) this.test = fast;
    else {
      const re = this.re();
      // test() on `^(?:p)$` is a whole-value match; it runs on re2js's DFA without captures
      // and measured 2-3x faster than testExact() on the same program.
      this.test = (value) => re.test(value);
    }
  }

  private re(): RE2JS {
    this.compiled ??= goCompile(`^(?:${this.source})$`);
    return this.compiled;
  }

  exec(value: string): RegExpExecArray | null {
    return this.re().exec(value) as RegExpExecArray | null;
  }

  expand(template: string, match: RegExpExecArray): string {
    return goExpand(template, (ref) => (typeof ref === "number" ? match[ref] : match.groups?.[ref]));
  }
}

// ---------------------------------------------------------------------------------------------
// Fast paths for the patterns selectors use most. re2js's general path costs 40-100 ms per
// 100,000 label values where JS's RegExp took 1-4 ms (bench/regex.ts), so the common forms are
// matched with plain string logic instead, in a grammar where RE2's meaning is exactly that:
//   L            the value equals the literal L
//   L1|L2|…      the value is one of the Li (a Set; leftmost-first order cannot change a whole match)
//   L.*  .*L  .*L.*   starts with / ends with / contains L and has no `\n` anywhere (`.`
//                excludes only `\n`; L itself must not contain one)
//   5..  5[0-9]{2}  [45]\d\d   one code point per item: a literal, `.` (any but `\n`), an
//                ASCII class `[…]`/`[^…]`, `\d \w \s \D \W \S`, each optionally repeated `{n}`
//   A|B|…        any of the above as alternatives, and one group around the whole pattern
//   .*(L1|L2).*  (and the forms with one `.*`): contains / ends / starts with one of the Li, no
//                `\n` (`.*(a|b)` is `.*a|.*b`)
//   (?i)L1|L2    ASCII literals compared case-folded: RE2's simple folding of ASCII adds only
//                K (U+212A) to k and ſ (U+017F) to s (checked over every code point in the test)
// No other flags, repetition, anchors or groups: anything else goes to re2js.
// Literals are any character but `\.+*?()|[]{}^$`, or `\` before ASCII punctuation (Go reads an
// escaped non-alphanumeric ASCII character as itself). RE2's `\d \w \s` are ASCII ([0-9],
// [0-9A-Za-z_], [\t\n\f\r ]), negated classes do match `\n` (Go's ClassNL), and re2js matches
// UTF-16 text by code point with a lone surrogate as one character: the walker does the same.
// The property test in test/re2.test.ts checks every form against re2js on random values.

/** One code point: a literal, any but `\n`, or an ASCII set (negated: also every non-ASCII). */
interface Item {
  readonly kind: typeof LIT | typeof ANY | typeof SET;
  readonly cp: number;
  readonly set: Uint8Array | undefined;
  readonly neg: boolean;
}
const LIT = 0;
const ANY = 1;
const SET = 2;
const lit = (cp: number): Item => ({ kind: LIT, cp, set: undefined, neg: false });
const ANY_ITEM: Item = { kind: ANY, cp: -1, set: undefined, neg: false };
const setItem = (set: Uint8Array, neg: boolean): Item => ({ kind: SET, cp: -1, set, neg });
type Tok = Item | ".*" | "|";

const MAX_ITEMS = 1000;
const PERL_SETS: Record<string, string> = { d: "0-9", w: "0-9A-Za-z_", s: "\t\n\f\r " };

function isAsciiPunct(c: number): boolean {
  return c < 0x80 && !(c >= 0x30 && c <= 0x39) && !(c >= 0x41 && c <= 0x5a) && !(c >= 0x61 && c <= 0x7a);
}

function asciiSet(spec: string): Uint8Array {
  const set = new Uint8Array(128);
  for (let i = 0; i < spec.length; i++) {
    const lo = spec.charCodeAt(i);
    if (spec[i + 1] === "-" && i + 2 < spec.length) {
      for (let c = lo; c <= spec.charCodeAt(i + 2); c++) set[c] = 1;
      i += 2;
    } else set[lo] = 1;
  }
  return set;
}

/** Reads `[…]` at p[i] (ASCII members only); returns the item and the index after `]`. */
function readClass(p: string, i: number): [Item, number] | undefined {
  const set = new Uint8Array(128);
  let j = i + 1;
  const neg = p[j] === "^";
  if (neg) j++;
  if (p[j] === "]") return undefined; // a literal `]` first: rare, left to re2js
  /** The class character at j: its code and the index after it, or a Perl class name. */
  const char = (k: number): [number, number] | [string, number] | undefined => {
    const c = p.charCodeAt(k);
    if (Number.isNaN(c) || c >= 0x80 || c === 0x5b) return undefined; // non-ASCII, `[:name:]`
    if (c !== 0x5c) return [c, k + 1];
    const d = p.charCodeAt(k + 1);
    if (isAsciiPunct(d)) return [d, k + 2];
    const perl = PERL_SETS[p.charAt(k + 1)];
    return perl === undefined ? undefined : [perl, k + 2];
  };
  while (p[j] !== "]") {
    const a = char(j);
    if (a === undefined) return undefined;
    if (typeof a[0] === "string") {
      const perl = asciiSet(a[0]);
      for (let c = 0; c < 128; c++) if (perl[c] === 1) set[c] = 1;
      j = a[1];
      continue;
    }
    const [lo, next] = a;
    j = next;
    // Go: `x-y` is a range unless the `-` is last ([a-] holds a and -).
    if (p[j] === "-" && p[j + 1] !== "]" && p[j + 1] !== undefined) {
      const b = char(j + 1);
      if (b === undefined || typeof b[0] === "string" || b[0] < lo) return undefined;
      for (let c = lo; c <= b[0]; c++) set[c] = 1;
      j = b[1];
    } else set[lo] = 1;
  }
  return [setItem(set, neg), j + 1];
}

function tokenize(p: string): Tok[] | undefined {
  const toks: Tok[] = [];
  let repeated = false; // Go refuses a count right after a count (`a{2}{3}`)
  for (let i = 0; i < p.length; ) {
    const wasRepeated = repeated;
    repeated = false;
    const cp = p.codePointAt(i) as number;
    if (cp >= 0xd800 && cp <= 0xdfff) return undefined; // lone surrogate
    const c = String.fromCodePoint(cp);
    if (c === "\\") {
      const d = p.charAt(i + 1);
      if (d !== "" && isAsciiPunct(d.charCodeAt(0))) toks.push(lit(d.charCodeAt(0)));
      else if (PERL_SETS[d.toLowerCase()] !== undefined && /[dwsDWS]/.test(d))
        toks.push(setItem(asciiSet(PERL_SETS[d.toLowerCase()] as string), d !== d.toLowerCase()));
      else return undefined;
      i += 2;
    } else if (c === "[") {
      const r = readClass(p, i);
      if (r === undefined) return undefined;
      toks.push(r[0]);
      i = r[1];
    } else if (c === "{") {
      // An exact count after a one-character item: the item n times. Go reads `{01}` (a leading
      // zero) as literal text, not a count: left to re2js, as is every other form of `{`.
      const m = /^\{(0|[1-9]\d{0,3})\}/.exec(p.slice(i, i + 6));
      const prev = toks[toks.length - 1];
      if (m === null || wasRepeated || prev === undefined || typeof prev === "string") return undefined;
      const n = Number(m[1]);
      if (n > 1000 || toks.length + n > MAX_ITEMS) return undefined;
      for (let k = 1; k < n; k++) toks.push(prev);
      if (n === 0) toks.pop();
      i += m[0].length;
      repeated = true;
    } else if (c === ".") {
      if (p[i + 1] === "*") {
        toks.push(".*");
        i += 2;
      } else {
        toks.push(ANY_ITEM);
        i++;
      }
    } else if (c === "|") {
      toks.push("|");
      i++;
    } else if ("+*?()]}^$".includes(c)) return undefined;
    else {
      toks.push(lit(cp));
      i += c.length;
    }
    if (toks.length > MAX_ITEMS) return undefined;
  }
  return toks;
}

function literalOf(toks: readonly Tok[]): string | undefined {
  let s = "";
  for (const t of toks) {
    if (typeof t === "string" || t.kind !== LIT) return undefined;
    s += String.fromCodePoint(t.cp);
  }
  return s;
}

function sequenceMatcher(items: readonly Item[]): (value: string) => boolean {
  const n = items.length;
  const kinds = Uint8Array.from(items, (it) => it.kind);
  const cps = Int32Array.from(items, (it) => it.cp);
  const sets = items.map((it) => it.set);
  const negs = items.map((it) => it.neg);
  return (v) => {
    // Each item takes one code point: one or two UTF-16 units.
    if (v.length < n || v.length > 2 * n) return false;
    let i = 0;
    for (let k = 0; k < n; k++) {
      if (i >= v.length) return false;
      const cp = v.codePointAt(i) as number;
      const kind = kinds[k];
      if (kind === LIT) {
        if (cp !== cps[k]) return false;
      } else if (kind === ANY) {
        if (cp === 10) return false;
      } else if (cp < 128 ? ((sets[k] as Uint8Array)[cp] === 1) === negs[k] : !negs[k]) return false;
      i += cp > 0xffff ? 2 : 1;
    }
    return i === v.length;
  };
}

/** One alternative: a literal, a code-point sequence, or `.*` around a literal. */
function alternative(toks: readonly Tok[]): { lit: string } | ((value: string) => boolean) | undefined {
  const lit = literalOf(toks);
  if (lit !== undefined) return { lit };
  const stars = toks.filter((t) => t === ".*").length;
  if (stars === 0) return sequenceMatcher(toks as Item[]);
  if (toks.length === 1) return (v) => !v.includes("\n");
  const leading = toks[0] === ".*";
  const trailing = toks[toks.length - 1] === ".*";
  const l = literalOf(toks.slice(leading ? 1 : 0, trailing ? -1 : undefined));
  if (l === undefined || l.includes("\n") || stars !== Number(leading) + Number(trailing)) return undefined;
  if (leading && trailing) return (v) => v.includes(l) && !v.includes("\n");
  if (leading) return (v) => v.endsWith(l) && !v.includes("\n");
  return (v) => v.startsWith(l) && !v.includes("\n");
}

/** The literal alternatives of `p` (`a|b|`), or undefined when it holds anything else. */
function literalAlternatives(p: string): string[] | undefined {
  const toks = tokenize(p);
  if (toks === undefined) return undefined;
  const lits: string[] = [];
  let start = 0;
  for (let i = 0; i <= toks.length; i++) {
    if (i < toks.length && toks[i] !== "|") continue;
    const lit = literalOf(toks.slice(start, i));
    if (lit === undefined) return undefined;
    lits.push(lit);
    start = i + 1;
  }
  return lits;
}

/**
 * RE2's simple case folding restricted to ASCII: an ASCII letter's fold orbit is its two cases,
 * plus U+212A KELVIN SIGN for k and U+017F LONG S for s; other ASCII characters fold to
 * themselves and nothing else folds to ASCII (test/re2.test.ts checks this over every code
 * point against re2js). Returns the value with every character folded to lower case, or
 * undefined when it holds a character that cannot fold to ASCII.
 */
function foldAscii(v: string): string | undefined {
  let out = "";
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x80) out += c >= 0x41 && c <= 0x5a ? String.fromCharCode(c + 32) : v.charAt(i);
    else if (c === 0x212a) out += "k";
    else if (c === 0x17f) out += "s";
    else return undefined;
  }
  return out;
}

/** A provably equivalent plain-string test for `^(?:p)$`, or undefined. */
export function fastMatcher(pattern: string): ((value: string) => boolean) | undefined {
  // `(?i)` then ASCII literal alternatives: compare case-folded.
  const ci = /^\(\?i\)(.*)$/s.exec(pattern) ?? /^\(\?i:([^()]*)\)$/.exec(pattern);
  if (ci) {
    const body = ci[1] as string;
    const lits = literalAlternatives(/^\((?:\?:)?([^()]*)\)$/.exec(body)?.[1] ?? body);
    if (lits === undefined || lits.some((l) => foldAscii(l) === undefined)) return undefined;
    const set = new Set(lits.map((l) => foldAscii(l) as string));
    // Folding keeps the length (every character involved is one UTF-16 unit): check it first.
    const lengths = new Set(lits.map((l) => l.length));
    return (v) => {
      if (!lengths.has(v.length)) return false;
      const f = foldAscii(v);
      return f !== undefined && set.has(f);
    };
  }
  // `.*(L1|L2).*`, `.*(L1|L2)`, `(L1|L2).*`: contains / ends with / starts with one of the Li,
  // and no `\n` (`.*(a|b)` is `.*a|.*b`).
  const around = /^(\.\*)?\((?:\?:)?([^()]*)\)(\.\*)?$/s.exec(pattern);
  if (around && (around[1] !== undefined || around[3] !== undefined)) {
    const lits = literalAlternatives(around[2] as string);
    if (lits === undefined || lits.some((l) => l.includes("\n"))) return undefined;
    const has =
      around[1] !== undefined && around[3] !== undefined
        ? (v: string, l: string) => v.includes(l)
        : around[1] !== undefined
          ? (v: string, l: string) => v.endsWith(l)
          : (v: string, l: string) => v.startsWith(l);
    return (v) => !v.includes("\n") && lits.some((l) => has(v, l));
  }
  let p = pattern;
  // One group around the whole pattern does not change what matches.
  const inner = /^\((?:\?:)?([^()]*)\)$/.exec(p);
  if (inner) p = inner[1] as string;
  const toks = tokenize(p);
  if (toks === undefined) return undefined;
  const alts: Array<{ lit: string } | ((value: string) => boolean)> = [];
  let start = 0;
  for (let i = 0; i <= toks.length; i++) {
    if (i < toks.length && toks[i] !== "|") continue;
    const alt = alternative(toks.slice(start, i));
    if (alt === undefined) return undefined;
    alts.push(alt);
    start = i + 1;
  }
  const lits = alts.flatMap((a) => (typeof a === "function" ? [] : [a.lit]));
  const tests = alts.filter((a): a is (value: string) => boolean => typeof a === "function");
  if (tests.length === 0) {
    if (lits.length === 1) {
      const lit = lits[0] as string;
      return (v) => v === lit;
    }
    const set = new Set(lits);
    return (v) => set.has(v);
  }
  if (lits.length === 0 && tests.length === 1) return tests[0];
  const set = new Set(lits);
  return (v) => {
    if (set.has(v)) return true;
    for (const t of tests) if (t(v)) return true;
    return false;
  };
}

// ---------------------------------------------------------------------------------------------
// Compilation with a bounded cache

const CACHE_LIMIT = 256;
const CACHE_MAX_PATTERN = 4096;
const cache = new Map<string, AnchoredRegex | GoRegexp>();

function cached<T extends AnchoredRegex | GoRegexp>(key: string, make: () => T): T {
  const hit = cache.get(key);
  if (hit !== undefined) {
    // Most recently used last: the oldest entry is the one evicted.
    cache.delete(key);
    cache.set(key, hit);
    return hit as T;
  }
  const made = make();
  if (key.length <= CACHE_MAX_PATTERN) {
    if (cache.size >= CACHE_LIMIT) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(key, made);
  }
  return made;
}

/**
 * Go's regexp.Compile("^(?:" + pattern + ")$"): what label_replace and Alertmanager's matchers
 * compile. Throws RE2SyntaxError.
 */
export function compileRE2(pattern: string): AnchoredRegex {
  return cached(`a${pattern}`, () => {
    const fast = fastMatcher(pattern);
    // The fast grammar only holds valid expressions, so nothing needs compiling until exec.
    return new Anchored(pattern, fast ? undefined : goCompile(`^(?:${pattern})$`), fast);
  });
}

/**
 * Prometheus 2.42's labels.NewFastRegexMatcher: compileRE2, and the pattern must also parse on
 * its own (so `a)(b`, which the anchored form accepts, is refused as Prometheus refuses it).
 * Only a `)` can make the two differ. Throws RE2SyntaxError.
 */
export function compilePromRegex(pattern: string): AnchoredRegex {
  return cached(`p${pattern}`, () => {
    const re = compileRE2(pattern);
    if (pattern.includes(")")) goCompile(pattern);
    return re;
  });
}

/** Go's regexp.Compile(expr), unanchored. Throws RE2SyntaxError. */
export function compileGoRegexp(expr: string): GoRegexp {
  return cached(`u${expr}`, () => new GoRegexp(expr, goCompile(expr)));
}
