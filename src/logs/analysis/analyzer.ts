// The in-process log analysis behind the log tap: every line the app logs is counted by level
// and by template (the template miner), error lines go to error groups, slow-query lines to
// slow-query patterns; once a minute the per-minute counts and the main metric series (request
// rate, error ratio, p95 latency) feed the anomaly detectors, and each route's minute feeds the
// trends.
//
// The tap is on the logging hot path, so it only queues the serialized line; the work happens
// in batches off that path. Lines from our own pino logger have a known shape (the level first,
// `msg` last), so the common case reads those two fields with string scans and a cache by
// message text instead of a JSON parse; only error, access-failure and slow-query lines, which
// are rare, are parsed in full.

import { performance } from "node:perf_hooks";
import { systemClock } from "../../core/clock.js";
import { type MinerSnapshot, TemplateMiner } from "../patterns/index.js";
import { type ErrorGroup, ErrorTracker } from "./errors.js";
import { SlowQueries, type SlowQueryPattern } from "./slowqueries.js";
import { type RouteTrend, RouteTrends } from "./trends.js";

/** Lines waiting for analysis beyond this many are not analysed (counted; see tap). */
const MAX_QUEUED = 50_000;
/** Analysis per turn of the event loop on the scheduled path, in ms. */
const SLICE_MS = 4;
/** A line longer than this is analysed on its first this-many characters (a 1 MB line logged by mistake must not cost 1 MB of mining). */
const MAX_ANALYSED_CHARS = 16_384;

/**
 * Words of a message the miner sees. Refining a template costs about the square of its words (the
 * fuzz suite found 50 lines of 1,000 random words holding the loop for 18 s); real log messages
 * have a few dozen, and the first MAX_MINED_WORDS decide the template.
 */
const MAX_MINED_WORDS = 64;

function capWords(msg: string): string {
  let at = -1;
  for (let n = 0; n < MAX_MINED_WORDS; n++) {
    at = msg.indexOf(" ", at + 1);
    if (at < 0) return msg;
  }
  return msg.slice(0, at);
}

/** One streaming detector per named series; scores in [0, 1], anomalous at ≥ 0.5. */
export interface AnomalyScorer {
  score(series: string, value: number, atMs: number): number;
}

export interface MetricMinute {
  requestsPerSecond?: number;
  errorRatio?: number;
  p95LatencySeconds?: number;
}

export interface RouteMinute {
  route: string;
  requests: number;
  errors: number;
  meanLatency: number;
  p95Latency: number;
}

export interface AnalyzerOptions {
  anomalies: AnomalyScorer;
  /** Templates saved by a previous run (`toJSON().miner`). */
  minerSnapshot?: MinerSnapshot;
  /** Distinct message shapes kept (least recently used go first). */
  maxSignatures?: number;
  now?: () => number;
  /** Template series given their own anomaly detector (the busiest ones). */
  maxTemplateSeries?: number;
  /** Anomalies kept for the API. */
  maxAnomalies?: number;
  /** Per-minute metric figures, read when a minute closes (from the embedded store). */
  metricMinute?: () => MetricMinute;
  routeMinutes?: () => RouteMinute[];
  onAnomaly?: (a: AnomalyPoint) => void;
  onScore?: (series: string, score: number) => void;
}

export interface TemplateStats {
  id: string;
  template: string;
  count: number;
  firstSeen: number;
  lastSeen: number;
  /** Highest level seen with it. */
  level: string;
  sample: string;
  /** Counts of the last 60 closed minutes, oldest first. */
  perMinute: number[];
}

export interface AnomalyPoint {
  series: string;
  atMs: number;
  value: number;
  score: number;
}

const LEVEL_NAMES = ["trace", "debug", "info", "warn", "error", "fatal"];
const LEVEL_RANK: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const PERMINUTE_KEEP = 60;
const HAS_DIGIT = /\d/;

/**
 * The level as an index into LEVEL_NAMES. Our pino formatter writes `{"level":"<LABEL>"` first, so
 * one character decides; other JSON lines are searched for a label or pino's numeric level.
 */
