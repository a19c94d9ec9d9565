import { EventEmitter } from "node:events";
import {
  closeSync,
  constants,
  createReadStream,
  createWriteStream,
  existsSync,
  fstatSync,
  write as fsWrite,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  writeSync,
} from "node:fs";
import { readdir, rename, stat, unlink, utimes } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { systemClock, systemTimers, type TimerHandle, type Timers } from "../core/clock.js";

export interface RotationOptions {
  /** The active file, e.g. ./logs/application.log (directory created). */
  filePath: string;
  /** Rotate when the active file would exceed this many bytes (0 = never by size). */
  maxSizeBytes: number;
  /** Also rotate at the first write after local midnight. */
  daily: boolean;
  /** Rotated files kept, the active file not counted; oldest deleted first (Infinity = no limit). */
  maxFiles: number;
  /** Rotated files whose mtime is older than this are deleted (0 = no age limit). */
  maxAgeDays: number;
  /** Gzip rotated files (name ends .gz), off the event loop. */
  compress: boolean;
  /** Clock for daily rotation, rotated names and age retention; defaults to the system clock. */
  now?: () => number;
  /** The short wait that batches small writes. Default the system timers. */
  timers?: Timers;
  /** Told once per failure episode (write, rotation or retention); defaults to process.emitWarning. */
  onError?: (err: Error) => void;
}

export interface RotatingFile {
  /** What pino (or pino.multistream) writes to; each write is one or more whole lines ending in \n. */
  stream: NodeJS.WritableStream;
  /** Everything written so far is in the files and pending compressions and deletions are done. */
  flush(): Promise<void>;
  /** Write out what is buffered synchronously (before process exit); compression is left for the next start. */
  flushSync(): void;
  /** Flush, then close the active file; later writes are dropped. */
  close(): Promise<void>;
  /** Current rotated files, oldest first. */
  rotatedFiles(): Promise<string[]>;
}

/** Writers not closed yet: their buffered lines are written out synchronously when the process exits. */
const openWriters = new Set<RotatingWriter>();
let exitHookInstalled = false;
function flushOpenWriters(): void {
  for (const w of openWriters) w.flushSync();
}

/** A size-, day- and retention-managed JSON-lines file for pino. */
export function createRotatingFile(opts: RotationOptions): RotatingFile {
  const writer = new RotatingWriter(opts);
  return {
    stream: writer,
    flush: () => writer.flushAll(),
    flushSync: () => writer.flushSync(),
    close: () => writer.close(),
    rotatedFiles: () => writer.rotatedFiles(),
  };
}

const DAY_MS = 86_400_000;
/**
 * Lines are queued in strings of about this size, each one positional write: they are handed to
 * the kernel once this much is buffered, or WRITE_AFTER_MS after the first
 * unwritten line, whichever comes first. Each write is a hop to libuv's thread pool costing ~10 µs
 * of CPU on the main thread alone, more than formatting a line: writing at every turn of the event
 * loop, as before, cost a loaded server ~7 µs per request (bench/access-line.ts). What a crash can
 * lose is bounded by these two: flush(), close() and process exit (the `exit` hook below) write
 * everything; only SIGKILL, an OOM kill or a native crash lose up to WRITE_AFTER_MS of lines
 * (at most WRITE_AT_BYTES, plus the write in flight).
 */
const WRITE_AT_BYTES = 64 * 1024;
const WRITE_AFTER_MS = 50;
/** After a failed write, lines are dropped until the next rotation or this long, then the file is reopened. */
const RETRY_MS = 1000;

interface Rotation {
  readonly at: number;
}
type Item = string | Rotation;

interface InFlight {
  readonly fd: number;
  readonly buf: Buffer;
  readonly pos: number;
  done: number;
}

interface RotatedEntry {
  date: string;
  seq: number;
  plain?: string;
  gz?: string;
  tmp?: string;
}

