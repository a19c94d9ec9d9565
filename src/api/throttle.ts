/**
 * Failed logins per account (keyed by the normalised email), in a bounded in-memory store: a
 * guesser gets `limit` wrong passwords per window for one account, then 429 until the window
 * ends, whatever address it comes from (the per-address limit is @fastify/rate-limit's). Attempts
 * still being checked count against the limit, so 50 concurrent guesses cannot all get through
 * before the first failure is recorded. A successful login clears the account's failures.
 *
 * Memory is bounded: at most `maxKeys` accounts are tracked; the least recently used one is
 * forgotten first (an attacker spraying many emails is the per-address limit's business).
 */

interface Entry {
  failures: number;
  /** Attempts admitted and not yet settled. */
  pending: number;
  windowEndsAt: number;
}

export interface Attempt {
  /** The password was right: the account's failures are forgotten. */
  succeeded(): void;
  /** The password was wrong (or the email unknown): one failure more. */
  failed(): void;
  /** Neither (the check did not finish): the attempt is given back. */
  abandoned(): void;
}

export class AccountThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly opts: { limit: number; windowMs: number; maxKeys: number; now: () => number },
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Admit one login attempt for `key`, or say how many seconds to wait. */
  attempt(key: string): Attempt | { retryAfterSeconds: number } {
    const now = this.opts.now();
    let e = this.entries.get(key);
    if (e && now >= e.windowEndsAt) {
      e.failures = 0;
      e.windowEndsAt = now + this.opts.windowMs;
    }
    if (e && e.failures + e.pending >= this.opts.limit) {
      return { retryAfterSeconds: Math.max(1, Math.ceil((e.windowEndsAt - now) / 1000)) };
    }
    if (!e) {
      e = { failures: 0, pending: 0, windowEndsAt: now + this.opts.windowMs };
    }
    // Most recently used last: eviction takes the first key.
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.opts.maxKeys) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    e.pending++;
    const entry = e;
    let settled = false;
    const settle = (outcome: "succeeded" | "failed" | "abandoned") => {
      if (settled) return;
      settled = true;
      entry.pending--;
      if (outcome === "failed") entry.failures++;
      if (outcome === "succeeded") entry.failures = 0;
      if (entry.failures === 0 && entry.pending === 0 && this.entries.get(key) === entry) {
        this.entries.delete(key);
      }
    };
    return {
      succeeded: () => settle("succeeded"),
      failed: () => settle("failed"),
      abandoned: () => settle("abandoned"),
    };
  }
}
