// The embedded Alertmanager-compatible notifier (monitoring and notifications on): its
// configuration file, its state database, its metrics and log lines. The rule engine is wired to
// it by the rules capability (src/app/engine.ts).

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createChannels, SLACK_URL_MISSING } from "../alerts/channels/index.js";
import { loadEscalationConfig } from "../alerts/escalation/config.js";
import {
  createNotifierMetrics,
  fingerprint,
  loadAlertmanagerConfig,
  Notifier,
  type NotifierEvents,
  openStateDb,
  type Receiver,
} from "../alerts/notify/index.js";
import type { Config } from "../core/config/index.js";
import { resolveInstallPath } from "../core/install.js";
import { ALERTMANAGER_INTAKE, ackRoutes, isSignedAck } from "../http/ack.js";
import { monitoringAuth } from "../http/auth.js";
import type { Logger } from "../logs/logger.js";
import { type AppCapability, need } from "./context.js";
import { linkBase, stateFileBeside } from "./paths.js";

/** The notifier's events as log lines. */
/**
 * A receiver without its webhooks to this app's escalation intake (ALERTMANAGER_INTAKE): that is
 * how the stack's Alertmanager hands alerts over; the embedded notifier escalates by itself.
 */
function withoutIntake(r: Receiver, intakeOnly: Set<string>): Receiver {
  const isIntake = (url: string) => {
    try {
      return new URL(url).pathname.endsWith(ALERTMANAGER_INTAKE);
    } catch {
      return false; // not a URL: the webhook channel reports it
    }
  };
  const webhookConfigs = r.webhookConfigs.filter((c) => !isIntake(c.url));
  if (webhookConfigs.length === r.webhookConfigs.length) return r;
  if (webhookConfigs.length + r.emailConfigs.length + r.slackConfigs.length === 0) intakeOnly.add(r.name);
  return { ...r, webhookConfigs };
}

function notifierLog(logger: Logger, intakeOnly: ReadonlySet<string>): NotifierEvents {
  return {
    // A receiver that stays down (or a placeholder never replaced) is retried for
    // notifications.retry.expiryMs: warn on attempts 1, 2, 4, 8, … only, so a day of retries
    // writes about ten lines per notification, not hundreds; the others are debug lines.
    failed: (row, error, retryAt) => {
      const attempt = row.attempts + 1;
      const level = (attempt & (attempt - 1)) === 0 ? "warn" : "debug";
      logger[level](
        {
          receiver: row.receiver,
          integration: row.integration,
          attempts: attempt,
          error,
          retryAt: new Date(retryAt).toISOString(),
        },
        "notification delivery failed; will retry (logged at attempts 1, 2, 4, 8, …)",
      );
    },
    rejected: (row, error) =>
      // A placeholder or a channel without its secret is configuration, not an outage.
      error.startsWith("placeholder:") || error === SLACK_URL_MISSING
        ? logger.warn(
            { receiver: row.receiver, integration: row.integration, error },
            "notification not sent: this integration is not configured yet",
          )
        : logger.error(
            { receiver: row.receiver, integration: row.integration, error },
            "notification refused by the receiver; not retried",
          ),
    unsent: (receiver, groupKey, groupLabels, alerts) =>
      intakeOnly.has(receiver)
        ? logger.debug(
            { receiver, groupKey },
            "alert group for the stack's escalation intake: escalated here",
          )
        : logger.warn(
            { receiver, groupKey, groupLabels, alerts },
            `alert group not sent: receiver "${receiver}" has no integrations; see /monitoring/alerts and configure monitoring/alertmanager.yml`,
          ),
    expired: (row, lastError) =>
      logger.error(
        { receiver: row.receiver, integration: row.integration, groupKey: row.groupKey, lastError },
        "notification given up after the retry expiry",
      ),
    coalesced: (row, into) =>
      logger.info(
        { receiver: row.receiver, integration: row.integration, into: into.id },
        "rate limit: notification coalesced",
      ),
    refused: (r) =>
      logger.warn({ refused: r.refused, since: r.since, example: r.example }, "the notifier refused alerts"),
  };
}

function notifierStateFile(config: Config): string {
  const n = config.notifications;
  return config.database.url === "sqlite::memory:" && !n.stateFile
    ? ":memory:"
    : stateFileBeside(config, n.stateFile, "notifier.db");
}

