import type { FastifyReply, FastifyRequest } from "fastify";
import { redactUrl } from "./redact.js";

export interface AccessLogOptions {
  enabled: boolean;
  /** Share of successful requests logged, by route template (default 1). */
  sampleRates: Record<string, number>;
  random?: () => number;
}

/**
 * One access line per request: method, route, URL (secrets redacted), status, duration,
 * bytes and (through the request's child logger) the request id. Successful requests on a
 * route with a sample rate below 1 are sampled; 4xx are warnings and 5xx errors, never sampled.
 */
export function accessLogger(opts: AccessLogOptions) {
  const random = opts.random ?? Math.random;
  const rates = new Map(Object.entries(opts.sampleRates));
  return (
    req: FastifyRequest,
    reply: FastifyReply | undefined,
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
    const line = {
      event: "access",
      method: req.method,
      route,
      url: redactUrl(req.url),
      statusCode,
      durationMs: Math.round(seconds * 1e6) / 1000,
      bytes: length === undefined ? undefined : Number(length),
    };
    if (statusCode >= 500) req.log.error(line, "request failed");
    else if (statusCode >= 400) req.log.warn(line, "request rejected");
    else req.log.info(line, "request completed");
  };
}
