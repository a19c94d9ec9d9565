// Prometheus alert templating: the subset of Go's text/template that rule labels and annotations
// use. Written here because no npm package implements Go templates in JS (the npm list has only a
// wrapper around the Go binary and unrelated string interpolators); the semantics follow Go
// text/template with `missingkey=zero` and Prometheus 2.42's function map (template/template.go).

import { compileGoRegexp, type GoRegexp } from "../../tsdb/re2.js";
import { formatE, formatF, formatG } from "./gofmt.js";

/** What a rule template sees: `$labels`/`.Labels`, `$value`/`.Value`, `$externalLabels`, `$externalURL`. */
export interface TemplateData {
  labels: Record<string, string>;
  value: number;
  externalLabels?: Record<string, string>;
  externalURL?: string;
}

/** A template that does not parse, or fails while executing (like Go's `template: name:line: ...`). */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

type Val = string | number | boolean | Record<string, string> | undefined | null;

type Term =
  | { kind: "var"; name: string; fields: string[] }
  | { kind: "dot"; fields: string[] }
  | { kind: "string"; value: string }
  | { kind: "number"; value: number }
  | { kind: "ident"; name: string }
  | { kind: "paren"; pipe: Pipeline };

type Command = Term[];
type Pipeline = Command[];

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipe: Pipeline }
  | { kind: "if" | "with"; pipe: Pipeline; body: Node[]; else: Node[] };

/** A parsed template, reusable across alerts. */
export interface Template {
  readonly source: string;
  readonly nodes: Node[];
}

// ---------------------------------------------------------------------------------------------
// parsing

interface Action {
  text: string;
}

function split(source: string): Array<string | Action> {
  const out: Array<string | Action> = [];
  let i = 0;
  let text = "";
  while (i < source.length) {
    const open = source.indexOf("{{", i);
    if (open < 0) {
      text += source.slice(i);
      break;
    }
    text += source.slice(i, open);
    let start = open + 2;
    if (
      source.startsWith("- ", start) ||
      source.startsWith("-\t", start) ||
      source.startsWith("-\n", start)
    ) {
      text = text.replace(/\s+$/, "");
      start += 1;
    }
    const close = findClose(source, start);
    if (close < 0) throw new TemplateError("unclosed action");
    let end = close;
    let next = close + 2;
    if (/\s-$/.test(source.slice(start, close))) {
      end = close - 1;
      const m = /^\s*/.exec(source.slice(next));
      next += m?.[0].length ?? 0;
    }
    out.push(text);
    text = "";
    out.push({ text: source.slice(start, end).trim() });
    i = next;
  }
  out.push(text);
  return out;
}

function findClose(s: string, from: number): number {
  let i = from;
  while (i < s.length) {
    const c = s[i];
    if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') i += s[i] === "\\" ? 2 : 1;
    } else if (c === "`") {
      i = s.indexOf("`", i + 1);
      if (i < 0) return -1;
    } else if (c === "}" && s[i + 1] === "}") return i;
    i++;
  }
  return -1;
}

const TOKEN_RE =
  /\s*(?:("(?:[^"\\]|\\.)*")|(`[^`]*`)|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(\.(?:[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)?)|([A-Za-z_][A-Za-z0-9_]*)|(\|)|(\()|(\)))/y;

type Tok =
  | { t: "term"; term: Term }
  | { t: "pipe" }
  | { t: "open" }
  | { t: "close" }
  | { t: "ident"; name: string };

function tokenize(text: string): Tok[] {
  const toks: Tok[] = [];
  TOKEN_RE.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    TOKEN_RE.lastIndex = pos;
    const m = TOKEN_RE.exec(text);
    if (m === null)
      throw new TemplateError(`unexpected ${JSON.stringify(text.slice(pos).trim()[0])} in command`);
    pos = TOKEN_RE.lastIndex;
    if (m[1] !== undefined) toks.push({ t: "term", term: { kind: "string", value: JSON.parse(m[1]) } });
    else if (m[2] !== undefined) toks.push({ t: "term", term: { kind: "string", value: m[2].slice(1, -1) } });
    else if (m[3] !== undefined) toks.push({ t: "term", term: { kind: "number", value: Number(m[3]) } });
    else if (m[4] !== undefined) {
      const [name, ...fields] = m[4].split(".");
      toks.push({ t: "term", term: { kind: "var", name: name ?? "$", fields } });
    } else if (m[5] !== undefined) {
      toks.push({ t: "term", term: { kind: "dot", fields: m[5] === "." ? [] : m[5].slice(1).split(".") } });
    } else if (m[6] !== undefined) toks.push({ t: "ident", name: m[6] });
    else if (m[7] !== undefined) toks.push({ t: "pipe" });
    else if (m[8] !== undefined) toks.push({ t: "open" });
    else toks.push({ t: "close" });
  }
  return toks;
}

