// The webhook channel: Alertmanager 0.25's webhook message (version "4") plus our `dedupKey`,
// an Idempotency-Key header and an optional HMAC signature. Also the HTTP plumbing that the
// Slack channel and the Alertmanager forwarder share (one POST with a timeout, status mapping,
// error texts that never show a URL's secrets).
//
// Signature scheme (for receivers), when a signing secret is configured:
//   X-TUG-Timestamp: <unix time in whole seconds when this attempt was sent>
//   X-TUG-Signature: sha256=<lower-case hex of HMAC-SHA256(secret, "<timestamp>.<body>")>
// where <timestamp> is the X-TUG-Timestamp value exactly as sent and <body> the raw request body
// bytes (UTF-8 JSON ending in "\n"). To verify: recompute over the raw bytes before any JSON
// parsing, compare in constant time, and reject timestamps too far from your clock (e.g. 5 min)
// so that a captured request cannot be replayed later. Retries are signed afresh; they carry the
// same body and Idempotency-Key, so drop duplicates by that key.

import { createHmac } from "node:crypto";
import { deadline } from "../../core/deadline.js";
import { createScrubber } from "../../logs/redact.js";
import type {
  Channel,
  DeliveryResult,
  Notification,
  NotificationAlert,
  WebhookConfig,
} from "../notify/types.js";
import { encodeGoJson, type GoJsonValue, GoMap, recomputeCommon } from "./templates.js";

export const DEFAULT_USER_AGENT = "TUG-Notifier/1.0";

export interface WebhookOptions {
  timeoutMs: number;
  signingSecret?: string;
  userAgent?: string;
}

export function createWebhookChannel(cfg: WebhookConfig, index: number, opts: WebhookOptions): Channel {
  return {
    kind: "webhook",
    index,
    sendResolved: cfg.sendResolved,
    multiGroup: false,
    async send(notifications, signal) {
      // Webhooks carry one group; should several arrive anyway, each gets its own request.
      for (const n of notifications) {
        const result = await sendOne(cfg, n, opts, signal);
        if (!result.ok) return result;
      }
      return { ok: true };
    },
  };
}

async function sendOne(
  cfg: WebhookConfig,
  n: Notification,
  opts: WebhookOptions,
  signal: AbortSignal,
): Promise<DeliveryResult> {
  const body = webhookBody(n, cfg.maxAlerts);
  const headers: Record<string, string> = {
    "User-Agent": opts.userAgent ?? DEFAULT_USER_AGENT,
    "Idempotency-Key": n.dedupKey,
    ...signatureHeaders(body, opts.signingSecret),
  };
  const res = await postJson("webhook", cfg.url, body, headers, signal, opts.timeoutMs);
  return res.kind === "failed" ? res.result : statusResult("webhook", cfg.url, res);
}

/**
 * The request body: Alertmanager's webhook.Message (template.Data, version, groupKey,
 * truncatedAlerts) in its key order, then our `dedupKey`.
 */
export function webhookBody(n: Notification, maxAlerts: number): string {
  const truncated = maxAlerts > 0 && n.alerts.length > maxAlerts;
  const alerts = truncated ? n.alerts.slice(0, maxAlerts) : n.alerts;
  // Alertmanager builds the template data after truncating, so the common sets follow suit.
  const common = truncated
    ? recomputeCommon(alerts)
    : { status: n.status, commonLabels: n.commonLabels, commonAnnotations: n.commonAnnotations };
  const message: GoJsonValue = {
    receiver: n.receiver,
    status: common.status,
    alerts: alerts.map(alertJson),
    groupLabels: new GoMap(n.groupLabels),
    commonLabels: new GoMap(common.commonLabels),
    commonAnnotations: new GoMap(common.commonAnnotations),
    externalURL: n.externalURL,
    version: "4",
    groupKey: n.groupKey,
    truncatedAlerts: n.alerts.length - alerts.length,
    dedupKey: n.dedupKey,
    // Ours, only on an escalation step's page (docs/escalation.md).
    escalation: n.escalation ? { ...n.escalation } : undefined,
  };
  return encodeGoJson(message);
}

function alertJson(a: NotificationAlert): GoJsonValue {
  return {
    status: a.status,
    labels: new GoMap(a.labels),
    annotations: new GoMap(a.annotations),
    startsAt: a.startsAt,
    endsAt: a.endsAt,
    generatorURL: a.generatorURL,
    fingerprint: a.fingerprint,
    // Ours, only where an escalation policy covers the alert: acknowledges it without a token.
    ackURL: a.ackURL,
  };
}

