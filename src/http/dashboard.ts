// The built-in dashboard's routes (docs/dashboard.md):
//   GET /monitoring/                       the page (open: a shell with no data; it asks for the token)
//   GET /monitoring, /monitoring/dashboard  302 to it
//   GET /monitoring/dashboard/assets/:name  the bundled script and stylesheet (open: code, no data)
//   GET /monitoring/dashboard/config        views, ranges within retention, service (token)
//   GET /monitoring/dashboard/live          server-sent events of one view and range (token)
// and the cross-site request check on every mutating /monitoring route (`crossSiteGuard`).

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { parseInput } from "../api/validation.js";
import { TugError } from "../core/errors.js";
import { type Bundle, CSP, renderPage } from "../dashboard/bundle.js";
import { HubFullError, type LiveHub, sseFrame } from "../dashboard/hub.js";
import { RANGES, VIEWS } from "../dashboard/panels.js";
import { monitoringAuth } from "./auth.js";

export const DASHBOARD_BASE = "/monitoring/dashboard";

export interface DashboardRoutesOptions {
  hub: LiveHub;
  /** The bundle, once built (start-up); a failure to build is answered 503 with its reason. */
  bundle: () => Promise<Bundle>;
  token: string | undefined;
  environment: string;
  retentionMs: number;
  scrapeIntervalMs: number;
  service: { name: string; version: string };
  /** Counts the stream as answered once its headers are sent (HttpMetrics.streamOpened). */
  streamOpened?: (req: FastifyRequest, statusCode: number) => void;
  /** Sent on idle streams so proxies keep them open. Default 15 s. */
  keepAliveMs?: number;
}

const OPEN = new Set(["/monitoring", "/monitoring/", DASHBOARD_BASE, `${DASHBOARD_BASE}/assets/:name`]);

const liveQuery = z.strictObject({
  view: z.enum(VIEWS, { error: `must be one of ${VIEWS.join(", ")}` }),
  range: z.enum(
    RANGES.map((r) => r.id),
    { error: `must be one of ${RANGES.map((r) => r.id).join(", ")}` },
  ),
});

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("x-frame-options", "DENY");
}