function levelOf(line: string): number {
  if (line.startsWith('{"level":"')) {
    // Ours are upper case (INFO); other pino loggers write lower case: either decides.
    switch (line.charCodeAt(10) | 0x20) {
      case 105: // i
        return 2;
      case 119: // w
        return 3;
      case 101: // e
        return 4;
      case 102: // f
        return 5;
      case 100: // d
        return 1;
      case 116: // t
        return 0;
    }
  }
  const m = /"level":(?:"([A-Za-z]+)"|(\d+))/.exec(line);
  if (!m) return 2;
  if (m[1]) return Math.max(0, LEVEL_NAMES.indexOf(m[1].toLowerCase()));
  return Math.min(5, Math.max(0, Math.floor(Number(m[2]) / 10) - 1));
}

/**
 * The fields of a slow-query line without parsing the whole line: pino writes them as
 * `"operation":"…","table":"…","durationMs":N,"sql":"…","failed":B`. Undefined when the line
 * does not look like that (then it is parsed in full).
 */
function pickFields(line: string): Record<string, unknown> | undefined {
  const sql = stringField(line, '"sql":"');
  if (sql === undefined) return undefined;
  const d = line.indexOf('"durationMs":');
  return {
    sql,
    operation: stringField(line, '"operation":"'),
    table: stringField(line, '"table":"'),
    durationMs: d < 0 ? 0 : Number.parseFloat(line.slice(d + 13, d + 40)),
    failed: line.includes('"failed":true'),
  };
}

/** A string field by its `"key":"` prefix (no closure: this runs on the tap's path). */
function stringField(line: string, prefix: string): string | undefined {
  const at = line.indexOf(prefix);
  return at < 0 ? undefined : msgFrom(line, at + prefix.length - 1);
}

/** `msg` is the last key pino writes; escaped messages fall back to a JSON string parse. */
function msgOf(line: string): string {
  const at = line.lastIndexOf(',"msg":"');
  if (at < 0) return line.startsWith('{"msg":"') ? msgFrom(line, 7) : "";
  return msgFrom(line, at + 7);
}

function msgFrom(line: string, quote: number): string {
  const end = line.indexOf('"', quote + 1);
  if (end < 0) return "";
  const raw = line.slice(quote + 1, end);
  if (!raw.includes("\\")) return raw;
  // An escape: find the real closing quote and let JSON decode it.
  let i = quote + 1;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c === 92) i += 2;
    else if (c === 34) break;
    else i++;
  }
  try {
    return JSON.parse(line.slice(quote, i + 1)) as string;
  } catch {
    return raw;
  }
}

/** Per message shape (a miner signature): what the tap counted. */
interface SigStats {
  sig: number;
  count: number;
  /** Occurrences in the current minute. */
  minute: number;
  /** Hits not yet reported to the miner (its LRU must see hot shapes as hot). */
  untouched: number;
  firstSeen: number;
  lastSeen: number;
  level: string;
  levelIndex: number;
  sample: string;
  perMinute: number[];
}

export class LogAnalyzer {
  errors: ErrorTracker;
  slowQueries: SlowQueries;
  trends: RouteTrends;
  readonly miner: TemplateMiner;
  private readonly sigs = new Map<number, SigStats>();
  /** Exact message text → its shape's stats: pino messages are mostly constant strings. */
  private readonly byMessage = new Map<string, SigStats>();
  /** Line endings of the latest constant messages (see ingest). */
  private recentSuffixes: Array<{ suffix: string; stats: SigStats }> = [];
  /** Lines per level (LEVEL_NAMES order) in the current minute, and in all. */
  private readonly minuteLevel = new Float64Array(6);
  private readonly levelTotals = new Float64Array(6);
  private readonly anomalies: AnomalyPoint[] = [];
  private readonly errorByRequest = new Map<string, string>();
  private queue: string[] = [];
  /** Lines given again through tapSame, with how many times each: counted at the next drain. */
  private repeats = new Map<string, number>();
  private scheduled = false;
  private minute: number;
  private readonly now: () => number;
  private linesTotal = 0;
  private droppedLines = 0;

