// Forwarding alerts to real Alertmanagers, as Prometheus's notifier does: the alert list is POSTed
// to `<url>/api/v2/alerts` of every configured Alertmanager at once, and the batch counts as
// delivered when at least one of them accepted it (they are expected to gossip among themselves).

import type { DeliveryResult } from "../notify/types.js";
import type { PostableAlert } from "../wire.js";
import { DEFAULT_USER_AGENT, postJson, statusResult } from "./webhook.js";

export interface AlertmanagerForwarder {
  readonly kind: "alertmanager";
  readonly urls: readonly string[];
  send(alerts: PostableAlert[], signal: AbortSignal): Promise<DeliveryResult>;
}

export interface ForwarderOptions {
  timeoutMs: number;
  userAgent?: string;
}

export function createAlertmanagerForwarder(urls: string[], opts: ForwarderOptions): AlertmanagerForwarder {
  const targets = [...urls];
  return {
    kind: "alertmanager",
    urls: targets,
    async send(alerts, signal) {
      if (alerts.length === 0) return { ok: true };
      if (targets.length === 0)
        return { ok: false, retryable: false, error: "alertmanager: no URLs configured" };
      const body = JSON.stringify(alerts.map(postableAlert));
      const results = await Promise.all(targets.map((url) => postTo(url, body, opts, signal)));
      return combine(results);
    },
  };
}

/** `<base>/api/v2/alerts`, keeping a path prefix (Alertmanager behind `--web.route-prefix`). */
export function alertsEndpoint(base: string): string {
  return `${base.replace(/\/+$/, "")}/api/v2/alerts`;
}

/**
 * The API validates startsAt/endsAt as date-times and generatorURL as a URI, so empty values are
 * left out rather than sent as "": Alertmanager then fills in the defaults (now, and now plus
 * resolve_timeout), as it does for Prometheus.
 */
function postableAlert(a: PostableAlert): Record<string, unknown> {
  const out: Record<string, unknown> = { labels: a.labels, annotations: a.annotations };
  if (a.startsAt) out.startsAt = a.startsAt;
  if (a.endsAt) out.endsAt = a.endsAt;
  if (a.generatorURL) out.generatorURL = a.generatorURL;
  return out;
}

async function postTo(
  url: string,
  body: string,
  opts: ForwarderOptions,
  signal: AbortSignal,
): Promise<DeliveryResult> {
  const endpoint = alertsEndpoint(url);
  const headers = { "User-Agent": opts.userAgent ?? DEFAULT_USER_AGENT };
  const res = await postJson("alertmanager", endpoint, body, headers, signal, opts.timeoutMs);
  return res.kind === "failed" ? res.result : statusResult("alertmanager", endpoint, res);
}

/** One acceptance is enough; otherwise worth retrying when any failure was retryable. */
function combine(results: DeliveryResult[]): DeliveryResult {
  const failures = results.filter((r): r is DeliveryResult & { ok: false } => !r.ok);
  if (failures.length < results.length) return { ok: true };
  return {
    ok: false,
    retryable: failures.some((f) => f.retryable),
    error: failures.map((f) => f.error).join("; "),
  };
}