function validate(opts: RotationOptions): void {
  const bad = (name: string, expected: string, value: unknown) =>
    new TypeError(`rotation: ${name} must be ${expected}, got ${String(value)}`);
  if (typeof opts.filePath !== "string" || opts.filePath === "") {
    throw bad("filePath", "a non-empty path", opts.filePath);
  }
  if (!Number.isInteger(opts.maxSizeBytes) || opts.maxSizeBytes < 0) {
    throw bad("maxSizeBytes", "an integer >= 0", opts.maxSizeBytes);
  }
  if (!(Number.isInteger(opts.maxFiles) || opts.maxFiles === Number.POSITIVE_INFINITY) || opts.maxFiles < 0) {
    throw bad("maxFiles", "an integer >= 0 or Infinity", opts.maxFiles);
  }
  if (!Number.isFinite(opts.maxAgeDays) || opts.maxAgeDays < 0) {
    throw bad("maxAgeDays", "a number >= 0", opts.maxAgeDays);
  }
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

function localDate(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1, 2)}-${pad(d.getDate(), 2)}`;
}

function nextLocalMidnight(t: number): number {
  const d = new Date(t);
  d.setHours(24, 0, 0, 0);
  return d.getTime();
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

function writeAllSync(fd: number, buf: Buffer, pos: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = writeSync(fd, buf, done, buf.length - done, pos + done);
    if (n <= 0) throw new Error("write returned 0 bytes");
    done += n;
  }
}

/*
 * Written here rather than taken from a library: rotating-file-stream checks the size only after a
 * write (a file can overshoot), runs daily rotation on timers (no injectable clock), keeps retention
 * in its own history file and has no age limit; pino-roll and file-stream-rotator never keep the
 * active file under its configured name; sonic-boom's reopen() can resume a partially written buffer
 * in the new file. Owning the fd lets every rotation fall exactly between two writes.
 *
 * Two clocks of state: the logical one (size, day, queue) is decided synchronously in write(), so
 * which file a line belongs to is fixed when it is logged; the physical one (fd, position) follows
 * asynchronously, one positional write at a time, and executes queued rotations in order.
 */
class RotatingWriter extends EventEmitter implements NodeJS.WritableStream {
  writable = true;

  private readonly filePath: string;
  private readonly dir: string;
  private readonly stem: string;
  private readonly ext: string;
  private readonly pattern: RegExp;
  private readonly maxSizeBytes: number;
  private readonly daily: boolean;
  private readonly maxFiles: number;
  private readonly maxAgeMs: number;
  private readonly compress: boolean;
  private readonly now: () => number;
  private readonly onError: (err: Error) => void;

  // logical state, owned by write()
  private size = 0;
  private nextMidnight = Number.POSITIVE_INFINITY;
  private tail = "";
  private tailBytes = 0;
  private queue: Item[] = [];
  private head = 0;
  private closed = false;

  // physical state, owned by the pump
  private fd = -1;
  private pos = 0;
  private inflight: InFlight | null = null;
  private scheduled = false;
  /** Writes out a tail shorter than WRITE_AT_BYTES that has waited WRITE_AFTER_MS. */
  private timer: TimerHandle | null = null;
  private readonly timers: Timers;
  private retryAt = 0;
  private writeErrorReported = false;
  private readonly staleFds = new Map<number, { pending: number; close: boolean }>();
  private readonly seqByDate = new Map<string, number>();
  private drainWaiters: (() => void)[] = [];

  // maintenance (retention + compression), one sweep at a time
  private sweeping: Promise<void> | null = null;
  private sweepAgain = false;
  private sweepErrorReported = false;

  private readonly pumpAsync = () => {
    this.scheduled = false;
    this.pump();
  };

  private readonly onTimer = () => {
    this.timer = null;
    this.sealTail();
    this.kick();
  };

  constructor(opts: RotationOptions) {
    super();
    validate(opts);
    this.filePath = opts.filePath;
    this.dir = path.dirname(opts.filePath);
    const base = path.basename(opts.filePath);
    this.ext = path.extname(base);
    this.stem = base.slice(0, base.length - this.ext.length);
    this.pattern = new RegExp(
      `^${escapeRegExp(this.stem)}\\.(\\d{4}-\\d{2}-\\d{2})\\.(\\d{4,})${escapeRegExp(this.ext)}(\\.gz(\\.tmp)?)?$`,
    );
    this.maxSizeBytes = opts.maxSizeBytes;
    this.daily = opts.daily;
    this.maxFiles = opts.maxFiles;
    this.maxAgeMs = opts.maxAgeDays * DAY_MS;
    this.compress = opts.compress;
    this.now = opts.now ?? systemClock.now;
    this.timers = opts.timers ?? systemTimers;
    this.onError = opts.onError ?? ((err) => process.emitWarning(err));

    // Startup only: synchronous mkdir/readdir/open so that write() can decide sizes and names at once.
    try {
      mkdirSync(this.dir, { recursive: true });
      for (const name of readdirSync(this.dir)) {
        const m = this.pattern.exec(name);
        if (m?.[1] && m[2]) this.seqByDate.set(m[1], Math.max(this.seqByDate.get(m[1]) ?? 0, Number(m[2])));
      }
    } catch (err) {
      this.reportWrite(err);
    }
    const mtimeMs = this.openActive();
    this.size = this.pos;
    if (this.daily) this.nextMidnight = nextLocalMidnight(this.size > 0 ? mtimeMs : this.now());
    this.scheduleSweep();
    openWriters.add(this);
    if (openWriters.size === 1 && !exitHookInstalled) {
      exitHookInstalled = true;
      process.on("exit", flushOpenWriters);
    }
  }

  // ---- NodeJS.WritableStream -------------------------------------------------------------------

  write(buffer: Uint8Array | string, cb?: (err?: Error | null) => void): boolean;
  write(str: string, encoding?: BufferEncoding, cb?: (err?: Error | null) => void): boolean;
  write(
    chunk: Uint8Array | string,
    encOrCb?: BufferEncoding | ((err?: Error | null) => void),
    cb?: (err?: Error | null) => void,
  ): boolean {
    const done = typeof encOrCb === "function" ? encOrCb : cb;
    if (!this.closed) {
      const s =
        typeof chunk === "string"
          ? chunk
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("utf8");
      this.append(s);
    }
    if (done) process.nextTick(done);
    return true;
  }

  end(cb?: () => void): this;
  end(data: string | Uint8Array, cb?: () => void): this;
  end(str: string, encoding?: BufferEncoding, cb?: () => void): this;
  end(
    dataOrCb?: string | Uint8Array | (() => void),
    encOrCb?: BufferEncoding | (() => void),
    cb?: () => void,
  ): this {
    let done = cb;
    if (typeof dataOrCb === "function") done = dataOrCb;
    else {
      if (typeof encOrCb === "function") done = encOrCb;
      if (dataOrCb !== undefined) this.write(dataOrCb);
    }
    this.close().then(
      () => done?.(),
      () => done?.(),
    );
    return this;
  }

  /** pino's logger.flush(cb) calls this. */
  flush(cb?: (err?: Error) => void): void {
    this.flushAll().then(
      () => cb?.(),
      (err: unknown) => cb?.(asError(err)),
    );
  }

  // ---- logical side: decide here, synchronously, which file each line belongs to -------------

  private append(s: string): void {
    const len = Buffer.byteLength(s);
    if (this.daily) {
      const t = this.now();
      if (t >= this.nextMidnight) {
        if (this.size > 0) this.cut(t);
        this.nextMidnight = nextLocalMidnight(t);
      }
    }
    if (this.maxSizeBytes > 0 && this.size > 0 && this.size + len > this.maxSizeBytes) this.cut(this.now());
    this.size += len;
    this.tail += s;
    this.tailBytes += len;
    if (this.tailBytes >= WRITE_AT_BYTES) {
      this.sealTail();
      this.kick();
    } else if (this.head < this.queue.length) this.kick();
    else if (this.timer === null) {
      this.timer = this.timers.setTimeout(this.onTimer, WRITE_AFTER_MS).unref();
    }
  }

  /** The tail joins the queue: everything logged so far is due to be written. */
  private sealTail(): void {
    if (this.tailBytes > 0) {
      this.queue.push(this.tail);
      this.tail = "";
      this.tailBytes = 0;
    }
  }

  /** Run the pump on the next tick unless a write is in flight (its callback runs the pump). */
  private kick(): void {
    if (this.inflight === null && !this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.pumpAsync);
    }
  }

  private cut(at: number): void {
    this.sealTail();
    this.queue.push({ at });
    this.size = 0;
  }

  private nextItem(): Item | undefined {
    if (this.head < this.queue.length) {
      const item = this.queue[this.head++];
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      } else if (this.head >= 1024) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      return item;
    }
    if (this.tailBytes > 0) {
      const s = this.tail;
      this.tail = "";
      this.tailBytes = 0;
      return s;
    }
    return undefined;
  }

  private get idle(): boolean {
    return this.inflight === null && this.head >= this.queue.length && this.tailBytes === 0;
  }

  // ---- physical side: one positional write at a time, rotations executed in queue order -------

  /** Writes what is queued (sealed); a tail shorter than WRITE_AT_BYTES waits for its timer. */
  private pump(): void {
    while (this.inflight === null) {
      const item = this.head < this.queue.length ? this.nextItem() : undefined;
      if (item === undefined) {
        const waiters = this.drainWaiters;
        this.drainWaiters = [];
        for (const w of waiters) w();
        return;
      }
      if (typeof item !== "string") {
        this.rotateSync(item.at);
      } else if (this.fd >= 0 || this.retryOpen()) {
        this.startWrite({ fd: this.fd, buf: Buffer.from(item, "utf8"), pos: this.pos, done: 0 });
      }
      // else: the file is unusable; the lines are dropped (reported once) until it can be reopened.
    }
  }

  private startWrite(w: InFlight): void {
    this.inflight = w;
    fsWrite(w.fd, w.buf, w.done, w.buf.length - w.done, w.pos + w.done, (err, n) => this.written(w, err, n));
  }

  private written(w: InFlight, err: NodeJS.ErrnoException | null, n: number): void {
    if (this.inflight !== w) {
      // flushSync already rewrote these bytes at the same offset; only release the fd.
      const stale = this.staleFds.get(w.fd);
      if (stale && --stale.pending === 0) {
        this.staleFds.delete(w.fd);
        if (stale.close) this.closeQuietly(w.fd);
      }
      return;
    }
    if (!err && n > 0) {
      w.done += n;
      if (w.done < w.buf.length) {
        this.startWrite(w);
        return;
      }
      this.inflight = null;
      this.pos = w.pos + w.buf.length;
      this.writeErrorReported = false;
    } else {
      this.inflight = null;
      this.fail(err ?? new Error("write returned 0 bytes"));
    }
    this.pump();
  }

  /** The active file failed: cut it back to its last whole line and stop using it until reopened. */
  private fail(err: unknown): void {
    this.reportWrite(err);
    if (this.fd >= 0) {
      try {
        ftruncateSync(this.fd, this.pos);
      } catch {
        // the partial line stays; openActive() ends it with \n when the file is reopened
      }
      this.releaseFd(this.fd);
      this.fd = -1;
    }
    this.retryAt = this.now() + RETRY_MS;
  }

  private retryOpen(): boolean {
    if (this.now() < this.retryAt) return false;
    this.openActive();
    return this.fd >= 0;
  }

  /** Open (creating) the active file at its end; returns its mtime. Sync: at start and rotation only. */
  private openActive(): number {
    try {
      mkdirSync(this.dir, { recursive: true });
      const fd = openSync(this.filePath, constants.O_RDWR | constants.O_CREAT, 0o666);
      const st = fstatSync(fd);
      let size = st.size;
      if (size > 0) {
        // A crash or a full disk can leave half a line; end it so the next line stays valid JSON.
        const last = Buffer.alloc(1);
        readSync(fd, last, 0, 1, size - 1);
        if (last[0] !== 0x0a) size += writeSync(fd, "\n", size);
      }
      this.fd = fd;
      this.pos = size;
      return st.mtimeMs;
    } catch (err) {
      this.reportWrite(err);
      this.fd = -1;
      this.retryAt = this.now() + RETRY_MS;
      return 0;
    }
  }

  private rotateSync(at: number): void {
    if (this.fd >= 0) {
      this.releaseFd(this.fd);
      this.fd = -1;
    }
    const target = this.rotatedName(at);
    let renamed = false;
    try {
      renameSync(this.filePath, target);
      renamed = true;
    } catch (err) {
      // e.g. the directory was deleted: its lines are gone; carry on with a fresh file.
      this.reportWrite(err);
    }
    this.openActive();
    if (renamed) this.scheduleSweep();
  }

  private rotatedName(at: number): string {
    const date = localDate(at);
    let seq = (this.seqByDate.get(date) ?? 0) + 1;
    let name = this.rotatedPath(date, seq);
    while (existsSync(name) || existsSync(`${name}.gz`)) name = this.rotatedPath(date, ++seq);
    this.seqByDate.set(date, seq);
    return name;
  }

  private rotatedPath(date: string, seq: number): string {
    return path.join(this.dir, `${this.stem}.${date}.${pad(seq, 4)}${this.ext}`);
  }

  private releaseFd(fd: number): void {
    const stale = this.staleFds.get(fd);
    if (stale) stale.close = true;
    else this.closeQuietly(fd);
  }

  private closeQuietly(fd: number): void {
    try {
      closeSync(fd);
    } catch {
      // already unusable; nothing more to lose
    }
  }

  private reportWrite(err: unknown): void {
    if (this.writeErrorReported) return;
    this.writeErrorReported = true;
    this.report(err, `cannot write ${this.filePath}`);
  }

  private report(err: unknown, what: string): void {
    const e = asError(err);
    try {
      this.onError(new Error(`log rotation: ${what}: ${e.message}`, { cause: e }));
    } catch {
      // an error reporter must not take the logger down
    }
  }

  // ---- flushing and closing --------------------------------------------------------------------

  /** Everything logged before the call is written. */
  private drained(): Promise<void> {
    if (this.idle) return Promise.resolve();
    this.sealTail();
    const done = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    this.kick();
    return done;
  }

  async flushAll(): Promise<void> {
    for (;;) {
      await this.drained();
      if (this.sweeping) {
        await this.sweeping;
        continue;
      }
      if (this.idle) return;
    }
  }

  flushSync(): void {
    this.clearTimer();
    const w = this.inflight;
    if (w) {
      // The async write may or may not have landed; rewriting the same bytes at the same offset is
      // harmless either way, and the fd stays open until its callback arrives.
      this.inflight = null;
      const stale = this.staleFds.get(w.fd);
      if (stale) stale.pending++;
      else this.staleFds.set(w.fd, { pending: 1, close: false });
      this.writeNowSync(w);
    }
    for (let item = this.nextItem(); item !== undefined; item = this.nextItem()) {
      if (typeof item !== "string") this.rotateSync(item.at);
      else if (this.fd >= 0 || this.retryOpen()) {
        this.writeNowSync({ fd: this.fd, buf: Buffer.from(item, "utf8"), pos: this.pos, done: 0 });
      }
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      this.timers.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private writeNowSync(w: InFlight): void {
    try {
      writeAllSync(w.fd, w.buf, w.pos);
      this.pos = w.pos + w.buf.length;
    } catch (err) {
      this.fail(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.writable = false;
    await this.flushAll();
    this.clearTimer();
    openWriters.delete(this);
    if (this.fd >= 0) {
      this.releaseFd(this.fd);
      this.fd = -1;
    }
    this.emit("close");
  }

  // ---- retention and compression ---------------------------------------------------------------

  private scheduleSweep(): void {
    if (this.sweeping) {
      this.sweepAgain = true;
      return;
    }
    this.sweeping = this.runSweeps();
  }

  private async runSweeps(): Promise<void> {
    await Promise.resolve();
    try {
      do {
        this.sweepAgain = false;
        await this.sweep();
      } while (this.sweepAgain);
    } catch (err) {
      // nobody awaits a sweep but flush(): a rejection here would be unhandled and end the process
      this.report(err, "retention failed");
    } finally {
      this.sweeping = null;
    }
  }

  private async scan(): Promise<RotatedEntry[]> {
    const byKey = new Map<string, RotatedEntry>();
    for (const name of await readdir(this.dir)) {
      const m = this.pattern.exec(name);
      if (!m?.[1] || !m[2]) continue;
      const key = `${m[1]}.${m[2]}`;
      let entry = byKey.get(key);
      if (!entry) {
        entry = { date: m[1], seq: Number(m[2]) };
        byKey.set(key, entry);
      }
      const full = path.join(this.dir, name);
      if (m[4]) entry.tmp = full;
      else if (m[3]) entry.gz = full;
      else entry.plain = full;
    }
    return [...byKey.values()]
      .filter((e) => e.plain || e.gz)
      .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.seq - b.seq));
  }

  private async sweep(): Promise<void> {
    let failed = false;
    const attempt = async (what: string, op: () => Promise<unknown>): Promise<boolean> => {
      try {
        await op();
        return true;
      } catch (err) {
        // Gone already, or the directory itself is missing or not one: nothing to do here, and
        // the writer reports an unusable directory.
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR") return false;
        failed = true;
        if (!this.sweepErrorReported) {
          this.sweepErrorReported = true;
          this.report(err, what);
        }
        return false;
      }
    };
    let entries: RotatedEntry[] = [];
    if (!(await attempt(`cannot list ${this.dir}`, async () => (entries = await this.scan())))) return;

    const kept: RotatedEntry[] = [];
    for (const e of entries) {
      // Sweeps run one at a time and own compression, so a .tmp seen here is left by a crash.
      const tmp = e.tmp;
      if (tmp) await attempt(`cannot delete ${tmp}`, () => unlink(tmp));
      const { plain, gz } = e;
      if (plain && gz) {
        // The .gz is renamed into place only when complete, so the plain copy is redundant.
        await attempt(`cannot delete ${plain}`, () => unlink(plain));
        e.plain = undefined;
      }
      const file = e.gz ?? e.plain;
      if (file && this.maxAgeMs > 0) {
        let mtimeMs = Number.POSITIVE_INFINITY;
        await attempt(`cannot stat ${file}`, async () => (mtimeMs = (await stat(file)).mtimeMs));
        if (this.now() - mtimeMs > this.maxAgeMs) {
          await attempt(`cannot delete ${file}`, () => unlink(file));
          continue;
        }
      }
      kept.push(e);
    }
    const excess = kept.length - this.maxFiles;
    for (const e of kept.splice(0, Math.max(0, excess))) {
      const file = e.gz ?? e.plain;
      if (file) await attempt(`cannot delete ${file}`, () => unlink(file));
    }
    if (this.compress) {
      for (const e of kept) {
        const plain = e.plain;
        if (plain && !e.gz) await attempt(`cannot compress ${plain}`, () => this.gzip(plain));
      }
    }
    if (!failed) this.sweepErrorReported = false;
  }

  /** Stream through zlib (thread pool); the .gz appears only once complete, with the source's mtime. */
  private async gzip(src: string): Promise<void> {
    const dst = `${src}.gz`;
    const tmp = `${dst}.tmp`;
    try {
      const st = await stat(src);
      await pipeline(createReadStream(src), createGzip(), createWriteStream(tmp));
      await utimes(tmp, st.atime, st.mtime);
      await rename(tmp, dst);
    } catch (err) {
      await unlink(tmp).catch(() => undefined); // may not exist yet; the compression's error is rethrown
      throw err;
    }
    await unlink(src);
  }

  async rotatedFiles(): Promise<string[]> {
    try {
      return (await this.scan()).map((e) => e.gz ?? e.plain ?? "");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return [];
      throw err;
    }
  }
}
