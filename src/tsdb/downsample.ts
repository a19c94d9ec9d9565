import { isStaleMarker } from "./stale.js";

/**
 * The downsampled tier: per series and per window of `resolutionMs` (5 minutes by default), the
 * count, sum, min, max and last of the raw samples, as Thanos's downsampling keeps them
 * (`pkg/compact/downsample`, AggrChunk). Each aggregate is a series of one point per window,
 * stamped with the timestamp of the window's last raw sample, so the five share timestamps.
 *
 * What stays exact when a query reads this tier instead of raw samples (docs/storage.md,
 * "What a query reads"): min/max/sum/count_over_time, to the window (a window is in a range when
 * its last sample is); everything else (`avg_over_time`, `rate`, …) is computed on the `last`
 * points, one per window: a counter's rate is exact across windows without a reset, and loses
 * the increase before a reset inside a window.
 * Staleness markers carry no value and are left out of every aggregate.
 */

export const DEFAULT_RESOLUTION_MS = 300_000;

export interface Aggregates {
  t: Float64Array;
  count: Float64Array;
  sum: Float64Array;
  min: Float64Array;
  max: Float64Array;
  last: Float64Array;
}

/** Aggregates raw samples (oldest first) into windows of `resolutionMs` aligned to the epoch. */
export function downsample(
  ts: Float64Array,
  vals: Float64Array,
  resolutionMs = DEFAULT_RESOLUTION_MS,
): Aggregates {
  const cap = windowsSpanned(ts, resolutionMs);
  const out: Aggregates = {
    t: new Float64Array(cap),
    count: new Float64Array(cap),
    sum: new Float64Array(cap),
    min: new Float64Array(cap),
    max: new Float64Array(cap),
    last: new Float64Array(cap),
  };
  let n = 0;
  let window = Number.NaN;
  for (let i = 0; i < ts.length; i++) {
    const v = vals[i] as number;
    if (isStaleMarker(v)) continue;
    const t = ts[i] as number;
    const w = Math.floor(t / resolutionMs);
    if (w !== window) {
      window = w;
      out.count[n] = 0;
      out.sum[n] = 0;
      out.min[n] = v;
      out.max[n] = v;
      n++;
    }
    const k = n - 1;
    out.t[k] = t;
    out.count[k] = (out.count[k] as number) + 1;
    out.sum[k] = (out.sum[k] as number) + v;
    // NaN in min/max follows Prometheus's min_over_time: a NaN is replaced by any number.
    if (v < (out.min[k] as number) || Number.isNaN(out.min[k] as number)) out.min[k] = v;
    if (v > (out.max[k] as number) || Number.isNaN(out.max[k] as number)) out.max[k] = v;
    out.last[k] = v;
  }
  return {
    t: out.t.subarray(0, n),
    count: out.count.subarray(0, n),
    sum: out.sum.subarray(0, n),
    min: out.min.subarray(0, n),
    max: out.max.subarray(0, n),
    last: out.last.subarray(0, n),
  };
}

function windowsSpanned(ts: Float64Array, resolutionMs: number): number {
  if (ts.length === 0) return 0;
  const first = Math.floor((ts[0] as number) / resolutionMs);
  const last = Math.floor((ts[ts.length - 1] as number) / resolutionMs);
  return Math.min(ts.length, last - first + 1);
}