/** The signing headers described at the top of this file; none without a secret. */
export function signatureHeaders(
  body: string,
  secret: string | undefined,
  nowMs: number = Date.now(),
): Record<string, string> {
  if (!secret) return {};
  const timestamp = String(Math.floor(nowMs / 1000));
  const mac = createHmac("sha256", secret).update(`${timestamp}.`).update(body, "utf8").digest("hex");
  return { "X-TUG-Timestamp": timestamp, "X-TUG-Signature": `sha256=${mac}` };
}

// ---------------------------------------------------------------------------------------------
// HTTP shared by the webhook, Slack and Alertmanager channels

export type PostOutcome =
  | { kind: "response"; status: number; contentType: string; body: string }
  | { kind: "failed"; result: DeliveryResult & { ok: false } };

/**
 * POSTs a JSON body, bounded by `timeoutMs` and by the caller's signal. Never throws: network
 * errors, timeouts and aborts come back as retryable failures.
 */
export async function postJson(
  name: string,
  rawUrl: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<PostOutcome> {
  const target = parseTarget(rawUrl);
  if (!target) return failed(false, `${name}: invalid URL`);
  const limit = deadline(signal, timeoutMs);
  try {
    const res = await fetch(target.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...target.auth, ...headers },
      body,
      signal: limit.signal,
    });
    // Reading the body under the same signal also returns the connection to the pool.
    const text = await res.text();
    return {
      kind: "response",
      status: res.status,
      contentType: res.headers.get("content-type") ?? "",
      body: text,
    };
  } catch (err) {
    return failed(true, `${name} POST ${target.display}: ${describeFetchError(err, timeoutMs)}`);
  } finally {
    limit.dispose();
  }
}

/**
 * The URL fetch is given and what error texts may show. fetch refuses URLs with credentials,
 * so `user:pass@` becomes a Basic Authorization header, as Go's http.Client does it. Only the
 * scheme and host are ever shown: the path of a Slack webhook URL is itself the secret.
 */
function parseTarget(
  rawUrl: string,
): { url: string; display: string; auth: Record<string, string> } | undefined {
  let u: URL;
  try {
    u = new URL(rawUrl);
  } catch {
    return undefined; // not a URL: the caller fails the send as "invalid URL", without retries
  }
  const auth: Record<string, string> = {};
  if (u.username || u.password) {
    const creds = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
    auth.Authorization = `Basic ${Buffer.from(creds, "utf8").toString("base64")}`;
    u.username = "";
    u.password = "";
  }
  return { url: u.toString(), display: `${u.protocol}//${u.host}`, auth };
}

export function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && err.name === "TimeoutError") return `timed out after ${timeoutMs}ms`;
  if (err instanceof Error && err.name === "AbortError") return "aborted";
  const cause =
    err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string") return `network error ${cause.code}`;
  if (cause && typeof cause.message === "string") return `network error: ${cause.message}`;
  return `network error: ${err instanceof Error ? err.message : String(err)}`;
}

function failed(retryable: boolean, error: string): PostOutcome & { kind: "failed" } {
  return { kind: "failed", result: { ok: false, retryable, error } };
}

/**
 * 2xx: delivered. 408, 429 and 5xx: the receiver may accept a later attempt. Any other status
 * (a 4xx, or a redirect fetch did not follow): repeating the same request will not help.
 */
export function statusResult(
  name: string,
  rawUrl: string,
  res: { status: number; body: string },
): DeliveryResult {
  if (res.status >= 200 && res.status < 300) return { ok: true };
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  const display = parseTarget(rawUrl)?.display ?? name;
  const detail = bodySnippet(res.body, rawUrl);
  return {
    ok: false,
    retryable,
    error: `${name} POST ${display}: HTTP ${res.status}${detail ? `: ${detail}` : ""}`,
  };
}

/** The start of an error response, for the log, with anything of the URL's secrets removed. */
export function bodySnippet(body: string, rawUrl: string): string {
  const text = body.trim().replace(/\s+/g, " ").slice(0, 200);
  if (!text) return "";
  let secrets: string[] = [rawUrl];
  try {
    const u = new URL(rawUrl);
    secrets = [rawUrl, u.password, u.search.slice(1), u.pathname.length > 1 ? u.pathname : ""];
  } catch {
    // an unparsable URL was never requested; the raw string alone is scrubbed
  }
  return createScrubber(secrets)(text);
}
