// RE2 (Go regexp) patterns as fully anchored JS regexes. Node 20 lacks inline modifier groups, so
// `(?i)`, `(?i:…)` and `(?s)` anywhere in a pattern are rewritten: case-insensitive letters become
// `[xX]` classes, and `.` becomes `[^\n]` (RE2's default) or `[\s\S]` under `s`. `(?P<n>…)` → `(?<n>…)`.

interface Flags {
  i: boolean;
  s: boolean;
}

const cache = new Map<string, RegExp>();
const CACHE_LIMIT = 1000;

function swapCase(c: string): string {
  const lower = c.toLowerCase();
  return lower === c ? c.toUpperCase() : lower;
}

function isLetter(c: string): boolean {
  return c.toLowerCase() !== c.toUpperCase();
}

/** Reads a character class starting at `start` (the `[`); returns its end (after `]`) and its JS text. */
function readClass(p: string, start: number, ci: boolean): [number, string] {
  let i = start + 1;
  let body = "";
  if (p[i] === "^") {
    body += "^";
    i++;
  }
  const extra: string[] = [];
  let first = true;
  while (i < p.length && (p[i] !== "]" || first)) {
    first = false;
    const c = p[i] as string;
    if (c === "[" && p[i + 1] === ":") {
      // POSIX class [:alpha:] etc.
      const end = p.indexOf(":]", i + 2);
      if (end < 0) throw new SyntaxError("missing closing :]");
      body += posixClass(p.slice(i + 2, end));
      i = end + 2;
      continue;
    }
    if (c === "\\") {
      body += p.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (c === "]") {
      body += "\\]";
      i++;
      continue;
    }
    // A range x-y of letters of one case also admits the other case's range.
    if (ci && p[i + 1] === "-" && p[i + 2] !== undefined && p[i + 2] !== "]") {
      const hi = p[i + 2] as string;
      body += `${c}-${hi}`;
      if (isLetter(c) && isLetter(hi)) extra.push(`${swapCase(c)}-${swapCase(hi)}`);
      i += 3;
      continue;
    }
    body += c === "[" ? "\\[" : c;
    if (ci && isLetter(c)) extra.push(swapCase(c));
    i++;
  }
  if (i >= p.length) throw new SyntaxError("missing closing ]");
  return [i + 1, `[${body}${extra.join("")}]`];
}

function posixClass(name: string): string {
  const classes: Record<string, string> = {
    alnum: "0-9A-Za-z",
    alpha: "A-Za-z",
    ascii: "\\x00-\\x7F",
    blank: "\\t ",
    cntrl: "\\x00-\\x1F\\x7F",
    digit: "0-9",
    graph: "!-~",
    lower: "a-z",
    print: " -~",
    punct: "!-\\/:-@\\[-`{-~",
    space: "\\t\\n\\v\\f\\r ",
    upper: "A-Z",
    word: "0-9A-Za-z_",
    xdigit: "0-9A-Fa-f",
  };
  const c = classes[name];
  if (c === undefined) throw new SyntaxError(`invalid character class range [:${name}:]`);
  return c;
}

/** Translates RE2 syntax to an equivalent JS pattern (unanchored). */
export function translateRE2(p: string): string {
  let out = "";
  const stack: Flags[] = [];
  let flags: Flags = { i: false, s: false };
  let i = 0;
  while (i < p.length) {
    const c = p[i] as string;
    if (c === "\\") {
      const next = p[i + 1];
      if (next === undefined) throw new SyntaxError("trailing backslash at end of expression");
      if (next === "Q") {
        // \Q...\E: literal text.
        const end = p.indexOf("\\E", i + 2);
        const lit = p.slice(i + 2, end < 0 ? p.length : end);
        for (const ch of lit) out += literal(ch, flags.i);
        i = end < 0 ? p.length : end + 2;
        continue;
      }
      if (next === "p" || next === "P") {
        // Unicode classes: \pL or \p{Greek}, copied whole (JS wants the braces).
        const m = /^\{[A-Za-z_]+\}|^[A-Za-z]/.exec(p.slice(i + 2));
        if (!m) throw new SyntaxError("invalid character class range");
        out += m[0].startsWith("{") ? `\\${next}${m[0]}` : `\\${next}{${m[0]}}`;
        i += 2 + m[0].length;
        continue;
      }
      if (next === "A") out += "^";
      else if (next === "z") out += "$(?![\\s\\S])";
      else out += `\\${next}`;
      i += 2;
      continue;
    }
    if (c === "[") {
      const [end, cls] = readClass(p, i, flags.i);
      out += cls;
      i = end;
      continue;
    }
    if (c === "(") {
      if (p[i + 1] === "?") {
        const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(p.slice(i));
        if (named) {
          out += `(?<${named[1]}>`;
          stack.push(flags);
          i += named[0].length;
          continue;
        }
        const mod = /^\(\?([imsU]*)(?:-([imsU]*))?([:)])/.exec(p.slice(i));
        if (mod) {
          const next: Flags = { ...flags };
          for (const f of mod[1] ?? "") if (f === "i" || f === "s") next[f] = true;
          for (const f of mod[2] ?? "") if (f === "i" || f === "s") next[f] = false;
          if (mod[3] === ")") {
            flags = next;
          } else {
            stack.push(flags);
            flags = next;
            out += "(?:";
          }
          i += mod[0].length;
          continue;
        }
        throw new SyntaxError(`invalid or unsupported Perl syntax: ${JSON.stringify(p.slice(i, i + 3))}`);
      }
      stack.push(flags);
      out += "(";
      i++;
      continue;
    }
    if (c === ")") {
      const prev = stack.pop();
      if (prev === undefined) throw new SyntaxError("unexpected )");
      flags = prev;
      out += ")";
      i++;
      continue;
    }
    if (c === ".") {
      out += flags.s ? "[\\s\\S]" : "[^\\n]";
      i++;
      continue;
    }
    out += literal(c, flags.i);
    i++;
  }
  if (stack.length > 0) throw new SyntaxError("missing closing )");
  return out;
}

function literal(c: string, ci: boolean): string {
  return ci && isLetter(c) ? `[${c}${swapCase(c)}]` : c;
}

/** Compiles an RE2 pattern fully anchored (`^(?:re)$`), as Prometheus does. Throws SyntaxError. */
export function compileRE2(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const body = translateRE2(pattern);
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${body})$`, "u");
  } catch {
    // Unicode mode rejects some escapes RE2 accepts (e.g. `\-` outside a class).
    re = new RegExp(`^(?:${body})$`);
  }
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(pattern, re);
  return re;
}
