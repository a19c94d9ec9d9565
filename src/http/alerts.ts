// /monitoring/alerts, /monitoring/silences and Alertmanager's alert intake: what is firing and
// why it is (or is not) being sent, the history, silences, and test notifications. Listings are
// paginated (limit/offset, as /api/v1/activities) and the intake is bounded by
// `notifications.limits`: a 400 names the alert and field, a 429 the limit that was reached.

import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import {
  AlertInputError,
  fingerprint,
  type Notifier,
  type NotifierLimits,
  type PostableAlert,
  SilenceError,
} from "../alerts/notify/index.js";
import type { ApiAlert } from "../alerts/rules/index.js";
import { parseInput, queryInt } from "../api/validation.js";
import { type FieldError, TugError } from "../core/errors.js";
import { ackRoutes, isSignedAck } from "./ack.js";
import { monitoringAuth } from "./auth.js";

export interface AlertRoutesOptions {
  notifier: Notifier;
  /** The rule engine's pending and firing alerts (Prometheus's /api/v1/alerts). */
  ruleAlerts: () => ApiAlert[];
  token: string | undefined;
  now?: () => number;
  /** Intake bounds (`notifications.limits`); the notifier's own where absent. */
  limits?: Partial<NotifierLimits>;
}

/** Page size of the listings when `limit` is not given, and the largest allowed. */
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

const page = {
  // Strict decimal integers (`0x10`, `1e2`, `05`, a repeated parameter are refused, naming it), as
  // every listing of the app parses them.
  limit: queryInt({ min: 1, max: MAX_PAGE }).default(DEFAULT_PAGE),
  offset: queryInt({ min: 0, max: 1_000_000_000 }).default(0),
};

function pagination(limit: number, offset: number, shown: number, total: number) {
  return { limit, offset, total, nextOffset: offset + shown < total ? offset + shown : null };
}

/** `0, 1, 2, 5` → `alerts[0..2], alerts[5]`. */
function indexRanges(indices: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length; ) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === (indices[j] as number) + 1) j++;
    parts.push(i === j ? `alerts[${indices[i]}]` : `alerts[${indices[i]}..${indices[j]}]`);
    i = j + 1;
  }
  return parts.join(", ");
}

/** 429 LIMIT_EXCEEDED; room frees as alerts resolve or silences expire, so try again later. */
function limitExceeded(reply: FastifyReply, message: string, details: FieldError[]): TugError {
  reply.header("retry-after", "60");
  return new TugError("LIMIT_EXCEEDED", message, details);
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

const alertsQuery = z.strictObject(page);

const historyQuery = z.strictObject({
  ...page,
  since: rfc3339.optional(),
  alertname: z.string().min(1).optional(),
});

const postableAlert = z.looseObject({
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()).optional(),
  startsAt: z.string().optional(),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
});

/** Alerts checked or taken in at a time (~1 ms each), with a turn of the event loop between slices. */
const SLICE = 50;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The shape of every alert (as Alertmanager's OpenAPI validation: one malformed alert refuses
 * the batch), checked in slices; a 400 naming `alerts[i].field` for each problem.
 */
async function checkShapes(body: unknown[]): Promise<PostableAlert[]> {
  const details: FieldError[] = [];
  for (let i = 0; i < body.length; i++) {
    if (i > 0 && i % SLICE === 0) await turn();
    const r = postableAlert.safeParse(body[i]);
    if (r.success) continue;
    for (const issue of r.error.issues) {
      const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
      details.push({ field: `alerts[${i}]${path}`, message: issue.message });
    }
  }
  if (details.length > 0) {
    const fields = [...new Set(details.map((d) => d.field))];
    throw new TugError(
      "VALIDATION_FAILED",
      `Invalid body: check ${fields.slice(0, 10).join(", ")}${fields.length > 10 ? ` and ${fields.length - 10} more` : ""}`,
      details.slice(0, 100),
    );
  }
  return body as PostableAlert[];
}

function fieldError(err: SilenceError | AlertInputError): TugError {
  if (err instanceof SilenceError && err.status === 404) return new TugError("NOT_FOUND", err.message);
  return new TugError("VALIDATION_FAILED", `Invalid body: ${err.message}`, [
    { field: err.field, message: err.message },
  ]);
}

