// The notifier's own metrics, on the app's registry, so the monitoring watches its own
// alerting: a receiver that keeps failing or an outbox that grows is itself alertable.

import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Notifier, NotifierEvents } from "./notifier.js";

export interface NotifierMetrics {
  events: NotifierEvents;
  /** Binds the gauges read at scrape time to the notifier once it exists. */
  bind(notifier: Notifier): void;
}

export const NOTIFICATION_OUTCOMES = ["delivered", "failed", "rejected", "expired", "coalesced"] as const;

export function createNotifierMetrics(registry: Registry): NotifierMetrics {
  const total = new Counter({
    name: "notifications_total",
    help:
      "Notification delivery outcomes by receiver: delivered, failed (an attempt failed; retried), " +
      "rejected (refused for good), expired (given up), coalesced (merged into a later message by the rate limit)",
    labelNames: ["receiver", "outcome"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "notification_latency_seconds",
    help: "Time from a notification being queued to its delivery, in seconds (retries included)",
    labelNames: ["receiver"],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
    registers: [registry],
  });
  const queued = new Counter({
    name: "notifications_queued_total",
    help: "Notifications written to the outbox, by receiver",
    labelNames: ["receiver"],
    registers: [registry],
  });
  const escalationPages = new Counter({
    name: "escalation_pages_total",
    help: "Messages an escalation step queued (one per receiver integration), by policy and kind: page (a step) or resolved",
    labelNames: ["policy", "kind"],
    registers: [registry],
  });
  let notifier: Notifier | undefined;
  new Gauge({
    name: "escalations_open",
    help: "Alerts an escalation policy covers that were paged and have not resolved (acknowledged ones included)",
    registers: [registry],
    collect() {
      if (notifier) this.set(notifier.escalation.openCount());
    },
  });
  new Gauge({
    name: "alerts_firing",
    help: "Alerts held by the notifier that have not resolved, by severity label",
    labelNames: ["severity"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [severity, n] of notifier?.firingBySeverity() ?? []) this.set({ severity }, n);
    },
  });
  new Gauge({
    name: "notifications_pending",
    help: "Notifications in the outbox not yet delivered, refused or expired",
    registers: [registry],
    collect() {
      if (notifier) this.set(notifier.outbox.pendingCount());
    },
  });
  new Counter({
    name: "notifier_alerts_refused_total",
    help:
      "Alerts the notifier refused, by source (api, rules) and reason: invalid, too_large (a size " +
      "limit of one alert), request_too_large (maxAlertsPerRequest), store_full (maxAlerts)",
    labelNames: ["source", "reason"],
    registers: [registry],
    collect() {
      // The notifier counts (it has no registry); the counter shows its totals at scrape time.
      this.reset();
      for (const r of notifier?.refusedCounts() ?? [])
        this.inc({ source: r.source, reason: r.reason }, r.count);
    },
  });
  new Gauge({
    name: "silences_active",
    help: "Silences in effect now",
    registers: [registry],
    collect() {
      if (notifier) this.set(notifier.silences.counts().active);
    },
  });
  return {
    bind(n) {
      notifier = n;
    },
    events: {
      queued: (receiver, _integration, n) => {
        queued.inc({ receiver });
        if (n.escalation)
          escalationPages.inc({
            policy: n.escalation.policy,
            kind: n.escalation.step === "resolved" ? "resolved" : "page",
          });
      },
      delivered: (row, latencyMs) => {
        total.inc({ receiver: row.receiver, outcome: "delivered" });
        latency.observe({ receiver: row.receiver }, latencyMs / 1000);
      },
      failed: (row) => total.inc({ receiver: row.receiver, outcome: "failed" }),
      rejected: (row) => total.inc({ receiver: row.receiver, outcome: "rejected" }),
      expired: (row) => total.inc({ receiver: row.receiver, outcome: "expired" }),
      coalesced: (row) => total.inc({ receiver: row.receiver, outcome: "coalesced" }),
    },
  };
}
