// /monitoring/deployments: start watching a deployment, read the history (newest first, paginated
// by an opaque cursor), read one (phase, timeline, looks, verdicts) and act on it (abort,
// promote, rollback). Same auth as the rest of /monitoring. The body of a start is the seed's
// DeploymentConfig, in camelCase or in the seed's snake_case (src/deploy/config.ts).

import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parseInput, queryInt } from "../api/validation.js";
import { TugError } from "../core/errors.js";
import type { DeploymentMonitor } from "../deploy/monitor.js";
import type { DeploymentStore } from "../deploy/store.js";
import { monitoringAuth } from "./auth.js";

export interface DeploymentRoutesOptions {
  monitor: DeploymentMonitor;
  store: DeploymentStore;
  token: string | undefined;
}

const listQuery = z.strictObject({
  limit: queryInt({ min: 1, max: 100 }).default(20),
  cursor: z
    .string()
    .regex(/^\d+~[A-Za-z0-9._:-]+$/, "must be the nextCursor of a previous page")
    .optional(),
});

const idParams = z.strictObject({ id: z.string().min(1).max(128) });

const actionBody = z.strictObject({ reason: z.string().min(1).max(1000).optional() }).optional();

export async function deploymentRoutes(app: FastifyInstance, opts: DeploymentRoutesOptions): Promise<void> {
  const { monitor, store } = opts;
  app.addHook("onRequest", monitoringAuth(opts.token, new Set()));

  app.post("/monitoring/deployments", async (req, reply) => {
    const id = await monitor.startDeploymentMonitoring(req.body ?? {});
    reply.code(201).header("location", `/monitoring/deployments/${encodeURIComponent(id)}`);
    return { deployment: monitor.get(id) };
  });

  app.get("/monitoring/deployments", async (req, reply) => {
    reply.header("cache-control", "no-store");
    const { limit, cursor } = parseInput(listQuery, req.query, "query");
    const before = cursor
      ? { startedAt: Number(cursor.slice(0, cursor.indexOf("~"))), id: cursor.slice(cursor.indexOf("~") + 1) }
      : undefined;
    const page = store.list(limit + 1, before);
    const shown = page.slice(0, limit);
    const last = shown[shown.length - 1];
    return {
      deployments: shown.map(({ config: _c, notified: _n, ...r }) => ({
        ...r,
        endsAt: r.startedAt + _c.monitoringDurationMinutes * 60_000,
      })),
      inProgress: monitor.inProgress,
      total: store.count(),
      nextCursor: page.length > limit && last ? `${last.startedAt}~${last.id}` : null,
    };
  });

  app.get("/monitoring/deployments/:id", async (req, reply) => {
    reply.header("cache-control", "no-store");
    const { id } = parseInput(idParams, req.params, "path");
    const d = monitor.get(id);
    if (!d) throw new TugError("NOT_FOUND", `No deployment with id ${id}`);
    return { deployment: d };
  });

  for (const action of ["abort", "promote", "rollback"] as const) {
    app.post(`/monitoring/deployments/:id/${action}`, async (req) => {
      const { id } = parseInput(idParams, req.params, "path");
      const reason = parseInput(actionBody, req.body ?? undefined)?.reason;
      return { deployment: monitor[action](id, reason) };
    });
  }
}
