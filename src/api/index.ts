import { randomUUID } from "node:crypto";
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { TugError } from "../core/errors.js";
import type { Database } from "./db/index.js";
import { DbError } from "./db/index.js";
import {
  burnPasswordCheck,
  HASH_QUEUE_PER_THREAD,
  HashQueueFull,
  hashGate,
  hashPassword,
  verifyPassword,
} from "./passwords.js";
import { dbFailure, type SessionStore } from "./sessions.js";
import { AccountThrottle } from "./throttle.js";
import { parseInput, queryInt, uuidParam } from "./validation.js";

export { openDatabase } from "./db/index.js";
export { DatabaseSessionStore, RedisSessionStore, type SessionStore } from "./sessions.js";

/** What the API reports about users; the monitoring's user-activity monitor fits it. */
export interface ActivityTracker {
  trackUserRegistration(userId: string, method?: string): void;
  trackUserLogin(userId: string | null, outcome?: string): void;
  trackFeatureUsage(userId: string | null, feature: string): void;
  touch(userId: string | null | undefined): void;
  /** A login refused with 429 by the per-account or the per-address limit. */
  trackLoginThrottled?(reason: "account" | "address" | "busy"): void;
}

/** `api.loginThrottle` of the configuration. */
export interface LoginThrottleOptions {
  /** Failed logins per account within windowMs before further attempts get 429. */
  perAccount: number;
  /** Login attempts per client address within windowMs before further attempts get 429. */
  perAddress: number;
  windowMs: number;
}

/** The schema's defaults, used when the caller passes no `loginThrottle`. */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  perAccount: 10,
  perAddress: 100,
  windowMs: 900_000,
};

/** Accounts whose failures are remembered at once (~0.5 KB each). */
const THROTTLED_ACCOUNTS_MAX = 10_000;

export interface ApiOptions {
  db: Database;
  sessions: SessionStore;
  sessionTtlSeconds: number;
  passwordMinLength: number;
  tracker?: ActivityTracker;
  now?: () => number;
  /** Login throttling (`api.loginThrottle`); the schema's defaults when absent. */
  loginThrottle?: LoginThrottleOptions;
  /** Password hashes computed at once, process-wide (default: one core left free). */
  hashConcurrency?: number;
}

interface UserRow {
  id: string;
  email: string;
  name: string | null;
  password_hash: string;
  created_at: number;
  updated_at: number;
}

interface ActivityRow {
  id: string;
  user_id: string;
  type: string;
  title: string;
  description: string | null;
  duration_minutes: number | null;
  occurred_at: number;
  created_at: number;
  updated_at: number;
}

const iso = (ms: number) => new Date(Number(ms)).toISOString();

const userView = (u: Pick<UserRow, "id" | "email" | "name" | "created_at">) => ({
  id: u.id,
  email: u.email,
  name: u.name,
  createdAt: iso(u.created_at),
});

const activityView = (a: ActivityRow) => ({
  id: a.id,
  type: a.type,
  title: a.title,
  description: a.description,
  durationMinutes: a.duration_minutes,
  occurredAt: iso(a.occurred_at),
  createdAt: iso(a.created_at),
  updatedAt: iso(a.updated_at),
});

const email = z
  .string({ error: "is required and must be a string" })
  .trim()
  .toLowerCase()
  .max(254, "must be at most 254 characters")
  .pipe(z.email({ error: "must be an email address" }));

const activityFields = {
  type: z
    .string({ error: "is required and must be a string" })
    .trim()
    .min(1, "must not be empty")
    .max(50, "must be at most 50 characters")
    .regex(/^[a-z0-9_-]+$/i, "may hold letters, digits, _ and - only"),
  title: z
    .string({ error: "is required and must be a string" })
    .trim()
    .min(1, "must not be empty")
    .max(200, "must be at most 200 characters"),
  description: z
    .string({ error: "must be a string" })
    .max(2000, "must be at most 2000 characters")
    .nullable(),
  durationMinutes: z
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(0, "must be 0 or more")
    .max(100_000, "must be at most 100000")
    .nullable(),
  occurredAt: z.iso.datetime({
    offset: true,
    error: "must be an ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z",
  }),
};

