// The log file written from a thread of its own. Why: an access line per request cost the API's
// thread ~12 µs of a ~41 µs request (bench/README.md, issue 12): building the text, the file's
// queue and write, the stdout copy. Here the API's thread only copies the line's fields into a
// shared ring (ring.ts, ~0.3 µs); the log thread (worker.ts) builds the text, scrubs its
// free-form values and owns the file's rotation and the JSON on stdout. pino's other lines go
// through the same ring as text, so the file keeps the order they were logged in.
//
// Nothing is lost when the ring is full (the disk stalls, the thread starves): lines wait in a
// queue on the API's thread, in order, up to MAX_PENDING_CHARS with the long lines posted to the
// thread and not yet written (then dropped, counted, said once);
// and if the thread dies, the API's thread takes over the file itself and reads what is left in
// the ring (what the thread had read and not yet written, up to 50 ms of lines, is lost, as in a
// crash of the process).

import { Worker } from "node:worker_threads";
import { workerUrl } from "../../core/worker-url.js";
import type { AccessParts, FileSink } from "../logger.js";
import { createScrubber } from "../redact.js";
import { createRotatingFile, type RotatingFile, type RotationOptions } from "../rotation.js";
import { RecordLines } from "./lines.js";
import {
  CTL_SYNC_DONE,
  CTL_SYNC_REQUEST,
  CTL_WRITE,
  createRingBuffers,
  type RingBuffers,
  RingReader,
  RingWriter,
} from "./ring.js";
import type { FromLogThread, LogThreadData, ToLogThread } from "./worker.js";

/** 4 MB: at 20,000 requests a second (~250 bytes of record each) the thread may fall 0.8 s behind. */
const DEFAULT_CAPACITY = 4 * 1024 * 1024;
/** Lines waiting on the API's thread for room in the ring, at most (characters). */
const MAX_PENDING_CHARS = 32 * 1024 * 1024;
const RETRY_MS = 5;
/** How long the process' exit waits for the thread to write out what it holds. */
const EXIT_FLUSH_MS = 2000;

export interface LogThreadOptions {
  rotation: Omit<RotationOptions, "now" | "timers" | "onError">;
  /** Also write every line to standard output (the JSON of log.stdout). */
  stdout: boolean;
  secrets: string[];
  onError: (err: Error) => void;
  capacityBytes?: number;
}

export type LogThreadSink = FileSink &
  Required<Pick<FileSink, "access" | "stdout">> & {
    /** The log thread, while it runs (null once closed or gone). */
    readonly worker: () => Worker | null;
  };

const open = new Set<LogThread>();
let exitHookInstalled = false;

class LogThread {
  readonly buffers: RingBuffers;
  private readonly ring: RingWriter;
  private readonly ctl: Int32Array;
  worker: Worker | null;
  /** The file, on this thread, once the log thread is gone. */
  private fallback: RotatingFile | null = null;
  private pending: string[] = [];
  private pendingChars = 0;
  /**
   * Lines posted aside (longer than a quarter of the ring) until the thread says it wrote them:
   * they count against MAX_PENDING_CHARS (a stalled thread must not gather them without bound),
   * and if the thread dies they are here for the API's thread to write in their place.
   */
  private readonly posted = new Map<number, string>();
  private postedChars = 0;
  private retry: NodeJS.Timeout | null = null;
  private dropped = 0;
  private ids = new Map<string, number>();
  /** Moves when `ids` is reset: the ids an AccessKind kept from before are not reused. */
  private idsEpoch = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, () => void>();
  private closed = false;

