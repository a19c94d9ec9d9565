// Streaming anomaly detection for metric and log-count series (issue 6, part 4).
//
// Each point is turned into five features: the value itself, its mean over the last 4 and 16 points
// (spikes, level shifts), and its mean absolute step over the last 8 and 32 points (bursts of
// volatility, and a series that suddenly goes flat). Every feature keeps a sliding window of its own
// recent history (`window` points, sorted), and the new feature value gets a two-sided tail
// probability against that history: the empirical frequency inside the bulk, and beyond the top (or
// bottom) 5 % a generalised-Pareto tail fitted to the exceedances, so values never seen before still
// get a finite, scale-aware probability. The smallest of the ten tail probabilities, multiplied by ten
// (Bonferroni), is the point's p-value, and the score is −log10(p) / (2·significance) clipped to
// [0, 1]: with the default significance of 2.5 a score ≥ 0.5 means p ≤ 10^−2.5 whatever the series'
// scale, noise or autocorrelation (the windows hold the feature's own history, so a smooth or bursty
// series is compared with itself). After a detection the next `refractory` points are capped just below
// the threshold, so one incident is reported once. The first `warmup` points are learning only.
//
// Daily cycle: once the timestamps give a sampling interval with 8 to 4,000 points a day, the same
// five features are also kept for the residual against the median of the values at the same time
// on the last (up to 5, at least 3) days. After a day of residual history, the residual features
// are the ones tested while their level spread (interquartile range of the 16-point mean) is below
// `seasonal` (0.25) times the raw one: only a series that clearly follows a daily rhythm is judged
// by its departure from the rhythm (a flat day where a wave should be), any other as it is.
// Settings (`window`, `significance`, `refractory`, `warmup`, `seasonal`) are chosen by leaving one
// NAB category out (test/conformance/nab-data.ts).
//
// Memory per series is bounded (five windows of 2 × `window` doubles, ≈ 80 KB at the default, plus
// 33 recent values; with a daily cycle as much again plus 5 days of values: ≈ 140 KB more for a
// point a minute, so ≈ 220 KB per series and ≈ 56 MB for the registry's 256); each point costs O(log window) comparisons plus a bounded array shift and a
// tail fit over at most 5 % of the window, independent of how long the series has run. Measured
// false-alarm rate on pure Gaussian noise: about 1 point in 800 at the 0.5 threshold (before the
// refractory period merges neighbours).

/** Scores at or above this mark an anomaly; the scores are calibrated so that it serves every series. */
export const ANOMALY_THRESHOLD = 0.5;

export interface AnomalyDetectorOptions {
  /** History kept per feature, in points (default 1000). */
  window?: number;
  /** Points observed before any non-zero score (default 60). */
  warmup?: number;
  /** −log10 of the p-value that scores 0.5 (default 2.5; score 1 at twice that). */
  significance?: number;
  /** Points after a detection during which the score stays below the threshold (default 100). */
  refractory?: number;
  /**
   * Daily cycle: when the timestamps allow one, the features are also computed on the difference
   * from the median of the values at the same time on the last days, and that representation is
   * the one tested while the spread of its recent levels is below this fraction of the raw
   * series' spread (a series that clearly follows a daily rhythm is judged by its departure from
   * the rhythm; any other series as it is). 0 turns it off.
   */
  seasonal?: number;
}

type ResolvedOptions = Required<AnomalyDetectorOptions>;

/**
 * Defaults, chosen by leave-one-category-out over the NAB reference subset
 * (test/conformance/nab-data.ts): the selection on all categories must pick exactly these.
 */
export const DEFAULT_ANOMALY_OPTIONS: Readonly<Required<AnomalyDetectorOptions>> = Object.freeze({
  window: 1000,
  warmup: 60,
  significance: 2.5,
  refractory: 100,
  seasonal: 0.25,
});

/** One day in ms: the cycle the detector looks for. */
const DAY_MS = 86_400_000;
/** Points per cycle accepted (longer cycles cost memory: one double per point). */
const MIN_PERIOD = 8;
const MAX_PERIOD = 4000;
/** Days of history the seasonal baseline is the median of, and the fewest it needs. */
const SEASON_DAYS = 5;
const MIN_SEASON_DAYS = 3;
/** Timestamp steps looked at to settle the sampling interval. */
const INTERVAL_SAMPLES = 15;
const DEFAULTS: ResolvedOptions = DEFAULT_ANOMALY_OPTIONS;

