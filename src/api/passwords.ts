/**
 * Password hashing: scrypt in hashing threads of lower CPU priority than the API's
 * (hash-workers.ts; never on the event loop nor on libuv's pool), through a gate that lets at
 * most `concurrency` hashes run at once and at most `maxWaiting` wait. Without the gate a burst
 * of logins or registrations would take every core for 50–200 ms jobs; the default keeps one
 * core for everything else. A request whose client has gone leaves the queue unhashed; one that
 * finds the queue full is refused at once (HashQueueFull, 429) rather than waiting seconds.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { availableParallelism } from "node:os";
import { TugError } from "../core/errors.js";
import { HashWorkers } from "./hash-workers.js";

// scrypt cost: N=2^15 costs ~50 ms on one core of this machine class, the OWASP floor
// for interactive logins; memory 32 MiB per hash (r=8).
const N = 32768;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 64 * 1024 * 1024;

/** The gate's queue is full: the request is refused (429) instead of waiting. */
export class HashQueueFull extends TugError {
  /** Seconds after which a retry may find room (a queue drains in well under a second per hash). */
  readonly retryAfterSeconds = 1;
  constructor(waiting: number) {
    super("LIMIT_EXCEEDED", `Too many password checks are waiting (${waiting}); retry in 1 s`, [
      { field: "password", message: `cannot be checked now: ${waiting} checks are waiting already` },
    ]);
  }
}

/**
 * At most `concurrency` tasks at once and `maxWaiting` waiting; the rest are refused with
 * HashQueueFull. Waiting tasks start in order, and leave when their signal aborts.
 */
export class HashGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    public concurrency: number,
    public maxWaiting = Number.POSITIVE_INFINITY,
  ) {}

  /** Hashes running and waiting right now. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(clientGone());
    if (this.running < this.concurrency) return this.start(task);
    if (this.waiting.length >= this.maxWaiting) return Promise.reject(new HashQueueFull(this.waiting.length));
    return new Promise<T>((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener("abort", onAbort);
        this.start(task).then(resolve, reject);
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(go);
        if (i !== -1) this.waiting.splice(i, 1);
        reject(clientGone());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(go);
    });
  }

  private start<T>(task: () => Promise<T>): Promise<T> {
    this.running++;
    return task().finally(() => {
      this.running--;
      this.waiting.shift()?.();
    });
  }
}

const clientGone = () =>
  new TugError("BAD_REQUEST", "The client closed the connection before the password was checked");

/** One core left free: 1 on a 2-core machine. */
export function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * Hashes waiting for a hashing thread at most, per hash running at once: 16 × ~50 ms is under a
 * second of queue on an idle core. The login throttle admits at most `perAccount` guesses per
 * account at once, so only a flood over many accounts or addresses fills it.
 */
export const HASH_QUEUE_PER_THREAD = 16;

/** Process-wide: one set of hashing threads for every app of the process. */
export const hashGate = new HashGate(
  defaultHashConcurrency(),
  HASH_QUEUE_PER_THREAD * defaultHashConcurrency(),
);
export const hashWorkers = new HashWorkers();

function derive(password: string, salt: Buffer, n: number, r: number, p: number, signal?: AbortSignal) {
  return hashGate.run(
    () => hashWorkers.scrypt(password.normalize("NFKC"), salt, { n, r, p, keylen: KEYLEN, maxmem: MAXMEM }),
    signal,
  );
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64url. */
export async function hashPassword(password: string, signal?: AbortSignal): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P, signal);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

/** Constant-time check of `password` against a stored hash. */
export async function verifyPassword(
  password: string,
  stored: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const key = await derive(password, Buffer.from(salt, "base64url"), Number(n), Number(r), Number(p), signal);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

let dummy: Promise<string> | undefined;

/** Spend the time a real check would, so an unknown email cannot be told from a wrong password. */
export async function burnPasswordCheck(password: string, signal?: AbortSignal): Promise<void> {
  // Never with the caller's signal: an abandoned first request must not leave a rejected dummy;
  // and one refused by a full queue (HashQueueFull) is forgotten, so the next request makes it.
  dummy ??= hashPassword("not-a-real-password").catch((err: unknown) => {
    dummy = undefined;
    throw err;
  });
  await verifyPassword(password, await dummy, signal);
}
