// The log thread: owns the log file (rotation, retention, compression) and the JSON lines on
// standard output, and turns the records the API's thread puts in the ring into lines there
// (src/logs/thread/index.ts is the other side; the protocol is in ring.ts and below).
//
// It reads the ring every POLL_MS while lines come, and after IDLE_POLLS empty polls sleeps until
// the API's thread wakes it (CTL_SLEEPING): a busy app pays no wake-up per line, an idle one no
// polling. A synchronous flush (the API's process exiting) is asked through CTL_SYNC_REQUEST,
// since the API's thread then waits in Atomics.wait and cannot take a message.

import { parentPort, workerData } from "node:worker_threads";
import pino from "pino";
import { createScrubber } from "../redact.js";
import { createRotatingFile, type RotationOptions } from "../rotation.js";
import { RecordLines } from "./lines.js";
import {
  CTL_SLEEPING,
  CTL_SYNC_DONE,
  CTL_SYNC_REQUEST,
  CTL_WRITE,
  type RingBuffers,
  RingReader,
} from "./ring.js";

export interface LogThreadData {
  buffers: RingBuffers;
  rotation: Omit<RotationOptions, "now" | "timers" | "onError">;
  /** Also write every line to fd 1 (log.stdout with JSON lines). */
  stdout: boolean;
  secrets: string[];
}

/** API thread → log thread. */
export type ToLogThread =
  | { type: "big"; id: number; line: string }
  | { type: "flush"; id: number }
  | { type: "close"; id: number };

/** Log thread → API thread. */
export type FromLogThread =
  | { type: "done"; id: number }
  /** A line posted aside (`big`) is in the file's queue: the API's thread lets go of it. */
  | { type: "written"; id: number }
  | { type: "error"; message: string };

/**
 * 50 ms, not 5: a wake-up of this thread costs more than the few lines it then reads. Measured
 * under load (bench/README.md, "Issue 12, session 12", interleaved rounds on the 2-core machine):
 * this thread's CPU per request 4.30 µs at 5 ms, 3.26 at 20, 2.60 at 50 (100: 2.65, no better);
 * in `bench/run.ts` the process's CPU beside the API's thread fell from 8.7 to 7.2 µs a request.
 * Requests per second moved within the noise (+6 % in one run, −1 % in the other). A line then
 * waits up to 50 ms here and up to 50 ms in the file's batch; the 4 MB ring holds 50 ms of lines
 * up to ~300,000 requests per second, and past that lines wait on the API's thread (nothing lost).
 */
const POLL_MS = 50;
/** Empty polls (200 ms) before sleeping until written to. */
const IDLE_POLLS = 4;
/** Records per read between checks of the event loop's other work (messages, the file's timers). */
const READ_BATCH = 4096;

const port = parentPort;
if (!port) throw new Error("src/logs/thread/worker.ts runs as a worker thread");
const data = workerData as LogThreadData;
const ctl = new Int32Array(data.buffers.control);

const file = createRotatingFile({
  ...data.rotation,
  onError: (err) => port.postMessage({ type: "error", message: err.message } satisfies FromLogThread),
});
// Synchronous: this thread only writes, so a blocking write stalls nothing but itself (the ring
// then fills and the API's thread queues, as for a slow disk). An asynchronous destination kept
// a batch in flight on libuv's pool when the process exited: flushSync then wrote the later
// lines at once and the pool's write landed after them, out of order on stdout (seen with 500
// lines and a busy machine, test/log-thread.test.ts).
const stdout = data.stdout ? pino.destination({ dest: 1, sync: true }) : undefined;
/**
 * Lines are handed to the file (and stdout) in batches of up to 16 K characters (an eighth of the
 * rotation size when that is smaller): one size check and one append per batch rather than per
 * line. The file never passes its size limit (a batch that would goes to the next file, see
 * rotation.ts); it rotates at most a batch earlier than line by line.
 */
