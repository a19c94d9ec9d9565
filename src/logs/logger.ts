import pino, { type Logger } from "pino";
import pinoPretty from "pino-pretty";
import { accessPiece, accessTail, isoTimeFormatter } from "./access-line.js";
import { createScrubber, redactFields } from "./redact.js";

const { chindingsSym, endSym, lsCacheSym, messageKeySym, streamSym } = pino.symbols;

export type { Logger } from "pino";

/** Where the log file goes: a stream pino writes whole lines to, with flush and close. */
export interface FileSink {
  stream: NodeJS.WritableStream;
  flush(): Promise<void>;
  /** Write out what is buffered before the process exits (no async work left to run). */
  flushSync?(): void;
  close(): Promise<void>;
  /** This sink writes every line to standard output too (the logger then adds no JSON stdout of its own). */
  stdout?: boolean;
  /**
   * Takes an access line as its parts instead of its text (the log thread, src/logs/thread):
   * its kind (the constant texts: level prefix, method and route, message ending), then the
   * values. False, taking nothing, when it cannot now: the line is then written as text.
   */
  access?: AccessParts;
}

/**
 * The constant texts of one kind of access line (one level, method and route) and, kept on it by
 * the sink that takes the line as parts, that sink's ids for them: one object per kind, made once,
 * so that a request finds its texts and ids without a lookup each.
 */
export class AccessKind {
  /** The sink's ids of prefix, fields and ending, valid while `idsEpoch` is the sink's epoch. */
  prefixId = -1;
  fieldsId = -1;
  endingId = -1;
  idsEpoch = -1;
  /** The tap's copy of this kind (see LoggerOptions.tapSame): the first line of the kind built whole. */
  sample: string | undefined = undefined;

  constructor(
    /** `{"level":"INFO"` and so on: pino's cached level member. */
    readonly prefix: string,
    /** pino's level number, which pino.multistream picks streams by. */
    readonly levelNumber: number,
    /** `,"event":"access","method":…,"route":…` (accessPiece). */
    readonly fields: string,
    /** `,"msg":"…"}\n`. */
    readonly ending: string,
    readonly msg: string,
  ) {}
}

/** An access line as its parts: see FileSink.access. */
export type AccessParts = (
  kind: AccessKind,
  statusCode: number,
  timeMs: number,
  durationMs: number,
  bytes: number | undefined,
  chindings: string,
  url: string,
) => boolean;

export interface LoggerOptions {
  level: string;
  stdout: boolean;
  /**
   * Stdout for a person at a terminal: one coloured line per entry (pino-pretty) instead of JSON.
   * The file keeps JSON whatever this says.
   */
  pretty?: boolean;
  /** The log file's sink (rotating in the app; absent: stdout only). */
  file?: FileSink;
  base?: Record<string, unknown>;
  /** Secret values of this configuration: never written, whatever the field. */
  secrets?: ReadonlyArray<string | undefined>;
  /** Sees every line as written (after redaction); must return at once (the log analysis tap). */
  tap?: (line: string) => void;
  /**
   * Sees an access line sent to the log thread as its parts (info and warn only): given as an
   * earlier line of the same level, method and route, whose level and message are this one's.
   * Without it, `tap` gets that line.
   */
  tapSame?: (line: string) => void;
}

export interface AppLogger {
  logger: Logger;
  /** Everything written so far reaches the file. */
  flush(): Promise<void>;
  /** Flush and close the file (at shutdown). */
  close(): Promise<void>;
  /** Last words before process.exit: write out what is buffered, synchronously. */
  flushSync(): void;
}

const mainIsoTime = isoTimeFormatter();
/** pino's ISO timestamp member (`,"time":"…"`) of now, formatted once per second (see access-line.ts). */
export function isoTime(): string {
  return mainIsoTime(Date.now());
}

/** The levels a preformatted line is written at. */
export type LineLevel = "info" | "warn" | "error";
const LEVEL_SLOT: Record<LineLevel, number> = { info: 0, warn: 1, error: 2 };
/** Kinds of access line kept (levels × methods × routes: a few dozen in an app). */
const MAX_ACCESS_KINDS = 3000;

/**
 * Writes access lines (one per request) through the logger's own destination: the same bytes
 * pino would write for `log[level]({event: "access", …}, msg)`, without pino's per-field
 * serialization or the whole-line scrub; with the log thread (src/logs/thread), as parts that
 * the thread makes into that line.
 */
export interface LineWriter {
  /**
   * `url` is cut to its logged length but not scrubbed; the child logger's bindings and the URL
   * are scrubbed (here or in the log thread); level, time and bindings are pino's own. The caller
   * has checked that `level` is enabled on `log`.
   */
  access(
    log: Logger,
    level: LineLevel,
    msg: string,
    method: string,
    route: string,
    url: string,
    statusCode: number,
    durationMs: number,
    bytes: number | undefined,
  ): void;
}

/** Destination stream → its logger's LineWriter (child loggers share their root's stream). */
const lineWriters = new WeakMap<object, LineWriter>();

/** The LineWriter of a logger made by createLogger (or its children); undefined for any other. */
export function lineWriterOf(log: unknown): LineWriter | undefined {
  const stream = (log as { [streamSym]?: object } | null | undefined)?.[streamSym];
  return stream === undefined ? undefined : lineWriters.get(stream);
}

