// Alertmanager 0.25's default notification templates (template/default.tmpl), rendered natively:
// the embedded notifier runs no Go templates, so each default that a channel needs is a function
// here producing the same text. Also the Go-compatible JSON encoding that the webhook and Slack
// bodies need to be byte-identical to what Alertmanager sends.
//
// The template texts these functions follow (0.25):
//   __alertmanager      Alertmanager
//   __alertmanagerURL   {{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}
//   __subject           [{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}]
//                       {{ .GroupLabels.SortedPairs.Values | join " " }}
//                       {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove
//                       .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}
//                       (one line; the pieces are separated by single spaces)
//   slack.default.title = __subject, titlelink = __alertmanagerURL, username = __alertmanager,
//   fallback = "<title> | <titlelink>", text/pretext/footer/callbackid = "" and the default
//   color `{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}`.

import type { Notification, NotificationAlert } from "../notify/types.js";

/** How Go prints the zero time.Time: the endsAt of an alert that has not ended. */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** Alertmanager's `__alertmanager` in 0.25 (older releases said "AlertManager"). */
export const ALERTMANAGER_NAME = "Alertmanager";

/** What the templates read: template.Data without our additions. */
export type TemplateData = Pick<
  Notification,
  "receiver" | "status" | "alerts" | "groupLabels" | "commonLabels" | "commonAnnotations" | "externalURL"
>;

// ---------------------------------------------------------------------------------------------
// Label sets

/** Go's sort.Strings order: bytewise on UTF-8, which differs from UTF-16 order above U+FFFF. */
export function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * template.KV.SortedPairs: `alertname` first when present, then the other names in Go's string
 * order. (The alertname rule is why a subject reads "HighErrorRate api" and not "api HighErrorRate"
 * even when another label name sorts before "alertname".)
 */
export function sortedPairs(kv: Record<string, string>): Array<[string, string]> {
  const names = Object.keys(kv)
    .filter((n) => n !== "alertname")
    .sort(compareGoStrings);
  if (Object.hasOwn(kv, "alertname")) names.unshift("alertname");
  return names.map((n) => [n, kv[n] ?? ""]);
}

/** KV.Values: the values in SortedPairs order. */
export function sortedValues(kv: Record<string, string>): string[] {
  return sortedPairs(kv).map(([, v]) => v);
}

/** KV.Remove: a copy without the given names. */
function removeNames(kv: Record<string, string>, names: string[]): Record<string, string> {
  const drop = new Set(names);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(kv)) if (!drop.has(k)) out[k] = v;
  return out;
}

export function firingAlerts(alerts: readonly NotificationAlert[]): NotificationAlert[] {
  return alerts.filter((a) => a.status === "firing");
}

export function resolvedAlerts(alerts: readonly NotificationAlert[]): NotificationAlert[] {
  return alerts.filter((a) => a.status === "resolved");
}

// ---------------------------------------------------------------------------------------------
// The default templates

/** `[FIRING:2]` or `[RESOLVED]`: the status part of __subject. */
export function subjectStatus(data: Pick<TemplateData, "status" | "alerts">): string {
  const count = data.status === "firing" ? `:${firingAlerts(data.alerts).length}` : "";
  return `[${data.status.toUpperCase()}${count}]`;
}

/**
 * `__subject`. Faithful to a quirk of the template: the space before the parenthesised part is
 * printed even when there is no such part, so a group whose common labels are all group labels
 * gets a subject ending in a space ("[FIRING:1] HighErrorRate ").
 */
export function subject(data: TemplateData): string {
  const groupValues = sortedValues(data.groupLabels).join(" ");
  return `${subjectStatus(data)} ${groupValues} ${commonLabelsPart(data)}`;
}

/** The `(…)` of __subject: values of the common labels that are not group labels. */
function commonLabelsPart(data: TemplateData): string {
  // The template compares counts, not sets, and prints "()" when `with` sees an empty map.
  if (Object.keys(data.commonLabels).length <= Object.keys(data.groupLabels).length) return "";
  const rest = removeNames(data.commonLabels, Object.keys(data.groupLabels));
  return `(${sortedValues(rest).join(" ")})`;
}

/** `__alertmanagerURL`: the UI's alert list filtered on this receiver. */
export function alertmanagerURL(data: Pick<TemplateData, "externalURL" | "receiver">): string {
  return `${data.externalURL}/#/alerts?receiver=${goQueryEscape(data.receiver)}`;
}

