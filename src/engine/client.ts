// The API thread's side of the engine worker: spawns it (heap bounded by engine.memoryLimitMb),
// sends it one query at a time from a bounded queue, and answers every caller by its deadline
// whatever the worker does — the deadline counts from the request's arrival (queue time
// included, as Prometheus does). A running query is stopped through its cancel flag in shared
// memory (the evaluator polls it) when its deadline passes or its HTTP client goes away; a
// queued one whose client left is dropped without running. A worker that goes on computing for
// engine.watchdogGraceMs of CPU past a deadline, runs out of heap or dies is replaced; the requests it
// held fail with 503 "unavailable", and its in-memory store is lost (logged and counted).

import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type { AlertChange, PostableAlert } from "../alerts/rules/index.js";
import { workerUrl } from "../core/worker-url.js";
import { DEFAULT_RETENTION_MS } from "../tsdb/index.js";
import type { ScrapeBatch, ScrapeResult } from "../tsdb/sampler.js";
import { EngineEvents } from "./events.js";
import type { EngineSettings } from "./host.js";
import {
  type AlertsMirror,
  type Engine,
  EngineError,
  type EngineObserver,
  type EngineRequest,
  type EngineStats,
  type FromWorker,
  type OpName,
  QUERY_OPS,
  type RequestOf,
  type RestartReason,
  type ResultOf,
  type RunOptions,
  type ToWorker,
  wallNow,
} from "./protocol.js";
import { RuleFailureLog } from "./rule-log.js";
import type { WorkerData } from "./worker.js";

export interface EngineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface EngineClientOptions {
  settings: EngineSettings;
  /** Upper bound of every operation's time, queue included. */
  queryTimeoutMs: number;
  /** Queries waiting beyond this many are refused with 503 "unavailable". */
  maxQueuedQueries: number;
  /** A worker silent this long past a deadline is replaced. */
  watchdogGraceMs: number;
  /** The worker's heap limit (resourceLimits.maxOldGenerationSizeMb). */
  memoryLimitMb: number;
  logger: EngineLogger;
  observer?: EngineObserver;
  /** Accept test-only operations (test_block). Never set in production. */
  testHooks?: boolean;
  /** A worker not ready this long after its spawn is replaced. Default 120 s. */
  startupTimeoutMs?: number;
}

interface Task {
  id: number;
  req: EngineRequest;
  query: boolean;
  arrivedAt: number;
  /** performance.now() of this thread. */
  deadlineAt: number;
  slot: number;
  settled: boolean;
  resolve: (v: unknown) => void;
  reject: (e: EngineError) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const SLOTS = 64;

/** Linux's clock ticks per second for /proc times (USER_HZ; 100 on every mainstream architecture). */
const USER_HZ = 100;

/** CPU time (user + system, ms) of one thread of this process, from /proc; undefined where unreadable. */
function threadCpuMs(tid: number | undefined): number | undefined {
  if (tid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
  } catch {
    return undefined; // not Linux, or the thread is gone: the watchdog falls back to wall time
  }
}

export class EngineClient implements Engine {
  readonly retentionMs: number;
  private readonly opts: EngineClientOptions;
  private readonly flags = new Int32Array(new SharedArrayBuffer(4 * SLOTS));
  private readonly heartbeatMs: number;
  private worker: Worker | undefined;
  private gen = 0;
  private ready = false;
  private stopping = false;
  private spawnedAt = 0;
  private readyAt = 0;
  private lastMessageAt = 0;
  private busyUntil = 0;
  private failures = 0;
  private nextId = 1;
  private readonly queue: Task[] = [];
  /** Control operations waiting for a worker to exist. */
  private readonly waiting: Task[] = [];
  private running: Task | undefined;
  private readonly inflight = new Map<number, Task>();
  private readonly events: EngineEvents;
  private watchdog: NodeJS.Timeout | undefined;
  private respawnTimer: NodeJS.Timeout | undefined;
  private eluPrev: ReturnType<Worker["performance"]["eventLoopUtilization"]> | undefined;
  /** The worker's kernel thread id (Linux), to read its CPU time. */
  private tid: number | undefined;
  /** When the worker was first seen overdue, and its CPU time (ms) then. */
  private overdue: { at: number; cpuMs: number | undefined } | undefined;

