// The notifier's intake bounds (`notifications.limits`): how many alerts one request and the
// whole store may hold, how large an alert or a silence may be, and how much history the state
// file keeps. They exist so that a careless or hostile client of the Alertmanager-compatible
// intake cannot grow the process's memory, the state file or the listing without bound. The
// defaults equal the configuration schema's (a test keeps the two equal), so a Notifier built
// without `limits` is bounded the same way as one built from the configuration.

import type { Config } from "../../core/config/index.js";

export type NotifierLimits = Config["notifications"]["limits"];

export const DEFAULT_NOTIFIER_LIMITS: Readonly<NotifierLimits> = Object.freeze({
  maxAlertsPerRequest: 1000,
  maxAlerts: 10_000,
  maxLabelsPerAlert: 64,
  maxLabelValueBytes: 2048,
  maxAnnotationBytes: 16_384,
  maxSilences: 1000,
  maxMatchersPerSilence: 32,
  historyRetentionMs: 7 * 86_400_000,
  maxHistoryRows: 100_000,
});

/** A silence's `createdBy` and `comment` may each hold this many bytes (UTF-8). */
export const SILENCE_TEXT_MAX_BYTES = 4096;

/** The limits with the defaults filled in for whatever is not given. */
export function notifierLimits(given?: Partial<NotifierLimits>): NotifierLimits {
  return { ...DEFAULT_NOTIFIER_LIMITS, ...(given ?? {}) };
}

/** A string's length in UTF-8 bytes (what the byte limits count). */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** A value for an error message: at most 40 characters, quoted. */
export function shortQuote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}
