// The e-mail channel: one SMTP message per delivery through nodemailer, a fresh connection each
// time as Alertmanager does. Subject is Alertmanager's default `__subject`; the bodies are ours
// (plain text and HTML listing every alert), not Alertmanager's HTML template.
//
// Coalesced groups (several in one message): the subject reads
//   [FIRING:<firing alerts over all groups>] <k> groups: <group 1 subject>; <group 2 subject>…
// where each group subject is its __subject without the [STATUS] prefix, and `[RESOLVED]` when no
// alert of any group fires; the bodies show one section per group, in the order given.
//
// Transport: port 465 is implicit TLS (as in Alertmanager); otherwise STARTTLS is required when
// requireTls is set and used opportunistically when not (Alertmanager then skips STARTTLS; we
// upgrade whenever the server offers it and continue in plain text only when it does not).

import { createHash } from "node:crypto";
import { createTransport } from "nodemailer";
import { deadline } from "../../core/deadline.js";
import { createScrubber } from "../../logs/redact.js";
import type {
  Channel,
  DeliveryResult,
  EmailConfig,
  Notification,
  NotificationAlert,
} from "../notify/types.js";
import {
  ALERTMANAGER_NAME,
  alertmanagerURL,
  alertsForGroupLabels,
  firingAlerts,
  GO_ZERO_TIME,
  resolvedAlerts,
  sortedPairs,
  subject,
  subjectStatus,
} from "./templates.js";

export interface EmailOptions {
  timeoutMs: number;
}

export function createEmailChannel(cfg: EmailConfig, index: number, opts: EmailOptions): Channel {
  return {
    kind: "email",
    index,
    sendResolved: cfg.sendResolved,
    multiGroup: true,
    send: (notifications, signal) =>
      notifications.length === 0 ? Promise.resolve({ ok: true }) : sendMail(cfg, notifications, opts, signal),
  };
}

async function sendMail(
  cfg: EmailConfig,
  notifications: Notification[],
  opts: EmailOptions,
  signal: AbortSignal,
): Promise<DeliveryResult> {
  const server = parseSmarthost(cfg.smarthost);
  if (!server) return { ok: false, retryable: false, error: `email: invalid smarthost "${cfg.smarthost}"` };
  const transport = createTransport({
    host: server.host,
    port: server.port,
    secure: server.port === 465,
    requireTLS: cfg.requireTls && server.port !== 465,
    opportunisticTLS: !cfg.requireTls,
    name: cfg.hello,
    auth: cfg.authUsername ? { user: cfg.authUsername, pass: cfg.authPassword ?? "" } : undefined,
    connectionTimeout: opts.timeoutMs,
    greetingTimeout: opts.timeoutMs,
    socketTimeout: opts.timeoutMs,
  });
  const limit = deadline(signal, opts.timeoutMs);
  try {
    await transport.sendMail({ ...composeEmail(cfg, notifications), signal: limit.signal });
    return { ok: true };
  } catch (err) {
    return smtpFailure(err, cfg, opts.timeoutMs);
  } finally {
    limit.dispose();
    transport.close();
  }
}

/** `host:port`, the port required as in Alertmanager; `[v6]:port` accepted. */
export function parseSmarthost(smarthost: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(smarthost.trim());
  if (!m?.[1] || !m[2]) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { host: m[1], port } : undefined;
}

// ---------------------------------------------------------------------------------------------
// The message

export interface ComposedEmail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

/**
 * Everything but the transport. Configured headers override To/From/Subject as Alertmanager
 * allows; a header value containing `{{` is a Go template we do not run, so it is ignored (for
 * To/From/Subject the default applies).
 */
export function composeEmail(cfg: EmailConfig, notifications: Notification[]): ComposedEmail {
  const { special, extra } = splitHeaders(cfg.headers);
  const dedupKey = combinedDedupKey(notifications);
  return {
    from: special.from ?? cfg.from,
    to: special.to ?? cfg.to,
    subject: special.subject ?? emailSubject(notifications),
    text: textBody(notifications),
    html: htmlBody(notifications),
    headers: { ...extra, "Idempotency-Key": dedupKey, "X-TUG-Dedup-Key": dedupKey },
  };
}

const SPECIAL_HEADERS = new Set(["from", "to", "subject"]);

