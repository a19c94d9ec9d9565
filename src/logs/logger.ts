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
   * the constant texts (level prefix, method and route, message ending), then the values.
   * False, taking nothing, when it cannot now: the line is then written as text.
   */
  access?: AccessParts;
}

/** An access line as its parts: see FileSink.access. */
export type AccessParts = (
  prefix: string,
  fields: string,
  ending: string,
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

/**
 * Writes access lines (one per request) through the logger's own destination: the same bytes
 * pino would write for `log[level]({event: "access", …}, msg)`, without pino's per-field
 * serialization or the whole-line scrub; with the log thread (src/logs/thread), as parts that
 * the thread makes into that line.
 */
export interface LineWriter {
  /**
   * `url` is cut to its logged length but not scrubbed; the child logger's bindings and the URL
   * are scrubbed (here or in the log thread); level, time and bindings are pino's own.
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
  /** `,"msg":"…"}\n` of each message: a few constant texts. */
  const endings = new Map<string, string>();
  // The access line goes to the log thread as parts when the file is the only destination.
  const parts = opts.file?.access && streams.length === 1 ? opts.file : undefined;
  /**
   * The tap's copy of an access line sent as parts, by level and method-and-route: an earlier
   * line of the same level, method and route. What the analysis reads of an info or warn access
   * line (its level and message) is the same in both; error lines are always built here, whole.
   */
  const samples = new Map<string, Map<string, string>>();
  lineWriters.set(destination, {
    access: (log, level, msg, method, route, url, statusCode, durationMs, bytes) => {
      if (!log.isLevelEnabled(level)) return;
      const num = log.levels.values[level] as number;
      const prefix = levelPrefix[num] as string;
      let ending = endings.get(msg);
      if (ending === undefined) {
        ending = `,${msgKey}:${JSON.stringify(msg)}${end}`;
        if (endings.size < 100) endings.set(msg, ending);
      }
      const fields = accessPiece(method, route);
      const chindings = (log as unknown as Record<symbol, string>)[chindingsSym] as string;
      const sampled = parts && level !== "error";
      if (sampled) {
        const sample = samples.get(prefix)?.get(fields);
        if (
          sample !== undefined &&
          parts?.access?.(prefix, fields, ending, statusCode, Date.now(), durationMs, bytes, chindings, url)
        ) {
          tapSame?.(sample);
          return;
        }
      }
      const line =
        prefix +
        isoTime() +
        scrubber(chindings) +
        fields +
        accessTail(scrubber(url), statusCode, durationMs, bytes) +
        ending;
      tap?.(line);
      if (sampled) {
        let byFields = samples.get(prefix);
        if (byFields === undefined) {
          byFields = new Map();
          samples.set(prefix, byFields);
        }
        if (byFields.size < 1000 && !byFields.has(fields)) byFields.set(fields, line);
      }
      // pino.multistream picks its streams by the level pino leaves here (see pino's write()).
      destination.lastLevel = num;
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