function parsePipeline(toks: Tok[], pos: { i: number }, inParen: boolean): Pipeline {
  const pipe: Pipeline = [];
  let cmd: Command = [];
  for (;;) {
    const tok = toks[pos.i];
    if (tok === undefined || tok.t === "close") {
      if (tok?.t === "close" && !inParen) throw new TemplateError("unexpected right paren");
      if (tok === undefined && inParen) throw new TemplateError("unclosed left paren");
      break;
    }
    pos.i++;
    if (tok.t === "pipe") {
      if (cmd.length === 0) throw new TemplateError("missing command before |");
      pipe.push(cmd);
      cmd = [];
    } else if (tok.t === "open") {
      const inner = parsePipeline(toks, pos, true);
      pos.i++; // the close
      cmd.push({ kind: "paren", pipe: inner });
    } else if (tok.t === "ident") {
      if (!(tok.name in FUNCS) && !["true", "false", "nil"].includes(tok.name))
        throw new TemplateError(`function "${tok.name}" not defined`);
      cmd.push({ kind: "ident", name: tok.name });
    } else cmd.push(tok.term);
  }
  if (cmd.length === 0) throw new TemplateError("missing value for command");
  pipe.push(cmd);
  for (const c of pipe) {
    for (const term of c) {
      if (term.kind === "var" && !KNOWN_VARS.has(term.name))
        throw new TemplateError(`undefined variable "${term.name}"`);
    }
  }
  return pipe;
}

const KNOWN_VARS = new Set(["$", "$labels", "$value", "$externalLabels", "$externalURL"]);

