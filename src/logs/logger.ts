import pino, { type Logger } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  level: string;
  filePath?: string;
  stdout: boolean;
  base?: Record<string, unknown>;
}

/** Field paths whose values never reach a log line. */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "token",
  "*.token",
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "headers.authorization",
  "headers.cookie",
];

export interface AppLogger {
  logger: Logger;
  /** Write out what is buffered (before exit). */
  flush(): void;
}

/** JSON lines to stdout and to the log file (directory created). */
export function createLogger(opts: LoggerOptions): AppLogger {
  const streams: pino.StreamEntry[] = [];
  const file = opts.filePath
    ? pino.destination({ dest: opts.filePath, mkdir: true, sync: false })
    : undefined;
  if (opts.stdout) streams.push({ stream: pino.destination({ dest: 1, sync: false }), level: "trace" });
  if (file) streams.push({ stream: file, level: "trace" });
  const logger = pino(
    {
      level: opts.level,
      base: opts.base ?? { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
      formatters: { level: (label) => ({ level: label }) },
    },
    streams.length > 0 ? pino.multistream(streams) : pino.destination("/dev/null"),
  );
  return {
    logger,
    flush: () => {
      try {
        file?.flushSync();
      } catch {
        // not ready yet (nothing written): nothing to flush
      }
    },
  };
}