  constructor(opts: EngineClientOptions) {
    this.opts = opts;
    this.retentionMs = opts.settings.retentionMs ?? DEFAULT_RETENTION_MS;
    this.heartbeatMs = opts.settings.statsIntervalMs ?? 1_000;
    this.events = new EngineEvents({
      observer: opts.observer,
      ruleLog: new RuleFailureLog({ warn: (fields, msg) => opts.logger.warn(fields, msg) }),
      log: (level, fields, msg) => opts.logger[level]({ ...fields, source: "engine-worker" }, msg),
      busy: (until) => {
        this.busyUntil = performance.now() + (until - wallNow());
      },
    });
  }

  start(): void {
    if (this.worker || this.stopping) return;
    this.spawn();
    this.watchdog = setInterval(() => this.check(), Math.min(1_000, this.opts.watchdogGraceMs / 2));
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    const gone = new EngineError("unavailable", "the query engine is stopping");
    for (const t of [...this.queue, ...this.waiting, ...this.inflight.values()]) this.settle(t, gone);
    this.queue.length = 0;
    this.waiting.length = 0;
    this.inflight.clear();
    this.running = undefined;
    const w = this.worker;
    this.worker = undefined;
    this.ready = false;
    if (w) {
      w.removeAllListeners();
      w.on("error", () => undefined); // a late error of a thread being terminated is of no interest
      await w.terminate();
    }
  }

  generation(): number {
    return this.gen;
  }

  ingest(batch: ScrapeBatch, generation: number): ScrapeResult | undefined {
    const w = this.worker;
    if (!w || generation !== this.gen) return undefined; // built for a worker that is gone
    const m: ToWorker = { kind: "ingest", batch };
    w.postMessage(m, [batch.refs.buffer as ArrayBuffer, batch.values.buffer as ArrayBuffer]);
    return undefined;
  }

  alerts(): AlertsMirror {
    return this.events.mirror;
  }

  stats(): EngineStats | undefined {
    return this.events.stats;
  }

  queueLength(): number {
    return this.queue.length;
  }

  /** The worker's event-loop utilisation (0–1) since the previous call, undefined without a worker. */
  utilization(): number | undefined {
    const w = this.worker;
    if (!w || !this.ready) return undefined;
    const now = w.performance.eventLoopUtilization();
    const u = this.eluPrev
      ? w.performance.eventLoopUtilization(now, this.eluPrev).utilization
      : now.utilization;
    this.eluPrev = now;
    return u;
  }

  onNotify(listener: (alerts: PostableAlert[]) => void): () => void {
    return this.events.onNotify(listener);
  }

  onChange(listener: (change: AlertChange) => void): () => void {
    return this.events.onChange(listener);
  }

  run<K extends OpName>(req: RequestOf<K>, opts: RunOptions = {}): Promise<ResultOf<K>> {
    const arrivedAt = opts.arrivedAt ?? performance.now();
    const query = QUERY_OPS.has(req.op);
    return new Promise<ResultOf<K>>((resolve, reject) => {
      const task: Task = {
        id: this.nextId++,
        req: req as EngineRequest,
        query,
        arrivedAt,
        deadlineAt: arrivedAt + Math.min(opts.timeoutMs ?? Infinity, this.opts.queryTimeoutMs),
        slot: -1,
        settled: false,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: undefined,
        signal: opts.signal,
        onAbort: undefined,
      };
      if (this.stopping)
        return this.settle(task, new EngineError("unavailable", "the query engine is stopping"));
      if (req.op === "test_block" && !this.opts.testHooks) {
        return this.settle(task, new EngineError("bad_data", "unknown operation"));
      }
      if (opts.signal?.aborted)
        return this.settle(task, new EngineError("canceled", "query was canceled in query queue"));
      if (query && this.queue.length >= this.opts.maxQueuedQueries) {
        return this.settle(
          task,
          new EngineError(
            "unavailable",
            `too many queries waiting for the query engine (engine.maxQueuedQueries = ${this.opts.maxQueuedQueries}); try again later`,
          ),
          "rejected",
        );
      }
      task.timer = setTimeout(() => this.onDeadline(task), Math.max(0, task.deadlineAt - performance.now()));
      task.timer.unref();
      if (opts.signal) {
        task.onAbort = () => this.onAbort(task);
        opts.signal.addEventListener("abort", task.onAbort, { once: true });
      }
      if (query) {
        this.queue.push(task);
        this.pump();
      } else if (this.worker) {
        this.send(task);
      } else {
        this.waiting.push(task);
      }
    });
  }

