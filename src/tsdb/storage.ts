import type { SelectHints } from "./durable.js";
import type { Labels } from "./labels.js";
import type { CompiledMatcher, Matcher } from "./matchers.js";
import type { AppendResult, SeriesData, SeriesRef, StoreCounters, WorkMeter } from "./store.js";

/**
 * What PromQL reads from a store: the in-memory `SeriesStore` (store.ts) and the durable one
 * (durable.ts) both answer it. `meter` is the query's guard, ticked by every loop that grows
 * with the data (promql/limits.ts).
 */
export interface Queryable {
  /** `hints` choose what a store with a downsampled tier reads before its raw samples (durable.ts). */
  select(
    matchers: readonly (Matcher | CompiledMatcher)[],
    minT: number,
    maxT: number,
    meter?: WorkMeter,
    hints?: SelectHints,
  ): SeriesData[];
  /** Where raw samples begin, for a store with a downsampled tier; absent: all raw. */
  rawStart?(): number;
  series(matchers: readonly (Matcher | CompiledMatcher)[]): Labels[];
  labelNames(): string[];
  labelValues(name: string): string[];
}

/** What the engine host and the rule engine write to and read from a store. */
export interface Storage extends Queryable {
  readonly retentionMs: number;
  readonly maxSeries: number;
  getOrCreate(labels: Labels, key?: string): SeriesRef | "series_limit" | "invalid_labels";
  lookup(key: string): SeriesRef | undefined;
  append(labels: Labels, timestampMs: number, value: number): AppendResult;
  appendRef(ref: SeriesRef, timestampMs: number, value: number): AppendResult;
  appendStale(series: Labels | string | SeriesRef, timestampMs: number): AppendResult;
  /** The end of a scrape: retention (and, for the durable store, flushing and compaction). */
  gc(nowMs: number): { droppedSamples: number; droppedSeries: number };
  seriesCount(): number;
  sampleCount(): number;
  counters(): StoreCounters;
  bytesUsed(): number;
}