  constructor(private readonly opts: LogThreadOptions) {
    this.buffers = createRingBuffers(opts.capacityBytes ?? DEFAULT_CAPACITY);
    this.ring = new RingWriter(this.buffers);
    this.ctl = new Int32Array(this.buffers.control);
    const data: LogThreadData = {
      buffers: this.buffers,
      rotation: opts.rotation,
      stdout: opts.stdout,
      secrets: opts.secrets,
    };
    const w = new Worker(workerUrl(import.meta.url, "worker"), { workerData: data, name: "tug-log" });
    this.worker = w;
    // The thread does not keep the process alive: close() ends it, and the exit hook flushes it.
    w.unref();
    w.on("message", (m: FromLogThread) => {
      if (m.type === "done") {
        this.waiting.get(m.id)?.();
        this.waiting.delete(m.id);
      } else if (m.type === "written") {
        const line = this.posted.get(m.id);
        if (line !== undefined) {
          this.posted.delete(m.id);
          this.postedChars -= line.length;
        }
      } else if (m.type === "error") this.opts.onError(new Error(m.message));
    });
    w.on("error", (err) => this.takeOver(`the log thread failed: ${err.message}`));
    w.on("exit", (code) => {
      if (!this.closed) this.takeOver(`the log thread exited (code ${code})`);
    });
    open.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on("exit", () => {
        for (const t of open) t.flushSync();
      });
    }
  }

  /** pino's stream: one or more whole lines. */
  write(line: string): void {
    if (this.closed) return;
    if (this.fallback) {
      this.fallback.stream.write(line);
      return;
    }
    if (this.pending.length > 0 || !this.put(line)) this.wait(line);
  }

  private put(line: string): boolean {
    if (this.ring.text(line)) return true;
    if (line.length * 2 + 8 <= this.ring.maxRecordBytes) return false;
    // Longer than a quarter of the ring: posted aside, its place kept in the ring.
    if (this.pendingChars + this.postedChars + line.length > MAX_PENDING_CHARS) return false;
    const id = this.nextId++;
    if (!this.ring.big(id)) return false;
    this.posted.set(id, line);
    this.postedChars += line.length;
    this.post({ type: "big", id, line });
    return true;
  }

  private wait(line: string): void {
    if (this.pendingChars + this.postedChars + line.length > MAX_PENDING_CHARS) {
      if (this.dropped++ === 0) {
        this.opts.onError(new Error("log lines dropped: the log thread is more than 32 MB behind"));
      }
      return;
    }
    this.pending.push(line);
    this.pendingChars += line.length;
    if (this.retry === null) this.retry = setTimeout(this.movePending, RETRY_MS).unref();
  }

  private readonly movePending = (): void => {
    this.retry = null;
    let i = 0;
    while (i < this.pending.length) {
      const line = this.pending[i] as string;
      if (this.fallback) this.fallback.stream.write(line);
      else if (!this.put(line)) break;
      this.pendingChars -= line.length;
      i++;
    }
    this.pending = i === this.pending.length ? [] : this.pending.slice(i);
    if (this.pending.length > 0) this.retry = setTimeout(this.movePending, RETRY_MS).unref();
  };

  /**
   * The access line's parts, given to the log thread instead of its text; the constant texts are
   * sent once each. False, taking nothing, when the line must be written as text instead (the
   * ring is full or lines wait for it, or the thread is gone).
   */
  readonly access: AccessParts = (kind, statusCode, timeMs, durationMs, bytes, chindings, url) => {
    if (this.fallback || this.closed || this.pending.length > 0) return false;
    if (kind.idsEpoch !== this.idsEpoch) {
      const p = this.idOf(kind.prefix);
      const f = this.idOf(kind.fields);
      const e = this.idOf(kind.ending);
      if (p < 0 || f < 0 || e < 0) return false;
      kind.prefixId = p;
      kind.fieldsId = f;
      kind.endingId = e;
      kind.idsEpoch = this.idsEpoch;
    }
    return this.ring.access(
      statusCode,
      kind.prefixId,
      kind.fieldsId,
      kind.endingId,
      timeMs,
      durationMs,
      bytes,
      chindings,
      url,
    );
  };

  /**
   * The id of a constant text, defined in the ring the first time; -1 when the ring is full.
   * The ids an AccessKind keeps are good while `idsEpoch` stays: it moves when the map is reset.
   */
  private idOf(text: string): number {
    const known = this.ids.get(text);
    if (known !== undefined) return known;
    const id = this.nextId++;
    if (!this.ring.define(id, text)) return -1;
    // A few dozen texts (levels × routes); bounded all the same.
    if (this.ids.size >= 10_000) {
      this.ids.clear();
      this.idsEpoch++;
    }
    this.ids.set(text, id);
    return id;
  }

  private post(m: ToLogThread): void {
    this.worker?.postMessage(m);
  }

  private ask(type: "flush" | "close"): Promise<void> {
    const w = this.worker;
    if (!w) return Promise.resolve();
    const id = this.nextId++;
    return new Promise<void>((resolve) => {
      this.waiting.set(id, resolve);
      this.post({ type, id });
    });
  }

  /** Lines waiting for the ring are in it (or in the fallback file). */
  private async pendingMoved(): Promise<void> {
    while (this.pending.length > 0) {
      this.movePending();
      if (this.pending.length > 0) await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  async flush(): Promise<void> {
    await this.pendingMoved();
    if (this.fallback) return this.fallback.flush();
    await this.ask("flush");
  }

  /** At exit: everything the ring holds, written by the thread while this thread waits. */
  flushSync(): void {
    if (this.fallback) {
      for (const line of this.pending) this.fallback.stream.write(line);
      this.pending = [];
      this.fallback.flushSync();
      return;
    }
    if (!this.worker || this.closed) return;
    for (let round = 0; round < 8; round++) {
      this.movePending();
      const asked = Atomics.add(this.ctl, CTL_SYNC_REQUEST, 1) + 1;
      // Wakes the thread whether it sleeps waiting for a write or pauses between polls.
      Atomics.notify(this.ctl, CTL_WRITE);
      Atomics.notify(this.ctl, CTL_SYNC_REQUEST);
      const deadline = Date.now() + EXIT_FLUSH_MS;
      while (Atomics.load(this.ctl, CTL_SYNC_DONE) !== asked) {
        const left = deadline - Date.now();
        if (left <= 0) return; // the thread does not answer: what it holds is lost, as in a crash
        Atomics.wait(this.ctl, CTL_SYNC_DONE, Atomics.load(this.ctl, CTL_SYNC_DONE), left);
      }
      if (this.pending.length === 0) return;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.pendingMoved();
    if (this.fallback) {
      this.closed = true;
      open.delete(this);
      await this.fallback.close();
      return;
    }
    const closing = this.ask("close");
    this.closed = true;
    await closing;
    open.delete(this);
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }

  /** The log thread is gone: this thread reads what is left in the ring and owns the file. */
  private takeOver(why: string): void {
    if (this.fallback || this.closed) return;
    this.worker = null;
    this.opts.onError(new Error(`${why}; the API's thread writes the log file from now on`));
    const fallback = createRotatingFile({ ...this.opts.rotation, onError: this.opts.onError });
    const lines = new RecordLines((line) => {
      fallback.stream.write(line);
      if (this.opts.stdout) process.stdout.write(line);
    }, createScrubber(this.opts.secrets));
    for (const [text, id] of this.ids) lines.define(id, text);
    // Long lines the thread had not written yet: their places in the ring are read here.
    for (const [id, line] of this.posted) lines.posted(id, line);
    this.posted.clear();
    this.postedChars = 0;
    new RingReader(this.buffers).read(lines);
    this.fallback = fallback;
    for (const resolve of this.waiting.values()) resolve();
    this.waiting.clear();
    this.movePending();
  }
}

/**
 * The rotating log file (src/logs/rotation.ts), written by a thread of its own; with `stdout`,
 * the same lines on standard output. A FileSink for createLogger, plus the access line's fields.
 */
export function createLogThread(opts: LogThreadOptions): LogThreadSink {
  const t = new LogThread(opts);
  return {
    stream: {
      write: (line: string) => {
        t.write(line);
        return true;
      },
    } as unknown as NodeJS.WritableStream,
    flush: () => t.flush(),
    flushSync: () => t.flushSync(),
    close: () => t.close(),
    access: t.access,
    stdout: opts.stdout,
    worker: () => t.worker,
  };
}