  /** Test-only: whether a worker is up and ready (tests wait for a restart with it). */
  isReady(): boolean {
    return this.ready;
  }

  private spawn(): void {
    this.gen++;
    this.ready = false;
    this.busyUntil = 0;
    this.eluPrev = undefined;
    this.tid = undefined;
    this.overdue = undefined;
    this.events.reset();
    this.spawnedAt = performance.now();
    this.lastMessageAt = this.spawnedAt;
    const data: WorkerData = {
      settings: { ...this.opts.settings, testHooks: this.opts.testHooks ?? false },
      cancel: this.flags.buffer as SharedArrayBuffer,
    };
    const w = new Worker(workerUrl(import.meta.url, "worker"), {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: this.opts.memoryLimitMb },
    });
    this.worker = w;
    w.on("message", (m: FromWorker) => this.onMessage(w, m));
    w.on("error", (err: Error & { code?: string }) =>
      this.gone(
        w,
        err.code === "ERR_WORKER_OUT_OF_MEMORY" ? "oom" : this.ready ? "crash" : "startup",
        err.message,
      ),
    );
    w.on("exit", (code) =>
      this.gone(w, this.ready ? "exit" : "startup", `the worker exited with code ${code}`),
    );
    for (const t of this.waiting.splice(0)) if (!t.settled) this.send(t);
  }

  private onMessage(w: Worker, m: FromWorker): void {
    if (w !== this.worker) return;
    this.lastMessageAt = performance.now();
    switch (m.kind) {
      case "ready":
        this.tid = m.tid;
        this.ready = true;
        this.readyAt = this.lastMessageAt;
        this.pump();
        return;
      case "fatal":
        this.opts.logger.error({ error: m.message }, "the engine worker could not start");
        return;
      case "response": {
        const t = this.inflight.get(m.id);
        if (!t) return;
        this.inflight.delete(m.id);
        if (t === this.running) this.running = undefined;
        if (m.ok) this.settle(t, undefined, "success", m.result);
        else this.settle(t, new EngineError(m.error.type, m.error.message));
        this.pump();
        return;
      }
      default:
        this.events.dispatch(m);
    }
  }

  private send(t: Task): void {
    const w = this.worker;
    if (!w) {
      this.waiting.push(t);
      return;
    }
    if (t.query) {
      t.slot = t.id % SLOTS;
      Atomics.store(this.flags, t.slot, 0);
      this.running = t;
    }
    this.inflight.set(t.id, t);
    const m: ToWorker = {
      kind: "request",
      id: t.id,
      slot: t.slot,
      deadline: wallNow() + (t.deadlineAt - performance.now()),
      req: t.req,
    };
    w.postMessage(m);
  }

  /** Sends the next query when the worker is ready and free; drops the ones nobody waits for. */
  private pump(): void {
    if (!this.ready || this.running || !this.worker) return;
    let t = this.queue.shift();
    while (t?.settled) t = this.queue.shift();
    if (t) this.send(t);
  }