export async function dashboardRoutes(app: FastifyInstance, opts: DashboardRoutesOptions): Promise<void> {
  const { hub } = opts;
  app.addHook("onRequest", monitoringAuth(opts.token, OPEN));
  const ranges = RANGES.filter((r) => r.ms <= opts.retentionMs || r.id === "5m");

  // Streams never end by themselves: at shutdown they are ended before the server closes, so the
  // drain does not wait on them (the page reconnects, to this instance or the next).
  const streams = new Set<() => void>();
  app.addHook("preClose", (done) => {
    for (const end of [...streams]) end();
    done();
  });

  const redirect = async (_req: FastifyRequest, reply: FastifyReply) => reply.redirect("/monitoring/", 302);
  app.get("/monitoring", redirect);
  app.get(DASHBOARD_BASE, redirect);

  app.get("/monitoring/", async (_req, reply) => {
    const bundle = await opts.bundle();
    pageHeaders(reply).type("text/html; charset=utf-8").header("cache-control", "no-store");
    return renderPage(bundle, DASHBOARD_BASE);
  });

  app.get<{ Params: { name: string } }>(`${DASHBOARD_BASE}/assets/:name`, async (req, reply) => {
    const bundle = await opts.bundle();
    const a = [bundle.js, bundle.css].find((x) => x.name === req.params.name);
    if (!a) throw new TugError("NOT_FOUND", `No dashboard asset ${req.params.name}: reload the page`);
    pageHeaders(reply)
      .type(a.type)
      .header("cache-control", "public, max-age=31536000, immutable")
      .header("vary", "accept-encoding");
    if (/\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""))) {
      return reply.header("content-encoding", "gzip").send(a.gzip);
    }
    return reply.send(a.body);
  });

  app.get(`${DASHBOARD_BASE}/config`, async (_req, reply) => {
    reply.header("cache-control", "no-store");
    return {
      service: opts.service,
      environment: opts.environment,
      retentionMs: opts.retentionMs,
      scrapeIntervalMs: opts.scrapeIntervalMs,
      views: VIEWS,
      ranges: ranges.map((r) => ({ id: r.id, ms: r.ms, refreshMs: hub.intervalMs(r.id) })),
    };
  });

  app.get(`${DASHBOARD_BASE}/live`, async (req, reply) => {
    const { view, range } = parseInput(liveQuery, req.query, "query");
    if (!ranges.some((r) => r.id === range)) {
      throw new TugError("VALIDATION_FAILED", "Invalid query: check range", [
        {
          field: "range",
          message: `is longer than the store keeps (${Math.round(opts.retentionMs / 60_000)} min)`,
        },
      ]);
    }
    const raw = reply.raw;
    let unsubscribe: (() => void) | undefined;
    let keepAlive: NodeJS.Timeout | undefined;
    const close = () => {
      unsubscribe?.();
      if (keepAlive) clearInterval(keepAlive);
      streams.delete(end);
    };
    const end = () => {
      close();
      if (!raw.writableEnded) raw.end();
    };
    try {
      // Subscribing first: a full hub is answered 429 before any byte of the stream.
      unsubscribe = hub.subscribe(view, range, {
        send: (frame) => {
          // A page whose connection is gone is let go at the next frame, whatever the events said.
          if (raw.destroyed || raw.writableEnded || raw.socket?.destroyed) close();
          else raw.write(frame);
        },
      });
    } catch (err) {
      if (err instanceof HubFullError) {
        reply.header("retry-after", "30");
        throw new TugError("LIMIT_EXCEEDED", err.message, [
          { field: "dashboard.maxClients", message: err.message },
        ]);
      }
      throw err;
    }
    reply.hijack();
    raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      "x-request-id": req.id,
      connection: "keep-alive",
    });
    opts.streamOpened?.(req, 200);
    raw.write(
      sseFrame("hello", Buffer.from(JSON.stringify({ view, range, refreshMs: hub.intervalMs(range) }))),
    );
    keepAlive = setInterval(() => raw.write(": keep-alive\n\n"), opts.keepAliveMs ?? 15_000);
    keepAlive.unref();
    streams.add(end);
    req.raw.on("close", close);
    raw.on("close", close);
    raw.on("error", close);
    raw.socket?.once("close", close);
  });
}

/**
 * Cross-site request forgery on the mutating /monitoring routes (silences, deployment actions,
 * alerts intake, test notifications). A browser does not attach the bearer token on its own
 * (it is a header the page's script adds, not a cookie), so a forged request from another site
 * arrives without it; outside development that alone refuses it. In development the routes are
 * open, so the browser's own word decides: a mutation whose `Sec-Fetch-Site` is cross-site or
 * same-site, or whose `Origin` is not this server, is answered 403. Tools (curl, Grafana,
 * Alertmanager, the CI gate) send neither header and pass.
 */
export function crossSiteGuard() {
  const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
  return async (req: FastifyRequest): Promise<void> => {
    if (SAFE.has(req.method) || !req.url.startsWith("/monitoring")) return;
    const site = req.headers["sec-fetch-site"];
    if (typeof site === "string" && site !== "same-origin" && site !== "none") {
      throw new TugError(
        "FORBIDDEN",
        `Cross-site request refused: Sec-Fetch-Site is ${site}; change monitoring state from the dashboard or a tool, not another site`,
      );
    }
    const origin = req.headers.origin;
    if (typeof origin === "string") {
      const host = req.headers.host;
      let ok = false;
      try {
        ok = host !== undefined && new URL(origin).host === host;
      } catch {
        ok = false; // "null" or garbage: not this server
      }
      if (!ok) {
        throw new TugError(
          "FORBIDDEN",
          `Cross-site request refused: Origin ${origin.slice(0, 200)} is not this server (${host ?? "no Host"})`,
        );
      }
    }
  };
}
