// The contract between the API's thread and the monitoring engine (store, PromQL, rules): the
// operations it executes, the messages that cross the thread boundary, the errors it answers
// with, and the small async interface (`Engine`) the rest of the app codes against — the same
// for the worker (client.ts) and the in-process engine (inline.ts). Everything here is plain
// data that survives a structured clone; nothing here may import the engine's own code.

import type { AlertChange, ApiAlert, PostableAlert } from "../alerts/rules/index.js";
import type { AppendResult, DurableStats, StoreCounters } from "../tsdb/index.js";
import type { ScrapeBatch, ScrapeSink } from "../tsdb/sampler.js";

/**
 * Prometheus's API error types (web/api/v1/api.go) the engine answers with, and the HTTP status of
 * each (its `returnAPIError`): the one table from a query's limits to what the client gets. The
 * evaluator's limit errors become these types in `toEngineError` (src/engine/host.ts);
 * src/http/promapi.ts answers with these statuses.
 */
export const ENGINE_ERROR_STATUS = {
  /** A malformed query or parameter; a range query of more than `engine.maxPointsPerSeries` steps. */
  bad_data: 400,
  /** Evaluation failed; more than `engine.maxSamples` samples held at once. */
  execution: 422,
  /** Past the query's deadline (`engine.queryTimeoutMs`, the `timeout` parameter), queued or running. */
  timeout: 503,
  /** The client went away. */
  canceled: 503,
  internal: 500,
  /** Prometheus's own too: a full query queue (`engine.maxQueuedQueries`), or a worker restarted
   * under the request. */
  unavailable: 503,
} as const;

export type EngineErrorType = keyof typeof ENGINE_ERROR_STATUS;

export interface EngineErrorData {
  type: EngineErrorType;
  message: string;
}

/** An error of one engine operation, in Prometheus's terms. */
export class EngineError extends Error {
  constructor(
    readonly type: EngineErrorType,
    message: string,
  ) {
    super(message);
    this.name = "EngineError";
  }

  toData(): EngineErrorData {
    return { type: this.type, message: this.message };
  }
}

/** A time range of the metadata endpoints; `unbounded` when the request gave neither start nor end. */
export interface TimeRange {
  startMs: number;
  endMs: number;
  unbounded: boolean;
}

/** Labels as a plain object (the form that crosses threads and goes into JSON). */
export type LabelObject = Record<string, string>;

/**
 * Every operation: its request fields and its result. An API operation's result is the complete
 * response body (`{"status":"success","data":…}`, or the federation text) rendered, scrubbed of
 * secrets and UTF-8 encoded by the engine, and its buffer is transferred, not copied: the API
 * thread sends those bytes as they are. (Receiving a result as a string would copy it on the API
 * thread: 0.4 s of stalled event loop for 42 MB, against nothing for transferred bytes.)
 */
export interface EngineOps {
  /** /api/v1/query */
  query: { req: { query: string; timeMs: number; lookbackMs?: number }; res: Uint8Array };
  /** /api/v1/query_range (the step count was checked by the API) */
  query_range: {
    req: { query: string; startMs: number; endMs: number; stepMs: number; lookbackMs?: number };
    res: Uint8Array;
  };
  /** /api/v1/series */
  series: { req: { match: string[] } & TimeRange; res: Uint8Array };
  /** /api/v1/labels */
  labels: { req: { match: string[] } & TimeRange; res: Uint8Array };
  /** /api/v1/label/:name/values */
  label_values: { req: { name: string; match: string[] } & TimeRange; res: Uint8Array };
  /** Parses a query and nothing else (/api/v1/query_exemplars validates it). */
  parse: { req: { query: string }; res: null };
  /** /monitoring/federate: the exposition text. */
  federate: {
    req: { match: string[]; timeMs: number; lookbackMs: number; historyMs: number };
    res: Uint8Array;
  };
  /** An instant query's vector as data (log analysis). A scalar is one sample without labels. */
  samples: { req: { query: string; timeMs: number }; res: Array<{ labels: LabelObject; value: number }> };
  /** /api/v1/rules */
  rules: { req: { type?: "alert" | "record" }; res: Uint8Array };
  /** /api/v1/alerts */
  alerts: { req: Record<never, never>; res: Uint8Array };
  /** One sample into the store (tests and tools). */
  append: { req: { labels: LabelObject; timeMs: number; value: number }; res: AppendResult };
  /** Test-only: holds the engine's thread for `ms` without any check (the watchdog's test). */
  test_block: { req: { ms: number }; res: null };
}

export type OpName = keyof EngineOps;
export type RequestOf<K extends OpName> = { op: K } & EngineOps[K]["req"];
export type ResultOf<K extends OpName> = EngineOps[K]["res"];
export type EngineRequest = { [K in OpName]: RequestOf<K> }[OpName];

/**
 * Operations that queue for the engine one at a time, with a deadline and cancellation (the
 * query lane). The others are short and answered in arrival order between queries.
 */
export const QUERY_OPS: ReadonlySet<OpName> = new Set<OpName>([
  "query",
  "query_range",
  "series",
  "labels",
  "label_values",
  "parse",
  "federate",
  "samples",
  "test_block",
]);