  private onDeadline(t: Task): void {
    const queued = this.queue.indexOf(t);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.settle(t, new EngineError("timeout", "query timed out in query queue"));
      return;
    }
    // It should stop within milliseconds; the watchdog (check) replaces the worker if it does not.
    if (t === this.running) Atomics.store(this.flags, t.slot, 1);
    this.settle(t, new EngineError("timeout", "query timed out in expression evaluation"));
  }

  private onAbort(t: Task): void {
    const queued = this.queue.indexOf(t);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.settle(t, new EngineError("canceled", "query was canceled in query queue"));
      return;
    }
    if (t === this.running) Atomics.store(this.flags, t.slot, 1);
    this.settle(t, new EngineError("canceled", "query was canceled in expression evaluation"));
  }

  /** Answers the caller once; the worker may still be finishing the task (see running). */
  private settle(t: Task, err: EngineError | undefined, outcome?: string, result?: unknown): void {
    if (t.settled) return;
    t.settled = true;
    if (t.timer) clearTimeout(t.timer);
    if (t.onAbort) t.signal?.removeEventListener("abort", t.onAbort);
    if (t.query) {
      const o = (outcome ?? err?.type ?? "success") as Parameters<EngineObserver["query"]>[0];
      this.opts.observer?.query(o, (performance.now() - t.arrivedAt) / 1000);
    }
    if (err) t.reject(err);
    else t.resolve(result);
  }

  /**
   * The periodic watchdog. A worker silent past every deadline it may legitimately use (a
   * query's, a rule group's, the heartbeat's) is overdue; it is stuck once it has spent
   * watchdogGraceMs of CPU time overdue — so a worker merely starved of CPU by a loaded machine
   * (it runs at a lower priority) is not mistaken for a stuck one — or, where its CPU time cannot
   * be read or it spends none (blocked), once it has been overdue ten times that long.
   */
  private check(): void {
    if (this.stopping || !this.worker) return;
    const now = performance.now();
    const grace = this.opts.watchdogGraceMs;
    if (!this.ready) {
      if (now - this.spawnedAt > (this.opts.startupTimeoutMs ?? 120_000))
        this.restart("startup", "the worker did not become ready");
      return;
    }
    let expectBy = this.lastMessageAt + 2 * this.heartbeatMs;
    if (this.busyUntil > expectBy) expectBy = this.busyUntil;
    if (this.running && this.running.deadlineAt > expectBy) expectBy = this.running.deadlineAt;
    if (now <= expectBy) {
      this.overdue = undefined;
      return;
    }
    const cpuMs = threadCpuMs(this.tid);
    if (!this.overdue) {
      this.overdue = { at: now, cpuMs };
      return;
    }
    const spent =
      cpuMs !== undefined && this.overdue.cpuMs !== undefined ? cpuMs - this.overdue.cpuMs : undefined;
    const wall = now - this.overdue.at;
    if ((spent !== undefined && spent >= grace) || wall >= (spent === undefined ? grace : 10 * grace)) {
      const what = this.running
        ? `a ${this.running.req.op} did not stop at its deadline`
        : "no message from the worker";
      this.restart(
        "unresponsive",
        `${what}: overdue ${Math.round(wall)} ms${spent === undefined ? "" : `, ${Math.round(spent)} ms of CPU`}`,
      );
    }
  }

  private gone(w: Worker, reason: RestartReason, detail: string): void {
    if (w !== this.worker || this.stopping) return;
    this.restart(reason, detail);
  }

  /** Replaces the worker: fails what it held, logs and counts why, spawns another (with backoff). */
  private restart(reason: RestartReason, detail: string): void {
    const w = this.worker;
    if (!w || this.stopping) return;
    this.worker = undefined;
    this.running = undefined;
    const wasReady = this.ready;
    this.ready = false;
    w.removeAllListeners();
    w.on("error", () => undefined); // a late error of a thread being terminated is of no interest
    void w.terminate();
    const lost = this.inflight.size;
    const err = new EngineError("unavailable", `the query engine was restarted (${reason}); try again`);
    for (const t of this.inflight.values()) this.settle(t, err);
    this.inflight.clear();
    this.opts.observer?.restart(reason);
    this.opts.logger.error(
      { reason, detail, failedRequests: lost, queuedQueries: this.queue.length, generation: this.gen },
      "the engine worker was replaced: its in-memory samples and rule state are lost",
    );
    if (wasReady && performance.now() - this.readyAt > 60_000) this.failures = 0;
    this.failures++;
    const delay = this.failures <= 1 ? 0 : Math.min(30_000, 250 * 2 ** (this.failures - 2));
    this.respawnTimer = setTimeout(() => {
      this.respawnTimer = undefined;
      if (!this.stopping) this.spawn();
    }, delay);
    this.respawnTimer.unref();
  }
}
