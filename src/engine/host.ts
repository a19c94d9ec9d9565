// The monitoring engine itself: the embedded time-series store, the scrapes the API thread posts
// into it (with Prometheus's staleness markers for the series that vanished), the rule engine,
// and every query — each under its limits (deadline, cancellation, max samples). It runs in the
// engine worker (worker.ts) so that no query or rule evaluation can hold the API's event loop,
// or in process behind the same interface when a test injects a clock (inline.ts). It returns
// plain data and reports through `emit`; errors are EngineErrors in Prometheus's terms.

import { getHeapStatistics } from "node:v8";
import { type ApiAlert, type GroupDef, loadRuleFile, RuleEngine } from "../alerts/rules/index.js";
import { createScrubber } from "../logs/redact.js";
import { type EngineOptions, PromQLEvalError, PromQLParseError } from "../promql/index.js";
import {
  PromQLCanceledError,
  PromQLSampleLimitError,
  PromQLTimeoutError,
  QueryGuard,
  type QueryLimits,
} from "../promql/limits.js";
import {
  DEFAULT_MAX_SERIES,
  DEFAULT_RETENTION_MS,
  type DurableEvent,
  DurableStore,
  type Labels,
  labelsFromObject,
  labelsKey,
  type SeriesRef,
  SeriesStore,
  type Storage,
} from "../tsdb/index.js";
import { DEFAULT_SOURCE, type ScrapeBatch, type ScrapeResult } from "../tsdb/sampler.js";
import {
  type AlertsMirror,
  EngineError,
  type EngineEvent,
  type EngineRequest,
  type EngineStats,
  wallNow,
} from "./protocol.js";
import {
  checkQuery,
  federateQuery,
  instantQuery,
  instantSamples,
  labelNamesQuery,
  labelValuesQuery,
  type QueryContext,
  rangeQuery,
  seriesQuery,
} from "./queries.js";

/** The durable store's settings (docs/storage.md); without them the store is in memory only. */
export interface StorageSettings {
  path: string;
  rawRetentionMs?: number;
  downsampledRetentionMs?: number;
  /** 0: no cap. */
  maxBytes?: number;
  blockRangeMs?: number;
}

/** The engine's settings: plain data (they are the worker's workerData). */
export interface EngineSettings {
  /** In memory only: samples older than this are dropped. */
  retentionMs?: number;
  /** The durable store: write-ahead log and blocks in this folder. */
  storage?: StorageSettings;
  maxSeries?: number;
  /** Rule files, resolved paths; loaded (again) by the engine, so a restarted worker reloads them. */
  ruleFiles?: string[];
  /** Interval of rule groups without their own. Default 1 m. */
  evaluationIntervalMs?: number;
  externalLabels?: Record<string, string>;
  externalURL?: string;
  /** Most samples one query (or rule) may hold at once. Default 10 M. */
  maxSamples?: number;
  /** Lookback of instant selectors. Default 5 m. */
  lookbackDeltaMs?: number;
  /** How often the store figures are reported (also the worker's heartbeat). Default 1 s. */
  statsIntervalMs?: number;
  /** Alerts mirrored to the API thread at most. Default 1,000. */
  mirrorMaxAlerts?: number;
  /** Accept test-only operations (test_block). Never set in production. */
  testHooks?: boolean;
  /** Values censored in every response body (the app's secrets; see src/logs/redact.ts). */
  secrets?: string[];
}

export interface EngineHostOptions extends EngineSettings {
  /** Where events go (postMessage in the worker). */
  emit: (event: EngineEvent) => void;
  /** Clock in ms since the epoch (rules). Default Date.now. */
  now?: () => number;
  /** Serve this store instead of a new one (tests). */
  store?: Storage;
  /** Rule groups already loaded (instead of ruleFiles). */
  groups?: GroupDef[];
}

/** Limits of one operation, in this thread's terms. */
export interface ExecuteContext {
  /** performance.now() of this thread after which the operation fails with "timeout". */
  deadline?: number;
  isCancelled?: () => boolean;
}

interface RefEntry {
  labels: Labels;
  key: string;
  store: SeriesRef | undefined;
}

const DEFAULT_MAX_SAMPLES = 10_000_000;
const DEFAULT_EVALUATION_INTERVAL_MS = 60_000;

