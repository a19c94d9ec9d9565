import pino, { type Logger } from "pino";
import { createScrubber, redactFields } from "./redact.js";

const { chindingsSym, endSym, lsCacheSym, messageKeySym, streamSym, timeSym } = pino.symbols;

export type { Logger } from "pino";

/** Where the log file goes: a stream pino writes whole lines to, with flush and close. */
export interface FileSink {
  stream: NodeJS.WritableStream;
  flush(): Promise<void>;
  /** Write out what is buffered before the process exits (no async work left to run). */
  flushSync?(): void;
  close(): Promise<void>;
}

export interface LoggerOptions {
  level: string;
  stdout: boolean;
  /** The log file's sink (rotating in the app; absent: stdout only). */
  file?: FileSink;
  base?: Record<string, unknown>;
  /** Secret values of this configuration: never written, whatever the field. */
  secrets?: ReadonlyArray<string | undefined>;
  /** Sees every line as written (after redaction); must return at once (the log analysis tap). */
  tap?: (line: string) => void;
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

/**
 * pino's ISO timestamp (`,"time":"…"`), formatted once per millisecond: `toISOString()` cost
 * ~0.7 µs a line, a fifth of an access line, and a busy server writes several lines a millisecond.
 */
let lastTimeMs = -1;
let lastTime = "";
export function isoTime(): string {
  const ms = Date.now();
  if (ms !== lastTimeMs) {
    lastTimeMs = ms;
    lastTime = `,"time":"${new Date(ms).toISOString()}"`;
  }
  return lastTime;
}

/** The levels a preformatted line is written at. */
export type LineLevel = "info" | "warn" | "error";

/**
 * Writes lines whose fields are serialized by the caller (the access line, one per request)
 * through the logger's own destination: the same bytes pino would write for
 * `log[level](fields, msg)`, without pino's per-field serialization or the whole-line scrub.
 */
export interface LineWriter {
  /** The logger's secret scrubber, for the free-form values of the caller's fields. */
  scrub(text: string): string;
  /**
   * `fields` is `,"key":value…`, valid JSON members whose free-form values went through `scrub`
   * and whose keys are not sensitive (`formatters.log` does not see them). The child logger's
   * bindings are scrubbed here; level, time and bindings are pino's own.
   */
  write(log: Logger, level: LineLevel, fields: string, msg: string): void;
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
  const stdout = opts.stdout ? pino.destination({ dest: 1, sync: false }) : undefined;
  if (stdout) streams.push({ stream: stdout, level: "trace" });
  if (opts.file) streams.push({ stream: opts.file.stream as pino.DestinationStream, level: "trace" });
  const scrubber = createScrubber(opts.secrets ?? []);
  const tap = opts.tap;
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
      formatters: { level: (label) => ({ level: label }), log: redactFields },
      hooks: { streamWrite: scrub },
    },
    destination,
  );
  lineWriters.set(destination, {
    scrub: scrubber,
    write: (log, level, fields, msg) => {
      if (!log.isLevelEnabled(level)) return;
      // pino's state of this logger, read through its public `pino.symbols`
      const p = log as unknown as Record<symbol, unknown>;
      const num = log.levels.values[level] as number;
      const line =
        (p[lsCacheSym] as Record<number, string>)[num] +
        (p[timeSym] as () => string).call(log) +
        scrubber(p[chindingsSym] as string) +
        fields +
        `,"${p[messageKeySym] as string}":${JSON.stringify(msg)}${p[endSym] as string}`;
      tap?.(line);
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