/** Scales of the moving-mean and mean-absolute-step features. */
const MEAN_SCALES = [1, 4, 16] as const;
const STEP_SCALES = [8, 32] as const;
const RECENT = Math.max(...MEAN_SCALES, ...STEP_SCALES) + 1;
const TESTS = 2 * (MEAN_SCALES.length + STEP_SCALES.length);
/** Fraction of the window treated as the tail when fitting the generalised-Pareto distribution. */
const TAIL_FRACTION = 0.05;
const MIN_TAIL = 10;
/** History needed before a feature is tested. */
const MIN_HISTORY = 20;

/** A sliding window of numbers kept both in arrival order and sorted. */
class SortedWindow {
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  size = 0;
  private head = 0;

  constructor(readonly cap: number) {
    this.ring = new Float64Array(cap);
    this.sorted = new Float64Array(cap);
  }

  /** First index whose value is ≥ x. */
  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sorted[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose value is > x. */
  private upperBound(x: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sorted[mid] as number) <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(x: number): void {
    if (this.size === this.cap) {
      const i = this.lowerBound(this.ring[this.head] as number);
      this.sorted.copyWithin(i, i + 1, this.size);
      this.size--;
    }
    const j = this.upperBound(x);
    this.sorted.copyWithin(j + 1, j, this.size);
    this.sorted[j] = x;
    this.size++;
    this.ring[this.head] = x;
    this.head = (this.head + 1) % this.cap;
  }

  /** Values oldest first. */
  values(): number[] {
    const out: number[] = [];
    const start = this.size === this.cap ? this.head : 0;
    for (let i = 0; i < this.size; i++) out.push(this.ring[(start + i) % this.cap] as number);
    return out;
  }

  /** The q-quantile of the values (nearest rank). */
  quantile(q: number): number {
    return this.sorted[Math.min(this.size - 1, Math.floor(q * this.size))] as number;
  }

  /** P(X ≥ x): the empirical frequency, and beyond the top k values a generalised-Pareto tail. */
  upper(x: number): number {
    const n = this.size;
    const cnt = n - this.lowerBound(x);
    const k = Math.max(MIN_TAIL, Math.floor(TAIL_FRACTION * n));
    if (cnt > k || n <= k + 1) return cnt / n;
    const u = this.sorted[n - k - 1] as number;
    let m = 0;
    for (let j = n - k; j < n; j++) m += (this.sorted[j] as number) - u;
    m /= k;
    let v = 0;
    for (let j = n - k; j < n; j++) v += ((this.sorted[j] as number) - u - m) ** 2;
    v /= k - 1;
    return Math.max(cnt / n, (k / n) * gpdSurvival(x - u, m, v));
  }

  /** P(X ≤ x), mirror of `upper`. */
  lower(x: number): number {
    const n = this.size;
    const cnt = this.upperBound(x);
    const k = Math.max(MIN_TAIL, Math.floor(TAIL_FRACTION * n));
    if (cnt > k || n <= k + 1) return cnt / n;
    const u = this.sorted[k] as number;
    let m = 0;
    for (let j = 0; j < k; j++) m += u - (this.sorted[j] as number);
    m /= k;
    let v = 0;
    for (let j = 0; j < k; j++) v += (u - (this.sorted[j] as number) - m) ** 2;
    v /= k - 1;
    return Math.max(cnt / n, (k / n) * gpdSurvival(u - x, m, v));
  }
}

/**
 * Survival function at excess y of a generalised-Pareto distribution fitted by the method of moments
 * to exceedances of the given mean and variance. The shape is kept in [0, 0.5]: never a bounded tail
 * (a value past the fitted end point would otherwise get probability 0), at most a heavy one.
 */
function gpdSurvival(y: number, mean: number, variance: number): number {
  if (y <= 0) return 1;
  if (mean <= 0) return 0; // every exceedance tied: anything beyond has never been seen
  const ratio = variance > 0 ? (mean * mean) / variance : Number.POSITIVE_INFINITY;
  const xi = Math.min(0.5, Math.max(0, 0.5 * (1 - ratio)));
  const sigma = mean * (1 - xi);
  if (xi < 1e-9) return Math.exp(-y / sigma);
  return (1 + (xi * y) / sigma) ** (-1 / xi);
}

/** Serialised detector, from `toJSON()`; feed it to `AnomalyDetector.fromJSON`. */
export interface AnomalyDetectorState {
  version: 1;
  options: ResolvedOptions;
  count: number;
  quiet: number;
  lastTimestampMs: number | null;
  recent: number[];
  features: number[][];
  /** The daily cycle's state (absent in states written before it existed: it is relearnt). */
  seasonal?: {
    steps: number[];
    period: number;
    /** The last days' values, oldest first. */
    past: number[];
    recent: number[];
    features: number[][];
  };
}

export class AnomalyDetector {
  readonly options: ResolvedOptions;
  private recent: number[] = [];
  private readonly windows: SortedWindow[];
  /** Seasonal representation: feature windows of the day-over-day differences. */
  private readonly seasonalWindows: SortedWindow[];
  private seasonalRecent: number[] = [];
  /** Timestamp steps seen while the sampling interval is unknown. */
  private steps: number[] = [];
  /** Points per day once known (0 = unknown or no usable cycle). */
  private period = 0;
  /** The last `period` values, oldest first from `pastHead`. */
  private past: Float64Array | undefined;
  private pastCount = 0;
  private readonly sameTime = new Float64Array(SEASON_DAYS);
  private pastHead = 0;
  private count = 0;
  private quiet = 0;
  private lastP = 1;
  private lastTs: number | null = null;