export async function alertRoutes(app: FastifyInstance, opts: AlertRoutesOptions): Promise<void> {
  const { notifier } = opts;
  const now = opts.now ?? Date.now;
  const limits: NotifierLimits = { ...notifier.limits, ...(opts.limits ?? {}) };
  const auth = monitoringAuth(opts.token, new Set());
  // A signed acknowledgement link carries its own credential (checked by its handler, src/http/ack.ts).
  app.addHook("onRequest", async (req, reply) => (isSignedAck(req) ? undefined : auth(req, reply)));
  await app.register(ackRoutes, { notifier, now });

  // The rule engine's alerts first (pending and firing, in its order), then the alerts posted
  // by other clients in order of arrival; only the page is turned into views.
  app.get("/monitoring/alerts", async (req, reply) => {
    reply.header("cache-control", "no-store");
    const { limit, offset } = parseInput(alertsQuery, req.query, "query");
    const rules = opts.ruleAlerts();
    const fromRules = rules.slice(offset, offset + limit).map((a) => {
      const fp = fingerprint(a.labels); // the key of POST /monitoring/alerts/:fingerprint/ack
      return {
        fingerprint: fp,
        labels: a.labels,
        annotations: a.annotations,
        state: a.state,
        since: a.activeAt,
        value: a.value,
        source: "rules" as const,
        notification: notifier.status(a.labels),
        ack: notifier.ackOf(fp),
      };
    });
    // Alerts posted by other clients (through /monitoring/api/v2/alerts) have no rule state.
    const known = new Set(rules.map((a) => fingerprint(a.labels)));
    const rest = notifier.alertPage({
      offset: Math.max(0, offset - rules.length),
      limit: limit - fromRules.length,
      skip: (fp) => known.has(fp),
    });
    const posted = rest.alerts.map((a) => ({
      fingerprint: a.fingerprint,
      labels: a.labels,
      annotations: a.annotations,
      state: "firing" as const,
      since: a.startsAt,
      value: null,
      source: "api" as const,
      notification: a.status,
      ack: notifier.ackOf(a.fingerprint),
    }));
    const alerts = [...fromRules, ...posted];
    return {
      alerts,
      // The aggregation groups of the alerts on this page.
      groups: notifier.groupsOf(alerts.map((a) => a.labels)),
      pagination: pagination(limit, offset, alerts.length, rules.length + rest.total),
    };
  });

  app.get("/monitoring/alerts/history", async (req, reply) => {
    reply.header("cache-control", "no-store");
    const q = parseInput(historyQuery, req.query, "query");
    const { entries, total } = notifier.listHistory({
      limit: q.limit,
      offset: q.offset,
      ...(q.since ? { since: Date.parse(q.since) } : {}),
      ...(q.alertname ? { alertname: q.alertname } : {}),
    });
    return { entries, pagination: pagination(q.limit, q.offset, entries.length, total) };
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
      if (err instanceof SilenceError && err.status === 429)
        throw limitExceeded(reply, err.message, [{ field: err.field, message: err.message }]);
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
  // alerts to the embedded notifier. As Alertmanager: the valid alerts of a batch are stored
  // and the invalid ones answered with a 400 that names each (index and field). Ours: new
  // alerts beyond maxAlerts are refused with a 429 that says how many; a batch larger than
  // maxAlertsPerRequest is refused whole, before any of it is read.
  app.post("/monitoring/api/v2/alerts", async (req, reply) => {
    const body = req.body;
    if (!Array.isArray(body))
      throw new TugError("VALIDATION_FAILED", "Invalid body: check body", [
        { field: "body", message: "must be an array of alerts" },
      ]);
    const n = body.length;
    let result: ReturnType<Notifier["receive"]>;
    try {
      notifier.admitBatch(n, "api", limits.maxAlertsPerRequest);
      result = await notifier.receiveInSlices(await checkShapes(body), "api", SLICE);
    } catch (err) {
      if (err instanceof AlertInputError) throw fieldError(err);
      throw err;
    }
    const { accepted, invalid, refused } = result;
    const full = `the notifier holds ${notifier.limits.maxAlerts} alerts from API clients, the most allowed (notifications.limits.maxAlerts)`;
    const refusedDetail: FieldError[] =
      refused.length > 0
        ? [
            {
              field: "alerts",
              message: `${refused.length} new alerts refused, ${full}: ${indexRanges(refused)}`,
            },
          ]
        : [];
    if (invalid.length > 0) {
      throw new TugError(
        "VALIDATION_FAILED",
        `Invalid body: ${invalid.length} of ${n} alerts refused as invalid` +
          (refused.length > 0 ? `, ${refused.length} refused as the store is full` : "") +
          `; ${accepted} accepted`,
        [...invalid.map((e) => ({ field: e.field, message: e.message })), ...refusedDetail],
      );
    }
    if (refused.length > 0) {
      throw limitExceeded(
        reply,
        `${refused.length} of ${n} alerts refused: ${full}; ${accepted} accepted (alerts already held are always updated)`,
        refusedDetail,
      );
    }
    return {};
  });
}
