// Turns one raw log line into a message body plus its level: Loghub-style `<Field>` formats for
// plain text, pino JSON lines (message in `msg`, numeric `level`), or the bare line.

/** A compiled plain-text log format such as `<Date> <Time> <Level> <Component>: <Content>`. */
export interface LogFormat {
  /** The format string as given. */
  source: string;
  /** Field names in order of appearance (without the angle brackets). */
  fields: string[];
  /** `^…$` regex with capture group i+1 for field i (the format's own groups made non-capturing). */
  regex: RegExp;
  /** Index into `fields` of `Content` (the message body), or -1 when the format has none. */
  contentIndex: number;
  /** Index into `fields` of `Level`, or -1. */
  levelIndex: number;
  /**
   * The separators between fields when they are plain text (the common case), for a scan that
   * needs no regex; undefined when the format uses regex syntax (`(\[<PID>\])?`).
   */
  separators: Separator[] | undefined;
  /** Plain text the line must start with (before the first field), for the scan. */
  lead: Separator;
}

/** A literal separator: text parts, where " " stands for a run of whitespace (`\s+`). */
type Separator = string[];

const FIELD = /<([^<>]+)>/g;

/**
 * Compiles a Loghub log format. As in Loghub's benchmark, text between fields is a regex
 * fragment whose runs of spaces match any whitespace, and each field matches lazily (`.*?`), so a
 * field may hold spaces when the literal text after it pins where it ends.
 */
export function compileLogFormat(format: string): LogFormat {
  const fields: string[] = [];
  const literals: string[] = [];
  let re = "";
  let last = 0;
  for (const m of format.matchAll(FIELD)) {
    const lit = format.slice(last, m.index);
    literals.push(lit);
    re += fragment(lit);
    re += "(.*?)";
    fields.push(m[1] as string);
    last = m.index + m[0].length;
  }
  const tail = format.slice(last);
  literals.push(tail);
  re += fragment(tail);
  let separators: Separator[] | undefined;
  const plain = literals.map(plainText);
  // The scan handles fields separated by plain text, the last one running to the line end;
  // anything else goes through the regex.
  if (fields.length > 0 && plain.every((p) => p !== undefined) && tail === "") {
    separators = plain.slice(1, -1).map((p) => splitSpaces(p as string));
    if (separators.some((s) => s.length === 0)) separators = undefined; // adjacent fields: ambiguous
  }
  return {
    source: format,
    fields,
    regex: new RegExp(`^${re}$`),
    contentIndex: fields.indexOf("Content"),
    levelIndex: fields.indexOf("Level"),
    separators,
    lead: splitSpaces(plain[0] ?? ""),
  };
}

/** A literal fragment as regex: spaces → `\s+`, the fragment's own groups made non-capturing. */
function fragment(s: string): string {
  return s.replace(/ +/g, "\\s+").replace(/(^|[^\\])\((?!\?)/g, "$1(?:");
}

/** The text a fragment matches when it is plain (only escaped punctuation), else undefined. */
function plainText(s: string): string | undefined {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (c === "\\") {
      const d = s.charAt(i + 1);
      if (d === "" || /[A-Za-z0-9]/.test(d)) return undefined; // \s, \d, … are classes
      out += d;
      i++;
    } else if ("()[]{}?*+.|^$".includes(c)) return undefined;
    else out += c;
  }
  return out;
}

function splitSpaces(s: string): string[] {
  const parts: string[] = [];
  let lit = "";
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) === 32) {
      if (lit !== "") parts.push(lit);
      lit = "";
      if (parts[parts.length - 1] !== " ") parts.push(" ");
    } else lit += s.charAt(i);
  }
  if (lit !== "") parts.push(lit);
  return parts;
}

function isWs(c: number): boolean {
  return c <= 32 && (c === 32 || (c >= 9 && c <= 13));
}

/** Length of the match of `sep` at `at` in `text` (up to `end`), or -1. `\s+` parts are greedy, as in the regex. */
function matchSeparator(sep: Separator, text: string, at: number, end: number): number {
  let p = at;
  for (let k = 0; k < sep.length; k++) {
    const part = sep[k] as string;
    if (part === " ") {
      if (p >= end || !isWs(text.charCodeAt(p))) return -1;
      p++;
      while (p < end && isWs(text.charCodeAt(p))) p++;
    } else {
      if (p + part.length > end || !text.startsWith(part, p)) return -1;
      p += part.length;
    }
  }
  return p - at;
}

