import type { FinishedReply, FinishedRequest } from "../metrics/http.js";
import { redactUrl } from "./redact.js";

export interface AccessLogOptions {
  enabled: boolean;
  /** Share of successful requests logged, by route template (default 1). */
  sampleRates: Record<string, number>;
  random?: () => number;
}

/** Longest URL quoted in an access line; longer ones are cut and marked with `…`. */
const MAX_URL_CHARS = 2048;

/**
 * One access line per request: method, route, URL as received (secrets redacted), status,
 * duration, bytes and (through the request's child logger) the request id. Successful requests
 * on a route with a sample rate below 1 are sampled; 4xx are warnings and 5xx errors, never
 * sampled. Requests Fastify never routed (HTTP parse errors, malformed URLs) come here too,
 * from src/http/errors.ts, so every request answered has its line.
 */
export function accessLogger(opts: AccessLogOptions) {
  const random = opts.random ?? Math.random;
  const rates = new Map(Object.entries(opts.sampleRates));
  return (
    req: FinishedRequest,
    reply: FinishedReply | undefined,
    route: string,
    statusCode: number,
    seconds: number,
  ): void => {
    if (!opts.enabled) return;
    if (statusCode < 400) {
      const rate = rates.get(route);
      if (rate !== undefined && (rate <= 0 || random() >= rate)) return;
    }
    const length = reply?.getHeader("content-length");
    const raw = req.originalUrl ?? req.url;
    const url = raw.length > MAX_URL_CHARS ? `${raw.slice(0, MAX_URL_CHARS)}…` : raw;
    const line = {
      event: "access",
      method: req.method,
      route,
      url: redactUrl(url),
      statusCode,
      durationMs: Math.round(seconds * 1e6) / 1000,
      bytes: length === undefined ? undefined : Number(length),
    };
    if (statusCode >= 500) req.log.error(line, "request failed");
    else if (statusCode >= 400) req.log.warn(line, "request rejected");
    else req.log.info(line, "request completed");
  };
}
