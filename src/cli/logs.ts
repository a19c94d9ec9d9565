// `tug logs analyze FILE [--format FORMAT] [--output OUT.csv]`: mines the templates of a log file,
// prints a summary (templates, counts, levels, errors) and optionally one CSV row per line
// (`LineId,EventId,EventTemplate`, the Loghub benchmark's columns).
//
// Shape of the loop: the file is read in 4 MiB chunks with readSync and split on "\n" by
// indexOf, each line parsed by one reused LineParser and observed by the miner, which returns a
// small signature number kept per line in an Int32Array (4 bytes a line, not the line). Templates
// are only settled after the last line (`refine`), so the CSV is written in a second pass over
// that array: every line then carries its final template, as in an offline parser, while memory
// stays bounded by the signature cap plus the per-line numbers.
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import {
  compileLogFormat,
  type InputMode,
  LineParser,
  type MinedTemplate,
  TemplateMiner,
} from "../logs/patterns/index.js";

const USAGE = `usage: tug logs analyze FILE [--format FORMAT] [--output OUT.csv] [--top N] [--max-templates N] [--progress]
  FORMAT  a Loghub log format such as '<Date> <Time> <Level> <Component>: <Content>' (the message is
          <Content>), or 'pino' for pino JSON lines; default: JSON objects as pino, other lines whole
`;

const CHUNK_BYTES = 4 << 20;
const ERROR_LEVELS = new Set([
  "error",
  "err",
  "fatal",
  "critical",
  "crit",
  "severe",
  "alert",
  "emerg",
  "panic",
]);

interface Args {
  file: string;
  format: string | undefined;
  output: string | undefined;
  top: number;
  maxTemplates: number;
  progress: boolean;
}

function parseArgs(argv: string[]): Args | string {
  const [sub, ...rest] = argv;
  if (sub !== "analyze") return "unknown or missing subcommand";
  const a: Args = {
    file: "",
    format: undefined,
    output: undefined,
    top: 20,
    maxTemplates: 100_000,
    progress: false,
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string | undefined => (eq > 0 && arg.startsWith("--") ? arg.slice(eq + 1) : rest[++i]);
    switch (name) {
      case "--format":
        a.format = value();
        if (a.format === undefined) return "--format needs a value";
        break;
      case "--output":
      case "-o":
        a.output = value();
        if (a.output === undefined) return "--output needs a file";
        break;
      case "--top": {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 0) return "--top needs a whole number";
        a.top = n;
        break;
      }
      case "--max-templates": {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) return "--max-templates needs a positive whole number";
        a.maxTemplates = n;
        break;
      }
      case "--progress":
        a.progress = true;
        break;
      default:
        if (arg.startsWith("-") && arg !== "-") return `unknown option ${arg}`;
        if (a.file !== "") return `unexpected argument ${arg}`;
        a.file = arg;
    }
  }
  if (a.file === "") return "missing FILE";
  return a;
}

/** Runs `tug logs …`; returns the exit code (2 on usage errors, 1 when a file cannot be read or written). */
export async function logsCommand(
  argv: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === "string") {
    err(`tug logs: ${args}\n${USAGE}`);
    return 2;
  }
  let mode: InputMode;
  if (args.format === undefined || args.format === "auto") mode = { kind: "auto" };
  else if (args.format === "pino" || args.format === "json") mode = { kind: "pino" };
  else {
    const format = compileLogFormat(args.format);
    if (format.fields.length === 0) {
      err(`tug logs: --format has no <Field>: ${args.format}\n`);
      return 2;
    }
    mode = { kind: "format", format };
  }
  try {
    const result = analyzeFile(args, mode, err);
    out(summary(args, mode, result));
    return 0;
  } catch (e) {
    err(`tug logs: ${(e as Error).message}\n`);
    return 1;
  }
}

interface Analysis {
  lines: number;
  unmatched: number;
  levels: Map<string, number>;
  templates: Array<MinedTemplate & { count: number; errors: number }>;
  seconds: number;
  output: string | undefined;
}