/**
 * Where each separator's literal next occurs in a text, so that searching a chunk of many lines
 * stays linear: `indexOf` is not bounded by the line's end, and a literal missing from most lines
 * (a format that does not fit the file) would otherwise be searched for to the chunk's end from
 * every line. `next[f]` is the first occurrence at or after some earlier search start (the text's
 * length when there is none), valid while `text` is the same.
 */
class LiteralSearch {
  text = "";
  readonly next: Int32Array;

  constructor(separators: number) {
    this.next = new Int32Array(separators).fill(-1);
  }

  /** Resets the positions when `text` is not the text they were found in. */
  use(text: string): void {
    if (text === this.text) return;
    this.text = text;
    this.next.fill(-1);
  }

  /** First occurrence of `lit` (separator f's) in text[from, end), or -1. */
  find(f: number, lit: string, from: number, end: number): number {
    let at = this.next[f] as number;
    if (at < from) {
      at = this.text.indexOf(lit, from);
      if (at < 0) at = this.text.length;
      this.next[f] = at;
    }
    return at + lit.length <= end ? at : -1;
  }
}

/**
 * Splits the line text[start, end) by a plain format without a regex. Each lazy field ends at the
 * first place its separator matches: with plain-text separators that is also where the regex's
 * backtracking settles (a later place only leaves less text for the rest), so both give the same
 * fields. Writes field boundaries into `bounds` (start, end per field); false when the line does
 * not match. `search` must have had `use(text)` called.
 */
function scanFields(
  lead: Separator,
  seps: Separator[],
  text: string,
  start: number,
  end: number,
  bounds: Int32Array,
  search: LiteralSearch,
): boolean {
  let pos = start;
  if (lead.length > 0) {
    const len = matchSeparator(lead, text, start, end);
    if (len < 0) return false;
    pos += len;
  }
  for (let f = 0; f < seps.length; f++) {
    const sep = seps[f] as Separator;
    const first = sep[0] as string;
    let q = pos;
    let len = -1;
    while (q < end) {
      if (first === " ") {
        while (q < end && !isWs(text.charCodeAt(q))) q++;
        if (q >= end) return false;
      } else {
        q = search.find(f, first, q, end);
        if (q < 0) return false;
      }
      len = matchSeparator(sep, text, q, end);
      if (len >= 0) break;
      q++;
    }
    if (len < 0) return false;
    bounds[2 * f] = pos;
    bounds[2 * f + 1] = q;
    pos = q + len;
  }
  bounds[2 * seps.length] = pos;
  bounds[2 * seps.length + 1] = end;
  return true;
}

/** Normalised name of a pino numeric level (10…60); other numbers become their decimal string. */
export function pinoLevelName(level: number): string {
  switch (level) {
    case 10:
      return "trace";
    case 20:
      return "debug";
    case 30:
      return "info";
    case 40:
      return "warn";
    case 50:
      return "error";
    case 60:
      return "fatal";
    default:
      return String(level);
  }
}

/** How lines are read: `pino` JSON, a Loghub format, or `auto` (JSON objects as pino, others bare). */
export type InputMode = { kind: "auto" } | { kind: "pino" } | { kind: "format"; format: LogFormat };

/**
 * Parses lines into message and level. One instance is reused for every line (`parse` fills
 * `message`, `level` and `matched`), so the hot path allocates nothing: the message is kept as a
 * range of the text parsed (`messageText`, `messageStart`, `messageEnd`), which the miner's
 * `observeRange` reads in place, and sliced only when `message` is read.
 */
export class LineParser {
  /** Its level (pino levels by name), or undefined when the line carries none. */
  level: string | undefined = undefined;
  /** False when the last line did not match the format or was not valid JSON in `pino` mode. */
  matched = true;
  /** The message body of the last parsed line is messageText[messageStart, messageEnd). */
  messageText = "";
  messageStart = 0;
  messageEnd = 0;
  private sliced: string | undefined = "";
  private readonly bounds: Int32Array;
  private readonly search: LiteralSearch;

  constructor(readonly mode: InputMode) {
    this.bounds = new Int32Array(mode.kind === "format" ? 2 * mode.format.fields.length : 0);
    this.search = new LiteralSearch(mode.kind === "format" ? (mode.format.separators?.length ?? 0) : 0);
  }

