// The built-in dashboard's routes (docs/dashboard.md):
//   GET /monitoring/                       the page (open: a shell with no data; it asks for the token)
//   GET /monitoring, /monitoring/dashboard  302 to it
//   GET /monitoring/dashboard/assets/:name  the bundled script and stylesheet (open: code, no data)
//   GET /monitoring/dashboard/config        views, ranges within retention, service (token)
//   GET /monitoring/dashboard/live          server-sent events of one view over a preset range or a
//                                           from/to window, optionally one route's drill-down (token)

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { parseInput } from "../api/validation.js";
import { TugError } from "../core/errors.js";
import { type Bundle, CSP, renderPage } from "../dashboard/bundle.js";
import { type FixedRange, HubFullError, type LiveHub, sseFrame, type Window } from "../dashboard/hub.js";
import {
  MAX_POINTS,
  RANGES,
  ROUTE_PANELS,
  ROUTE_PATTERN,
  STEPS_MS,
  stepFor,
  VIEWS,
} from "../dashboard/panels.js";
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
  /** Parts configured (the page shows their panels): e.g. "redis". */
  features?: readonly string[];
  /** Wall clock (ms) for validating from/to; default Date.now. */
  now?: () => number;
}

const OPEN = new Set(["/monitoring", "/monitoring/", DASHBOARD_BASE, `${DASHBOARD_BASE}/assets/:name`]);

/** A time as the URL gives it: ISO 8601 (with a zone or Z), or Unix seconds as Prometheus takes them. */
const UNIX_SECONDS = /^\d{1,11}(\.\d{1,3})?$/;
// With its zone: a time without one would be read in the server's zone, not the page's.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
const instant = z
  .string({ error: "must be given once, as an ISO 8601 time or Unix seconds" })
  .transform((v, ctx) => {
    const ms = UNIX_SECONDS.test(v) ? Number(v) * 1000 : ISO_TIME.test(v) ? Date.parse(v) : Number.NaN;
    if (!Number.isFinite(ms)) {
      ctx.addIssue({
        code: "custom",
        message: "must be an ISO 8601 time with its zone (2026-12-06T22:00:00Z) or Unix seconds",
      });
      return z.NEVER;
    }
    return Math.round(ms);
  });

const liveQuery = z.strictObject({
  view: z.enum(VIEWS, { error: `must be one of ${VIEWS.join(", ")}` }),
  range: z
    .enum(
      RANGES.map((r) => r.id),
      { error: `must be one of ${RANGES.map((r) => r.id).join(", ")}` },
    )
    .optional(),
  from: instant.optional(),
  to: instant.optional(),
  route: z
    .string({ error: "must be given once" })
    .regex(ROUTE_PATTERN, "must be a route of 1 to 300 printable characters")
    .optional(),
});

const invalid = (field: string, message: string) =>
  new TugError("VALIDATION_FAILED", `Invalid query: check ${field}`, [{ field, message }]);

const minutes = (ms: number) =>
  ms >= 86_400_000 ? `${Math.round(ms / 3_600_000)} h` : `${Math.round(ms / 60_000)} min`;

/**
 * The window of a live request: a preset within retention, or from/to — from before to, from
 * within the store's retention, to not in the future, at most MAX_POINTS points at the longest
 * step. Each refusal names its field.
 */
export function liveWindow(
  q: { range?: string | undefined; from?: number | undefined; to?: number | undefined },
  o: { presets: ReadonlyArray<{ id: string }>; retentionMs: number; scrapeIntervalMs: number; now: number },
): Window {
  if (q.from === undefined && q.to === undefined) {
    if (q.range === undefined)
      throw invalid("range", `is required (one of ${o.presets.map((r) => r.id).join(", ")}), or from and to`);
    if (!o.presets.some((r) => r.id === q.range))
      throw invalid("range", `is longer than the store keeps (${minutes(o.retentionMs)})`);
    return q.range as Window;
  }
  if (q.range !== undefined) throw invalid("range", "give either range or from and to, not both");
  if (q.from === undefined) throw invalid("from", "is required with to");
  if (q.to === undefined) throw invalid("to", "is required with from");
  if (q.from >= q.to) throw invalid("from", "must be before to");
  if (q.from < o.now - o.retentionMs)
    throw invalid(
      "from",
      `is older than the store keeps (${minutes(o.retentionMs)}): the earliest is ${new Date(o.now - o.retentionMs).toISOString()}`,
    );
  if (q.to > o.now + 60_000) throw invalid("to", "is in the future");
  if (stepFor(q.to - q.from, o.scrapeIntervalMs) === undefined) {
    const longest = STEPS_MS[STEPS_MS.length - 1] as number;
    throw invalid(
      "to",
      `the window is longer than ${MAX_POINTS} points at the longest step (${longest / 60_000} min): at most ${minutes(MAX_POINTS * longest)}`,
    );
  }
  return { fromMs: q.from, toMs: q.to } satisfies FixedRange;
}

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
      features: opts.features ?? [],
      maxPoints: MAX_POINTS,
      ranges: ranges.map((r) => ({ id: r.id, ms: r.ms, refreshMs: hub.intervalMs(r.id) })),
    };
  });

  app.get(`${DASHBOARD_BASE}/live`, async (req, reply) => {
    const q = parseInput(liveQuery, req.query, "query");
    const { view, route } = q;
    const range = liveWindow(q, {
      presets: ranges,
      retentionMs: opts.retentionMs,
      scrapeIntervalMs: opts.scrapeIntervalMs,
      now: (opts.now ?? Date.now)(),
    });
    if (route !== undefined && !ROUTE_PANELS[view])
      throw invalid("route", `only the ${Object.keys(ROUTE_PANELS).join(", ")} view drills into a route`);
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
      unsubscribe = hub.subscribe(
        view,
        range,
        {
          send: (frame) => {
            // A page whose connection is gone is let go at the next frame, whatever the events said.
            if (raw.destroyed || raw.writableEnded || raw.socket?.destroyed) close();
            else raw.write(frame);
          },
        },
        route !== undefined ? { route } : {},
      );
    } catch (err) {
      if (err instanceof HubFullError) {
        reply.header("retry-after", "30");
        throw new TugError("LIMIT_EXCEEDED", err.message, [
          {
            field: err.what === "listeners" ? "dashboard.maxClients" : "dashboard.maxParamGroups",
            message: err.message,
          },
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
      sseFrame(
        "hello",
        Buffer.from(
          JSON.stringify({
            view,
            range,
            ...(route !== undefined ? { route } : {}),
            refreshMs: hub.intervalMs(range),
          }),
        ),
      ),
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