  constructor(opts: AnomalyDetectorOptions = {}) {
    const o = { ...DEFAULTS, ...definedOnly(opts) };
    if (!Number.isInteger(o.window) || o.window < 2 * MIN_HISTORY)
      throw new RangeError("window must be an integer ≥ 40");
    if (!(o.warmup >= 0) || !(o.significance > 0) || !(o.refractory >= 0) || !(o.seasonal >= 0))
      throw new RangeError("warmup, refractory and seasonal must be ≥ 0, significance > 0");
    this.options = o;
    this.windows = Array.from({ length: TESTS / 2 }, () => new SortedWindow(o.window));
    this.seasonalWindows =
      o.seasonal > 0 ? Array.from({ length: TESTS / 2 }, () => new SortedWindow(o.window)) : [];
  }

  /** Points seen so far. */
  get points(): number {
    return this.count;
  }

  /** True during the warm-up: the series is being learnt and scores 0 whatever it does. */
  get learning(): boolean {
    return this.count < this.options.warmup;
  }

  /** Points still to learn before the series is scored (0 once it is). */
  get pointsToLearn(): number {
    return Math.max(0, this.options.warmup - this.count);
  }

  /** Bonferroni-corrected p-value of the last point (1 while learning). */
  get lastPValue(): number {
    return this.lastP;
  }

  /** Timestamp passed with the last point, if any. */
  get lastTimestampMs(): number | null {
    return this.lastTs;
  }

  /** Scores the next point (0 = ordinary … 1 = extremely unusual) and learns it. Non-finite values score 0 and are skipped. */
  update(value: number, timestampMs?: number): number {
    if (!Number.isFinite(value)) return 0;
    const o = this.options;
    if (timestampMs !== undefined && Number.isFinite(timestampMs)) {
      if (
        o.seasonal > 0 &&
        this.period === 0 &&
        this.lastTs !== null &&
        this.steps.length < INTERVAL_SAMPLES
      ) {
        this.steps.push(timestampMs - this.lastTs);
        if (this.steps.length === INTERVAL_SAMPLES) this.settlePeriod();
      }
      this.lastTs = timestampMs;
    }
    this.recent.push(value);
    if (this.recent.length > RECENT) this.recent.shift();
    this.count++;
    const testing = this.count > o.warmup;
    const seasonalFeats = this.seasonalFeatures(value);
    // The seasonal representation is tested once it has a day of history (or a full window) and
    // its level spread is clearly the narrower one.
    const useSeasonal =
      seasonalFeats !== undefined &&
      (this.seasonalWindows[LEVEL]?.size ?? 0) >= Math.min(this.period, o.window) &&
      spread(this.seasonalWindows[LEVEL]) < o.seasonal * spread(this.windows[LEVEL]);
    // Tested during the warm-up as well (only the score is held back): the warm-up changes
    // nothing but the first scores. Both representations always learn.
    let minP = learn(this.windows, features(this.recent), !useSeasonal);
    if (seasonalFeats !== undefined) {
      const ps = learn(this.seasonalWindows, seasonalFeats, useSeasonal);
      if (useSeasonal) minP = ps;
    }
    const p = Math.min(1, minP * TESTS);
    this.lastP = testing ? p : 1;
    let score = !testing ? 0 : p <= 0 ? 1 : Math.min(1, Math.max(0, -Math.log10(p) / (2 * o.significance)));
    if (this.quiet > 0) {
      this.quiet--;
      score = Math.min(score, ANOMALY_THRESHOLD * 0.98);
    } else if (score >= ANOMALY_THRESHOLD) {
      this.quiet = o.refractory;
    }
    return score;
  }

