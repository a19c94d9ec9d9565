import type { FinishedReply, FinishedRequest } from "../metrics/http.js";
import { type LineLevel, type LineWriter, type Logger, lineWriterOf } from "./logger.js";
import { redactUrl } from "./redact.js";

export interface AccessLogOptions {
  enabled: boolean;
  /** Share of successful requests logged, by route template (default 1). */
  sampleRates: Record<string, number>;
  random?: () => number;
  /**
   * The LineWriter of the logger every request's logger is a child of (the app's), found once;
   * without it each request's logger is asked for its own.
   */
  writer?: LineWriter;
}

/** Longest URL quoted in an access line; longer ones are cut and marked with `…`. */
const MAX_URL_CHARS = 2048;

const MESSAGES: Record<LineLevel, string> = {
  info: "request completed",
  warn: "request rejected",
  error: "request failed",
};

/**
 * One access line per request: method, route, URL as received (secrets redacted), status,
 * duration, bytes and (through the request's child logger) the request id. Successful requests
 * on a route with a sample rate below 1 are sampled; 4xx are warnings and 5xx errors, never
 * sampled. Requests Fastify never routed (HTTP parse errors, malformed URLs) come here too,
 * from src/http/errors.ts, so every request answered has its line.
 *
 * With the app's logger (src/logs/logger.ts) the line goes through its LineWriter: the same bytes
 * as `req.log.info({...}, msg)`, for about a fifth of the CPU (bench/access-line.ts), and with the
 * log thread (src/logs/thread) built there from its parts. Its free-form values, the URL and the
 * request's bindings, go through the logger's secret scrubber; the rest are numbers, a known
 * method and a route template.
 */
export function accessLogger(opts: AccessLogOptions) {
  const random = opts.random ?? Math.random;
  const rates = new Map(Object.entries(opts.sampleRates));
  const sampling = rates.size > 0;
  const given = opts.writer;
  return (
    req: FinishedRequest,
    reply: FinishedReply | undefined,
    route: string,
    statusCode: number,
    seconds: number,
  ): void => {
    if (!opts.enabled) return;
    if (sampling && statusCode < 400) {
      const rate = rates.get(route);
      if (rate !== undefined && (rate <= 0 || random() >= rate)) return;
    }
    const level: LineLevel = statusCode >= 500 ? "error" : statusCode >= 400 ? "warn" : "info";
    const log = req.log as Logger;
    if (!log.isLevelEnabled(level)) return;
    const length = reply?.getHeader("content-length");
    const raw = req.originalUrl ?? req.url;
    const url = raw.length > MAX_URL_CHARS ? `${raw.slice(0, MAX_URL_CHARS)}…` : raw;
    const durationMs = Math.round(seconds * 1e6) / 1000;
    const bytes = length === undefined ? undefined : Number(length);
    const writer = given ?? lineWriterOf(log);
    if (writer) {
      writer.access(log, level, MESSAGES[level], req.method, route, url, statusCode, durationMs, bytes);
      return;
    }
    // Any other logger (a test's, a caller's own): the same line through pino.
    log[level](
      { event: "access", method: req.method, route, url: redactUrl(url), statusCode, durationMs, bytes },
      MESSAGES[level],
    );
  };
}
