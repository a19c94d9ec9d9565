// The Slack channel: the body Alertmanager 0.25 posts to an incoming webhook with the default
// templates (notify/slack/slack.go), one attachment per aggregation group.
//
// Coalesced groups: Alertmanager never puts two groups in one Slack message; when our rate limit
// coalesces several, each group becomes one attachment rendered exactly as Alertmanager would
// render it alone, in the order given. A single group gives Alertmanager's body byte for byte.
//
// No top-level `text`: Slack shows the attachments' `fallback` in notifications already, and a
// top-level field would make the single-group body differ from Alertmanager's (the conformance
// comparison is exact, key order included), so it is left out.

import type { Channel, DeliveryResult, Notification, SlackConfig } from "../notify/types.js";
import { combinedDedupKey } from "./email.js";
import {
  ALERTMANAGER_NAME,
  alertmanagerURL,
  encodeGoJson,
  type GoJsonValue,
  slackColor,
  slackFallback,
  subject,
} from "./templates.js";
import { DEFAULT_USER_AGENT, postJson, statusResult } from "./webhook.js";

/** Slack's documented limit for attachment titles (runes); Alertmanager truncates to it. */
const MAX_TITLE_RUNES = 1024;

const DEFAULT_MRKDWN_IN = ["fallback", "pretext", "text"];

export const SLACK_URL_MISSING = "slack api_url not configured (set SLACK_WEBHOOK_URL)";

export interface SlackOptions {
  timeoutMs: number;
  userAgent?: string;
}

export function createSlackChannel(cfg: SlackConfig, index: number, opts: SlackOptions): Channel {
  return {
    kind: "slack",
    index,
    sendResolved: cfg.sendResolved,
    multiGroup: true,
    async send(notifications, signal) {
      if (!cfg.apiUrl) return { ok: false, retryable: false, error: SLACK_URL_MISSING };
      if (notifications.length === 0) return { ok: true };
      const body = slackBody(cfg, notifications);
      // Slack's body has no room for our key without departing from Alertmanager's message; the
      // header carries it for proxies and bridges that deduplicate (Slack itself ignores it).
      const headers = {
        "User-Agent": opts.userAgent ?? DEFAULT_USER_AGENT,
        "Idempotency-Key": combinedDedupKey(notifications),
      };
      const res = await postJson("slack", cfg.apiUrl, body, headers, signal, opts.timeoutMs);
      if (res.kind === "failed") return res.result;
      const status = statusResult("slack", cfg.apiUrl, res);
      return status.ok ? checkSlackAnswer(res) : status;
    },
  };
}

/** The request body: Alertmanager's slack request struct, `omitempty` fields left out when empty. */
export function slackBody(cfg: SlackConfig, notifications: Notification[]): string {
  const request: GoJsonValue = {
    channel: cfg.channel || undefined,
    username: (cfg.username ?? ALERTMANAGER_NAME) || undefined,
    icon_emoji: cfg.iconEmoji || undefined,
    icon_url: cfg.iconUrl || undefined,
    link_names: cfg.linkNames || undefined,
    attachments: notifications.map((n) => attachment(cfg, n)),
  };
  return encodeGoJson(request);
}

/** One group's attachment; the configured literals replace the default templates. */
function attachment(cfg: SlackConfig, n: Notification): GoJsonValue {
  const title = truncateRunes(cfg.title ?? subject(n), MAX_TITLE_RUNES);
  const titleLink = cfg.titleLink ?? alertmanagerURL(n);
  return {
    title: title || undefined,
    title_link: titleLink || undefined,
    pretext: cfg.pretext || undefined,
    text: withAckLinks(cfg.text ?? "", n),
    fallback: cfg.fallback ?? slackFallback(title, titleLink),
    callback_id: cfg.callbackId ?? "",
    fields: cfg.fields.length > 0 ? fields(cfg) : undefined,
    footer: cfg.footer ?? "",
    color: (cfg.color ?? slackColor(n)) || undefined,
    mrkdwn_in: cfg.mrkdwnIn.length > 0 ? cfg.mrkdwnIn : DEFAULT_MRKDWN_IN,
  };
}

/**
 * The escalation's note and the signed acknowledgement links (docs/escalation.md) after the text;
 * a group with neither keeps Alertmanager's text exactly.
 */
function withAckLinks(text: string, n: Notification): string {
  const lines = n.alerts.flatMap((a) =>
    a.ackURL
      ? [`<${a.ackURL}|Acknowledge> ${a.labels.alertname ?? a.fingerprint} (stops the escalation)`]
      : [],
  );
  if (n.escalation) lines.unshift(n.escalation.note);
  return lines.length === 0 ? text : [text, ...lines].filter(Boolean).join("\n");
}

/** Each field's `short` falls back to short_fields, and is then always sent (a Go *bool). */
function fields(cfg: SlackConfig): GoJsonValue[] {
  return cfg.fields.map((f) => ({ title: f.title, value: f.value, short: f.short ?? cfg.shortFields }));
}

/** Alertmanager's TruncateInRunes: at most n runes, the last one an ellipsis when cut. */
export function truncateRunes(s: string, n: number): string {
  const runes = [...s];
  return runes.length <= n ? s : `${runes.slice(0, n - 1).join("")}…`;
}

/**
 * Incoming webhooks answer "ok" (errors come with 4xx statuses), but Slack's Web API answers
 * 200 with `{"ok":false,"error":"..."}`: that is a refusal that a retry would not change.
 */
function checkSlackAnswer(res: { contentType: string; body: string }): DeliveryResult {
  if (!res.contentType.startsWith("application/json")) return { ok: true };
  try {
    const parsed = JSON.parse(res.body) as { ok?: unknown; error?: unknown };
    if (parsed.ok === true) return { ok: true };
    return {
      ok: false,
      retryable: false,
      error: `slack: error response: ${String(parsed.error ?? "unknown")}`,
    };
  } catch {
    return { ok: false, retryable: true, error: "slack: unreadable JSON response" };
  }
}