/** JSON lines to stdout and to the log file, with path redaction and a final secret scrubber. */
export function createLogger(opts: LoggerOptions): AppLogger {
  const streams: pino.StreamEntry[] = [];
  // A sink that writes stdout itself (the log thread) keeps the file and stdout in one order.
  const stdout =
    opts.stdout && !opts.pretty && opts.file?.stdout !== true
      ? pino.destination({ dest: 1, sync: false })
      : undefined;
  if (stdout) streams.push({ stream: stdout, level: "trace" });
  if (opts.stdout && opts.pretty)
    streams.push({
      stream: pinoPretty({
        destination: 1,
        sync: true,
        colorize: true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname",
        // Our level names are upper case already; pino-pretty pads and colours them.
        customLevels: "TRACE:10,DEBUG:20,INFO:30,WARN:40,ERROR:50,FATAL:60",
        useOnlyCustomProps: false,
      }),
      level: "trace",
    });
  if (opts.file) streams.push({ stream: opts.file.stream as pino.DestinationStream, level: "trace" });
  const scrubber = createScrubber(opts.secrets ?? []);
  const tap = opts.tap;
  const tapSame = opts.tapSame ?? tap;
  const scrub = tap
    ? (s: string) => {
        const out = scrubber(s);
        tap(out);
        return out;
      }
    : scrubber;
  const destination: pino.DestinationStream & { lastLevel?: number } =
    streams.length > 0 ? pino.multistream(streams) : pino.destination("/dev/null");
  const logger = pino(
    {
      level: opts.level,
      base: opts.base ?? { pid: process.pid },
      timestamp: isoTime,
      // Upper-case level names, as the seed's `grep ERROR` expects, in the file, on stdout and
      // (through Promtail's json stage) in Loki's `level` label alike.
      formatters: { level: (label) => ({ level: label.toUpperCase() }), log: redactFields },
      hooks: { streamWrite: scrub },
    },
    destination,
  );
  // pino's state, read through its public `pino.symbols`: what children share is read once.
  const root = logger as unknown as Record<symbol, unknown>;
  const levelPrefix = root[lsCacheSym] as Record<number, string>;
  const msgKey = JSON.stringify(root[messageKeySym]);
  const end = root[endSym] as string;
  // The access line goes to the log thread as parts when the file is the only destination.
  const parts = opts.file?.access && streams.length === 1 ? opts.file : undefined;
  /**
   * The kinds of access line, by route, then method, then level (info, warn, error): a few
   * dozen objects, found with two lookups on strings whose hashes V8 keeps. Bounded all the same.
   */
  const kinds = new Map<string, Map<string, Array<AccessKind | undefined>>>();
  let kindCount = 0;
  const kindOf = (log: Logger, level: LineLevel, msg: string, method: string, route: string): AccessKind => {
    const at = LEVEL_SLOT[level];
    let byMethod = kinds.get(route);
    let byLevel = byMethod?.get(method);
    const known = byLevel?.[at];
    if (known !== undefined && known.msg === msg) return known;
    const levelNumber = log.levels.values[level] as number;
    const kind = new AccessKind(
      levelPrefix[levelNumber] as string,
      levelNumber,
      accessPiece(method, route),
      `,${msgKey}:${JSON.stringify(msg)}${end}`,
      msg,
    );
    if (kindCount < MAX_ACCESS_KINDS) {
      if (byMethod === undefined) {
        byMethod = new Map();
        kinds.set(route, byMethod);
      }
      if (byLevel === undefined) {
        byLevel = [undefined, undefined, undefined];
        byMethod.set(method, byLevel);
      }
      byLevel[at] = kind;
      kindCount++;
    }
    return kind;
  };
  lineWriters.set(destination, {
    access: (log, level, msg, method, route, url, statusCode, durationMs, bytes) => {
      const kind = kindOf(log, level, msg, method, route);
      const chindings = (log as unknown as Record<symbol, string>)[chindingsSym] as string;
      // Error lines are always built here, whole: the analysis reads all of each. Of an info or
      // warn line it reads the level and message, the same in every line of the kind, so a line
      // sent as parts reaches the tap as the kind's sample (an earlier line built whole).
      const sampled = parts !== undefined && level !== "error";
      if (sampled) {
        const sample = kind.sample;
        if (
          sample !== undefined &&
          parts.access?.(kind, statusCode, Date.now(), durationMs, bytes, chindings, url)
        ) {
          tapSame?.(sample);
          return;
        }
      }
      const line =
        kind.prefix +
        isoTime() +
        scrubber(chindings) +
        kind.fields +
        accessTail(scrubber(url), statusCode, durationMs, bytes) +
        kind.ending;
      tap?.(line);
      if (sampled && kind.sample === undefined) kind.sample = line;
      // pino.multistream picks its streams by the level pino leaves here (see pino's write()).
      destination.lastLevel = kind.levelNumber;
      destination.write(line);
    },
  });
  const flushStdout = () =>
    new Promise<void>((resolve) => {
      if (!stdout) return resolve();
      try {
        stdout.flush((err) => {
          void err;
          resolve();
        });
      } catch {
        resolve();
      }
    });
  return {
    logger,
    flush: async () => {
      await Promise.all([flushStdout(), opts.file?.flush()]);
    },
    close: async () => {
      await Promise.all([flushStdout(), opts.file?.close()]);
    },
    flushSync: () => {
      try {
        stdout?.flushSync();
      } catch {
        // nothing buffered, or stdout is gone
      }
      opts.file?.flushSync?.();
    },
  };
}

/** A plain append-only file sink (no rotation): for tools and tests. */
export function plainFileSink(filePath: string): FileSink {
  const dest = pino.destination({ dest: filePath, mkdir: true, sync: false });
  const flush = () =>
    new Promise<void>((resolve) => {
      try {
        dest.flush(() => resolve());
      } catch {
        resolve();
      }
    });
  return {
    stream: dest as unknown as NodeJS.WritableStream,
    flush,
    flushSync: () => {
      try {
        dest.flushSync();
      } catch {
        // not open yet: nothing to write
      }
    },
    close: async () => {
      await flush();
      dest.end();
    },
  };
}
