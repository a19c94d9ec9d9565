// Silences as Alertmanager 0.25 keeps them (silence/silence.go): a silence mutes every alert
// whose labels satisfy all its matchers while startsAt <= now < endsAt. Persisted in the
// notifier's SQLite file and cached in memory, since every notification consults them.

import { randomUUID } from "node:crypto";
import { newMatcher } from "./matchers.js";
import type { StateDb } from "./state.js";
import type { Matcher } from "./types.js";

export interface SilenceMatcher {
  name: string;
  value: string;
  isRegex: boolean;
  /** false for `!=` / `!~`. Default true. */
  isEqual: boolean;
}

export type SilenceState = "pending" | "active" | "expired";

export interface Silence {
  id: string;
  matchers: SilenceMatcher[];
  startsAt: number;
  endsAt: number;
  updatedAt: number;
  createdBy: string;
  comment: string;
}

/** A silence in the shape of Alertmanager's API v2 (`gettableSilence`). */
export interface ApiSilence {
  id: string;
  status: { state: SilenceState };
  updatedAt: string;
  matchers: SilenceMatcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

export interface SilenceInput {
  id?: string;
  matchers: SilenceMatcher[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
}

/** A request the silence store refuses; `field` names what was wrong. */
export class SilenceError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly status: 400 | 404 = 400,
  ) {
    super(message);
    this.name = "SilenceError";
  }
}

/** Expired silences are kept this long (Alertmanager's default --data.retention). */
export const SILENCE_RETENTION_MS = 120 * 3_600_000;

interface Cached {
  silence: Silence;
  compiled: Matcher[];
}

function compile(ms: SilenceMatcher[]): Matcher[] {
  return ms.map((m, i) => {
    const type = m.isRegex ? (m.isEqual ? "=~" : "!~") : m.isEqual ? "=" : "!=";
    try {
      return newMatcher(m.name, type, m.value);
    } catch (err) {
      throw new SilenceError(`matchers[${i}].value: ${(err as Error).message}`, `matchers[${i}].value`);
    }
  });
}

export function silenceState(s: Silence, now: number): SilenceState {
  if (s.startsAt > now) return "pending";
  if (s.endsAt <= now) return "expired";
  return "active";
}

