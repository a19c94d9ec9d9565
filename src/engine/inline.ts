// The engine in the API's own thread, behind the same async interface as the worker: for tests
// that inject a clock into the app (a function cannot cross to a worker) and for tools that want
// the engine over a store they hold. Operations run synchronously inside `run`, under the same
// limits (deadline, max samples); nothing here protects the event loop — that is the worker's job.

import type { AlertChange, PostableAlert } from "../alerts/rules/index.js";
import type { ScrapeBatch, ScrapeResult } from "../tsdb/sampler.js";
import { EngineEvents } from "./events.js";
import { EngineHost, type EngineHostOptions, type EngineSettings } from "./host.js";
import {
  type AlertsMirror,
  type Engine,
  EngineError,
  type EngineObserver,
  type EngineRequest,
  type EngineStats,
  type OpName,
  QUERY_OPS,
  type RequestOf,
  type ResultOf,
  type RunOptions,
} from "./protocol.js";
import { RuleFailureLog } from "./rule-log.js";

export interface InlineEngineOptions extends EngineSettings {
  /** Upper bound of every operation's time. Default 30 s. */
  queryTimeoutMs?: number;
  now?: () => number;
  /** Serve this store (tests). */
  store?: EngineHostOptions["store"];
  groups?: EngineHostOptions["groups"];
  observer?: EngineObserver;
  /** Where the engine's log events go. */
  log?: (level: "info" | "warn" | "error", fields: Record<string, unknown>, msg: string) => void;
}

export class InlineEngine implements Engine {
  readonly host: EngineHost;
  readonly retentionMs: number;
  private readonly queryTimeoutMs: number;
  private readonly observer: EngineObserver | undefined;
  private readonly events: EngineEvents;

  constructor(opts: InlineEngineOptions = {}) {
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 30_000;
    this.observer = opts.observer;
    const log = opts.log;
    this.events = new EngineEvents({
      observer: opts.observer,
      ruleLog: new RuleFailureLog({ warn: (fields, msg) => log?.("warn", fields, msg), now: opts.now }),
      log: (level, fields, msg) => log?.(level, fields, msg),
      // no `busy`: that is for the watchdog, and there is none in process
    });
    this.host = new EngineHost({ ...opts, emit: (e) => this.events.dispatch(e) });
    this.retentionMs = this.host.store.retentionMs;
  }

  start(): void {
    this.host.start();
  }

  async stop(): Promise<void> {
    this.host.stop();
  }

  generation(): number {
    return 1;
  }

  ingest(batch: ScrapeBatch): ScrapeResult {
    return this.host.ingest(batch);
  }

  alerts(): AlertsMirror {
    return this.events.mirror;
  }

  stats(): EngineStats | undefined {
    return this.events.stats ?? this.host.stats();
  }

  queueLength(): number {
    return 0;
  }

  onNotify(listener: (alerts: PostableAlert[]) => void): () => void {
    return this.events.onNotify(listener);
  }

  onChange(listener: (change: AlertChange) => void): () => void {
    return this.events.onChange(listener);
  }

  async run<K extends OpName>(req: RequestOf<K>, opts: RunOptions = {}): Promise<ResultOf<K>> {
    const arrivedAt = opts.arrivedAt ?? performance.now();
    const query = QUERY_OPS.has(req.op);
    const signal = opts.signal;
    try {
      if (signal?.aborted) throw new EngineError("canceled", "query was canceled in query queue");
      const result = this.host.execute(req as EngineRequest, {
        deadline: arrivedAt + Math.min(opts.timeoutMs ?? Infinity, this.queryTimeoutMs),
        ...(signal ? { isCancelled: () => signal.aborted } : {}),
      }) as ResultOf<K>;
      if (query) this.observer?.query("success", (performance.now() - arrivedAt) / 1000);
      return result;
    } catch (err) {
      const e = err instanceof EngineError ? err : new EngineError("internal", String(err));
      if (query) this.observer?.query(e.type, (performance.now() - arrivedAt) / 1000);
      throw e;
    }
  }
}
