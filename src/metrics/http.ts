import { METHODS } from "node:http";
import { performance } from "node:perf_hooks";
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type Counter, Gauge, type Registry } from "prom-client";
import type { GuardLogger } from "./guard.js";
import { HistogramFamily, type HistogramSeries, registerCounter, registerHistogram } from "./series.js";

/** The `route` label of every request that matched no route: one series, whatever the path. */
export const UNMATCHED_ROUTE = "__unmatched__";
/** The `method` label of a request whose method HTTP's parser did not know (e.g. `BREW`). */
export const UNKNOWN_METHOD = "__unknown__";
const KNOWN_METHODS = new Set(METHODS);

const LABELS = ["method", "route", "status_code"] as const;

/**
 * HTTP request metrics of DESIGN.md's contract, recorded by Fastify hooks.
 * http_requests_total and http_request_duration_seconds are two views of one series store:
 * the counter is the histogram's count, so a request costs one observation.
 */
export type FinishListener = (
  req: FinishedRequest,
  reply: FinishedReply | undefined,
  route: string,
  statusCode: number,
  seconds: number,
) => void;

/**
 * What the listeners read of a finished request: a FastifyRequest, or the stand-in built for a
 * request Fastify never routed (an HTTP parse error on the socket, a framework error).
 */
export interface FinishedRequest {
  method: string;
  url: string;
  /** The URL as received, before any rewrite (Fastify's `originalUrl`). */
  originalUrl?: string;
  log: FastifyBaseLogger;
}
export interface FinishedReply {
  getHeader(name: string): unknown;
}

const installedOn = new WeakMap<object, HttpMetrics>();
const ANSWERED_ON_SOCKET = Symbol("tug.answeredOnSocket");
/** The Fastify request of a raw request (set by `started`), for `closed`. */
const FASTIFY_REQUEST = Symbol("tug.fastifyRequest");
const answeredOnSocket = (raw: object) => (raw as { [ANSWERED_ON_SOCKET]?: number })[ANSWERED_ON_SOCKET];

/**
 * The request's answer was written straight to its socket (an HTTP parse error in its body, see
 * src/http/errors.ts) and the connection closed: its abort is counted with this status, not 499.
 */
export function markAnsweredOnSocket(raw: object, statusCode: number): void {
  (raw as { [ANSWERED_ON_SOCKET]?: number })[ANSWERED_ON_SOCKET] = statusCode;
}

/** The HttpMetrics installed on this (root) Fastify instance, if any. */
export function httpMetricsOf(app: object): HttpMetrics | undefined {
  return installedOn.get(app);
}

export class HttpMetrics {
  private onFinish: FinishListener | undefined;
  readonly store: HistogramFamily;
  readonly inFlight: Gauge;
  /**
   * Requests being served, read by the gauge when it is collected: prom-client's inc()/dec()
   * validate and hash an empty label set on every call, twice a request.
   */
  private inFlightCount = 0;
  /** method → route → status → series: no string is built per request. */
  private readonly index = new Map<string, Map<string, Map<number, HistogramSeries>>>();

  constructor(
    registry: Registry,
    buckets: number[],
    maxSeries: number,
    overflow: Counter<"metric">,
    logger?: GuardLogger,
  ) {
    this.store = new HistogramFamily("http_requests_total", LABELS, buckets, maxSeries, overflow, logger);
    registerCounter(
      registry,
      "http_requests_total",
      "HTTP requests served, by method, route template and status code",
      this.store,
      (s) => s.count,
    );
    registerHistogram(
      registry,
      "http_request_duration_seconds",
      "Time from receiving an HTTP request to finishing its response, in seconds",
      this.store,
    );
    this.inFlight = new Gauge({
      name: "http_requests_in_flight",
      help: "HTTP requests being served right now",
      registers: [registry],
      collect: () => this.inFlight.set(this.inFlightCount),
    });
  }

  /** Record one finished request. */
  record(method: string, route: string, statusCode: number, seconds: number): void {
    const cached = this.index.get(method)?.get(route)?.get(statusCode);
    if (cached !== undefined) {
      cached.observe(seconds);
      return;
    }
    const before = this.store.size;
    const series = this.store.get(`${method}\u0001${route}\u0001${statusCode}`, () => ({
      method,
      route,
      status_code: String(statusCode),
    }));
    // Only a label set with its own series is indexed: overflowed ones must not grow the index.
    if (this.store.size > before) {
      let byRoute = this.index.get(method);
      if (!byRoute) {
        byRoute = new Map();
        this.index.set(method, byRoute);
      }
      let byStatus = byRoute.get(route);
      if (!byStatus) {
        byStatus = new Map();
        byRoute.set(route, byStatus);
      }
      byStatus.set(statusCode, series);
    }
    series.observe(seconds);
  }