  /** The message body of the last parsed line. */
  get message(): string {
    if (this.sliced === undefined) this.sliced = this.messageText.slice(this.messageStart, this.messageEnd);
    return this.sliced;
  }

  private setRange(text: string, start: number, end: number): void {
    this.messageText = text;
    this.messageStart = start;
    this.messageEnd = end;
    this.sliced = undefined;
  }

  private setMessage(message: string): void {
    this.messageText = message;
    this.messageStart = 0;
    this.messageEnd = message.length;
    this.sliced = message;
  }

  /** Parses one line (without its newline). */
  parse(line: string): void {
    this.parseRange(line, 0, line.length);
  }

  /**
   * Parses the line text[start, end) (no newline inside). Lets a caller holding a whole chunk of
   * the file skip slicing out every line: the message stays a range of `text`.
   */
  parseRange(text: string, start: number, end: number): void {
    const mode = this.mode;
    // Loghub strips lines before matching; the common unpadded line needs no copy.
    if (end > start && (isWs(text.charCodeAt(start)) || isWs(text.charCodeAt(end - 1)))) {
      while (start < end && isWs(text.charCodeAt(start))) start++;
      while (end > start && isWs(text.charCodeAt(end - 1))) end--;
    }
    if (mode.kind === "format") {
      const f = mode.format;
      if (f.separators !== undefined) {
        this.search.use(text);
        if (scanFields(f.lead, f.separators, text, start, end, this.bounds, this.search)) {
          const b = this.bounds;
          const ci = f.contentIndex;
          if (ci >= 0) this.setRange(text, b[2 * ci] as number, b[2 * ci + 1] as number);
          else this.setRange(text, start, end);
          const li = f.levelIndex;
          if (li < 0) this.level = undefined;
          else {
            // Consecutive lines mostly share a level: keep the string instead of slicing a new one.
            const a = b[2 * li] as number;
            const e = b[2 * li + 1] as number;
            const prev = this.level;
            if (prev === undefined || prev.length !== e - a || !text.startsWith(prev, a))
              this.level = text.slice(a, e);
          }
          this.matched = true;
          return;
        }
        this.unmatched(text, start, end);
        return;
      }
      const line = text.slice(start, end);
      const m = f.regex.exec(line);
      if (m !== null) {
        this.setMessage(f.contentIndex >= 0 ? (m[f.contentIndex + 1] ?? "") : line);
        this.level = f.levelIndex >= 0 ? m[f.levelIndex + 1] : undefined;
        this.matched = true;
        return;
      }
      this.unmatched(text, start, end);
      return;
    }
    if (end > start && text.charCodeAt(start) === 123 /* { */ && this.parseJson(text.slice(start, end)))
      return;
    if (mode.kind === "pino") this.unmatched(text, start, end);
    else {
      this.setRange(text, start, end);
      this.level = undefined;
      this.matched = true;
    }
  }

  /** A line that fits no format keeps the whole line as its message, so it still gets a template. */
  private unmatched(text: string, start: number, end: number): void {
    this.setRange(text, start, end);
    this.level = undefined;
    this.matched = false;
  }

  private parseJson(line: string): boolean {
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      return false; // starts with { but is not JSON: the caller takes it as a plain line
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return false;
    const o = obj as Record<string, unknown>;
    const raw = o.msg ?? o.message;
    if (typeof raw === "string") this.setMessage(raw);
    else if (raw === undefined) {
      // pino logs a bare Error as `err` with no msg: its message is the best body there is.
      const err = o.err as Record<string, unknown> | undefined;
      this.setMessage(typeof err?.message === "string" ? err.message : "");
    } else this.setMessage(typeof raw === "object" ? JSON.stringify(raw) : String(raw));
    const lv = o.level;
    this.level = typeof lv === "number" ? pinoLevelName(lv) : typeof lv === "string" ? lv : undefined;
    this.matched = true;
    return true;
  }
}

/** Convenience for tests and one-off use: parse a single line with a format. */
export function parseLine(
  mode: InputMode,
  line: string,
): { message: string; level: string | undefined; matched: boolean } {
  const p = new LineParser(mode);
  p.parse(line);
  return { message: p.message, level: p.level, matched: p.matched };
}
