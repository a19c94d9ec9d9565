// Acknowledgement and the stack's escalation intake (docs/escalation.md):
//   POST /monitoring/alerts/:fingerprint/ack              with the monitoring token, JSON {by?, comment?}
//   GET  /monitoring/alerts/:fingerprint/ack?exp=&sig=     the signed link of a message: a confirm page
//   POST /monitoring/alerts/:fingerprint/ack?exp=&sig=     the page's form: the signature is the credential
//   POST /monitoring/api/escalation/alertmanager          Alertmanager's webhook (stack mode), with the token
// A bad or expired signature is a 403 that says which; an unknown fingerprint a 404.

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { escapeHtml } from "../alerts/channels/email.js";
import { ESCALATION_INTAKE_PATH } from "../alerts/notify/config.js";
import { AlertInputError, type Notifier, type PostableAlert } from "../alerts/notify/index.js";
import { parseInput } from "../api/validation.js";
import { TugError } from "../core/errors.js";
import { parseForm } from "./form.js";

export const ACK_ROUTE = "/monitoring/alerts/:fingerprint/ack";
export const ALERTMANAGER_INTAKE = ESCALATION_INTAKE_PATH;

/** A request the signature authenticates (the monitoring token is not asked for). */
export function isSignedAck(req: FastifyRequest): boolean {
  const q = req.query as Record<string, unknown> | undefined;
  return req.routeOptions.url === ACK_ROUTE && q !== undefined && q.sig !== undefined;
}

const ackBody = z.strictObject({
  by: z.string().trim().min(1).max(200).optional(),
  comment: z.string().max(2000).optional(),
});

const signedQuery = z.strictObject({ exp: z.string().optional(), sig: z.string().optional() });

/** Alertmanager 0.25's webhook message (notify/webhook): only what the intake reads is checked. */
const webhookMessage = z.looseObject({
  version: z.literal("4"),
  alerts: z.array(
    z.looseObject({
      status: z.enum(["firing", "resolved"]),
      labels: z.record(z.string(), z.string()),
      annotations: z.record(z.string(), z.string()).default({}),
      startsAt: z.string(),
      endsAt: z.string(),
      generatorURL: z.string().default(""),
    }),
  ),
});

function fingerprintOf(params: unknown): string {
  const fp = (params as { fingerprint: string }).fingerprint;
  if (!/^[0-9a-f]{16}$/.test(fp))
    throw new TugError("VALIDATION_FAILED", "Invalid path: check fingerprint", [
      { field: "fingerprint", message: "must be 16 lower-case hex digits (the alert's fingerprint)" },
    ]);
  return fp;
}

const page = (title: string, body: string) =>
  `<!DOCTYPE html><html><head><meta charset="UTF-8"><title>${escapeHtml(title)}</title></head>` +
  `<body style="font-family: Helvetica, Arial, sans-serif; max-width: 40em; margin: 2em auto;">${body}</body></html>\n`;

function sendPage(reply: FastifyReply, status: number, title: string, body: string) {
  return reply
    .code(status)
    .type("text/html; charset=utf-8")
    .header("cache-control", "no-store")
    .header("content-security-policy", "default-src 'none'; form-action 'self'")
    .header("referrer-policy", "no-referrer")
    .send(page(title, body));
}

export interface AckRoutesOptions {
  notifier: Notifier;
  now: () => number;
}

