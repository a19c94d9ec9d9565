import pino, { type Logger } from "pino";
import pinoPretty from "pino-pretty";
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
}

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
 * pino's ISO timestamp (`,"time":"…"`): `toISOString()` (a printf inside V8) cost ~0.7 µs a
 * line, a fifth of an access line, so the date and time are formatted once per second and the
 * milliseconds appended. Same text as pino.stdTimeFunctions.isoTime (tested).
 */
let lastSecond = Number.NaN;
let secondPrefix = "";
let lastTimeMs = Number.NaN;
let lastTime = "";
export function isoTime(): string {
  const ms = Date.now();
  if (ms !== lastTimeMs) {
    lastTimeMs = ms;
    const second = Math.floor(ms / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      // "2026-12-06T18:19:32." (the date of a negative or five-digit year is longer: cut at the dot)
      const iso = new Date(second * 1000).toISOString();
      secondPrefix = `,"time":"${iso.slice(0, iso.lastIndexOf(".") + 1)}`;
    }
    const frac = ms - second * 1000;
    lastTime = `${secondPrefix}${frac < 10 ? "00" : frac < 100 ? "0" : ""}${frac}Z"`;
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
  const stdout = opts.stdout && !opts.pretty ? pino.destination({ dest: 1, sync: false }) : undefined;
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
  lineWriters.set(destination, {
    scrub: scrubber,
    write: (log, level, fields, msg) => {
      if (!log.isLevelEnabled(level)) return;
      const num = log.levels.values[level] as number;
      let ending = endings.get(msg);
      if (ending === undefined) {
        ending = `,${msgKey}:${JSON.stringify(msg)}${end}`;
        if (endings.size < 100) endings.set(msg, ending);
      }
      const line =
        (levelPrefix[num] as string) +
        isoTime() +
        scrubber((log as unknown as Record<symbol, string>)[chindingsSym] as string) +
        fields +
        ending;
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