/** Parses a template; throws TemplateError (`template: NAME:1: reason`). */
export function parseTemplate(source: string, name = "template"): Template {
  try {
    const parts = split(source);
    const stack: Array<{ node: Node & { kind: "if" | "with" }; inElse: boolean }> = [];
    const root: Node[] = [];
    const target = (): Node[] => {
      const top = stack[stack.length - 1];
      if (top === undefined) return root;
      return top.inElse ? top.node.else : top.node.body;
    };
    for (const p of parts) {
      if (typeof p === "string") {
        if (p !== "") target().push({ kind: "text", text: p });
        continue;
      }
      const text = p.text;
      if (text.startsWith("/*")) continue; // comment
      const word = /^[a-z]+/.exec(text)?.[0];
      if (word === "if" || word === "with") {
        const pipe = parsePipeline(tokenize(text.slice(word.length)), { i: 0 }, false);
        const node = { kind: word, pipe, body: [], else: [] } as Node & { kind: "if" | "with" };
        target().push(node);
        stack.push({ node, inElse: false });
      } else if (word === "else" && text === "else") {
        const top = stack[stack.length - 1];
        if (top === undefined || top.inElse) throw new TemplateError("unexpected {{else}}");
        top.inElse = true;
      } else if (word === "end" && text === "end") {
        if (stack.pop() === undefined) throw new TemplateError("unexpected {{end}}");
      } else if (word === "range" || word === "define" || word === "template" || word === "block") {
        throw new TemplateError(`{{${word}}} is not supported by this evaluator`);
      } else {
        target().push({ kind: "action", pipe: parsePipeline(tokenize(text), { i: 0 }, false) });
      }
    }
    if (stack.length > 0) throw new TemplateError("unexpected EOF");
    return { source, nodes: root };
  } catch (e) {
    if (e instanceof TemplateError) throw new TemplateError(`template: ${name}:1: ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// execution

interface Scope {
  data: TemplateData;
  dot: Val | TemplateData;
}

function field(base: unknown, fields: string[]): Val {
  let cur: unknown = base;
  for (const f of fields) {
    if (cur === undefined || cur === null) return undefined;
    if (typeof cur !== "object") throw new TemplateError(`can't evaluate field ${f} in type ${typeof cur}`);
    const obj = cur as Record<string, unknown>;
    if (isData(obj)) {
      cur =
        f === "Labels"
          ? obj.labels
          : f === "Value"
            ? obj.value
            : f === "ExternalLabels"
              ? (obj.externalLabels ?? {})
              : f === "ExternalURL"
                ? (obj.externalURL ?? "")
                : fail(`can't evaluate field ${f}`);
    } else cur = obj[f] ?? ""; // missingkey=zero: a map's zero value is ""
  }
  return cur as Val;
}

function fail(msg: string): never {
  throw new TemplateError(msg);
}

function isData(o: object): o is TemplateData {
  return "labels" in o && "value" in o && typeof (o as TemplateData).value === "number";
}

function evalTerm(term: Term, scope: Scope): Val | TemplateData {
  switch (term.kind) {
    case "string":
    case "number":
      return term.value;
    case "paren":
      return evalPipe(term.pipe, scope);
    case "dot":
      return term.fields.length === 0 ? scope.dot : field(scope.dot, term.fields);
    case "var": {
      const d = scope.data;
      const base =
        term.name === "$labels"
          ? d.labels
          : term.name === "$value"
            ? d.value
            : term.name === "$externalLabels"
              ? (d.externalLabels ?? {})
              : term.name === "$externalURL"
                ? (d.externalURL ?? "")
                : d;
      return term.fields.length === 0 ? base : field(base, term.fields);
    }
    case "ident":
      if (term.name === "true") return true;
      if (term.name === "false") return false;
      if (term.name === "nil") return null;
      return callFn(term.name, []);
  }
}

function evalCommand(
  cmd: Command,
  scope: Scope,
  piped: { v: Val | TemplateData } | undefined,
): Val | TemplateData {
  const [head, ...args] = cmd;
  if (head === undefined) return undefined;
  if (head.kind === "ident" && head.name in FUNCS) {
    const vals = args.map((a) => evalTerm(a, scope));
    if (piped !== undefined) vals.push(piped.v);
    return callFn(head.name, vals);
  }
  if (args.length > 0 || piped !== undefined) throw new TemplateError("can't give argument to non-function");
  return evalTerm(head, scope);
}

function evalPipe(pipe: Pipeline, scope: Scope): Val | TemplateData {
  let v: { v: Val | TemplateData } | undefined;
  for (const cmd of pipe) v = { v: evalCommand(cmd, scope, v) };
  return v?.v;
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === "" || v === 0) return false;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

/** Go's fmt `%v` of a template value. */
function printValue(v: unknown): string {
  if (v === undefined || v === null) return "<no value>";
  if (typeof v === "number") return formatG(v);
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return String(v);
  if (typeof v === "object") {
    if (isData(v as object)) return "{...}";
    const entries = Object.entries(v as Record<string, string>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `map[${entries.map(([k, x]) => `${k}:${x}`).join(" ")}]`;
  }
  return String(v);
}

function run(nodes: Node[], scope: Scope, out: string[]): void {
  for (const n of nodes) {
    if (n.kind === "text") out.push(n.text);
    else if (n.kind === "action") {
      const v = evalPipe(n.pipe, scope);
      out.push(v === undefined ? "" : printValue(v));
    } else {
      const v = evalPipe(n.pipe, scope);
      if (truthy(v)) run(n.body, n.kind === "with" ? { data: scope.data, dot: v } : scope, out);
      else run(n.else, scope, out);
    }
  }
}

/** Executes a parsed template; throws TemplateError when a function fails (e.g. a non-numeric humanize). */
export function executeTemplate(t: Template, data: TemplateData, name = "template"): string {
  const out: string[] = [];
  try {
    run(t.nodes, { data, dot: data }, out);
  } catch (e) {
    if (e instanceof TemplateError) throw new TemplateError(`template: ${name}:1: ${e.message}`);
    throw e;
  }
  return out.join("");
}

/**
 * Expands a rule label or annotation like Prometheus does; on error the result is the error text
 * (Prometheus logs it and uses `<error expanding template: ...>` as the value).
 */
export function expandTemplate(source: string, data: TemplateData, name = "template"): string {
  if (!source.includes("{{")) return source;
  try {
    return executeTemplate(parseTemplate(source, name), data, name);
  } catch (e) {
    return `<error expanding template: ${(e as Error).message}>`;
  }
}

// ---------------------------------------------------------------------------------------------
// functions (Prometheus 2.42 template.go, plus Go's builtins used in rule files)

function toFloat(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const s = v.trim();
    if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith("-") ? -Infinity : Infinity;
    if (/^[+-]?nan$/i.test(s)) return Number.NaN;
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) || /^[+-]?0[xX][0-9a-fA-F]+$/.test(s))
      return Number(s);
    throw new TemplateError(`strconv.ParseFloat: parsing ${JSON.stringify(v)}: invalid syntax`);
  }
  throw new TemplateError(`can't convert ${typeof v} to float`);
}

