// Cross-site request forgery on the mutating /monitoring routes (silences, deployment actions,
// alerts intake, acknowledgements, test notifications). A browser does not attach the bearer
// token on its own (it is a header the page's script adds, not a cookie), so a forged request
// from another site arrives without it; outside development that alone refuses it. In
// development the routes are open, so the browser's own word decides: a mutation whose
// `Sec-Fetch-Site` is cross-site or same-site, or whose `Origin` is not this server, is answered
// 403. Tools (curl, Grafana, Alertmanager, the CI gate) send neither header and pass.
//
// The check is attached to those routes only, as each is registered, not run for every request:
// an API request never pays for it. (As a server-wide async onRequest hook it made Fastify go on
// with every API request from a resolved promise.)

import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import { TugError } from "../core/errors.js";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/** The hook itself: 403 for a cross-site mutation, else on. */
export function crossSiteGuard(req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  if (SAFE.has(req.method)) done();
  else done(crossSiteRefusal(req));
}

/** Whether a route changes monitoring state (and so gets the guard). */
export function isMonitoringMutation(route: Pick<RouteOptions, "url" | "method">): boolean {
  if (!route.url.startsWith("/monitoring")) return false;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  return methods.some((m) => !SAFE.has(m));
}

/**
 * Attaches the guard to every mutating /monitoring route registered on `app` from now on (call it
 * before any route is registered), ahead of the route's own onRequest hooks.
 */
export function guardMonitoringMutations(app: FastifyInstance): void {
  app.addHook("onRoute", (route) => {
    if (!isMonitoringMutation(route)) return;
    route.onRequest = [crossSiteGuard, ...[route.onRequest ?? []].flat()];
  });
}

function crossSiteRefusal(req: FastifyRequest): TugError | undefined {
  const site = req.headers["sec-fetch-site"];
  if (typeof site === "string" && site !== "same-origin" && site !== "none") {
    return new TugError(
      "FORBIDDEN",
      `Cross-site request refused: Sec-Fetch-Site is ${site}; change monitoring state from the dashboard or a tool, not another site`,
    );
  }
  const origin = req.headers.origin;
  if (typeof origin !== "string") return undefined;
  const host = req.headers.host;
  if (host !== undefined && URL.parse(origin)?.host === host) return undefined; // "null", garbage: not this server
  return new TugError(
    "FORBIDDEN",
    `Cross-site request refused: Origin ${origin.slice(0, 200)} is not this server (${host ?? "no Host"})`,
  );
}