export async function ackRoutes(app: FastifyInstance, opts: AckRoutesOptions): Promise<void> {
  const { notifier, now } = opts;
  // The confirm page posts a form; JSON works as well.
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "buffer" }, (_req, body, done) =>
    done(null, Object.fromEntries(parseForm(body as Buffer))),
  );

  /** The link's check; a 403 naming why (HTML for the browser's GET, JSON for the POST). */
  const checkLink = (fp: string, query: unknown) => {
    const q = parseInput(signedQuery, query, "query");
    return notifier.ackLinks.check(fp, q.exp, q.sig, now());
  };

  const acknowledge = (fp: string, body: unknown, byDefault: string) => {
    const b = parseInput(ackBody, body ?? {});
    const ack = notifier.acknowledge(fp, b.by ?? byDefault, b.comment ?? "");
    if (!ack) throw new TugError("NOT_FOUND", `no firing alert has the fingerprint ${fp}`);
    return { fingerprint: ack.fingerprint, acknowledgedAt: ack.acknowledgedAt, by: ack.by };
  };

  app.get(ACK_ROUTE, async (req, reply) => {
    const fp = fingerprintOf(req.params);
    const check = checkLink(fp, req.query);
    if (!check.ok)
      return sendPage(
        reply,
        403,
        "Link refused",
        `<h1>This link cannot acknowledge</h1><p>${escapeHtml(check.reason)}.</p>`,
      );
    const labels = notifier.labelsOf(fp);
    if (!labels)
      return sendPage(
        reply,
        404,
        "Not firing",
        "<h1>This alert is not firing</h1><p>It may have resolved already.</p>",
      );
    const name = labels.alertname ?? fp;
    const ack = notifier.ackOf(fp);
    const state = ack
      ? `<p>Already acknowledged by ${escapeHtml(ack.by)} at ${escapeHtml(ack.at)}.</p>`
      : `<form method="post"><p><label>Your name <input name="by" maxlength="200"></label></p>` +
        `<p><label>Comment <input name="comment" maxlength="2000"></label></p>` +
        `<p><button type="submit">Acknowledge</button></p></form>`;
    return sendPage(reply, 200, `Acknowledge ${name}`, `<h1>Acknowledge ${escapeHtml(name)}</h1>${state}`);
  });

  app.post(ACK_ROUTE, async (req, reply) => {
    const fp = fingerprintOf(req.params);
    if (!isSignedAck(req)) return acknowledge(fp, req.body, "api");
    const form = req.headers["content-type"]?.startsWith("application/x-www-form-urlencoded") === true;
    const body = (req.body ?? {}) as Record<string, unknown>;
    // An empty form field means "not given".
    if (form) for (const k of Object.keys(body)) if (body[k] === "") delete body[k];
    let result: ReturnType<typeof acknowledge>;
    try {
      const check = checkLink(fp, req.query);
      if (!check.ok) throw new TugError("FORBIDDEN", `The acknowledgement link is refused: ${check.reason}`);
      result = acknowledge(fp, body, "link");
    } catch (err) {
      // The confirm page's form gets its answer as a page; API clients as JSON.
      if (!form || !(err instanceof TugError)) throw err;
      return sendPage(
        reply,
        err.status,
        "Not acknowledged",
        `<h1>Not acknowledged</h1><p>${escapeHtml(err.message)}</p>`,
      );
    }
    if (!form) return result;
    return sendPage(
      reply,
      200,
      "Acknowledged",
      `<h1>Acknowledged</h1><p>By ${escapeHtml(result.by)} at ${escapeHtml(result.acknowledgedAt)}: no further escalation.</p>`,
    );
  });

  // Alertmanager's webhook receiver `tug-escalation` (monitoring/alertmanager.yml) posts here.
  app.post(ALERTMANAGER_INTAKE, async (req) => {
    const msg = parseInput(webhookMessage, req.body);
    const alerts: PostableAlert[] = msg.alerts.map((a) => ({
      labels: a.labels,
      annotations: a.annotations,
      startsAt: a.startsAt,
      // A firing alert comes with Go's zero end time: firing until Alertmanager says resolved.
      ...(a.status === "resolved" ? { endsAt: a.endsAt } : {}),
      generatorURL: a.generatorURL,
    }));
    let r: ReturnType<Notifier["fromAlertmanager"]>;
    try {
      r = notifier.fromAlertmanager(alerts);
    } catch (err) {
      if (!(err instanceof AlertInputError)) throw err;
      throw new TugError("VALIDATION_FAILED", `Invalid body: ${err.message}`, [
        { field: err.field, message: err.message },
      ]);
    }
    if (r.invalid.length > 0)
      throw new TugError(
        "VALIDATION_FAILED",
        `Invalid body: ${r.invalid.length} of ${alerts.length} alerts refused`,
        r.invalid.map((e) => ({ field: e.field, message: e.message })),
      );
    // `refused`: episodes not started because notifications.limits.maxAlerts are open.
    return { started: r.started, resolved: r.resolved, refused: r.refused };
  });
}
