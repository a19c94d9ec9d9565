// The two things the monitor does over HTTP besides querying metrics: probing the health URL,
// and asking the CI/CD system to roll back.
//
// The rollback request is signed like the notifier's webhooks (src/alerts/channels/webhook.ts:
// X-TUG-Timestamp, X-TUG-Signature = sha256=HMAC(secret, "<timestamp>.<body>")), carries an
// Idempotency-Key that is the same on every retry and after a restart (so the receiver rolls back
// once), and is retried with exponential backoff while the receiver fails (network error, 408,
// 429, 5xx) until `retryForMs` has passed; any other status is final.

import { postJson, signatureHeaders, statusResult } from "../alerts/channels/index.js";
import { systemTimers, type Timers } from "../core/clock.js";
import type { HealthResult, RollbackRecord } from "./store.js";

export const USER_AGENT = "TUG-DeploymentMonitor/1.0";

/**
 * GET the health URL: a failure is a non-2xx, a health+json `fail`, a timeout or a network error.
 * `token` is sent as a Bearer token (/monitoring/health needs one outside development).
 */
export async function probeHealth(
  url: string,
  timeoutMs: number,
  f: typeof fetch = fetch,
  token?: string,
): Promise<HealthResult> {
  const t0 = performance.now();
  const took = () => Math.round(performance.now() - t0);
  try {
    const res = await f(url, {
      headers: {
        accept: "application/health+json, application/json;q=0.9, */*;q=0.1",
        "user-agent": USER_AGENT,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let status: unknown;
    try {
      status = (JSON.parse(text) as { status?: unknown }).status;
    } catch {
      status = undefined; // not JSON: the HTTP status alone decides
    }
    const said = typeof status === "string" ? ` ${status}` : "";
    if (res.status < 200 || res.status > 299)
      return { ok: false, reason: `HTTP ${res.status}${said}`, status: res.status, durationMs: took() };
    if (status === "fail")
      return {
        ok: false,
        reason: `HTTP ${res.status} but status fail`,
        status: res.status,
        durationMs: took(),
      };
    return { ok: true, reason: `HTTP ${res.status}${said}`, status: res.status, durationMs: took() };
  } catch (err) {
    return { ok: false, reason: fetchFailure(err, timeoutMs), durationMs: took() };
  }
}

/** "timeout after 5 s", "connection refused (ECONNREFUSED)", "host not found (ENOTFOUND)"... */
export function fetchFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && err.name === "TimeoutError") return `timeout after ${timeoutMs / 1000} s`;
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const code = cause?.code;
  const words: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ENOTFOUND: "host not found",
    ECONNRESET: "connection reset",
    EHOSTUNREACH: "host unreachable",
  };
  if (typeof code === "string") return `${words[code] ?? "network error"} (${code})`;
  // fetch's own refusals (a port it will not use, a malformed address) carry only a message.
  if (typeof cause?.message === "string") return `network error: ${cause.message}`;
  return `network error: ${err instanceof Error ? err.message : String(err)}`;
}

/** A health result that means nothing answered at all (as opposed to an unhealthy answer). */
export const unreachable = (h: HealthResult) => h.status === undefined;

export interface RollbackBody {
  deploymentId: string;
  version: string;
  environment: string;
  reason: string;
  values: Record<string, unknown>;
  requestedAt: string;
}

export interface RollbackOptions {
  url: string;
  secret?: string;
  timeoutMs?: number;
  retryForMs: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
  timers?: Pick<Timers, "setTimeout" | "clearTimeout">;
  /** Told after each attempt (the monitor persists the record). */
  onAttempt?: (r: RollbackRecord) => void;
  /** Stops retrying (the process is stopping: the next start resumes with the same key). */
  signal?: AbortSignal;
}

/** Sends the rollback request until it is accepted, refused, or `retryForMs` has passed. */
export async function requestRollback(
  body: RollbackBody,
  record: RollbackRecord,
  o: RollbackOptions,
): Promise<RollbackRecord> {
  const now = o.now ?? Date.now;
  const timers = o.timers ?? systemTimers;
  const json = `${JSON.stringify(body)}\n`;
  const started = record.requestedAt ?? now();
  let r: RollbackRecord = { ...record, status: "pending", requestedAt: started };
  let backoff = o.initialBackoffMs ?? 1000;
  for (;;) {
    if (o.signal?.aborted) return r;
    const res = await postJson(
      "rollback",
      o.url,
      json,
      {
        "User-Agent": USER_AGENT,
        "Idempotency-Key": r.idempotencyKey ?? `${body.deploymentId}:rollback`,
        ...signatureHeaders(json, o.secret, now()),
      },
      o.signal ?? new AbortController().signal,
      o.timeoutMs ?? 10_000,
    );
    const result = res.kind === "failed" ? res.result : statusResult("rollback", o.url, res);
    const lastStatus = res.kind === "response" ? res.status : undefined;
    r = {
      ...r,
      attempts: r.attempts + 1,
      ...(lastStatus !== undefined ? { lastStatus } : {}),
      ...(result.ok ? {} : { lastError: result.error }),
    };
    if (result.ok) r = { ...r, status: "succeeded", finishedAt: now() };
    else if (!result.retryable || now() + backoff - started > o.retryForMs)
      r = { ...r, status: "failed", finishedAt: now() };
    o.onAttempt?.(r);
    if (r.status !== "pending") return r;
    await sleep(backoff, timers, o.signal);
    backoff = Math.min(backoff * 2, o.maxBackoffMs ?? 30_000);
  }
}

function sleep(ms: number, timers: Pick<Timers, "setTimeout" | "clearTimeout">, signal?: AbortSignal) {
  return new Promise<void>((resolve) => {
    const h = timers.setTimeout(() => {
      signal?.removeEventListener("abort", done);
      resolve();
    }, ms);
    const done = () => {
      timers.clearTimeout(h);
      resolve();
    };
    signal?.addEventListener("abort", done, { once: true });
  });
}