/** Longest rule error posted to the API thread (one rule's message; the rule keeps it whole). */
const MAX_RULE_ERROR_CHARS = 2_000;

function clip(text: string): string {
  return text.length <= MAX_RULE_ERROR_CHARS ? text : `${text.slice(0, MAX_RULE_ERROR_CHARS)}…`;
}

/** Maps any error of an operation to Prometheus's error types. */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  if (err instanceof PromQLTimeoutError) return new EngineError("timeout", err.message);
  if (err instanceof PromQLCanceledError) return new EngineError("canceled", err.message);
  if (err instanceof PromQLSampleLimitError) return new EngineError("execution", err.message);
  if (err instanceof PromQLParseError) return new EngineError("bad_data", err.message);
  if (err instanceof PromQLEvalError) return new EngineError("execution", err.message);
  // A regex the store or a matcher refused at evaluation time is the query's fault, as in Prometheus.
  if (err instanceof TypeError && /regex/i.test(err.message)) return new EngineError("bad_data", err.message);
  if (err instanceof RangeError) return new EngineError("execution", err.message); // e.g. an array too large
  return new EngineError("internal", err instanceof Error ? err.message : String(err));
}

export class EngineHost {
  readonly store: Storage;
  /** The same store when it is durable (for its figures and its close). */
  private readonly durable: DurableStore | undefined;
  readonly rules: RuleEngine;
  private readonly emit: (event: EngineEvent) => void;
  private readonly maxSamples: number;
  private readonly engineOpts: EngineOptions;
  private readonly statsIntervalMs: number;
  private readonly mirrorMax: number;
  private readonly testHooks: boolean;
  private readonly scrub: (text: string) => string;
  private readonly encoder = new TextEncoder();
  /**
   * Per scrape source (ScrapeBatch.source): its refs → store series, and the refs of its previous
   * scrape. Staleness is per source, as Prometheus's is per target: a series missing from one
   * source's scrape is stale; another source's series are not that scrape's business.
   */
  private readonly sources = new Map<string, { refs: Map<number, RefEntry>; previous: Set<number> }>();
  private statsTimer: NodeJS.Timeout | undefined;
  private lastMirror = "";
  private figures = { scrapesTotal: 0, samplesRejectedTotal: 0, staleMarkedTotal: 0 };
  /** Time allowed to each rule query of the group being evaluated (its interval). */
  private ruleBudget: number | undefined;

  constructor(opts: EngineHostOptions) {
    this.emit = opts.emit;
    if (opts.store) this.store = opts.store;
    else if (opts.storage) {
      const st = opts.storage;
      this.durable = new DurableStore({
        dir: st.path,
        maxSeries: opts.maxSeries ?? DEFAULT_MAX_SERIES,
        rawRetentionMs: st.rawRetentionMs,
        downsampledRetentionMs: st.downsampledRetentionMs,
        maxBytes: st.maxBytes ? st.maxBytes : undefined,
        blockRangeMs: st.blockRangeMs,
        onEvent: (e) => this.storageEvent(e),
      });
      this.store = this.durable;
    } else {
      this.store = new SeriesStore({
        retentionMs: opts.retentionMs ?? DEFAULT_RETENTION_MS,
        maxSeries: opts.maxSeries ?? DEFAULT_MAX_SERIES,
      });
    }
    this.maxSamples = opts.maxSamples ?? DEFAULT_MAX_SAMPLES;
    this.engineOpts = opts.lookbackDeltaMs === undefined ? {} : { lookbackDeltaMs: opts.lookbackDeltaMs };
    this.statsIntervalMs = opts.statsIntervalMs ?? 1_000;
    this.mirrorMax = opts.mirrorMaxAlerts ?? 1_000;
    this.testHooks = opts.testHooks ?? false;
    this.scrub = createScrubber(opts.secrets ?? []);
    const groups = opts.groups ?? (opts.ruleFiles ?? []).flatMap((f) => loadRuleFile(f));
    const defaultInterval = opts.evaluationIntervalMs ?? DEFAULT_EVALUATION_INTERVAL_MS;
    const host = this;
    // The evaluator reads `limits` once per rule query: each gets the group's interval (a
    // runaway rule misses its group's next tick, as in Prometheus, but does not starve the
    // group's other rules) and maxSamples.
    const ruleEngineOpts: EngineOptions = {
      ...this.engineOpts,
      get limits(): QueryLimits {
        return host.ruleBudget === undefined
          ? { maxSamples: host.maxSamples }
          : { deadline: performance.now() + host.ruleBudget, maxSamples: host.maxSamples };
      },
    };
    this.rules = new RuleEngine({
      store: this.store,
      groups,
      evaluationIntervalMs: defaultInterval,
      externalLabels: opts.externalLabels ?? {},
      externalURL: opts.externalURL ?? "",
      now: opts.now,
      engine: ruleEngineOpts,
      // Each group evaluation runs under its time limits and is followed by the alerts mirror
      // and its figures (failures included) for the API thread.
      onGroupEvaluationStart: (g) => {
        this.ruleBudget = g.intervalMs;
        // The watchdog's allowance: every rule of the group may use its whole budget.
        this.emit({ kind: "busy", until: wallNow() + g.intervalMs * Math.max(1, g.rules) });
      },
      onGroupEvaluation: (e) => {
        this.ruleBudget = undefined;
        this.postMirror();
        this.emit({
          kind: "rule_group",
          evaluation: {
            group: e.group,
            file: e.file,
            durationMs: e.durationMs,
            evaluations: e.evaluations,
            missedIterations: e.missedIterations,
            failures: e.failures.map((f) => ({ ...f, error: this.scrub(clip(f.error)) })),
          },
        });
      },
    });
    this.rules.onNotify((alerts) => this.emit({ kind: "notify", alerts }));
    this.rules.onChange((change) => this.emit({ kind: "change", change }));
  }