/** The escalation policies: escalation.yml beside alertmanager.yml (docs/escalation.md). */
function escalationFile(alertmanagerFile: string): string {
  return join(dirname(alertmanagerFile), "escalation.yml");
}

export const notifier: AppCapability = {
  name: "notifier",
  async build(ctx) {
    const { config, metrics } = ctx;
    const notifications = config.notifications;
    // The engine exists exactly when the metrics do (src/app/engine.ts).
    if (!metrics) return [];
    const amFile = resolveInstallPath(notifications.alertmanagerConfig);
    // Stack mode (notifications off, Alertmanager sends): the notifier runs for escalation only,
    // when there is an escalation file; Alertmanager hands it critical alerts through its webhook.
    const escalationOnly = !notifications.enabled;
    if (escalationOnly && !existsSync(escalationFile(amFile))) return [];
    const logger = need(ctx, "logger", "notifier");
    const { config: amConfig, warnings } = loadAlertmanagerConfig(amFile, {
      slackWebhookUrl: notifications.slackWebhookUrl,
      smtp: notifications.smtp,
    });
    const escalation = loadEscalationConfig(escalationFile(amFile), new Set(amConfig.receivers.keys()));
    // Listed in the start-up summary; a warning line only where a newcomer is not the reader.
    const level = config.environment === "development" ? "info" : "warn";
    for (const w of escalationOnly ? [] : warnings) {
      logger[level]({ file: notifications.alertmanagerConfig }, w);
      ctx.notes.push(`notifications: ${w.replace(/^.*?alertmanager\.yml:\d+:\d+: /, "")}`);
    }
    const stateDb = openStateDb(notifierStateFile(config));
    const nm = createNotifierMetrics(metrics.registry);
    // Receivers whose only integration is the stack's webhook to our own escalation intake.
    const intakeOnly = new Set<string>();
    const log = notifierLog(logger, intakeOnly);
    const both = <K extends keyof NotifierEvents>(k: K) =>
      ((...args: unknown[]) => {
        for (const e of [nm.events, log]) (e[k] as ((...a: unknown[]) => void) | undefined)?.(...args);
      }) as NotifierEvents[K];
    const n = new Notifier({
      config: amConfig,
      limits: notifications.limits,
      db: stateDb,
      createChannels: (r) =>
        createChannels(withoutIntake(r, intakeOnly), {
          timeoutMs: notifications.channelTimeoutMs,
          ...(notifications.webhookSigningSecret
            ? { signingSecret: notifications.webhookSigningSecret }
            : {}),
        }),
      externalURL: linkBase(config),
      initialBackoffMs: notifications.retry.initialBackoffMs,
      maxBackoffMs: notifications.retry.maxBackoffMs,
      expiryMs: notifications.retry.expiryMs,
      ratePerMinute: notifications.rateLimitPerMinute,
      escalation,
      ruleValue: (labels) => {
        const fp = fingerprint(labels);
        return ctx.engine?.alerts().alerts.find((a) => fingerprint(a.labels) === fp)?.value;
      },
      now: ctx.now,
      events: {
        queued: both("queued"),
        delivered: both("delivered"),
        failed: both("failed"),
        rejected: both("rejected"),
        expired: both("expired"),
        coalesced: both("coalesced"),
        refused: both("refused"),
        unsent: both("unsent"),
      },
    });
    nm.bind(n);
    if (escalationOnly) {
      // Not ctx.notifier: nothing else may send through it (Alertmanager does the sending).
      const auth = monitoringAuth(config.monitoring.token, new Set());
      await need(ctx, "fastify", "notifier").register(async (app) => {
        app.addHook("onRequest", async (req, reply) => (isSignedAck(req) ? undefined : auth(req, reply)));
        await app.register(ackRoutes, { notifier: n, now: ctx.now ?? Date.now });
      });
      logger.info(
        { file: escalation.file, policies: escalation.policies.length },
        "notifications are Alertmanager's; the notifier escalates what its webhook hands over",
      );
    } else ctx.notifier = n;
    return [
      {
        name: "notifier",
        start: () => n.start(),
        stop: async () => {
          await n.stop(5_000);
          stateDb.close();
        },
      },
    ];
  },
};
