import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { TugError } from "../core/errors.js";

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * onRequest hook guarding /monitoring/*: Bearer MONITORING_TOKEN, compared in constant time.
 * With no token configured (allowed in development only) the endpoints are open.
 */
export function monitoringAuth(token: string | undefined, open: ReadonlySet<string>) {
  const expected = token ? digest(token) : undefined;
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!expected) return;
    const route = req.routeOptions.url;
    if (route && open.has(route)) return;
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m?.[1]) {
      reply.header("www-authenticate", 'Bearer realm="monitoring"');
      throw new TugError(
        "UNAUTHENTICATED",
        "Send Authorization: Bearer <MONITORING_TOKEN> to use /monitoring",
      );
    }
    if (!timingSafeEqual(digest(m[1]), expected)) throw new TugError("MONITORING_TOKEN_INVALID");
  };
}