  /**
   * Install the hooks on a Fastify instance (call before routes are registered). `onFinish`
   * runs in the same hook once per request (the access log), so logging costs no extra hook.
   *
   * With `byCaller`, the caller's own hooks tell what two hooks of ours would: its onRequest hook
   * calls `started(req)` and the server's per-response `close` listener calls `closed(raw)`
   * (src/app/http.ts, src/http/connections.ts). That spares each request a hook and the `close`
   * listener and closure Fastify adds per request for an `onRequestAbort` hook: about 1k
   * instructions of ~160k (bench/README.md, "Issue 12, session 15").
   */
  install(app: FastifyInstance, onFinish?: FinishListener, opts: { byCaller?: boolean } = {}): void {
    this.onFinish = onFinish;
    installedOn.set(app, this);
    app.decorateRequest("tugStartMs", 0);
    app.decorateRequest("tugRecorded", false);
    if (!opts.byCaller) {
      app.addHook("onRequest", (req: FastifyRequest, _reply: FastifyReply, done: () => void) => {
        this.started(req);
        done();
      });
      // A client that hangs up before the response is complete: count it as nginx does (499)
      // so in-flight never leaks and the request is not lost from the totals.
      app.addHook("onRequestAbort", (req: FastifyRequest, done: () => void) => {
        this.finish(req, undefined, answeredOnSocket(req.raw) ?? 499);
        done();
      });
    }
    app.addHook("onResponse", (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      this.finish(req, reply, reply.statusCode);
      done();
    });
  }

  /** A request begins (its onRequest hook): timed from here, in flight until it is recorded. */
  started(req: FastifyRequest): void {
    req.tugStartMs = performance.now();
    this.inFlightCount++;
    (req.raw as { [FASTIFY_REQUEST]?: FastifyRequest })[FASTIFY_REQUEST] = req;
  }

  /**
   * A response closed (install's `byCaller`). Finished ones were recorded by onResponse already;
   * one closed unfinished is a client that hung up: counted as nginx does (499), so in-flight
   * never leaks and the request is not lost from the totals.
   */
  closed(raw: object): void {
    const req = (raw as { [FASTIFY_REQUEST]?: FastifyRequest })[FASTIFY_REQUEST];
    if (req !== undefined && !req.tugRecorded) this.finish(req, undefined, answeredOnSocket(raw) ?? 499);
  }

  /**
   * A request that never went through Fastify's hooks (a socket-level parse error answered by
   * the clientError handler, a framework error before routing): counted and access-logged like
   * an unmatched route. A method HTTP does not know is labelled `__unknown__`, so garbage cannot
   * grow the label set.
   */
  recordOutside(
    req: FinishedRequest,
    reply: FinishedReply | undefined,
    statusCode: number,
    seconds = 0,
  ): void {
    const method = KNOWN_METHODS.has(req.method) ? req.method : UNKNOWN_METHOD;
    this.record(method, UNMATCHED_ROUTE, statusCode, seconds);
    this.onFinish?.(
      method === req.method ? req : { ...req, method },
      reply,
      UNMATCHED_ROUTE,
      statusCode,
      seconds,
    );
  }

  /**
   * A streaming response (the dashboard's server-sent events) counts as answered once its headers
   * are sent: its time to open is its duration, and it is not in flight while it streams.
   */
  streamOpened(req: FastifyRequest, statusCode: number): void {
    this.finish(req, undefined, statusCode);
  }

  private finish(req: FastifyRequest, reply: FastifyReply | undefined, statusCode: number): void {
    if (req.tugRecorded) return;
    req.tugRecorded = true;
    this.inFlightCount--;
    const route = req.routeOptions.url ?? UNMATCHED_ROUTE;
    const seconds = (performance.now() - req.tugStartMs) / 1000;
    this.record(req.method, route, statusCode, seconds);
    this.onFinish?.(req, reply, route, statusCode, seconds);
  }
}

declare module "fastify" {
  interface FastifyRequest {
    tugStartMs: number;
    tugRecorded: boolean;
  }
}