  /** Sampling interval → points per day, when that is a usable cycle length. */
  private settlePeriod(): void {
    const sorted = [...this.steps].sort((a, b) => a - b);
    const step = sorted[sorted.length >> 1] as number;
    const period = step > 0 ? Math.round(DAY_MS / step) : 0;
    if (period >= MIN_PERIOD && period <= MAX_PERIOD) {
      this.period = period;
      this.past = new Float64Array(period * SEASON_DAYS);
    } else this.period = -1;
  }

  /**
   * Records the value and returns the seasonal features: of the difference between the value and
   * the median of the values at the same time of day on the last SEASON_DAYS days (a median, so
   * that yesterday's spike does not echo as today's dip). Undefined until MIN_SEASON_DAYS days.
   */
  private seasonalFeatures(value: number): (number | undefined)[] | undefined {
    const past = this.past;
    if (past === undefined) return undefined;
    const p = this.period;
    const days = Math.floor(this.pastCount / p);
    let diff: number | undefined;
    if (days >= MIN_SEASON_DAYS) {
      const same = this.sameTime;
      for (let d = 1; d <= days; d++)
        same[d - 1] = past[(this.pastHead - d * p + past.length) % past.length] as number;
      diff = value - median(same, days);
    }
    if (this.pastCount < past.length) this.pastCount++;
    past[this.pastHead] = value;
    this.pastHead = (this.pastHead + 1) % past.length;
    if (diff === undefined) return undefined;
    this.seasonalRecent.push(diff);
    if (this.seasonalRecent.length > RECENT) this.seasonalRecent.shift();
    return features(this.seasonalRecent);
  }

  toJSON(): AnomalyDetectorState {
    return {
      version: 1,
      options: { ...this.options },
      count: this.count,
      quiet: this.quiet,
      lastTimestampMs: this.lastTs,
      recent: [...this.recent],
      features: this.windows.map((w) => w.values()),
      seasonal: {
        steps: [...this.steps],
        period: this.period,
        past: this.pastValues(),
        recent: [...this.seasonalRecent],
        features: this.seasonalWindows.map((w) => w.values()),
      },
    };
  }

  /** The stored past values, oldest first. */
  private pastValues(): number[] {
    const past = this.past;
    if (past === undefined) return [];
    const out: number[] = [];
    const start = this.pastCount === past.length ? this.pastHead : 0;
    for (let i = 0; i < this.pastCount; i++) out.push(past[(start + i) % past.length] as number);
    return out;
  }