  /** Starts rule evaluation and the stats heartbeat. */
  start(): void {
    this.rules.start();
    this.postStats();
    this.statsTimer ??= setInterval(() => this.postStats(), this.statsIntervalMs);
    this.statsTimer.unref?.();
  }

  stop(): void {
    this.rules.stop();
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = undefined;
    this.durable?.close();
  }

  /** The durable store's faults and background work, as log lines on the API thread. */
  private storageEvent(e: DurableEvent): void {
    const { type, ...fields } = e;
    const warn = type.endsWith("_corrupt") || type === "write_failed";
    const msg: Record<DurableEvent["type"], string> = {
      wal_corrupt: "the store's write-ahead log has a damaged record; the rest of its segment is skipped",
      block_corrupt: "a store block failed its checksums and was set aside",
      chunk_corrupt: "a store chunk failed its checksum; its samples are left out",
      write_failed: "the store cannot write to disk; samples are kept in memory",
      write_recovered: "the store writes to disk again",
      compacted: "store block written",
      replayed: "store loaded from disk",
      deleted_block: "store block deleted",
    };
    this.emit({ kind: "log", level: warn ? "warn" : "info", msg: msg[type], fields });
  }

  stats(): EngineStats {
    return {
      series: this.store.seriesCount(),
      samples: this.store.sampleCount(),
      bytes: this.store.bytesUsed(),
      counters: this.store.counters(),
      ...this.figures,
      heapUsedBytes: getHeapStatistics().used_heap_size,
      ...(this.durable ? { durable: this.durable.stats() } : {}),
    };
  }

  private postStats(): void {
    this.emit({ kind: "stats", stats: this.stats() });
  }

  /** The alerts mirror; posted only when it changed since the last one. */
  mirror(): AlertsMirror {
    const all: ApiAlert[] = this.rules.alerts();
    let pending = 0;
    for (const a of all) if (a.state === "pending") pending++;
    return {
      alerts: all.length > this.mirrorMax ? all.slice(0, this.mirrorMax) : all,
      pending,
      firing: all.length - pending,
      truncated: all.length > this.mirrorMax,
    };
  }

  private postMirror(): void {
    const m = this.mirror();
    const text = JSON.stringify(m);
    if (text === this.lastMirror) return;
    this.lastMirror = text;
    this.emit({ kind: "mirror", mirror: m });
  }

