// Placeholder integrations: an integration whose destination is a name reserved for examples
// (RFC 2606 and RFC 6761: example.com / .net / .org and the .example, .invalid and .test
// domains) can never deliver. Sending to it would fail and be retried for a day, filling the log
// with "delivery failed; will retry" for every alert group. Such an integration is built as a
// channel that refuses at once, saying it is a placeholder and what to configure: the refusal is
// not retried, is logged once per notification (so once per group and repeat interval), counted
// as `rejected`, and `tug alerts test` shows it.

import type { Channel, EmailConfig, WebhookConfig } from "../notify/types.js";

const RESERVED = /(^|\.)(example\.(com|net|org)|example|invalid|test)\.?$/i;

/** The host of `host:port`, `[v6]:port` or a URL; undefined when there is none. */
function hostOf(s: string): string | undefined {
  if (s.includes("://")) {
    try {
      return new URL(s).hostname;
    } catch {
      return undefined; // not a URL after all: nothing to judge
    }
  }
  // `host:port` as a smarthost is written, or `[v6]:port`
  const m = /^\[?([^\]]+?)\]?(?::\d+)?$/.exec(s.trim());
  return m?.[1];
}

export const isReservedHost = (host: string | undefined): boolean =>
  host !== undefined && RESERVED.test(host);

/** Why a webhook is a placeholder, or undefined when it is a real destination. */
export function webhookPlaceholder(c: WebhookConfig): string | undefined {
  const host = hostOf(c.url);
  return isReservedHost(host) ? `the webhook goes to ${host}, a name reserved for examples` : undefined;
}

/** Why an email integration is a placeholder: its relay or every recipient at a reserved domain. */
export function emailPlaceholder(c: EmailConfig): string | undefined {
  const host = hostOf(c.smarthost);
  if (isReservedHost(host)) return `the SMTP relay is ${host}, a name reserved for examples (set SMTP_HOST)`;
  const domains = c.to
    .split(",")
    .map((a) => a.trim().replace(/^.*<|>$/g, ""))
    .filter(Boolean)
    .map((a) => a.slice(a.lastIndexOf("@") + 1));
  if (domains.length > 0 && domains.every((d) => isReservedHost(d)))
    return `every recipient (${c.to}) is at a domain reserved for examples`;
  return undefined;
}

/** A channel in place of a placeholder integration: every send is refused, not retried. */
export function placeholderChannel(
  kind: Channel["kind"],
  index: number,
  sendResolved: boolean,
  why: string,
): Channel {
  const error = `placeholder: ${why}; not sent — configure this receiver in monitoring/alertmanager.yml`;
  return {
    kind,
    index,
    sendResolved,
    multiGroup: false,
    async send() {
      return { ok: false, retryable: false, error };
    },
  };
}