function splitHeaders(headers: Record<string, string>): {
  special: Partial<Record<"from" | "to" | "subject", string>>;
  extra: Record<string, string>;
} {
  const special: Partial<Record<"from" | "to" | "subject", string>> = {};
  const extra: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value.includes("{{")) continue;
    const lower = name.toLowerCase();
    if (SPECIAL_HEADERS.has(lower)) special[lower as "from" | "to" | "subject"] = value;
    else extra[name] = value;
  }
  return { special, extra };
}

/** One group: its key. Several: a digest of theirs, stable as long as the same groups coalesce. */
export function combinedDedupKey(notifications: Notification[]): string {
  if (notifications.length === 1 && notifications[0]) return notifications[0].dedupKey;
  const digest = createHash("sha256")
    .update(notifications.map((n) => n.dedupKey).join("\n"))
    .digest("hex");
  return `multi-${digest.slice(0, 32)}`;
}

/** __subject for one group; the coalesced form described at the top of this file for several. */
export function emailSubject(notifications: Notification[]): string {
  const [first] = notifications;
  if (!first) return "";
  if (notifications.length === 1) return subject(first);
  const alerts = notifications.flatMap((n) => n.alerts);
  const status = alerts.some((a) => a.status === "firing") ? "firing" : "resolved";
  const parts = notifications.map((n) => subject(n).slice(subjectStatus(n).length).trim());
  return `${subjectStatus({ status, alerts })} ${notifications.length} groups: ${parts.join("; ")}`;
}

/** The rule's value from the embedded rule engine, else a `value` annotation when the rule set one. */
function alertValue(a: NotificationAlert): string | undefined {
  return a.value ?? a.annotations.value;
}

function textBody(notifications: Notification[]): string {
  return `${notifications.map(textGroup).join(`\n${"-".repeat(60)}\n\n`)}\nSent by ${ALERTMANAGER_NAME}\n`;
}

function textGroup(n: Notification): string {
  const lines = [
    subject(n).trimEnd(),
    "",
    alertsForGroupLabels(n),
    `View in ${ALERTMANAGER_NAME}: ${alertmanagerURL(n)}`,
  ];
  if (n.escalation) lines.splice(1, 0, "", n.escalation.note);
  for (const [title, alerts] of alertSections(n)) {
    lines.push("", `[${alerts.length}] ${title}`);
    for (const a of alerts) lines.push(...textAlert(a));
  }
  return `${lines.join("\n")}\n`;
}

function alertSections(n: Notification): Array<[string, NotificationAlert[]]> {
  const sections: Array<[string, NotificationAlert[]]> = [
    ["Firing", firingAlerts(n.alerts)],
    ["Resolved", resolvedAlerts(n.alerts)],
  ];
  return sections.filter(([, alerts]) => alerts.length > 0);
}

