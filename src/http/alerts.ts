// /monitoring/alerts, /monitoring/silences and Alertmanager's alert intake: what is firing and
// why it is (or is not) being sent, the history, silences, and test notifications.

import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { AlertInputError, type Notifier, SilenceError } from "../alerts/notify/index.js";
import type { ApiAlert } from "../alerts/rules/index.js";
import { parseInput } from "../api/validation.js";
import { TugError } from "../core/errors.js";
import { monitoringAuth } from "./auth.js";

export interface AlertRoutesOptions {
  notifier: Notifier;
  /** The rule engine's pending and firing alerts (Prometheus's /api/v1/alerts). */
  ruleAlerts: () => ApiAlert[];
  token: string | undefined;
  now?: () => number;
}

const rfc3339 = z.iso.datetime({ offset: true });

const silenceBody = z.strictObject({
  id: z.string().min(1).optional(),
  matchers: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        value: z.string(),
        isRegex: z.boolean(),
        isEqual: z.boolean().default(true),
      }),
    )
    .min(1),
  startsAt: rfc3339.optional(),
  endsAt: rfc3339,
  createdBy: z.string().min(1),
  comment: z.string().min(1),
});

const historyQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
  since: rfc3339.optional(),
  alertname: z.string().min(1).optional(),
});

const postableAlerts = z.array(
  z.looseObject({
    labels: z.record(z.string(), z.string()),
    annotations: z.record(z.string(), z.string()).optional(),
    startsAt: z.string().optional(),
    endsAt: z.string().optional(),
    generatorURL: z.string().optional(),
  }),
);

function fieldError(err: SilenceError | AlertInputError): TugError {
  if (err instanceof SilenceError && err.status === 404) return new TugError("NOT_FOUND", err.message);
  return new TugError("VALIDATION_FAILED", `Invalid body: ${err.message}`, [
    { field: err.field, message: err.message },
  ]);
}

export async function alertRoutes(app: FastifyInstance, opts: AlertRoutesOptions): Promise<void> {
  const { notifier } = opts;
  const now = opts.now ?? Date.now;
  app.addHook("onRequest", monitoringAuth(opts.token, new Set()));

  app.get("/monitoring/alerts", async (_req, reply) => {
    reply.header("cache-control", "no-store");
    const fromRules = opts.ruleAlerts().map((a) => ({
      labels: a.labels,
      annotations: a.annotations,
      state: a.state,
      since: a.activeAt,
      value: a.value,
      source: "rules" as const,
      notification: notifier.status(a.labels),
    }));
    // Alerts posted by other clients (through /monitoring/api/v2/alerts) have no rule state.
    const known = new Set(fromRules.map((a) => JSON.stringify(Object.entries(a.labels).sort())));
    const posted = notifier
      .alerts()
      .filter((a) => !known.has(JSON.stringify(Object.entries(a.labels).sort())))
      .map((a) => ({
        labels: a.labels,
        annotations: a.annotations,
        state: "firing" as const,
        since: a.startsAt,
        value: null,
        source: "api" as const,
        notification: a.status,
      }));
    return { alerts: [...fromRules, ...posted], groups: notifier.groups() };
  });

  app.get("/monitoring/alerts/history", async (req, reply) => {
    reply.header("cache-control", "no-store");
    const q = parseInput(historyQuery, req.query, "query");
    return {
      entries: notifier.listHistory({
        limit: q.limit,
        ...(q.since ? { since: Date.parse(q.since) } : {}),
        ...(q.alertname ? { alertname: q.alertname } : {}),
      }),
    };
  });

  app.post("/monitoring/alerts/test", async (req) => {
    const body = parseInput(z.strictObject({ receiver: z.string().min(1) }), req.body);
    if (!notifier.receiverNames().includes(body.receiver)) {
      throw new TugError(
        "VALIDATION_FAILED",
        `Invalid body: no receiver named ${JSON.stringify(body.receiver)}`,
        [{ field: "receiver", message: `expected one of ${notifier.receiverNames().join(", ")}` }],
      );
    }
    const results = await notifier.test(body.receiver);
    return { receiver: body.receiver, ok: results.every((r) => r.ok), results };
  });

  app.get("/monitoring/silences", async (_req, reply) => {
    reply.header("cache-control", "no-store");
    return notifier.silences.list();
  });

  app.get<{ Params: { id: string } }>("/monitoring/silences/:id", async (req) => {
    const s = notifier.silences.get(req.params.id);
    if (!s) throw new TugError("NOT_FOUND", `silence ${req.params.id} not found`);
    return s;
  });

  app.post("/monitoring/silences", async (req, reply) => {
    const body = parseInput(silenceBody, req.body);
    try {
      const silenceID = notifier.silences.set({
        ...(body.id ? { id: body.id } : {}),
        matchers: body.matchers,
        startsAt: body.startsAt ? Date.parse(body.startsAt) : now(),
        endsAt: Date.parse(body.endsAt),
        createdBy: body.createdBy,
        comment: body.comment,
      });
      reply.code(200);
      return { silenceID };
    } catch (err) {
      if (err instanceof SilenceError) throw fieldError(err);
      throw err;
    }
  });

  app.delete<{ Params: { id: string } }>("/monitoring/silences/:id", async (req) => {
    try {
      notifier.silences.expire(req.params.id);
      return { expired: req.params.id };
    } catch (err) {
      if (err instanceof SilenceError) throw fieldError(err);
      throw err;
    }
  });

  // Alertmanager's intake, so Prometheus (or anything that speaks to Alertmanager) can send
  // alerts to the embedded notifier.
  app.post("/monitoring/api/v2/alerts", async (req) => {
    const alerts = parseInput(postableAlerts, req.body);
    try {
      notifier.receive(alerts);
    } catch (err) {
      if (err instanceof AlertInputError) throw fieldError(err);
      throw err;
    }
    return {};
  });
}
