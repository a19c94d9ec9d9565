import pino, { type Logger } from "pino";
import { createScrubber, redactFields } from "./redact.js";

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
  const logger = pino(
    {
      level: opts.level,
      base: opts.base ?? { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactFields },
      hooks: { streamWrite: scrub },
    },
    streams.length > 0 ? pino.multistream(streams) : pino.destination("/dev/null"),
  );
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