  constructor(private readonly opts: AnalyzerOptions) {
    this.now = opts.now ?? systemClock.now;
    this.minute = Math.floor(this.now() / 60_000);
    this.errors = new ErrorTracker();
    this.slowQueries = new SlowQueries();
    this.trends = new RouteTrends();
    const minerOpts = {
      maxTemplates: opts.maxSignatures ?? 10_000,
      onEvict: (sig: number) => {
        this.sigs.delete(sig);
        // Evictions come in batches and are rare: forgetting the whole text cache is simplest.
        this.byMessage.clear();
        this.recentSuffixes = [];
      },
    };
    this.miner = opts.minerSnapshot
      ? TemplateMiner.fromJSON(opts.minerSnapshot, minerOpts)
      : new TemplateMiner(minerOpts);
  }

  /**
   * The tap: called with every serialized line; returns at once. The queue is bounded: a burst
   * beyond MAX_QUEUED lines (logging faster than the analysis keeps up, for longer than a few
   * slices) drops the newest lines from the analysis only, counted in `droppedLines`; the log
   * file itself is unaffected. A line is analysed on its first MAX_ANALYSED_CHARS characters.
   */
  tap(line: string): void {
    if (this.queue.length >= MAX_QUEUED) {
      this.droppedLines++;
      return;
    }
    this.queue.push(line.length > MAX_ANALYSED_CHARS ? line.slice(0, MAX_ANALYSED_CHARS) : line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drainSlice);
    }
  }

  /**
   * The tap for a line whose analysis is counting only, given as an earlier line of the same
   * text up to its values (the log thread's access lines: the analysis reads their level and
   * message): counted, not queued, so a request costs an increment here.
   */
  tapSame(line: string): void {
    this.repeats.set(line, (this.repeats.get(line) ?? 0) + 1);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drainSlice);
    }
  }

  /** Lines the bounded queue refused since start (see tap). */
  get dropped(): number {
    return this.droppedLines;
  }

  /**
   * The scheduled drain: at most SLICE_MS of analysis per turn of the event loop, then the rest
   * waits for the next turn, so a burst of log lines never holds the API's loop for long.
   */
  private readonly drainSlice = (): void => {
    this.scheduled = false;
    this.drain(SLICE_MS);
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drainSlice);
    }
  };

  /** Periodic: processes the queue and closes the minute even when nothing is logged. */
  tick(): void {
    this.drain(SLICE_MS);
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drainSlice);
    }
    this.closeMinute(Math.floor(this.now() / 60_000));
  }

  /**
   * Processes what is queued: everything (tests, shutdown, snapshots), or as much as fits in
   * `budgetMs` of wall time (the scheduled path and API reads), checked every 32 lines.
   */
  drain(budgetMs = Number.POSITIVE_INFINITY): void {
    if (this.repeats.size > 0) {
      const now = this.now();
      for (const [line, n] of this.repeats) this.ingest(line, now, n);
      this.repeats.clear();
    }
    const batch = this.queue;
    if (batch.length === 0) return;
    // One clock read per batch: the lines of a batch were written within the same tick.
    const now = this.now();
    const until = performance.now() + budgetMs;
    let i = 0;
    while (i < batch.length) {
      const end = Math.min(batch.length, i + 32);
      for (; i < end; i++) this.ingest(batch[i] as string, now);
      if (performance.now() >= until) break;
    }
    this.queue = i >= batch.length ? [] : batch.slice(i);
  }

  /** One line (JSON from pino, or any JSON line with `level` and `msg`), logged `times` times. */
  ingest(line: string, now = this.now(), times = 1): void {
    const minute = Math.floor(now / 60_000);
    if (minute !== this.minute) this.closeMinute(minute);
    this.linesTotal += times;
    const li = levelOf(line);
    // Most lines repeat one of a few constant messages ("request completed"): their line ends
    // with the same `,"msg":"…"}` suffix, which a comparison finds without slicing or hashing.
    let s: SigStats | undefined;
    for (const r of this.recentSuffixes) {
      if (line.endsWith(r.suffix)) {
        s = r.stats;
        break;
      }
    }
    const msg = s === undefined ? msgOf(line) : "";
    if (s === undefined) s = this.byMessage.get(msg);
    if (s === undefined) {
      const sig = this.miner.observeRefining(capWords(msg));
      s = this.sigs.get(sig);
      if (s === undefined) {
        s = {
          sig,
          count: 0,
          minute: 0,
          untouched: 0,
          firstSeen: now,
          lastSeen: now,
          level: LEVEL_NAMES[li] as string,
          levelIndex: li,
          sample: line,
          perMinute: [],
        };
        this.sigs.set(sig, s);
      } else s.untouched--; // observeRefining counted this one already
      // Cache constant texts only: a message with digits in it is usually one of a kind, and
      // caching those would just churn the cache.
      if (!HAS_DIGIT.test(msg)) {
        if (this.byMessage.size >= 50_000) this.byMessage.clear();
        this.byMessage.set(msg, s);
        const at = line.lastIndexOf(',"msg":"');
        if (at > 0 && !msg.includes('"')) {
          this.recentSuffixes.unshift({ suffix: line.slice(at), stats: s });
          if (this.recentSuffixes.length > 6) this.recentSuffixes.pop();
        }
      }
    }
    s.count += times;
    s.minute += times;
    s.untouched += times;
    s.lastSeen = now;
    if (li > s.levelIndex) {
      s.levelIndex = li;
      s.level = LEVEL_NAMES[li] as string;
      s.sample = line;
    }
    this.minuteLevel[li] = (this.minuteLevel[li] as number) + times;
    this.levelTotals[li] = (this.levelTotals[li] as number) + times;
    const rank = (li + 1) * 10;
    // Only warnings and above are scanned further: info lines are the bulk, and scanning each
    // whole line for an error object would cost more than all the rest of the tap.
    if (rank < 40) return;
    if (rank >= 50) this.errorLine(line, s.sig, now);
    // `event` comes early in the line, `err` late: test the cheap one first.
    else if (line.includes('"event":"slow_query"')) this.slowQueryLine(line, now);
    else if (line.includes('"err":{')) this.errorLine(line, s.sig, now);
  }

  private errorLine(line: string, sig: number, now: number): void {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not JSON despite the marker (a foreign line): no error record to track
    }
    const reqId = typeof rec.reqId === "string" ? rec.reqId : undefined;
    // An access line of a failed request names the route of the error logged before it.
    if (rec.event === "access") {
      const group = reqId ? this.errorByRequest.get(reqId) : undefined;
      if (group && typeof rec.route === "string") this.errors.addRoute(group, rec.route);
      return;
    }
    const t = this.miner.templateOf(sig);
    const err = (rec.err ?? rec.error) as Record<string, unknown> | undefined;
    const id = this.errors.record({
      atMs: now,
      templateId: t.id,
      template: t.template,
      errorType: typeof err?.type === "string" ? err.type : typeof err?.name === "string" ? err.name : "",
      ...(typeof err?.message === "string" ? { errorMessage: err.message } : {}),
      ...(typeof err?.stack === "string" ? { stack: err.stack } : {}),
      ...(typeof rec.route === "string" ? { route: rec.route } : {}),
      ...(reqId ? { requestId: reqId } : {}),
      line: line.length > 4000 ? `${line.slice(0, 4000)}…` : line,
    });
    if (reqId) {
      if (this.errorByRequest.size >= 10_000) this.errorByRequest.clear();
      this.errorByRequest.set(reqId, id);
    }
  }

  private slowQueryLine(line: string, now: number): void {
    try {
      const rec = pickFields(line) ?? (JSON.parse(line) as Record<string, unknown>);
      if (typeof rec.sql !== "string") return;
      this.slowQueries.record({
        sql: rec.sql,
        operation: typeof rec.operation === "string" ? rec.operation : "",
        table: typeof rec.table === "string" ? rec.table : "",
        durationMs: Number(rec.durationMs) || 0,
        failed: rec.failed === true,
        atMs: now,
      });
    } catch {
      // not JSON: nothing to learn
    }
  }

  /** Template id → its signatures' stats (templates change as the miner refines). */
  private byTemplate(): Map<string, { template: string; stats: SigStats[] }> {
    const out = new Map<string, { template: string; stats: SigStats[] }>();
    for (const s of this.sigs.values()) {
      const t = this.miner.templateOf(s.sig);
      if (t.id === "") continue;
      let e = out.get(t.id);
      if (!e) {
        e = { template: t.template, stats: [] };
        out.set(t.id, e);
      }
      e.stats.push(s);
    }
    return out;
  }

  /** Closes minutes up to `minute` (exclusive): per-minute counts → history and detectors. */
  closeMinute(minute: number): void {
    if (minute <= this.minute) return;
    const closed = this.minute;
    const atMs = (closed + 1) * 60_000;
    // Minutes with no line at all are zeros, not gaps: a silence can be the anomaly.
    const gap = Math.min(minute - closed, PERMINUTE_KEEP);
    const templates = this.byTemplate();
    for (const s of this.sigs.values()) {
      s.perMinute.push(s.minute);
      for (let i = 1; i < gap; i++) s.perMinute.push(0);
      if (s.perMinute.length > PERMINUTE_KEEP) s.perMinute.splice(0, s.perMinute.length - PERMINUTE_KEEP);
      if (s.untouched > 0) this.miner.touch(s.sig, s.untouched);
      s.untouched = 0;
    }
    for (const level of ["info", "warn", "error", "fatal"])
      this.score(`log_level:${level}`, this.minuteLevel[LEVEL_NAMES.indexOf(level)] ?? 0, atMs);
    const busiest = [...templates]
      .map(([id, e]) => ({
        id,
        count: e.stats.reduce((a, x) => a + x.count, 0),
        minute: e.stats.reduce((a, x) => a + x.minute, 0),
      }))
      .sort((a, b) => b.count - a.count)
      .slice(0, this.opts.maxTemplateSeries ?? 50);
    for (const t of busiest) this.score(`log_template:${t.id}`, t.minute, atMs);
    for (const s of this.sigs.values()) s.minute = 0;
    const m = this.safe(() => this.opts.metricMinute?.()) ?? {};
    if (m.requestsPerSecond !== undefined) this.score("http_requests_per_second", m.requestsPerSecond, atMs);
    if (m.errorRatio !== undefined) this.score("http_error_ratio", m.errorRatio, atMs);
    if (m.p95LatencySeconds !== undefined) this.score("http_latency_p95_seconds", m.p95LatencySeconds, atMs);
    for (const r of this.safe(() => this.opts.routeMinutes?.()) ?? [])
      this.trends.add(r.route, {
        minute: closed,
        requests: r.requests,
        errors: r.errors,
        meanLatency: r.meanLatency,
        p95Latency: r.p95Latency,
      });
    this.minuteLevel.fill(0);
    this.minute = minute;
  }

  private safe<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch {
      return undefined; // a failing source of figures leaves this minute without them, not the tick
    }
  }

  private score(series: string, value: number, atMs: number): void {
    if (!Number.isFinite(value)) return;
    const score = this.opts.anomalies.score(series, value, atMs);
    this.opts.onScore?.(series, score);
    if (score >= 0.5) {
      const a = { series, atMs, value, score };
      this.anomalies.push(a);
      if (this.anomalies.length > (this.opts.maxAnomalies ?? 1000)) this.anomalies.shift();
      this.opts.onAnomaly?.(a);
    }
  }

  /** Templates by count, with the per-minute history and a trend word. */
  patterns(q: {
    limit: number;
    level?: string;
  }): Array<TemplateStats & { trend: "rising" | "falling" | "steady" | "new" }> {
    const min = q.level ? (LEVEL_RANK[q.level] ?? 0) : 0;
    const now = this.now();
    const merged: TemplateStats[] = [];
    for (const [id, e] of this.byTemplate()) {
      const top = e.stats.reduce((a, b) => ((LEVEL_RANK[b.level] ?? 0) > (LEVEL_RANK[a.level] ?? 0) ? b : a));
      const len = Math.max(...e.stats.map((x) => x.perMinute.length));
      const perMinute = Array.from({ length: len }, (_, i) =>
        e.stats.reduce((a, x) => a + (x.perMinute[x.perMinute.length - len + i] ?? 0), 0),
      );
      merged.push({
        id,
        template: e.template,
        count: e.stats.reduce((a, x) => a + x.count, 0),
        firstSeen: Math.min(...e.stats.map((x) => x.firstSeen)),
        lastSeen: Math.max(...e.stats.map((x) => x.lastSeen)),
        level: top.level,
        sample: top.sample,
        perMinute,
      });
    }
    return merged
      .filter((s) => (LEVEL_RANK[s.level] ?? 0) >= min)
      .sort((a, b) => b.count - a.count)
      .slice(0, q.limit)
      .map((s) => {
        const pm = s.perMinute;
        const recentMinutes = pm.slice(-10);
        const recent = recentMinutes.reduce((a, b) => a + b, 0) / Math.max(1, recentMinutes.length);
        const before = pm.slice(-60, -10);
        const base = before.length ? before.reduce((a, b) => a + b, 0) / before.length : undefined;
        const trend =
          now - s.firstSeen < 10 * 60_000
            ? ("new" as const)
            : base === undefined || base === 0
              ? recent > 0
                ? ("rising" as const)
                : ("steady" as const)
              : recent > base * 1.5
                ? ("rising" as const)
                : recent < base / 1.5
                  ? ("falling" as const)
                  : ("steady" as const);
        return { ...s, trend };
      });
  }

  errorGroups(): ErrorGroup[] {
    return this.errors.list(this.now());
  }

  anomalyList(limit: number): AnomalyPoint[] {
    return this.anomalies.slice(-limit).reverse();
  }

  trendList(windowMinutes = 60): {
    deploymentAt: string | null;
    routes: RouteTrend[];
    slowQueries: SlowQueryPattern[];
  } {
    return {
      deploymentAt: this.trends.deploymentAt(),
      routes: this.trends.list(this.now(), windowMinutes),
      slowQueries: this.slowQueries.list(),
    };
  }

  /** The template id a message has now (for log search by template). */
  templateIdOf(message: string): string {
    const s = this.byMessage.get(message);
    return s ? this.miner.templateOf(s.sig).id : this.miner.match(message).id;
  }

  counts(): {
    lines: number;
    templates: number;
    signatures: number;
    errorGroups: number;
    levels: Record<string, number>;
  } {
    return {
      lines: this.linesTotal,
      templates: this.byTemplate().size,
      signatures: this.sigs.size,
      errorGroups: this.errors.size,
      levels: Object.fromEntries(
        LEVEL_NAMES.map((n, i) => [n, this.levelTotals[i] ?? 0] as const).filter(([, v]) => v > 0),
      ),
    };
  }

  /** What survives a restart: templates, error groups, slow queries, trends, recent anomalies. */
  toJSON(): {
    miner: MinerSnapshot;
    errors: unknown;
    slowQueries: unknown;
    trends: unknown;
    anomalies: AnomalyPoint[];
  } {
    return {
      miner: this.miner.toJSON(),
      errors: this.errors.toJSON(),
      slowQueries: this.slowQueries.toJSON(),
      trends: this.trends.toJSON(),
      anomalies: this.anomalies,
    };
  }

  /** Restores what toJSON saved, except the miner (pass it as `minerSnapshot`). */
  restore(data: unknown): void {
    const d = data as Record<string, unknown> | undefined;
    if (!d) return;
    this.errors = ErrorTracker.fromJSON(d.errors);
    this.slowQueries = SlowQueries.fromJSON(d.slowQueries);
    this.trends = RouteTrends.fromJSON(d.trends);
    for (const a of (d.anomalies as AnomalyPoint[] | undefined) ?? []) this.anomalies.push(a);
  }
}