const g4 = (v: number): string => formatG(v, 4);

export function humanize(input: unknown): string {
  let v = toFloat(input);
  if (v === 0 || !Number.isFinite(v)) return g4(v);
  let prefix = "";
  if (Math.abs(v) >= 1) {
    for (const p of ["k", "M", "G", "T", "P", "E", "Z", "Y"]) {
      if (Math.abs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
    return g4(v) + prefix;
  }
  for (const p of ["m", "u", "n", "p", "f", "a", "z", "y"]) {
    if (Math.abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return g4(v) + prefix;
}

export function humanize1024(input: unknown): string {
  let v = toFloat(input);
  if (Math.abs(v) <= 1 || !Number.isFinite(v)) return g4(v);
  let prefix = "";
  for (const p of ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]) {
    if (Math.abs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return g4(v) + prefix;
}

export function humanizeDuration(input: unknown): string {
  let v = toFloat(input);
  if (!Number.isFinite(v)) return g4(v);
  if (v === 0) return `${g4(v)}s`;
  if (Math.abs(v) >= 1) {
    let sign = "";
    if (v < 0) {
      sign = "-";
      v = -v;
    }
    const duration = Math.trunc(v);
    const seconds = duration % 60;
    const minutes = Math.trunc(duration / 60) % 60;
    const hours = Math.trunc(duration / 3600) % 24;
    const days = Math.trunc(duration / 86400);
    if (days !== 0) return `${sign}${days}d ${hours}h ${minutes}m ${seconds}s`;
    if (hours !== 0) return `${sign}${hours}h ${minutes}m ${seconds}s`;
    if (minutes !== 0) return `${sign}${minutes}m ${seconds}s`;
    return `${sign}${g4(v)}s`;
  }
  let prefix = "";
  for (const p of ["m", "u", "n", "p", "f", "a", "z", "y"]) {
    if (Math.abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return `${g4(v)}${prefix}s`;
}

export function humanizePercentage(input: unknown): string {
  return `${g4(toFloat(input) * 100)}%`;
}

export function humanizeTimestamp(input: unknown): string {
  const v = toFloat(input);
  if (!Number.isFinite(v)) return g4(v);
  // Go's time.Time.String() in UTC: 2006-01-02 15:04:05.999999999 +0000 UTC
  const d = new Date(Math.round(v * 1000));
  const iso = d.toISOString(); // 2006-01-02T15:04:05.000Z
  const frac = iso.slice(20, 23).replace(/0+$/, "");
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac === "" ? "" : `.${frac}`} +0000 UTC`;
}

/** Go's fmt.Sprintf for the verbs templates use: %v %s %d %f %e %g %q %x %%, with flags, width and precision. */
export function sprintf(format: string, ...args: unknown[]): string {
  let argi = 0;
  return format.replace(
    /%([-+ 0#]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])/g,
    (_m, flags: string, width, precText, verb) => {
      if (verb === "%") return "%";
      if (argi >= args.length) return `%!${verb}(MISSING)`;
      const a = args[argi++];
      const prec = precText === undefined ? undefined : precText === "" ? 0 : Number(precText);
      let s: string;
      switch (verb) {
        case "v":
          s = printValue(a);
          break;
        case "s":
          s = typeof a === "number" ? `%!s(float64=${formatG(a)})` : printValue(a);
          if (prec !== undefined) s = s.slice(0, prec);
          break;
        case "q":
          s = JSON.stringify(typeof a === "string" ? a : printValue(a));
          break;
        case "d":
          s =
            typeof a === "number" && Number.isInteger(a)
              ? a.toFixed(0)
              : `%!d(${typeof a === "number" ? `float64=${formatG(a)}` : `string=${String(a)}`})`;
          break;
        case "f":
        case "F":
          s = typeof a === "number" ? formatF(a, prec ?? 6) : `%!f(string=${String(a)})`;
          break;
        case "e":
          s = typeof a === "number" ? formatE(a, prec ?? 6) : `%!e(string=${String(a)})`;
          break;
        case "g":
          s = typeof a === "number" ? formatG(a, prec ?? -1) : `%!g(string=${String(a)})`;
          break;
        case "x":
          s =
            typeof a === "number" && Number.isInteger(a)
              ? a.toString(16)
              : Buffer.from(String(a), "utf8").toString("hex");
          break;
        default:
          s = `%!${verb}(${typeof a}=${String(a)})`;
      }
      if (typeof a === "number" && flags.includes("+") && !s.startsWith("-") && /[dfeEg]/.test(verb))
        s = `+${s}`;
      const w = width === undefined ? 0 : Number(width);
      if (s.length < w) {
        if (flags.includes("-")) s = s.padEnd(w);
        else if (flags.includes("0") && typeof a === "number") {
          const sign = /^[+-]/.test(s) ? (s[0] ?? "") : "";
          s = sign + s.slice(sign.length).padStart(w - sign.length, "0");
        } else s = s.padStart(w);
      }
      return s;
    },
  );
}

function cmp(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError("incompatible types for comparison");
}

/** Go regexp's quote(): backquoted when strconv.CanBackquote allows it, else a quoted string. */
function goQuote(s: string): string {
  // With the u flag, \ud800-\udfff matches lone surrogates only (invalid UTF-8 in Go).
  // biome-ignore lint/suspicious/noControlCharactersInRegex: CanBackquote refuses control characters.
  return /^[^`\u0000-\u0008\u000a-\u001f\u007f\ufeff\ud800-\udfff]*$/u.test(s)
    ? `\`${s}\``
    : JSON.stringify(s);
}

const FUNCS: Record<string, (...args: unknown[]) => Val> = {
  humanize: (v) => humanize(v),
  humanize1024: (v) => humanize1024(v),
  humanizeDuration: (v) => humanizeDuration(v),
  humanizePercentage: (v) => humanizePercentage(v),
  humanizeTimestamp: (v) => humanizeTimestamp(v),
  printf: (f, ...rest) => sprintf(String(f), ...rest),
  print: (...rest) => rest.map(printValue).join(""),
  toUpper: (v) => String(v).toUpperCase(),
  toLower: (v) => String(v).toLowerCase(),
  title: (v) =>
    String(v).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, p: string, c: string) => p + c.toUpperCase()),
  stripPort: (v) => {
    const s = String(v);
    const m = /^\[(.*)\]:\d+$/.exec(s) ?? /^([^:]*):\d+$/.exec(s);
    return m ? (m[1] ?? s) : s;
  },
  // Prometheus: "match" is regexp.MatchString (unanchored) and "reReplaceAll" is
  // regexp.MustCompile(pattern).ReplaceAllString(text, repl), Go RE2 on re2js (linear time).
  match: (re, s) => {
    let compiled: GoRegexp;
    try {
      compiled = compileGoRegexp(String(re));
    } catch (err) {
      throw new TemplateError(`error calling match: ${(err as Error).message}`);
    }
    return compiled.matchString(String(s));
  },
  reReplaceAll: (re, repl, s) => {
    let compiled: GoRegexp;
    try {
      compiled = compileGoRegexp(String(re));
    } catch (err) {
      // MustCompile's panic, which text/template reports as the call's error.
      throw new TemplateError(
        `error calling reReplaceAll: regexp: Compile(${goQuote(String(re))}): ${(err as Error).message}`,
      );
    }
    return compiled.replaceAllString(String(s), String(repl));
  },
  eq: (a, ...bs) => bs.some((b) => a === b),
  ne: (a, b) => a !== b,
  lt: (a, b) => cmp(a, b) < 0,
  le: (a, b) => cmp(a, b) <= 0,
  gt: (a, b) => cmp(a, b) > 0,
  ge: (a, b) => cmp(a, b) >= 0,
  not: (a) => !truthy(a),
  and: (...xs) => {
    for (const x of xs) if (!truthy(x)) return x as Val;
    return xs[xs.length - 1] as Val;
  },
  or: (...xs) => {
    for (const x of xs) if (truthy(x)) return x as Val;
    return xs[xs.length - 1] as Val;
  },
  len: (v) =>
    typeof v === "string" ? v.length : typeof v === "object" && v !== null ? Object.keys(v).length : 0,
  index: (m, k) =>
    m !== null && typeof m === "object" ? ((m as Record<string, string>)[String(k)] ?? "") : "",
};

function callFn(name: string, args: unknown[]): Val {
  const f = FUNCS[name];
  if (f === undefined) throw new TemplateError(`function "${name}" not defined`);
  return f(...args);
}
