import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { systemClock } from "../core/clock.js";
import { TugError } from "../core/errors.js";
import { type Database, DbError, type QueryLogger } from "./db/index.js";

export interface Session {
  userId: string;
  expiresAt: number;
}

/** Where login sessions live: the database, or Redis when REDIS_URL is set. */
export interface SessionStore {
  readonly kind: "database" | "redis";
  /** Returns the bearer token; only its SHA-256 is stored. */
  create(
    userId: string,
    ttlSeconds: number,
    log?: QueryLogger,
  ): Promise<{ token: string; expiresAt: number }>;
  get(token: string, log?: QueryLogger): Promise<Session | null>;
  revoke(token: string, log?: QueryLogger): Promise<void>;
}

export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export class DatabaseSessionStore implements SessionStore {
  readonly kind = "database" as const;
  private lastSweep = 0;

  constructor(
    private readonly db: Database,
    private readonly now: () => number = systemClock.now,
  ) {}

  async create(userId: string, ttlSeconds: number, log?: QueryLogger) {
    const token = newToken();
    const t = this.now();
    const expiresAt = t + ttlSeconds * 1000;
    await this.db.query(
      "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
      [tokenHash(token), userId, t, expiresAt],
      log,
    );
    // Expired rows are swept at most once a minute, piggybacking on logins.
    if (t - this.lastSweep > 60_000) {
      this.lastSweep = t;
      await this.db.query("DELETE FROM sessions WHERE expires_at < $1", [t], log);
    }
    return { token, expiresAt };
  }

  async get(token: string, log?: QueryLogger): Promise<Session | null> {
    const { rows } = await this.db.query<{ user_id: string; expires_at: number }>(
      "SELECT user_id, expires_at FROM sessions WHERE token_hash = $1",
      [tokenHash(token)],
      log,
    );
    const row = rows[0];
    return row ? { userId: row.user_id, expiresAt: Number(row.expires_at) } : null;
  }

  async revoke(token: string, log?: QueryLogger): Promise<void> {
    await this.db.query("DELETE FROM sessions WHERE token_hash = $1", [tokenHash(token)], log);
  }
}

/** Sessions in Redis: one key per token hash, expiring with the session. */
export class RedisSessionStore implements SessionStore {
  readonly kind = "redis" as const;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly now: () => number = systemClock.now,
  ) {}

  private key(token: string) {
    return `${this.prefix}session:${tokenHash(token)}`;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new TugError(
        "DATABASE_UNAVAILABLE",
        "The session store (Redis) is unavailable; retry later",
        undefined,
        {
          cause: err,
        },
      );
    }
  }

  async create(userId: string, ttlSeconds: number) {
    const token = newToken();
    const expiresAt = this.now() + ttlSeconds * 1000;
    await this.call(() =>
      this.redis.set(this.key(token), JSON.stringify({ userId, expiresAt }), "PX", ttlSeconds * 1000),
    );
    return { token, expiresAt };
  }

  async get(token: string): Promise<Session | null> {
    const raw = await this.call(() => this.redis.get(this.key(token)));
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return { userId: s.userId, expiresAt: Number(s.expiresAt) };
  }

  async revoke(token: string): Promise<void> {
    await this.call(() => this.redis.del(this.key(token)));
  }
}

/** Map database failures to the catalog: unavailable → 503; everything else stays as is. */
export function dbFailure(err: unknown): never {
  if (err instanceof DbError && err.kind === "unavailable") {
    throw new TugError("DATABASE_UNAVAILABLE", undefined, undefined, { cause: err });
  }
  throw err;
}