  /** Stores one scrape: samples, staleness markers for the series gone since the last one, retention. */
  ingest(batch: ScrapeBatch): ScrapeResult {
    const result: ScrapeResult = { ok: batch.ok, appended: 0, rejected: 0, staleMarked: 0 };
    const sourceName = batch.source ?? DEFAULT_SOURCE;
    let source = this.sources.get(sourceName);
    if (source === undefined || batch.reset) {
      // A new source, or the sampler numbers its series afresh (a new engine, or its first scrape).
      source = { refs: new Map(), previous: new Set() };
      this.sources.set(sourceName, source);
    }
    const { refs } = source;
    for (const ref of batch.forget) refs.delete(ref);
    for (const d of batch.defs) {
      const obj: Record<string, string> = {};
      for (let i = 0; i + 1 < d.labels.length; i += 2) obj[d.labels[i] as string] = d.labels[i + 1] as string;
      const labels = labelsFromObject(obj);
      refs.set(d.ref, { labels, key: labelsKey(labels), store: undefined });
    }
    const t = batch.timeMs;
    const current = new Set<number>();
    for (let i = 0; i < batch.refs.length; i++) {
      const ref = batch.refs[i] as number;
      const e = refs.get(ref);
      if (!e) {
        result.rejected++;
        continue;
      }
      current.add(ref);
      const r = this.appendEntry(e, t, batch.values[i] as number);
      if (r) result.appended++;
      else result.rejected++;
    }
    for (const ref of source.previous) {
      if (current.has(ref)) continue;
      const e = refs.get(ref);
      if (e && this.store.appendStale(e.key, t) === "ok") result.staleMarked++;
    }
    source.previous = current;
    this.store.gc(t);
    this.figures.scrapesTotal++;
    this.figures.samplesRejectedTotal += result.rejected;
    this.figures.staleMarkedTotal += result.staleMarked;
    return result;
  }

  private appendEntry(e: RefEntry, t: number, v: number): boolean {
    if (e.store !== undefined) {
      const r = this.store.appendRef(e.store, t, v);
      if (r !== "not_found") return r === "ok";
      // gc dropped the series since: create it again below.
    }
    const ref = this.store.getOrCreate(e.labels, e.key);
    if (typeof ref !== "number") {
      e.store = undefined;
      return false;
    }
    e.store = ref;
    return this.store.appendRef(ref, t, v) === "ok";
  }

  /** A success response of the Prometheus API around `data` (JSON text): scrubbed, UTF-8. */
  private body(data: string): Uint8Array {
    return this.encoder.encode(this.scrub(`{"status":"success","data":${data}}`));
  }

  /** Executes one operation; throws EngineError. */
  execute(req: EngineRequest, ctx: ExecuteContext = {}): unknown {
    const limits: QueryLimits = { maxSamples: this.maxSamples };
    if (ctx.deadline !== undefined) limits.deadline = ctx.deadline;
    if (ctx.isCancelled) limits.isCancelled = ctx.isCancelled;
    const q: QueryContext = { limits, guard: new QueryGuard(limits), engine: this.engineOpts };
    try {
      // A request whose client left or whose time ran out while it waited is not started.
      q.guard.poll();
      switch (req.op) {
        case "query":
          return this.body(instantQuery(this.store, req, q));
        case "query_range":
          return this.body(rangeQuery(this.store, req, q));
        case "series":
          return this.body(seriesQuery(this.store, req, q));
        case "labels":
          return this.body(labelNamesQuery(this.store, req, q));
        case "label_values":
          return this.body(labelValuesQuery(this.store, req, q));
        case "parse":
          return checkQuery(req.query);
        case "federate":
          return this.encoder.encode(this.scrub(federateQuery(this.store, req, q)));
        case "samples":
          return instantSamples(this.store, req, q);
        case "rules":
          return this.body(
            JSON.stringify({ groups: this.rules.groups(req.type === undefined ? {} : { type: req.type }) }),
          );
        case "alerts":
          return this.body(JSON.stringify({ alerts: this.rules.alerts() }));
        case "append":
          return this.store.append(labelsFromObject(req.labels), req.timeMs, req.value);
        case "test_block": {
          if (!this.testHooks) throw new EngineError("bad_data", "unknown operation");
          const end = performance.now() + req.ms;
          while (performance.now() < end) {
            // Deliberately no checks: this stands for evaluation code that never polls its limits.
          }
          return null;
        }
        default:
          throw new EngineError(
            "bad_data",
            `unknown operation ${JSON.stringify((req as { op: unknown }).op)}`,
          );
      }
    } catch (err) {
      throw toEngineError(err);
    }
  }
}