/** The default Slack color. */
export function slackColor(data: Pick<TemplateData, "status">): string {
  return data.status === "firing" ? "danger" : "good";
}

/** `slack.default.fallback`: "<title> | <title link>" with the default title and link. */
export function slackFallback(title: string, titleLink: string): string {
  return `${title} | ${titleLink}`;
}

/** One group's "2 alerts for alertname=X service=y" line of the default e-mail. */
export function alertsForGroupLabels(data: Pick<TemplateData, "alerts" | "groupLabels">): string {
  const n = data.alerts.length;
  const pairs = sortedPairs(data.groupLabels).map(([k, v]) => `${k}=${v}`);
  return `${n} alert${n === 1 ? "" : "s"} for ${pairs.join(" ")}`.trimEnd();
}

// ---------------------------------------------------------------------------------------------
// Go functions the templates rely on

/**
 * Go's url.QueryEscape (the `urlquery` template function): only A-Z a-z 0-9 - _ . ~ stay as
 * they are, a space becomes "+", every other byte becomes %XX with upper-case hex.
 */
export function goQueryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

/** Go's regexp.QuoteMeta, which the notifier applies to receiver names as Alertmanager does. */
export { quoteMeta as goQuoteMeta } from "../notify/alerts.js";

/**
 * template.Data's status and common labels/annotations for a list of alerts, as Alertmanager
 * computes them. The webhook needs it after max_alerts truncation: Alertmanager builds the data
 * from the truncated list, so the common sets can grow and the status can change.
 */
export function recomputeCommon(
  alerts: readonly NotificationAlert[],
): Pick<TemplateData, "status" | "commonLabels" | "commonAnnotations"> {
  const status = alerts.some((a) => a.status === "firing") ? "firing" : "resolved";
  const [first, ...rest] = alerts;
  if (!first) return { status, commonLabels: {}, commonAnnotations: {} };
  return {
    status,
    commonLabels: intersect(
      first.labels,
      rest.map((a) => a.labels),
    ),
    commonAnnotations: intersect(
      first.annotations,
      rest.map((a) => a.annotations),
    ),
  };
}

function intersect(
  first: Record<string, string>,
  others: Array<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first)) {
    if (others.every((o) => Object.hasOwn(o, k) && o[k] === v)) out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Go's encoding/json

/** A Go map[string]string: encoding/json writes its keys sorted, whatever the insertion order. */
export class GoMap {
  constructor(readonly entries: Record<string, string>) {}
}

/** What encodeGoJson accepts: plain objects keep their key order (use GoMap for label sets). */
export type GoJsonValue =
  | string
  | number
  | boolean
  | null
  | GoMap
  | GoJsonValue[]
  | { [key: string]: GoJsonValue | undefined };

/**
 * JSON as Go's json.Encoder.Encode writes it (Alertmanager 0.25 was built with Go 1.19/1.20):
 * `<`, `>`, `&`, U+2028 and U+2029 escaped as \u00XX, control characters other than \n \r \t
 * as \u00XX (Go before 1.22 had no \b or \f), map keys sorted, a newline at the end. Object
 * properties whose value is undefined are left out, which is how callers express `omitempty`.
 */
export function encodeGoJson(value: GoJsonValue): string {
  return `${encodeValue(value)}\n`;
}

function encodeValue(value: GoJsonValue): string {
  if (value === null) return "null";
  if (typeof value === "string") return goString(value);
  if (typeof value === "number" || typeof value === "boolean") return JSON.stringify(value);
  if (value instanceof GoMap) return encodeMap(value.entries);
  if (Array.isArray(value)) return `[${value.map(encodeValue).join(",")}]`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) parts.push(`${goString(k)}:${encodeValue(v)}`);
  }
  return `{${parts.join(",")}}`;
}

function encodeMap(entries: Record<string, string>): string {
  const keys = Object.keys(entries).sort(compareGoStrings);
  return `{${keys.map((k) => `${goString(k)}:${goString(entries[k] ?? "")}`).join(",")}}`;
}

// An escaped backslash is matched first so that the "b" of "\\b" is never taken for an escape.
const GO_ESCAPES = /\\\\|\\b|\\f|[<>&\u2028\u2029]/g;
const GO_REPLACEMENTS: Record<string, string> = {
  "\\\\": "\\\\",
  "\\b": "\\u0008",
  "\\f": "\\u000c",
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

function goString(s: string): string {
  return JSON.stringify(s).replace(GO_ESCAPES, (m) => GO_REPLACEMENTS[m] ?? m);
}