export class Silences {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly db: StateDb,
    private readonly now: () => number = Date.now,
  ) {
    const rows = db.prepare("SELECT * FROM silences").all() as Array<Record<string, unknown>>;
    for (const r of rows) {
      const silence: Silence = {
        id: String(r.id),
        matchers: JSON.parse(String(r.matchers)) as SilenceMatcher[],
        startsAt: Number(r.starts_at),
        endsAt: Number(r.ends_at),
        updatedAt: Number(r.updated_at),
        createdBy: String(r.created_by),
        comment: String(r.comment),
      };
      try {
        this.cache.set(silence.id, { silence, compiled: compile(silence.matchers) });
      } catch {
        // A row that no longer compiles (edited by hand) must not stop the notifier.
      }
    }
  }

  /** Alertmanager's validation (silence.validateSilence) plus ours; throws SilenceError. */
  private validate(input: SilenceInput): Matcher[] {
    if (input.matchers.length === 0) throw new SilenceError("at least one matcher required", "matchers");
    input.matchers.forEach((m, i) => {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(m.name))
        throw new SilenceError(
          `matchers[${i}].name: invalid label name ${JSON.stringify(m.name)}`,
          `matchers[${i}].name`,
        );
    });
    const compiled = compile(input.matchers);
    if (compiled.every((m) => m.matches("")))
      throw new SilenceError("at least one matcher must not match the empty string", "matchers");
    if (!(input.endsAt > input.startsAt)) throw new SilenceError("endsAt must be after startsAt", "endsAt");
    if (input.endsAt <= this.now()) throw new SilenceError("endsAt can't be in the past", "endsAt");
    if (input.createdBy.trim() === "") throw new SilenceError("createdBy is required", "createdBy");
    if (input.comment.trim() === "") throw new SilenceError("comment is required", "comment");
    return compiled;
  }

  /**
   * Creates a silence, or updates one when `id` names an existing unexpired silence. As in
   * Alertmanager, an update that changes the matchers or moves the start of an active silence
   * expires the old one and creates a new one, so history stays truthful.
   */
  set(input: SilenceInput): string {
    const compiled = this.validate(input);
    const now = this.now();
    const previous = input.id === undefined ? undefined : this.cache.get(input.id);
    if (input.id !== undefined && previous === undefined)
      throw new SilenceError(`silence ${input.id} not found`, "id", 404);
    if (previous && silenceState(previous.silence, now) !== "expired") {
      const p = previous.silence;
      const sameMatchers = JSON.stringify(p.matchers) === JSON.stringify(input.matchers);
      const canUpdate = sameMatchers && (silenceState(p, now) === "pending" || input.startsAt === p.startsAt);
      if (canUpdate) {
        const updated = { ...p, ...input, id: p.id, updatedAt: now };
        this.write(updated, compiled);
        return p.id;
      }
      this.expire(p.id);
    }
    const silence: Silence = {
      id: randomUUID(),
      matchers: input.matchers,
      startsAt: Math.max(input.startsAt, now),
      endsAt: input.endsAt,
      updatedAt: now,
      createdBy: input.createdBy,
      comment: input.comment,
    };
    this.write(silence, compiled);
    return silence.id;
  }

  private write(s: Silence, compiled: Matcher[]): void {
    this.db
      .prepare(
        `INSERT INTO silences (id, matchers, starts_at, ends_at, updated_at, created_by, comment)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET matchers = excluded.matchers, starts_at = excluded.starts_at,
           ends_at = excluded.ends_at, updated_at = excluded.updated_at,
           created_by = excluded.created_by, comment = excluded.comment`,
      )
      .run(s.id, JSON.stringify(s.matchers), s.startsAt, s.endsAt, s.updatedAt, s.createdBy, s.comment);
    this.cache.set(s.id, { silence: s, compiled });
  }

  /** Ends a silence now (a pending one never starts); throws when unknown or already expired. */
  expire(id: string): void {
    const c = this.cache.get(id);
    if (!c) throw new SilenceError(`silence ${id} not found`, "id", 404);
    const now = this.now();
    const state = silenceState(c.silence, now);
    if (state === "expired") throw new SilenceError(`silence ${id} already expired`, "id");
    const s = { ...c.silence, updatedAt: now, endsAt: now };
    if (state === "pending") s.startsAt = now;
    this.write(s, c.compiled);
  }

  get(id: string): ApiSilence | undefined {
    const c = this.cache.get(id);
    return c ? this.toApi(c.silence, this.now()) : undefined;
  }

  /** Alertmanager's order: active first, then pending, then expired. */
  list(): ApiSilence[] {
    const now = this.now();
    const rank: Record<SilenceState, number> = { active: 0, pending: 1, expired: 2 };
    return [...this.cache.values()]
      .map((c) => this.toApi(c.silence, now))
      .sort((a, b) => rank[a.status.state] - rank[b.status.state] || (a.endsAt < b.endsAt ? -1 : 1));
  }

  /** IDs of the active silences that mute these labels. */
  mutedBy(labels: Record<string, string>): string[] {
    const now = this.now();
    const ids: string[] = [];
    for (const { silence, compiled } of this.cache.values()) {
      if (silenceState(silence, now) !== "active") continue;
      if (compiled.every((m) => m.matches(labels[m.name] ?? ""))) ids.push(silence.id);
    }
    return ids.sort();
  }

  /** Drops silences expired longer than the retention. */
  gc(): number {
    const cutoff = this.now() - SILENCE_RETENTION_MS;
    let n = 0;
    for (const [id, c] of this.cache) {
      if (c.silence.endsAt < cutoff) {
        this.cache.delete(id);
        this.db.prepare("DELETE FROM silences WHERE id = ?").run(id);
        n++;
      }
    }
    return n;
  }

  counts(): Record<SilenceState, number> {
    const now = this.now();
    const out: Record<SilenceState, number> = { active: 0, pending: 0, expired: 0 };
    for (const c of this.cache.values()) out[silenceState(c.silence, now)]++;
    return out;
  }

  private toApi(s: Silence, now: number): ApiSilence {
    return {
      id: s.id,
      status: { state: silenceState(s, now) },
      updatedAt: new Date(s.updatedAt).toISOString(),
      matchers: s.matchers,
      startsAt: new Date(s.startsAt).toISOString(),
      endsAt: new Date(s.endsAt).toISOString(),
      createdBy: s.createdBy,
      comment: s.comment,
    };
  }
}
