/**
 * Password hashing: scrypt on libuv's thread pool (never on the event loop), through a gate that
 * lets at most `concurrency` hashes run at once. Without the gate a burst of logins or
 * registrations fills the pool (4 threads by default) with 50–200 ms jobs: every other pool user
 * (log file writes, statfs for the disk checks, DNS) queues behind them, and on a machine with
 * few cores the hashing threads take the CPU from the event loop. The default keeps one core and
 * one pool thread for everything else. A request whose client has gone leaves the queue unhashed.
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { availableParallelism } from "node:os";
import { TugError } from "../core/errors.js";

// scrypt cost: N=2^15 costs ~50 ms on one core of this machine class, the OWASP floor
// for interactive logins; memory 32 MiB per hash (r=8).
const N = 32768;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 64 * 1024 * 1024;

/** At most `concurrency` tasks at once; the rest wait in order, and leave when their signal aborts. */
export class HashGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(public concurrency: number) {}

  /** Hashes running and waiting right now. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(clientGone());
    if (this.running < this.concurrency) return this.start(task);
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

/** One core and one pool thread left free: 1 on a 2-core machine, at most pool size − 1. */
export function defaultHashConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(pool - 1, availableParallelism() - 1));
}

/** Process-wide, as libuv's pool is. */
export const hashGate = new HashGate(defaultHashConcurrency());

function derive(password: string, salt: Buffer, n: number, r: number, p: number, signal?: AbortSignal) {
  return hashGate.run(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        scrypt(password.normalize("NFKC"), salt, KEYLEN, { N: n, r, p, maxmem: MAXMEM }, (err, key) =>
          err ? reject(err) : resolve(key),
        );
      }),
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
  // Never with the caller's signal: an abandoned first request must not leave a rejected dummy.
  dummy ??= hashPassword("not-a-real-password");
  await verifyPassword(password, await dummy, signal);
}
