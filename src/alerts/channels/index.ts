// The notification channels of a receiver, built in Alertmanager's order.
//
// Alertmanager (0.25, cmd/alertmanager/main.go buildReceiverIntegrations) builds a receiver's
// integrations as webhook_configs, email_configs, pagerduty, opsgenie, wechat, slack_configs, …
// each list in config order; so of the kinds we support: webhook, email, slack. The notifier
// sends to all of them concurrently, so the order only shows in listings and logs.

import type { Channel, Receiver } from "../notify/types.js";
import { createEmailChannel } from "./email.js";
import { emailPlaceholder, placeholderChannel, webhookPlaceholder } from "./placeholder.js";
import { createSlackChannel } from "./slack.js";
import { createWebhookChannel } from "./webhook.js";

export interface ChannelOptions {
  /** Bound on one delivery attempt (connect, send, answer). */
  timeoutMs: number;
  /** HMAC key for webhook signatures (X-TUG-Signature); unsigned when absent. */
  signingSecret?: string;
  userAgent?: string;
}

export function createChannels(receiver: Receiver, opts: ChannelOptions): Channel[] {
  // A placeholder (a name reserved for examples) is refused at once, never retried (placeholder.ts).
  return [
    ...receiver.webhookConfigs.map((c, i) => {
      const why = webhookPlaceholder(c);
      return why ? placeholderChannel("webhook", i, c.sendResolved, why) : createWebhookChannel(c, i, opts);
    }),
    ...receiver.emailConfigs.map((c, i) => {
      const why = emailPlaceholder(c);
      return why
        ? placeholderChannel("email", i, c.sendResolved, why)
        : createEmailChannel(c, i, { timeoutMs: opts.timeoutMs });
    }),
    ...receiver.slackConfigs.map((c, i) => createSlackChannel(c, i, opts)),
  ];
}

export {
  type AlertmanagerForwarder,
  alertsEndpoint,
  createAlertmanagerForwarder,
  type ForwarderOptions,
} from "./alertmanager.js";
export {
  type ComposedEmail,
  composeEmail,
  createEmailChannel,
  type EmailOptions,
  emailSubject,
} from "./email.js";
export { emailPlaceholder, isReservedHost, webhookPlaceholder } from "./placeholder.js";
export { createSlackChannel, SLACK_URL_MISSING, type SlackOptions, slackBody } from "./slack.js";
export {
  alertmanagerURL,
  encodeGoJson,
  GO_ZERO_TIME,
  goQueryEscape,
  goQuoteMeta,
  sortedPairs,
  subject,
} from "./templates.js";
export {
  createWebhookChannel,
  describeFetchError,
  postJson,
  signatureHeaders,
  statusResult,
  type WebhookOptions,
  webhookBody,
} from "./webhook.js";