const BATCH_CHARS =
  data.rotation.maxSizeBytes > 0
    ? Math.min(16 * 1024, Math.floor(data.rotation.maxSizeBytes / 8))
    : 16 * 1024;
let batch = "";
function writeBatch(): void {
  if (batch === "") return;
  file.stream.write(batch);
  stdout?.write(batch);
  batch = "";
}
const lines = new RecordLines(
  (line) => {
    if (batch.length + line.length > BATCH_CHARS) writeBatch();
    batch += line;
  },
  createScrubber(data.secrets),
  (id) => port.postMessage({ type: "written", id } satisfies FromLogThread),
);
const reader = new RingReader(data.buffers);
let closed = false;

/** Everything in the ring now, into the file's queue (and stdout's). Returns records read. */
function drain(): number {
  let total = 0;
  for (;;) {
    const n = reader.read(lines, READ_BATCH);
    writeBatch();
    total += n;
    if (n < READ_BATCH) return total;
  }
}

function flushStdoutSync(): void {
  try {
    stdout?.flushSync();
  } catch {
    // stdout is gone or not writable now (a closed pipe): the file has the lines
  }
}

function answerSyncFlush(): void {
  const asked = Atomics.load(ctl, CTL_SYNC_REQUEST);
  if (asked === Atomics.load(ctl, CTL_SYNC_DONE)) return;
  drain();
  file.flushSync();
  flushStdoutSync();
  Atomics.store(ctl, CTL_SYNC_DONE, asked);
  Atomics.notify(ctl, CTL_SYNC_DONE);
}

/** Atomics.waitAsync (Node 16+; in the ES2024 library, newer than this project's TypeScript lib). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
      timeoutMs?: number,
    ): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

/**
 * POLL_MS, or less if the API's thread asks for a synchronous flush meanwhile (it exits and waits
 * for us in Atomics.wait: it should not wait a whole poll).
 */
async function pollPause(): Promise<void> {
  const asked = Atomics.load(ctl, CTL_SYNC_REQUEST);
  if (asked !== Atomics.load(ctl, CTL_SYNC_DONE)) return;
  const wait = waitAsync(ctl, CTL_SYNC_REQUEST, asked, POLL_MS);
  if (wait.async) await wait.value;
}

async function loop(): Promise<void> {
  let idle = 0;
  while (!closed) {
    answerSyncFlush();
    idle = drain() > 0 ? 0 : idle + 1;
    if (idle < IDLE_POLLS) {
      await pollPause();
      continue;
    }
    // Asleep until written to: say so first, then look again (a record written in between is
    // seen here, or its writer saw CTL_SLEEPING and will wake us).
    Atomics.store(ctl, CTL_SLEEPING, 1);
    const seen = Atomics.load(ctl, CTL_WRITE);
    if (!reader.empty || Atomics.load(ctl, CTL_SYNC_REQUEST) !== Atomics.load(ctl, CTL_SYNC_DONE)) {
      Atomics.store(ctl, CTL_SLEEPING, 0);
      continue;
    }
    const wait = waitAsync(ctl, CTL_WRITE, seen);
    if (wait.async) await wait.value;
    Atomics.store(ctl, CTL_SLEEPING, 0);
    idle = 0;
  }
}

port.on("message", (m: ToLogThread) => {
  if (m.type === "big") {
    lines.posted(m.id, m.line);
    drain();
    return;
  }
  drain();
  const done = () => port.postMessage({ type: "done", id: m.id } satisfies FromLogThread);
  if (m.type === "flush") {
    // A failed flush was told through onError already: answered either way.
    const answer = () => {
      flushStdoutSync();
      done();
    };
    void file.flush().then(answer, answer);
    return;
  }
  closed = true;
  // Wake the loop if it sleeps, so that it ends.
  Atomics.notify(ctl, CTL_WRITE);
  const answer = () => {
    flushStdoutSync();
    done();
  };
  void file.close().then(answer, answer);
});

void loop();
