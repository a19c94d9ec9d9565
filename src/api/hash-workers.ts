/**
 * Password hashing threads: scrypt runs synchronously in worker threads of their own, each at a
 * lower CPU priority (nice) than the API's thread. On Linux nice is per thread, so when the
 * cores are short the kernel runs the API's thread (and libuv's pool, which the API needs for
 * file writes, statfs and DNS) before a hash: a login flood makes logins slower, not the API.
 * A hash on libuv's pool ran at the API's priority and held a pool thread for its whole 50 ms.
 *
 * The threads are started on the first hash and kept (an idle one never holds the process open). A thread that dies fails the hash it was computing; the next hash starts a new one.
 * How many hashes run at once is the caller's gate (HashGate in passwords.ts): the pool starts
 * a thread whenever every existing one is busy.
 */
import { Worker } from "node:worker_threads";

/** The hashing threads' nice value (the engine worker's is 10; the API thread's 0). */
export const HASH_NICE = 10;

export interface ScryptParams {
  n: number;
  r: number;
  p: number;
  keylen: number;
  maxmem: number;
}

interface Request extends ScryptParams {
  id: number;
  password: string;
  salt: Uint8Array;
}

type Response = { id: number; ok: true; key: Uint8Array } | { id: number; ok: false; message: string };

// Plain CommonJS evaluated as the thread's code: nothing to compile or resolve (the same in a
// checkout run through tsx and in dist/), and a thread starts in a few milliseconds.
const THREAD_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { scryptSync } = require("node:crypto");
try {
  require("node:os").setPriority(workerData.nice); // pid 0: this thread only on Linux
} catch {
  // Not permitted (or not Linux): the hashes run at the API's priority.
}
parentPort.on("message", (m) => {
  try {
    const key = scryptSync(m.password, m.salt, m.keylen, { N: m.n, r: m.r, p: m.p, maxmem: m.maxmem });
    parentPort.postMessage({ id: m.id, ok: true, key: new Uint8Array(key) });
  } catch (err) {
    parentPort.postMessage({ id: m.id, ok: false, message: String(err && err.message || err) });
  }
});
`;

interface Thread {
  worker: Worker;
  /** The hash it is computing. */
  job: { id: number; resolve: (key: Buffer) => void; reject: (err: Error) => void } | undefined;
}

export class HashWorkers {
  private readonly threads: Thread[] = [];
  private nextId = 1;

  constructor(private readonly nice = HASH_NICE) {}

  /** Threads alive right now (started lazily). */
  get size(): number {
    return this.threads.length;
  }

  /** scrypt(password, salt) on an idle thread (a new one if all are busy). */
  scrypt(password: string, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
    const thread = this.threads.find((t) => t.job === undefined) ?? this.start();
    const id = this.nextId++;
    // Referenced while it hashes (a caller awaiting the key keeps the process alive), not while idle.
    thread.worker.ref();
    return new Promise<Buffer>((resolve, reject) => {
      thread.job = { id, resolve, reject };
      const req: Request = { id, password, salt, ...params };
      thread.worker.postMessage(req);
    });
  }

  /** Stops every thread (tests); a later hash starts new ones. */
  async close(): Promise<void> {
    const all = this.threads.splice(0);
    await Promise.all(all.map((t) => t.worker.terminate()));
  }

  private start(): Thread {
    // execArgv []: none of the process's flags (an --input-type=module would make this source
    // ESM, without require; --import hooks such as tsx's would load for nothing).
    const worker = new Worker(THREAD_SOURCE, { eval: true, execArgv: [], workerData: { nice: this.nice } });
    worker.unref();
    const thread: Thread = { worker, job: undefined };
    this.threads.push(thread);
    worker.on("message", (m: Response) => {
      const job = thread.job;
      if (!job || job.id !== m.id) return;
      thread.job = undefined;
      worker.unref();
      if (m.ok) job.resolve(Buffer.from(m.key.buffer, m.key.byteOffset, m.key.byteLength));
      else job.reject(new Error(`scrypt failed: ${m.message}`));
    });
    const gone = (why: string) => {
      const i = this.threads.indexOf(thread);
      if (i !== -1) this.threads.splice(i, 1);
      const job = thread.job;
      thread.job = undefined;
      job?.reject(new Error(`the password hashing thread ${why}`));
    };
    worker.on("error", (err) => gone(`failed: ${err.message}`));
    worker.on("exit", (code) => gone(`exited with code ${code}`));
    return thread;
  }
}
