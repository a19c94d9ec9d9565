// The HTTP server: Fastify with the app's hooks and error handling, listening early in start-up
// (the probes answer while migrations and first checks run); the TUG API's routes; and readiness,
// the last unit started and so the first stopped: it turns the app ready, and at stop it fails
// readiness, waits the drain delay, stops accepting and lets in-flight requests finish.

import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { apiPlugin } from "../api/index.js";
import { trackConnections } from "../http/connections.js";
import { guardMonitoringMutations } from "../http/cross-site.js";
import { fastifyErrorOptions, installErrorHandling } from "../http/errors.js";
import { accessLogger } from "../logs/access.js";
import { lineWriterOf } from "../logs/logger.js";
import { type AppCapability, need } from "./context.js";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const httpServer: AppCapability = {
  name: "http",
  build(ctx) {
    const { config, state } = ctx;
    const logger = need(ctx, "logger", "http");
    const fastify: FastifyInstance = Fastify({
      ...fastifyErrorOptions(),
      loggerInstance: logger as unknown as FastifyBaseLogger,
      // Fastify's own two lines per request are off: the access log is ours.
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: config.server.bodyLimitBytes,
      trustProxy: config.server.trustProxy,
      requestIdHeader: false,
      // Requests that arrive on an open connection while we drain are served, not refused:
      // responses then carry `connection: close` so clients reconnect elsewhere.
      return503OnClosing: false,
      forceCloseConnections: "idle",
      genReqId: (req) => {
        const incoming = req.headers["x-request-id"];
        return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
      },
    });
    // The HTTP metrics' start and end ride on hooks the server has anyway (HttpMetrics.install).
    const metrics = ctx.metrics?.http;
    ctx.connections = trackConnections(fastify.server, {
      onResponseClosed: metrics ? (req) => metrics.closed(req) : undefined,
    });
    fastify.addHook("onRequest", (req, reply, done) => {
      metrics?.started(req);
      reply.header("x-request-id", req.id);
      if (state.closing) reply.header("connection", "close");
      done();
    });
    installErrorHandling(fastify);
    guardMonitoringMutations(fastify);
    // A JSON API: a text/plain body is refused with 415 rather than parsed as a string.
    fastify.removeContentTypeParser("text/plain");
    metrics?.install(fastify, accessLogger({ ...config.log.access, writer: lineWriterOf(logger) }), {
      byCaller: true,
    });
    ctx.fastify = fastify;
    return [
      {
        name: "http listen",
        start: async () => {
          state.address = await fastify.listen({
            host: config.server.host,
            port: config.server.port,
            // The socket listens early so that the probes answer during start-up; say so, since
            // "listening" is not "ready" (the start-up summary follows once it is).
            listenTextResolver: (address) => `HTTP socket open at ${address}; starting (not ready yet)`,
          });
        },
        // Closing the server is readiness' stop: the drain comes first.
      },
    ];
  },
};

/** The TUG API, after the extra plugins (the benchmark's fastify-metrics variant). */
export const apiRoutes: AppCapability = {
  name: "api",
  async build(ctx) {
    const { config } = ctx;
    const fastify = need(ctx, "fastify", "api");
    for (const plugin of ctx.opts.plugins ?? []) await plugin(fastify);
    await fastify.register(apiPlugin, {
      db: need(ctx, "db", "api"),
      sessions: need(ctx, "sessions", "api"),
      sessionTtlSeconds: config.api.sessionTtlSeconds,
      passwordMinLength: config.api.passwordMinLength,
      loginThrottle: config.api.loginThrottle,
      tracker: ctx.metrics?.users,
      now: ctx.now,
    });
    // The first URL a newcomer opens: a browser goes to the dashboard, anything else gets the map.
    const service = ctx.service;
    fastify.get("/", async (req, reply) => {
      const dashboard = ctx.monitoring ? "/monitoring/" : null;
      if (dashboard && /\btext\/html\b/.test(req.headers.accept ?? "")) return reply.redirect(dashboard);
      return {
        service: service?.serviceId ?? config.service.name,
        release: service?.releaseId ?? null,
        dashboard,
        api: "/api/v1 (docs/api.md in the repository)",
        health: ctx.monitoring ? "/monitoring/health" : null,
        probes: { live: "/monitoring/health/live", ready: "/monitoring/health/ready" },
        metrics: ctx.monitoring ? "/monitoring/metrics" : null,
        prometheusApi: ctx.monitoring ? "/monitoring/api/v1" : null,
      };
    });
    return [];
  },
};

export const readiness: AppCapability = {
  name: "readiness",
  build(ctx) {
    const { config, state } = ctx;
    const fastify = need(ctx, "fastify", "readiness");
    const logger = need(ctx, "logger", "readiness");
    const connections = need(ctx, "connections", "readiness");
    return [
      {
        name: "readiness",
        start: () => {
          if (state.phase === "starting") state.phase = "ready";
        },
        stop: async () => {
          state.phase = "draining";
          logger.info({ drainDelayMs: state.drainDelayMs }, "shutdown: readiness now fails; draining");
          if (state.drainDelayMs > 0) await sleep(state.drainDelayMs);
          state.closing = true;
          const closed = fastify.close();
          // Sockets opened but never used (a client's spare keep-alive connection) would hold close().
          connections.closeIdle();
          await closed;
          state.phase = "stopped";
        },
        // In-flight requests get `shutdown.timeoutMs` after the drain (then `tug serve` exits).
        stopTimeoutMs: () => state.drainDelayMs + config.shutdown.timeoutMs,
      },
    ];
  },
};
