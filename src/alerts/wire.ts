// The alert wire format shared by the rule engine, the notifier and the Alertmanager forwarder:
// Alertmanager API v2's `postableAlert` (models.PostableAlert), the body element of
// POST /api/v2/alerts. Prometheus's notifier sends it, API clients post it to the embedded
// notifier, the rule engine hands it to the notifier, and the forwarder posts it to Alertmanagers.
// Alertmanager's other shape, `gettableAlert` (what GET /api/v2/alerts returns, with fingerprint,
// status and receivers), is the notifier's GettableAlert (src/alerts/notify/notifier.ts).

/**
 * An alert as posted to Alertmanager's API v2. Only `labels` is required on the wire: a client may
 * leave out the rest (Alertmanager then fills in startsAt = now and endsAt from resolve_timeout);
 * the rule engine always sets every field, with "" for a time it does not know.
 */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** RFC 3339. */
  startsAt?: string;
  /** RFC 3339. */
  endsAt?: string;
  generatorURL?: string;
}