/** The engine's figures, mirrored to the API thread (the tsdb_* metrics). */
export interface EngineStats {
  series: number;
  samples: number;
  bytes: number;
  counters: StoreCounters;
  scrapesTotal: number;
  samplesRejectedTotal: number;
  staleMarkedTotal: number;
  /** The engine thread's V8 heap in use (the worker's own isolate), bytes. */
  heapUsedBytes: number;
  /** The durable store's figures (docs/storage.md); absent when the store is in memory only. */
  durable?: DurableStats;
}

/** The rule engine's alerts, mirrored after each group evaluation for synchronous readers. */
export interface AlertsMirror {
  /** Pending and firing alerts, at most the mirror's bound. */
  alerts: ApiAlert[];
  /** Counts over all alerts (the bound does not apply). */
  pending: number;
  firing: number;
  truncated: boolean;
}

/**
 * One evaluation of a rule group, as the API thread learns it (RuleEngine's GroupEvaluation,
 * with each error clipped to 2,000 characters and scrubbed of secrets): it logs the failures
 * and counts the rule_* metrics.
 */
export interface RuleGroupEvaluation {
  group: string;
  /** The rule file (resolved path). */
  file: string;
  durationMs: number;
  /** Rules evaluated. */
  evaluations: number;
  /** Rules that failed; `index` is the rule's position in its group. */
  failures: Array<{ rule: string; index: number; error: string }>;
  /** The group's ticks skipped since its previous evaluation. */
  missedIterations: number;
}

/** Events the engine emits (through postMessage from the worker). */
export type EngineEvent =
  | { kind: "notify"; alerts: PostableAlert[] }
  | { kind: "change"; change: AlertChange }
  | { kind: "mirror"; mirror: AlertsMirror }
  | { kind: "stats"; stats: EngineStats }
  /** The engine starts work that may hold it until `until` (wall ms): a rule group's evaluation. */
  | { kind: "busy"; until: number }
  /** After each rule group evaluation. */
  | { kind: "rule_group"; evaluation: RuleGroupEvaluation }
  | { kind: "log"; level: "info" | "warn" | "error"; msg: string; fields?: Record<string, unknown> };

/** API thread → worker. */
export type ToWorker =
  | {
      kind: "request";
      id: number;
      /** Index of the request's cancel flag in the shared Int32Array; -1: none. */
      slot: number;
      /** Wall-clock deadline (see wallNow), or undefined. */
      deadline: number | undefined;
      req: EngineRequest;
    }
  | { kind: "ingest"; batch: ScrapeBatch }
  | { kind: "stop" };

/** Worker → API thread. */
export type FromWorker =
  | EngineEvent
  /** `tid`: the worker's kernel thread id (Linux), for the watchdog to read its CPU time. */
  | { kind: "ready"; tid?: number }
  | { kind: "fatal"; message: string }
  | { kind: "response"; id: number; ok: true; result: unknown }
  | { kind: "response"; id: number; ok: false; error: EngineErrorData };

/**
 * A clock both threads read alike: performance.now() is relative to each thread's own start,
 * timeOrigin + now() is not. Deadlines cross the boundary in this form.
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Options of one operation. */
export interface RunOptions {
  /** The caller's own time limit; the engine's queryTimeoutMs bounds it. */
  timeoutMs?: number;
  /** Aborted when the caller no longer wants the answer (its HTTP client went away). */
  signal?: AbortSignal;
  /** When the request arrived (performance.now()): queue time counts against the deadline. */
  arrivedAt?: number;
}

/** The engine as the app sees it: async operations, and mirrors for synchronous readers. */
export interface Engine extends ScrapeSink {
  run<K extends OpName>(req: RequestOf<K>, opts?: RunOptions): Promise<ResultOf<K>>;
  /** The latest alerts mirror (empty before the first group evaluation). */
  alerts(): AlertsMirror;
  /** The latest store figures, undefined until the engine reported. */
  stats(): EngineStats | undefined;
  /** Queries waiting for the engine (not counting the one running). */
  queueLength(): number;
  /** Alerts due to be sent, after each group evaluation (the notifier's intake). */
  onNotify(listener: (alerts: PostableAlert[]) => void): () => void;
  /** Every alert state change. */
  onChange(listener: (change: AlertChange) => void): () => void;
  readonly retentionMs: number;
  /** Starts the engine (rules, a worker); returns at once. */
  start(): void;
  /** Stops rule evaluation and the worker; pending operations fail with "unavailable". */
  stop(): Promise<void>;
}

/** How a query ended, for tug_engine_queries_total; "rejected": refused by the full queue. */
export type QueryOutcome = "success" | EngineErrorType | "rejected";

/** Why the worker was replaced, for tug_engine_restarts_total. */
export type RestartReason = "oom" | "crash" | "unresponsive" | "exit" | "startup";

/** What the engine reports to the app's metrics. */
export interface EngineObserver {
  query(outcome: QueryOutcome, seconds: number): void;
  restart(reason: RestartReason): void;
  ruleGroup(evaluation: RuleGroupEvaluation): void;
}