const createActivity = z.strictObject({
  type: activityFields.type,
  title: activityFields.title,
  description: activityFields.description.optional(),
  durationMinutes: activityFields.durationMinutes.optional(),
  occurredAt: activityFields.occurredAt.optional(),
});

const updateActivity = z
  .strictObject({
    type: activityFields.type.optional(),
    title: activityFields.title.optional(),
    description: activityFields.description.optional(),
    durationMinutes: activityFields.durationMinutes.optional(),
    occurredAt: activityFields.occurredAt.optional(),
  })
  .refine((v) => Object.keys(v).length > 0, { message: "must change at least one field", path: [] });

const listQuery = z.object({
  limit: queryInt({ min: 1, max: 100 }).default(20),
  offset: queryInt({ min: 0 }).default(0),
});

const idParam = z.object({ id: uuidParam("must be an activity id (a UUID)") });

/** Aborts when the client hangs up before its response is complete: queued work is dropped. */
function untilClientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}

/** A full password-check queue is answered 429 with Retry-After; any other error as it is. */
function busy(reply: FastifyReply, err: unknown): unknown {
  if (err instanceof HashQueueFull) reply.header("retry-after", String(err.retryAfterSeconds));
  return err;
}

/** The TUG API: accounts, sessions and per-user activities under /api/v1. */
export async function apiPlugin(app: FastifyInstance, opts: ApiOptions): Promise<void> {
  const { db, sessions, tracker } = opts;
  const now = opts.now ?? Date.now;
  const throttle = opts.loginThrottle ?? DEFAULT_LOGIN_THROTTLE;
  if (opts.hashConcurrency !== undefined) {
    hashGate.concurrency = Math.max(1, opts.hashConcurrency);
    hashGate.maxWaiting = HASH_QUEUE_PER_THREAD * hashGate.concurrency;
  }
  const accounts = new AccountThrottle({
    limit: throttle.perAccount,
    windowMs: throttle.windowMs,
    maxKeys: THROTTLED_ACCOUNTS_MAX,
    now,
  });
  // Per client address: @fastify/rate-limit on the login route only (its store is a bounded LRU).
  await app.register(rateLimit, {
    global: false,
    cache: THROTTLED_ACCOUNTS_MAX,
    onExceeded: () => tracker?.trackLoginThrottled?.("address"),
    errorResponseBuilder: (_req, ctx) =>
      new TugError(
        "LOGIN_THROTTLED",
        `Too many login attempts from this address; retry in ${Math.max(1, Math.ceil(ctx.ttl / 1000))} s`,
      ),
  });

  /** A query on behalf of `req`: its slow-query line carries the request id. */
  const q = async <T>(req: FastifyRequest, sql: string, params: unknown[] = []) => {
    try {
      return await db.query<T>(sql, params, req.log);
    } catch (err) {
      return dbFailure(err);
    }
  };

  const authenticate = async (req: FastifyRequest): Promise<{ userId: string; token: string }> => {
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+([A-Za-z0-9_-]{20,200})\s*$/.exec(header) : null;
    if (!m?.[1]) {
      throw new TugError(
        "UNAUTHENTICATED",
        "Send Authorization: Bearer <token> from POST /api/v1/auth/login",
      );
    }
    let session: Awaited<ReturnType<SessionStore["get"]>>;
    try {
      session = await sessions.get(m[1], req.log);
    } catch (err) {
      return dbFailure(err);
    }
    if (!session) throw new TugError("UNAUTHENTICATED", "The token is not valid; log in again");
    if (session.expiresAt <= now()) throw new TugError("SESSION_EXPIRED");
    tracker?.touch(session.userId);
    return { userId: session.userId, token: m[1] };
  };

  const minLen = opts.passwordMinLength;
  const registerBody = z.strictObject({
    email,
    password: z
      .string({ error: "is required and must be a string" })
      .min(minLen, `must be at least ${minLen} characters`)
      .max(256, "must be at most 256 characters"),
    name: z.string({ error: "must be a string" }).trim().min(1, "must not be empty").max(100).optional(),
  });
  const loginBody = z.strictObject({
    email,
    password: z.string({ error: "is required and must be a string" }).min(1, "must not be empty").max(256),
  });

  app.post("/api/v1/auth/register", async (req, reply) => {
    const body = parseInput(registerBody, req.body);
    const id = randomUUID();
    const t = now();
    let hash: string;
    try {
      hash = await hashPassword(body.password, untilClientGone(reply));
    } catch (err) {
      throw busy(reply, err);
    }
    try {
      await db.query(
        "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        [id, body.email, body.name ?? null, hash, t, t],
        req.log,
      );
    } catch (err) {
      if (err instanceof DbError && err.kind === "unique_violation") {
        throw new TugError("EMAIL_TAKEN", "An account with this email exists already; log in instead", [
          { field: "email", message: "is already registered" },
        ]);
      }
      return dbFailure(err);
    }
    tracker?.trackUserRegistration(id, "email");
    reply.code(201);
    return { user: userView({ id, email: body.email, name: body.name ?? null, created_at: t }) };
  });

  const loginRoute = {
    config: { rateLimit: { max: throttle.perAddress, timeWindow: throttle.windowMs } },
  };
  app.post("/api/v1/auth/login", loginRoute, async (req, reply) => {
    const body = parseInput(loginBody, req.body);
    const attempt = accounts.attempt(body.email);
    if ("retryAfterSeconds" in attempt) {
      tracker?.trackLoginThrottled?.("account");
      reply.header("retry-after", String(attempt.retryAfterSeconds));
      throw new TugError(
        "LOGIN_THROTTLED",
        `Too many failed logins for this account; retry in ${attempt.retryAfterSeconds} s`,
      );
    }
    let user: UserRow | undefined;
    let ok = false;
    try {
      const { rows } = await q<UserRow>(req, "SELECT * FROM users WHERE email = $1", [body.email]);
      user = rows[0];
      const signal = untilClientGone(reply);
      if (user) ok = await verifyPassword(body.password, user.password_hash, signal);
      else await burnPasswordCheck(body.password, signal);
    } catch (err) {
      attempt.abandoned();
      if (err instanceof HashQueueFull) tracker?.trackLoginThrottled?.("busy");
      throw busy(reply, err);
    }
    if (!user || !ok) {
      attempt.failed();
      tracker?.trackUserLogin(null, "failure");
      throw new TugError("INVALID_CREDENTIALS");
    }
    attempt.succeeded();
    let created: { token: string; expiresAt: number };
    try {
      created = await sessions.create(user.id, opts.sessionTtlSeconds, req.log);
    } catch (err) {
      return dbFailure(err);
    }
    tracker?.trackUserLogin(user.id, "success");
    return {
      token: created.token,
      tokenType: "Bearer",
      expiresAt: iso(created.expiresAt),
      user: userView(user),
    };
  });

  app.post("/api/v1/auth/logout", async (req, reply) => {
    const { token } = await authenticate(req);
    try {
      await sessions.revoke(token, req.log);
    } catch (err) {
      return dbFailure(err);
    }
    reply.code(204);
  });

  app.get("/api/v1/users/me", async (req) => {
    const { userId } = await authenticate(req);
    const { rows } = await q<UserRow>(req, "SELECT id, email, name, created_at FROM users WHERE id = $1", [
      userId,
    ]);
    const user = rows[0];
    if (!user) throw new TugError("UNAUTHENTICATED", "The account of this session no longer exists");
    return { user: userView(user) };
  });

  /** The activity if it exists: 404 when it does not, 403 when it is someone else's. */
  const ownActivity = async (req: FastifyRequest, userId: string): Promise<ActivityRow> => {
    const { id } = parseInput(idParam, req.params, "path");
    const { rows } = await q<ActivityRow>(req, "SELECT * FROM activities WHERE id = $1", [id]);
    const row = rows[0];
    if (!row) throw new TugError("NOT_FOUND", `Activity ${id} does not exist`);
    if (row.user_id !== userId) throw new TugError("FORBIDDEN", `Activity ${id} belongs to another user`);
    return row;
  };

  app.post("/api/v1/activities", async (req, reply) => {
    const { userId } = await authenticate(req);
    const body = parseInput(createActivity, req.body);
    const t = now();
    const row: ActivityRow = {
      id: randomUUID(),
      user_id: userId,
      type: body.type,
      title: body.title,
      description: body.description ?? null,
      duration_minutes: body.durationMinutes ?? null,
      occurred_at: body.occurredAt ? Date.parse(body.occurredAt) : t,
      created_at: t,
      updated_at: t,
    };
    await q(
      req,
      `INSERT INTO activities (id, user_id, type, title, description, duration_minutes, occurred_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        row.id,
        row.user_id,
        row.type,
        row.title,
        row.description,
        row.duration_minutes,
        row.occurred_at,
        row.created_at,
        row.updated_at,
      ],
    );
    tracker?.trackFeatureUsage(userId, "activity_creation");
    reply.code(201).header("location", `/api/v1/activities/${row.id}`);
    return { activity: activityView(row) };
  });

  app.get("/api/v1/activities", async (req) => {
    const { userId } = await authenticate(req);
    const { limit, offset } = parseInput(listQuery, req.query, "query");
    const [{ rows }, count] = await Promise.all([
      q<ActivityRow>(
        req,
        "SELECT * FROM activities WHERE user_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2 OFFSET $3",
        [userId, limit, offset],
      ),
      q<{ n: number | string }>(req, "SELECT COUNT(*) AS n FROM activities WHERE user_id = $1", [userId]),
    ]);
    const total = Number(count.rows[0]?.n ?? 0);
    tracker?.trackFeatureUsage(userId, "activity_list");
    return {
      items: rows.map(activityView),
      pagination: {
        limit,
        offset,
        total,
        nextOffset: offset + rows.length < total ? offset + rows.length : null,
      },
    };
  });

  app.get("/api/v1/activities/:id", async (req) => {
    const { userId } = await authenticate(req);
    return { activity: activityView(await ownActivity(req, userId)) };
  });

  app.patch("/api/v1/activities/:id", async (req) => {
    const { userId } = await authenticate(req);
    const row = await ownActivity(req, userId);
    const body = parseInput(updateActivity, req.body);
    const next: ActivityRow = {
      ...row,
      type: body.type ?? row.type,
      title: body.title ?? row.title,
      description: body.description === undefined ? row.description : body.description,
      duration_minutes: body.durationMinutes === undefined ? row.duration_minutes : body.durationMinutes,
      occurred_at: body.occurredAt ? Date.parse(body.occurredAt) : row.occurred_at,
      updated_at: now(),
    };
    await q(
      req,
      `UPDATE activities SET type = $1, title = $2, description = $3, duration_minutes = $4, occurred_at = $5, updated_at = $6
       WHERE id = $7 AND user_id = $8`,
      [
        next.type,
        next.title,
        next.description,
        next.duration_minutes,
        next.occurred_at,
        next.updated_at,
        next.id,
        userId,
      ],
    );
    tracker?.trackFeatureUsage(userId, "activity_update");
    return { activity: activityView(next) };
  });

  app.delete("/api/v1/activities/:id", async (req, reply) => {
    const { userId } = await authenticate(req);
    const row = await ownActivity(req, userId);
    await q(req, "DELETE FROM activities WHERE id = $1 AND user_id = $2", [row.id, userId]);
    tracker?.trackFeatureUsage(userId, "activity_deletion");
    reply.code(204);
  });
}
