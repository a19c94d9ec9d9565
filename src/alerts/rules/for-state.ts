import {
  isStaleMarker,
  type Labels,
  labelsFromObject,
  labelsKey,
  labelsToObject,
  type Matcher,
  METRIC_NAME,
  type SeriesData,
} from "../../tsdb/index.js";

/**
 * Restoring an alert's `for` state after a restart, with Prometheus's arithmetic
 * (`rules/manager.go`, `Group.RestoreForState`, v2.42): each active alert's `ALERTS_FOR_STATE`
 * series holds its activeAt (seconds) at every evaluation, so the last sample before the restart
 * says when the alert became active (`v`) and when the process last saw it (`downAt`, the
 * sample's timestamp).
 *
 * - Nothing is restored from a sample older than `outageToleranceMs` (default 1 h), or from a
 *   staleness marker (the alert was resolved).
 * - A rule whose `for` is shorter than `forGracePeriodMs` is not restored (it waits its `for`).
 * - An alert that had been pending past its `for` (it was firing) keeps its activeAt: it fires
 *   again at once, with its old activeAt.
 * - One with less than the grace period left waits the grace period.
 * - Otherwise activeAt moves forward by the downtime, so the time spent pending before the
 *   restart counts: a `for: 5m` alert pending for 4 minutes fires about a minute after.
 *
 * Where it differs from Prometheus, and why: Prometheus restores after the group's second
 * evaluation, because its first evaluation after a restart may run before any new scrape; here
 * the durable store (src/tsdb/durable.ts) holds the samples from before the restart, which the
 * first evaluation reads within its 5-minute lookback, so restoring then sees the same data one
 * interval sooner. The default grace period is one minute
 * (Prometheus: 10 minutes), for the same reason: Prometheus waits for `rate()` windows to fill
 * with new scrapes, which the durable store does not need.
 */

export const DEFAULT_OUTAGE_TOLERANCE_MS = 3_600_000;
export const DEFAULT_FOR_GRACE_PERIOD_MS = 60_000;

export interface ForStateOptions {
  outageToleranceMs?: number;
  forGracePeriodMs?: number;
}

/** What the store can answer (SeriesStore, DurableStore). */
export interface ForStateSource {
  select(matchers: readonly Matcher[], minT: number, maxT: number): SeriesData[];
}

/** The last `ALERTS_FOR_STATE` sample of an alert within the outage tolerance, if any. */
export function lastForState(
  store: ForStateSource,
  alertLabels: Labels,
  nowMs: number,
  outageToleranceMs: number,
): { t: number; activeAtSec: number } | undefined {
  const want = labelsFromObject({ ...labelsToObject(alertLabels), [METRIC_NAME]: "ALERTS_FOR_STATE" });
  const matchers: Matcher[] = want.map((l) => ({ name: l.name, type: "=", value: l.value }));
  const key = labelsKey(want);
  for (const s of store.select(matchers, nowMs - outageToleranceMs, nowMs)) {
    if (labelsKey(s.labels) !== key) continue; // a series with more labels matches the equalities too
    const n = s.timestamps.length;
    if (n === 0) return undefined;
    const v = s.values[n - 1] as number;
    if (isStaleMarker(v)) return undefined;
    return { t: s.timestamps[n - 1] as number, activeAtSec: v };
  }
  return undefined;
}

/**
 * The activeAt (ms) to give a restored alert, or undefined to keep the one it has now.
 * `holdMs` is the rule's `for`; `nowMs` the evaluation's timestamp.
 */
export function restoredActiveAt(
  holdMs: number,
  last: { t: number; activeAtSec: number },
  nowMs: number,
  forGracePeriodMs: number,
): number | undefined {
  if (holdMs < forGracePeriodMs) return undefined;
  // Prometheus works in whole seconds here: downAt = t/1000 truncated, activeAt = int64(v).
  const downAt = Math.trunc(last.t / 1000) * 1000;
  let activeAt = Math.trunc(last.activeAtSec) * 1000;
  const remaining = holdMs - (downAt - activeAt);
  if (remaining <= 0) {
    // It was firing: it fires again at the next transition check, with its old activeAt.
  } else if (remaining < forGracePeriodMs) {
    activeAt = nowMs + forGracePeriodMs - holdMs;
  } else {
    activeAt += nowMs - downAt;
  }
  return activeAt;
}
