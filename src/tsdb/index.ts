export {
  type AggregateKind,
  DEFAULT_BLOCK_RANGE_MS,
  DEFAULT_DOWNSAMPLED_RETENTION_MS,
  DEFAULT_RAW_RETENTION_MS,
  type DurableEvent,
  type DurableStats,
  DurableStore,
  type DurableStoreOptions,
  type SelectHints,
} from "./durable.js";
export {
  compareLabels,
  type Label,
  type Labels,
  labelsFromObject,
  labelsFromPairs,
  labelsKey,
  labelsToObject,
  labelsToString,
  labelValue,
  METRIC_NAME,
} from "./labels.js";
export {
  type CompiledMatcher,
  type CompileResult,
  compileMatcher,
  compileRegex,
  type Matcher,
  type MatchType,
  matchesAll,
} from "./matchers.js";
export {
  type AnchoredRegex,
  compileGoRegexp,
  compilePromRegex,
  compileRE2,
  GoRegexp,
  goCompile,
  goExpand,
  RE2SyntaxError,
} from "./re2.js";
export {
  DEFAULT_SCRAPE_INTERVAL_MS,
  formatFloat,
  Sampler,
  type SamplerOptions,
  type SamplerStats,
  type ScrapeResult,
} from "./sampler.js";
export { isStaleMarker, StaleNaN } from "./stale.js";
export type { Queryable, Storage } from "./storage.js";
export {
  type AppendResult,
  DEFAULT_MAX_SERIES,
  DEFAULT_RETENTION_MS,
  type SeriesData,
  type SeriesRef,
  SeriesStore,
  type SeriesStoreOptions,
  type StoreCounters,
  type WorkMeter,
} from "./store.js";
