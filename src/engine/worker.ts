// Entry of the engine worker thread: one EngineHost, driven by the API thread's messages
// (client.ts). Requests run one at a time in arrival order; each reads its cancel flag in the
// shared Int32Array while it evaluates, so the API thread can stop it without waiting for it.

import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { EngineHost, type EngineSettings, toEngineError } from "./host.js";
import type { FromWorker, ToWorker } from "./protocol.js";

export interface WorkerData {
  settings: EngineSettings;
  /** SharedArrayBuffer of the per-slot cancel flags (Int32). */
  cancel: SharedArrayBuffer;
}

/**
 * The engine thread's nice value. On Linux nice is per thread: under CPU contention the API's
 * thread (nice 0) is scheduled before the engine (weight 1024 vs 110), so a query burning a
 * core cannot slow the API even where the cores are shared with other processes.
 */
const ENGINE_NICE = 10;

const port = parentPort;
if (!port) throw new Error("src/engine/worker.ts runs as a worker thread only");
const data = workerData as WorkerData;
const flags = new Int32Array(data.cancel);
const post = (m: FromWorker) => port.postMessage(m);

let host: EngineHost;
try {
  host = new EngineHost({ ...data.settings, emit: post });
} catch (err) {
  // A rule file that became invalid since start-up, for instance: the API thread logs it.
  post({ kind: "fatal", message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}

port.on("message", (m: ToWorker) => {
  switch (m.kind) {
    case "request": {
      const slot = m.slot;
      const isCancelled = slot >= 0 ? () => Atomics.load(flags, slot) !== 0 : undefined;
      // Wall-clock deadline → this thread's performance.now() (its origin is this thread's start).
      const deadline = m.deadline === undefined ? undefined : m.deadline - performance.timeOrigin;
      try {
        const result = host.execute(m.req, { deadline, isCancelled });
        const message: FromWorker = { kind: "response", id: m.id, ok: true, result };
        // A rendered body moves to the API thread without a copy (see EngineOps).
        if (result instanceof Uint8Array) port.postMessage(message, [result.buffer as ArrayBuffer]);
        else post(message);
      } catch (err) {
        post({ kind: "response", id: m.id, ok: false, error: toEngineError(err).toData() });
      }
      break;
    }
    case "ingest":
      try {
        host.ingest(m.batch);
      } catch (err) {
        post({
          kind: "log",
          level: "error",
          msg: "the engine could not store a scrape",
          fields: { err: String(err) },
        });
      }
      break;
    case "stop":
      host.stop();
      port.close();
      break;
  }
});

try {
  setPriority(ENGINE_NICE); // pid 0: this thread only (Linux)
} catch {
  // Not permitted or not supported here: the engine runs at the API's priority.
}
/** This thread's kernel id (Linux: /proc/thread-self → "PID/task/TID"), undefined elsewhere. */
function threadId(): number | undefined {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    return Number.isSafeInteger(tid) ? tid : undefined;
  } catch {
    return undefined; // no /proc: the watchdog measures wall time only
  }
}

host.start();
post({ kind: "ready", tid: threadId() });