function textAlert(a: NotificationAlert): string[] {
  const lines = ["", "Labels:", ...sortedPairs(a.labels).map(([k, v]) => ` - ${k} = ${v}`)];
  const annotations = sortedPairs(a.annotations);
  if (annotations.length > 0) lines.push("Annotations:", ...annotations.map(([k, v]) => ` - ${k} = ${v}`));
  const value = alertValue(a);
  if (value !== undefined) lines.push(`Value: ${value}`);
  lines.push(`Started: ${a.startsAt}`);
  if (a.status === "resolved" && a.endsAt !== GO_ZERO_TIME) lines.push(`Ended: ${a.endsAt}`);
  if (a.generatorURL) lines.push(`Source: ${a.generatorURL}`);
  if (a.ackURL) lines.push(`Acknowledge (stops the escalation): ${a.ackURL}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// HTML

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A link only for http(s) URLs, so that a crafted generatorURL cannot become `javascript:`. */
function htmlLink(url: string, label: string): string {
  if (!/^https?:\/\//i.test(url)) return escapeHtml(url);
  return `<a href="${escapeHtml(url)}">${escapeHtml(label)}</a>`;
}

function htmlBody(notifications: Notification[]): string {
  const title = escapeHtml(emailSubject(notifications));
  const groups = notifications.map(htmlGroup).join("\n<hr>\n");
  const externalURL = notifications[0]?.externalURL ?? "";
  return [
    "<!DOCTYPE html>",
    `<html><head><meta charset="UTF-8"><title>${title}</title></head>`,
    '<body style="font-family: Helvetica, Arial, sans-serif; font-size: 14px;">',
    groups,
    `<p style="color: #999; font-size: 12px;">${htmlLink(externalURL, `Sent by ${ALERTMANAGER_NAME}`)}</p>`,
    "</body></html>",
    "",
  ].join("\n");
}

function htmlGroup(n: Notification): string {
  const parts = [
    `<h2>${escapeHtml(subject(n).trimEnd())}</h2>`,
    `<p>${escapeHtml(alertsForGroupLabels(n))}</p>`,
    `<p>${htmlLink(alertmanagerURL(n), `View in ${ALERTMANAGER_NAME}`)}</p>`,
  ];
  if (n.escalation) parts.splice(1, 0, `<p><strong>${escapeHtml(n.escalation.note)}</strong></p>`);
  for (const [title, alerts] of alertSections(n)) {
    parts.push(`<h3>[${alerts.length}] ${title}</h3>`, ...alerts.map(htmlAlert));
  }
  return parts.join("\n");
}

function htmlAlert(a: NotificationAlert): string {
  const rows = [`<strong>Labels</strong><br>`, ...sortedPairs(a.labels).map(htmlPair)];
  const annotations = sortedPairs(a.annotations);
  if (annotations.length > 0) rows.push(`<strong>Annotations</strong><br>`, ...annotations.map(htmlPair));
  const value = alertValue(a);
  if (value !== undefined) rows.push(`<strong>Value</strong>: ${escapeHtml(value)}<br>`);
  rows.push(`<strong>Started</strong>: ${escapeHtml(a.startsAt)}<br>`);
  if (a.status === "resolved" && a.endsAt !== GO_ZERO_TIME) {
    rows.push(`<strong>Ended</strong>: ${escapeHtml(a.endsAt)}<br>`);
  }
  if (a.generatorURL) rows.push(`${htmlLink(a.generatorURL, "Source")}<br>`);
  if (a.ackURL) rows.push(`${htmlLink(a.ackURL, "Acknowledge (stops the escalation)")}<br>`);
  return `<div style="margin: 0 0 20px;">\n${rows.join("\n")}\n</div>`;
}

function htmlPair([name, value]: [string, string]): string {
  return `${escapeHtml(name)} = ${escapeHtml(value)}<br>`;
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * nodemailer codes that say the message or the configuration is wrong; every other failure
 * without an SMTP reply (ECONNECTION, ESOCKET, EDNS, Node's ECONNREFUSED…) is about reaching the
 * server, which may work on the next try.
 */
const PERMANENT_CODES = new Set([
  "EAUTH",
  "ENOAUTH",
  "EOAUTH2",
  "EENVELOPE",
  "EMESSAGE",
  "ECONFIG",
  "EREQUIRETLS",
]);

/**
 * SMTP replies 4xx are temporary by definition (RFC 5321) and 5xx permanent. Without a reply:
 * connection problems and timeouts are retryable; a failed STARTTLS upgrade or refused
 * credentials are configuration problems that retrying will not fix.
 */
export function smtpFailure(err: unknown, cfg: EmailConfig, timeoutMs: number): DeliveryResult {
  const e = (err ?? {}) as { code?: unknown; responseCode?: unknown; message?: unknown; name?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  const reply = typeof e.responseCode === "number" ? e.responseCode : undefined;
  const scrub = createScrubber([cfg.authPassword]);
  const where = `email to ${cfg.smarthost}`;
  const message = scrub(typeof e.message === "string" ? e.message : String(err));
  if (isTimeout(err, code))
    return { ok: false, retryable: true, error: `${where}: timed out after ${timeoutMs}ms` };
  if (code === "ETLS" && !(reply && reply < 500)) {
    const why = cfg.requireTls ? "require_tls is set but the STARTTLS upgrade failed" : "TLS failed";
    return { ok: false, retryable: false, error: `${where}: ${why}: ${message}` };
  }
  if (reply !== undefined) {
    return { ok: false, retryable: reply < 500, error: `${where}: SMTP ${reply}: ${message}` };
  }
  const retryable = code === undefined || !PERMANENT_CODES.has(code);
  return { ok: false, retryable, error: `${where}: ${code ?? "error"}: ${message}` };
}

function isTimeout(err: unknown, code: string | undefined): boolean {
  if (code === "ETIMEDOUT") return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return (
    err instanceof Error &&
    (err.name === "TimeoutError" || (cause instanceof Error && cause.name === "TimeoutError"))
  );
}