  static fromJSON(state: AnomalyDetectorState): AnomalyDetector {
    if (state?.version !== 1 || !Array.isArray(state.features) || state.features.length !== TESTS / 2)
      throw new Error("unsupported anomaly detector state");
    const d = new AnomalyDetector(state.options);
    d.count = state.count;
    d.quiet = state.quiet;
    d.lastTs = state.lastTimestampMs ?? null;
    d.recent = state.recent.slice(-RECENT);
    state.features.forEach((vals, i) => {
      const w = d.windows[i] as SortedWindow;
      for (const v of vals.slice(-w.cap)) w.add(v);
    });
    const se = state.seasonal;
    if (se !== undefined && d.options.seasonal > 0) {
      d.steps = se.steps.filter(Number.isFinite).slice(0, INTERVAL_SAMPLES);
      if (se.period > 0 && se.period >= MIN_PERIOD && se.period <= MAX_PERIOD) {
        d.period = se.period;
        d.past = new Float64Array(se.period * SEASON_DAYS);
        for (const v of se.past.slice(-d.past.length)) {
          d.past[d.pastHead] = v;
          d.pastHead = (d.pastHead + 1) % d.past.length;
          d.pastCount = Math.min(d.past.length, d.pastCount + 1);
        }
      } else if (se.period < 0) d.period = -1;
      d.seasonalRecent = se.recent.slice(-RECENT);
      se.features.forEach((vals, i) => {
        const w = d.seasonalWindows[i];
        if (w !== undefined) for (const v of vals.slice(-w.cap)) w.add(v);
      });
    }
    return d;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Index of the level feature (mean of the last 16) whose spread picks the representation. */
const LEVEL = 2;

/** Median of the first n values of a small array (sorted in place). */
function median(a: Float64Array, n: number): number {
  const v = a.subarray(0, n).sort();
  return n % 2 === 1 ? (v[n >> 1] as number) : ((v[n / 2 - 1] as number) + (v[n / 2] as number)) / 2;
}

/** Interquartile range of a window's values (∞ while it holds too few). */
function spread(w: SortedWindow | undefined): number {
  if (w === undefined || w.size < MIN_HISTORY) return Number.POSITIVE_INFINITY;
  return w.quantile(0.75) - w.quantile(0.25);
}

/** Adds each feature to its window; returns the smallest two-sided tail probability when testing. */
function learn(windows: SortedWindow[], feats: (number | undefined)[], test: boolean): number {
  let minP = 1;
  for (let i = 0; i < windows.length; i++) {
    const f = feats[i];
    if (f === undefined) continue;
    const w = windows[i] as SortedWindow;
    if (test && w.size >= MIN_HISTORY) minP = Math.min(minP, w.upper(f), w.lower(f));
    w.add(f);
  }
  return minP;
}

/** Feature values for the newest point (undefined while too few points for that scale). */
function features(recent: number[]): (number | undefined)[] {
  const n = recent.length;
  const out: (number | undefined)[] = [];
  for (const s of MEAN_SCALES) {
    if (n < s) {
      out.push(undefined);
      continue;
    }
    let sum = 0;
    for (let i = n - s; i < n; i++) sum += recent[i] as number;
    out.push(sum / s);
  }
  for (const s of STEP_SCALES) {
    if (n < s + 1) {
      out.push(undefined);
      continue;
    }
    let sum = 0;
    for (let i = n - s; i < n; i++) sum += Math.abs((recent[i] as number) - (recent[i - 1] as number));
    out.push(sum / s);
  }
  return out;
}

/** One detected anomaly. */
export interface Anomaly {
  series: string;
  timestampMs: number;
  value: number;
  score: number;
}

export interface AnomalyRegistryOptions {
  /** Series tracked at once; the least recently updated one is dropped beyond this (default 256). */
  maxSeries?: number;
  /** Anomalies kept for `recent()` (default 500). */
  maxAnomalies?: number;
  /** Options for every detector. */
  detector?: AnomalyDetectorOptions;
  /** Called on each detection, e.g. to count `log_anomalies_total`. */
  onAnomaly?: (a: Anomaly) => void;
  /** Clock used when `observe` gets no timestamp. */
  now?: () => number;
}

interface SeriesEntry {
  detector: AnomalyDetector;
  lastScore: number;
  lastValue: number;
  lastTimestampMs: number;
}

/** Serialised registry, from `toJSON()`. */
export interface AnomalyRegistryState {
  version: 1;
  series: Array<{
    name: string;
    lastScore: number;
    lastValue: number;
    lastTimestampMs: number;
    detector: AnomalyDetectorState;
  }>;
  anomalies: Anomaly[];
}

/** One detector per named series, least-recently-updated eviction, and a ring of recent anomalies. */
export class AnomalyRegistry {
  private readonly series = new Map<string, SeriesEntry>();
  private anomalies: Anomaly[] = [];
  private readonly maxSeries: number;
  private readonly maxAnomalies: number;
  private readonly detectorOptions: AnomalyDetectorOptions;
  private readonly onAnomaly: ((a: Anomaly) => void) | undefined;
  private readonly now: () => number;
  private evictedCount = 0;

  constructor(opts: AnomalyRegistryOptions = {}) {
    this.maxSeries = Math.max(1, opts.maxSeries ?? 256);
    this.maxAnomalies = Math.max(1, opts.maxAnomalies ?? 500);
    this.detectorOptions = opts.detector ?? {};
    this.onAnomaly = opts.onAnomaly;
    this.now = opts.now ?? Date.now;
    new AnomalyDetector(this.detectorOptions); // validate the options now, not on the first point
  }

  /** Feeds one point of `name`; returns its score and records it when it is an anomaly. */
  observe(name: string, value: number, timestampMs?: number): number {
    let e = this.series.get(name);
    if (e) this.series.delete(name);
    else {
      e = {
        detector: new AnomalyDetector(this.detectorOptions),
        lastScore: 0,
        lastValue: value,
        lastTimestampMs: 0,
      };
      if (this.series.size >= this.maxSeries) {
        const oldest = this.series.keys().next().value as string;
        this.series.delete(oldest);
        this.evictedCount++;
      }
    }
    this.series.set(name, e);
    const ts = timestampMs ?? this.now();
    const score = e.detector.update(value, ts);
    e.lastScore = score;
    e.lastValue = value;
    e.lastTimestampMs = ts;
    if (score >= ANOMALY_THRESHOLD) {
      const a: Anomaly = { series: name, timestampMs: ts, value, score };
      this.anomalies.push(a);
      if (this.anomalies.length > this.maxAnomalies) this.anomalies.shift();
      this.onAnomaly?.(a);
    }
    return score;
  }

  /** Recent anomalies, newest first, optionally of one series or since a time. */
  recent(opts: { limit?: number; series?: string; sinceMs?: number } = {}): Anomaly[] {
    const out: Anomaly[] = [];
    const limit = opts.limit ?? this.maxAnomalies;
    for (let i = this.anomalies.length - 1; i >= 0 && out.length < limit; i--) {
      const a = this.anomalies[i] as Anomaly;
      if (opts.series !== undefined && a.series !== opts.series) continue;
      if (opts.sinceMs !== undefined && a.timestampMs < opts.sinceMs) continue;
      out.push({ ...a });
    }
    return out;
  }

  /**
   * Latest score per series (for an `anomaly_score{series}` gauge), and whether the series is still
   * learning (its score is 0 because it is new, not because it is normal) with the points it needs.
   */
  scores(): Array<{
    series: string;
    score: number;
    value: number;
    timestampMs: number;
    learning: boolean;
    pointsToLearn: number;
  }> {
    return [...this.series].map(([series, e]) => ({
      series,
      score: e.lastScore,
      value: e.lastValue,
      timestampMs: e.lastTimestampMs,
      learning: e.detector.learning,
      pointsToLearn: e.detector.pointsToLearn,
    }));
  }

  has(name: string): boolean {
    return this.series.has(name);
  }

  delete(name: string): boolean {
    return this.series.delete(name);
  }

  get size(): number {
    return this.series.size;
  }

  /** Series dropped so far because of `maxSeries`. */
  get evicted(): number {
    return this.evictedCount;
  }

  toJSON(): AnomalyRegistryState {
    return {
      version: 1,
      series: [...this.series].map(([name, e]) => ({
        name,
        lastScore: e.lastScore,
        lastValue: e.lastValue,
        lastTimestampMs: e.lastTimestampMs,
        detector: e.detector.toJSON(),
      })),
      anomalies: this.anomalies.map((a) => ({ ...a })),
    };
  }

  static fromJSON(state: AnomalyRegistryState, opts: AnomalyRegistryOptions = {}): AnomalyRegistry {
    if (state?.version !== 1) throw new Error("unsupported anomaly registry state");
    const r = new AnomalyRegistry(opts);
    for (const s of state.series.slice(-r.maxSeries)) {
      r.series.set(s.name, {
        detector: AnomalyDetector.fromJSON(s.detector),
        lastScore: s.lastScore,
        lastValue: s.lastValue,
        lastTimestampMs: s.lastTimestampMs,
      });
    }
    r.anomalies = state.anomalies.slice(-r.maxAnomalies).map((a) => ({ ...a }));
    return r;
  }
}
