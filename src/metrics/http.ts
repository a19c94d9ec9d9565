import { performance } from "node:perf_hooks";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { GuardedChildren, type GuardLogger } from "./guard.js";

/** The `route` label of every request that matched no route: one series, whatever the path. */
export const UNMATCHED_ROUTE = "__unmatched__";

const LABELS = ["method", "route", "status_code"] as const;

interface Child {
  inc(): void;
  observe(seconds: number): void;
}

/** HTTP request metrics of DESIGN.md's contract, recorded by Fastify hooks. */
export class HttpMetrics {
  readonly requests: Counter<(typeof LABELS)[number]>;
  readonly duration: Histogram<(typeof LABELS)[number]>;
  readonly inFlight: Gauge;
  private readonly children: GuardedChildren<Child>;
  private readonly statusText = new Map<number, string>();

  constructor(
    registry: Registry,
    buckets: number[],
    maxSeries: number,
    overflow: Counter<"metric">,
    logger?: GuardLogger,
  ) {
    this.requests = new Counter({
      name: "http_requests_total",
      help: "HTTP requests served, by method, route template and status code",
      labelNames: LABELS,
      registers: [registry],
    });
    this.duration = new Histogram({
      name: "http_request_duration_seconds",
      help: "Time from receiving an HTTP request to finishing its response, in seconds",
      labelNames: LABELS,
      buckets,
      registers: [registry],
    });
    this.inFlight = new Gauge({
      name: "http_requests_in_flight",
      help: "HTTP requests being served right now",
      registers: [registry],
    });
    const requests = this.requests;
    const duration = this.duration;
    this.children = new GuardedChildren<Child>(
      "http_requests_total",
      LABELS,
      maxSeries,
      (labels) => {
        const counter = requests.labels(labels);
        const histogram = duration.labels(labels);
        return { inc: () => counter.inc(), observe: (s) => histogram.observe(s) };
      },
      overflow,
      logger,
    );
  }

  /** Record one finished request. */
  record(method: string, route: string, statusCode: number, seconds: number): void {
    let status = this.statusText.get(statusCode);
    if (status === undefined) {
      status = String(statusCode);
      if (this.statusText.size < 1000) this.statusText.set(statusCode, status);
    }
    const child = this.children.get(`${method}\u0001${route}\u0001${status}`, () => ({
      method,
      route,
      status_code: status,
    }));
    child.inc();
    child.observe(seconds);
  }

  /** Install the hooks on a Fastify instance (call before routes are registered). */
  install(app: FastifyInstance): void {
    app.decorateRequest("tugStartMs", 0);
    app.decorateRequest("tugRecorded", false);
    app.addHook("onRequest", (req: FastifyRequest, _reply: FastifyReply, done: () => void) => {
      req.tugStartMs = performance.now();
      this.inFlight.inc();
      done();
    });
    app.addHook("onResponse", (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      this.finish(req, reply.statusCode);
      done();
    });
    // A client that hangs up before the response is complete: count it as nginx does (499)
    // so in-flight never leaks and the request is not lost from the totals.
    app.addHook("onRequestAbort", (req: FastifyRequest, done: () => void) => {
      this.finish(req, 499);
      done();
    });
  }

  private finish(req: FastifyRequest, statusCode: number): void {
    if (req.tugRecorded) return;
    req.tugRecorded = true;
    this.inFlight.dec();
    const route = req.routeOptions.url ?? UNMATCHED_ROUTE;
    this.record(req.method, route, statusCode, (performance.now() - req.tugStartMs) / 1000);
  }
}

declare module "fastify" {
  interface FastifyRequest {
    tugStartMs: number;
    tugRecorded: boolean;
  }
}