function analyzeFile(args: Args, mode: InputMode, err: (s: string) => void): Analysis {
  const started = performance.now();
  // Lines whose signature was evicted keep the template it had then.
  const evicted = new Map<number, MinedTemplate>();
  const miner = new TemplateMiner({
    maxTemplates: args.maxTemplates,
    onEvict: (sig, t) => evicted.set(sig, t),
  });
  const parser = new LineParser(mode);
  let sigOfLine = new Int32Array(1 << 16);
  let lines = 0;
  let unmatched = 0;
  const levels = new Map<string, number>();
  // Error lines per signature: levels are per line, templates per signature.
  const errorsBySig = new Map<number, number>();
  let lastLevel: string | undefined;
  let lastLevelCount = 0;
  let lastLevelIsError = false;

  const fd = openSync(args.file, "r");
  const size = fstatSync(fd).size;
  const showProgress = args.progress || (process.stderr.isTTY === true && size > 16 << 20);
  const progress = showProgress ? new Progress(size, err) : undefined;
  let buf = Buffer.allocUnsafe(CHUNK_BYTES);
  let bytes = 0;
  const flushLevel = () => {
    if (lastLevel !== undefined) levels.set(lastLevel, (levels.get(lastLevel) ?? 0) + lastLevelCount);
  };
  const onLine = (text: string, start: number, end: number) => {
    parser.parseRange(text, start, end);
    if (!parser.matched) unmatched++;
    const sig = miner.observeRange(parser.messageText, parser.messageStart, parser.messageEnd);
    if (lines === sigOfLine.length) {
      const grown = new Int32Array(sigOfLine.length * 2);
      grown.set(sigOfLine);
      sigOfLine = grown;
    }
    sigOfLine[lines++] = sig;
    const level = parser.level;
    if (level !== undefined) {
      // Runs of one level are the norm: count them without a Map update per line.
      if (level === lastLevel) lastLevelCount++;
      else {
        flushLevel();
        lastLevel = level;
        lastLevelCount = 1;
        lastLevelIsError = ERROR_LEVELS.has(level.toLowerCase());
      }
      if (lastLevelIsError) errorsBySig.set(sig, (errorsBySig.get(sig) ?? 0) + 1);
    }
  };
  const onText = (text: string) => {
    let pos = 0;
    for (;;) {
      let nl = text.indexOf("\n", pos);
      if (nl < 0) nl = text.length;
      // A blank line is no log line (Loghub's files end with one); CR of CRLF goes with the trim.
      if (nl > pos && !(nl === pos + 1 && text.charCodeAt(pos) === 13)) onLine(text, pos, nl);
      if (nl >= text.length) break;
      pos = nl + 1;
    }
  };
  try {
    // Each chunk is decoded up to its last newline only: a newline byte never sits inside a
    // UTF-8 sequence, so no decoder state is needed, and the partial last line moves to the front
    // of the buffer as bytes instead of being glued to the next chunk's (multi-MB) string.
    let have = 0;
    for (;;) {
      if (have === buf.length) {
        // One line longer than the buffer: grow it.
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const n = readSync(fd, buf, have, buf.length - have, null);
      if (n === 0) break;
      bytes += n;
      const filled = have + n;
      const lastNl = buf.lastIndexOf(10, filled - 1);
      if (lastNl < 0) {
        have = filled;
        continue;
      }
      onText(buf.toString("utf8", 0, lastNl));
      have = filled - lastNl - 1;
      buf.copy(buf, 0, lastNl + 1, filled);
      progress?.update(bytes, lines);
    }
    if (have > 0) onText(buf.toString("utf8", 0, have));
  } finally {
    closeSync(fd);
  }
  flushLevel();
  progress?.done();

  miner.refine();
  // Settle each signature's template once; lines then only look them up.
  const sigCount = miner.signaturesEverSeen;
  const tplOfSig: Array<MinedTemplate | undefined> = new Array(sigCount);
  const counts = new Map<string, MinedTemplate & { count: number; errors: number }>();
  for (let s = 0; s < sigCount; s++) {
    const t = evicted.get(s) ?? miner.templateOf(s);
    tplOfSig[s] = t;
  }
  for (let i = 0; i < lines; i++) {
    const t = tplOfSig[sigOfLine[i] as number] as MinedTemplate;
    const c = counts.get(t.id);
    if (c === undefined) counts.set(t.id, { ...t, count: 1, errors: 0 });
    else c.count++;
  }
  for (const [sig, n] of errorsBySig) {
    const t = tplOfSig[sig];
    const c = t && counts.get(t.id);
    if (c) c.errors += n;
  }
  if (args.output !== undefined) writeCsv(args.output, sigOfLine, lines, tplOfSig);
  return {
    lines,
    unmatched,
    levels,
    templates: [...counts.values()].sort((a, b) => b.count - a.count || (a.template < b.template ? -1 : 1)),
    seconds: (performance.now() - started) / 1000,
    output: args.output,
  };
}

/** RFC 4180 quoting: only fields with a comma, quote or line break are quoted. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function writeCsv(
  path: string,
  sigOfLine: Int32Array,
  lines: number,
  tplOfSig: Array<MinedTemplate | undefined>,
): void {
  // The row tail (",id,template\n") is built once per signature; a row is then a number and a
  // concatenation, written in ~1 MiB strings.
  const tails = tplOfSig.map((t) => (t === undefined ? "" : `,${t.id},${csvField(t.template)}\n`));
  const fd = openSync(path, "w");
  try {
    let chunk = "LineId,EventId,EventTemplate\n";
    for (let i = 0; i < lines; i++) {
      chunk += i + 1 + (tails[sigOfLine[i] as number] as string);
      if (chunk.length > 1 << 20) {
        writeSync(fd, chunk);
        chunk = "";
      }
    }
    writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

/** A one-line progress bar on stderr, redrawn at most every 200 ms. */
class Progress {
  private last = 0;
  private readonly start = performance.now();
  constructor(
    private readonly total: number,
    private readonly err: (s: string) => void,
  ) {}
  update(bytes: number, lines: number): void {
    const now = performance.now();
    if (now - this.last < 200) return;
    this.last = now;
    const frac = this.total > 0 ? Math.min(1, bytes / this.total) : 1;
    const width = 30;
    const filled = Math.round(frac * width);
    const rate = lines / Math.max(1e-3, (now - this.start) / 1000);
    this.err(
      `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
        `${lines.toLocaleString("en-US")} lines, ${Math.round(rate).toLocaleString("en-US")} lines/s`,
    );
  }
  done(): void {
    if (this.last > 0) this.err("\r\x1b[K");
  }
}

function summary(args: Args, mode: InputMode, r: Analysis): string {
  const pct = (n: number) => (r.lines > 0 ? `${((100 * n) / r.lines).toFixed(1)}%` : "0%");
  const fmt = mode.kind === "format" ? mode.format.source : mode.kind === "pino" ? "pino JSON" : "auto";
  const rate = r.seconds > 0 ? Math.round(r.lines / r.seconds) : 0;
  let s = `${args.file}: ${r.lines.toLocaleString("en-US")} lines, ${r.templates.length} templates`;
  s += ` (format: ${fmt}; ${r.seconds.toFixed(2)} s, ${rate.toLocaleString("en-US")} lines/s)\n`;
  if (r.unmatched > 0)
    s += `lines not matching the format: ${r.unmatched} (${pct(r.unmatched)}), mined whole\n`;
  if (r.levels.size > 0) {
    const lv = [...r.levels].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v} (${pct(v)})`);
    s += `levels: ${lv.join(", ")}\n`;
  }
  const errTemplates = r.templates.filter((t) => t.errors > 0).sort((a, b) => b.errors - a.errors);
  const errLines = errTemplates.reduce((n, t) => n + t.errors, 0);
  s += `errors: ${errLines} lines in ${errTemplates.length} templates\n`;
  const table = (rows: Array<MinedTemplate & { count: number }>) =>
    rows
      .map((t) => `  ${String(t.count).padStart(9)}  ${pct(t.count).padStart(6)}  ${t.id}  ${t.template}\n`)
      .join("");
  if (args.top > 0 && r.templates.length > 0) {
    s += `top templates:\n      count   share  id                template\n`;
    s += table(r.templates.slice(0, args.top));
  }
  if (args.top > 0 && errTemplates.length > 0) {
    s += "top error templates:\n";
    s += table(errTemplates.slice(0, args.top).map((t) => ({ ...t, count: t.errors })));
  }
  if (r.output !== undefined) s += `wrote ${r.output} (${r.lines} rows)\n`;
  return s;
}
