// Public surface of the notifier capability: alertmanager.yml → routing, grouping, inhibition,
// silences, dedup, rate limits and the outbox.
export {
  AlertInputError,
  type AlertSource,
  type PostableAlert,
  type RefusalReason,
} from "./alerts.js";
export { loadAlertmanagerConfig, parseAlertmanagerConfig } from "./config.js";
export { fingerprint } from "./fingerprint.js";
export {
  DEFAULT_NOTIFIER_LIMITS,
  type NotifierLimits,
  notifierLimits,
  SILENCE_TEXT_MAX_BYTES,
} from "./limits.js";
export { newMatcher, parseMatchers } from "./matchers.js";
export { createNotifierMetrics, type NotifierMetrics } from "./metrics.js";
export {
  type AlertStatus,
  type HistoryEntry,
  integrationName,
  Notifier,
  type NotifierEvents,
  type NotifierOptions,
  type ReceiveResult,
  type RefusalReport,
  testNotification,
} from "./notifier.js";
export { type PruneResult, StatePruner } from "./prune.js";
export { type ApiSilence, SilenceError, type SilenceMatcher, Silences } from "./silences.js";
export { openStateDb, type StateDb } from "./state.js";
export type * from "./types.js";
