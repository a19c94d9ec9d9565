// Silences as Alertmanager 0.25 keeps them (silence/silence.go): a silence mutes every alert
// whose labels satisfy all its matchers while startsAt <= now < endsAt. Persisted in the
// notifier's SQLite file and cached in memory, since every notification consults them.
//
// Bounded (`notifications.limits`): at most maxSilences active or pending, maxMatchersPerSilence
// matchers of bounded size, createdBy and comment of SILENCE_TEXT_MAX_BYTES; expired silences
// are kept for Alertmanager's retention (5 days) but never more than maxSilences of them. The
// silences in effect are indexed by one of their equality matchers, so finding the silences of
// an alert does not test every silence. `epoch()` changes whenever the outcome could, and
// `changesSince()` says which silences came into or left effect, so that a status cached per
// alert is brought up to date by testing those few silences, not all of them again.

import { randomUUID } from "node:crypto";
import { systemClock } from "../../core/clock.js";
import {
  DEFAULT_NOTIFIER_LIMITS,
  type NotifierLimits,
  SILENCE_TEXT_MAX_BYTES,
  shortQuote,
  utf8Bytes,
} from "./limits.js";
import { newMatcher, validateSilenceRegex } from "./matchers.js";
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

/** A request the silence store refuses; `field` names what was wrong (429: a limit is reached). */
export class SilenceError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly status: 400 | 404 | 429 = 400,
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
  private readonly limits: NotifierLimits;
  /** Bumped on every change and whenever a silence starts or ends by time. */
  private version = 0;
  /** The version the index below was built for. */
  private indexed = -1;
  /** When the next pending silence starts or active one ends. */
  private nextTransition = Number.NEGATIVE_INFINITY;
  /** Silences in effect or pending, by `name\0value` of one non-empty `=` matcher. */
  private byEquality = new Map<string, Cached[]>();
  /** Silences in effect or pending without such a matcher: tested against every alert. */
  private unindexed: Cached[] = [];
  /** The silences in effect at the last refresh. */
  private active = new Set<string>();
  /** Silences coming into (`on`) or leaving effect, oldest first, each at its own version. */
  private changes: Array<{ version: number; id: string; on: boolean }> = [];
  /** changesSince(v) is complete for v >= this (older entries were dropped). */
  private logFrom = 0;

  constructor(
    private readonly db: StateDb,
    private readonly now: () => number = systemClock.now,
    limits?: NotifierLimits,
  ) {
    this.limits = limits ?? DEFAULT_NOTIFIER_LIMITS;
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
    this.checkSize(input);
    input.matchers.forEach((m, i) => {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(m.name))
        throw new SilenceError(
          `matchers[${i}].name: invalid label name ${JSON.stringify(m.name)}`,
          `matchers[${i}].name`,
        );
    });
    input.matchers.forEach((m, i) => {
      if (!m.isRegex) return;
      try {
        validateSilenceRegex(m.value);
      } catch (err) {
        throw new SilenceError(`matchers[${i}].value: ${(err as Error).message}`, `matchers[${i}].value`);
      }
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

  /** The size limits, checked before any regex is compiled; throws SilenceError. */
  private checkSize(input: SilenceInput): void {
    const l = this.limits;
    if (input.matchers.length > l.maxMatchersPerSilence)
      throw new SilenceError(
        `matchers: ${input.matchers.length} matchers, more than the ${l.maxMatchersPerSilence} allowed (notifications.limits.maxMatchersPerSilence)`,
        "matchers",
      );
    input.matchers.forEach((m, i) => {
      for (const part of ["name", "value"] as const) {
        const bytes = utf8Bytes(m[part]);
        if (bytes > l.maxLabelValueBytes)
          throw new SilenceError(
            `matchers[${i}].${part}: ${part === "name" ? `${shortQuote(m.name)} has ` : ""}${bytes} bytes, more than ${l.maxLabelValueBytes} (notifications.limits.maxLabelValueBytes)`,
            `matchers[${i}].${part}`,
          );
      }
    });
    for (const field of ["createdBy", "comment"] as const) {
      const bytes = utf8Bytes(input[field]);
      if (bytes > SILENCE_TEXT_MAX_BYTES)
        throw new SilenceError(`${field}: ${bytes} bytes, more than ${SILENCE_TEXT_MAX_BYTES}`, field);
    }
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
      // The replacement takes the place of the silence it expires: no room needed.
      this.expire(p.id);
    } else {
      const held = this.counts();
      if (held.active + held.pending >= this.limits.maxSilences)
        throw new SilenceError(
          `${held.active + held.pending} silences are active or pending, the most allowed (notifications.limits.maxSilences); expire one first`,
          "silences",
          429,
        );
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
    this.changed();
    if (s.endsAt <= this.now()) this.dropExcessExpired();
  }

  /** Keeps at most maxSilences expired silences: the ones that ended first go first. */
  private dropExcessExpired(): void {
    const now = this.now();
    const expired = [...this.cache.values()].filter((c) => silenceState(c.silence, now) === "expired");
    const excess = expired.length - this.limits.maxSilences;
    if (excess <= 0) return;
    expired.sort((a, b) => a.silence.endsAt - b.silence.endsAt);
    this.delete(expired.slice(0, excess).map((c) => c.silence.id));
  }

  private delete(ids: string[]): void {
    const stmt = this.db.prepare("DELETE FROM silences WHERE id = ?");
    this.db.transaction(() => {
      for (const id of ids) stmt.run(id);
    })();
    for (const id of ids) this.cache.delete(id);
    this.changed();
  }

  private changed(): void {
    this.version++;
    this.nextTransition = Number.NEGATIVE_INFINITY;
  }

  /** Changes whenever the set of silences in effect may have changed (by a write or by time). */
  epoch(): number {
    this.refresh(this.now());
    return this.version;
  }

  /**
   * After a write or when a silence started or ended by time: notes which silences came into or
   * left effect, and rebuilds the index.
   */
  private refresh(now: number): void {
    if (now >= this.nextTransition) {
      this.version++;
      let next = Number.POSITIVE_INFINITY;
      const active = new Set<string>();
      for (const { silence: s } of this.cache.values()) {
        if (s.startsAt > now && s.startsAt < next) next = s.startsAt;
        if (s.endsAt > now && s.endsAt < next) next = s.endsAt;
        if (silenceState(s, now) === "active") active.add(s.id);
      }
      this.nextTransition = next;
      for (const id of this.active) if (!active.has(id)) this.logChange(id, false);
      for (const id of active) if (!this.active.has(id)) this.logChange(id, true);
      this.active = active;
    }
    if (this.indexed === this.version) return;
    const byEquality = new Map<string, Cached[]>();
    const unindexed: Cached[] = [];
    for (const c of this.cache.values()) {
      if (silenceState(c.silence, now) === "expired") continue;
      const eq = c.compiled.find((m) => m.type === "=" && m.value !== "");
      if (!eq) {
        unindexed.push(c);
        continue;
      }
      const key = `${eq.name}\u0000${eq.value}`;
      const list = byEquality.get(key);
      if (list) list.push(c);
      else byEquality.set(key, [c]);
    }
    this.byEquality = byEquality;
    this.unindexed = unindexed;
    this.indexed = this.version;
  }

  private logChange(id: string, on: boolean): void {
    this.changes.push({ version: ++this.version, id, on });
    if (this.changes.length > 1024) {
      const dropped = this.changes.splice(0, 512);
      this.logFrom = (dropped[dropped.length - 1] as { version: number }).version;
    }
  }

  /**
   * The silences that came into (`on`) or left effect after `epoch()` returned `version`, oldest
   * first; undefined when that is too long ago to know.
   */
  changesSince(version: number): ReadonlyArray<{ id: string; on: boolean }> | undefined {
    if (version < this.logFrom) return undefined;
    let i = this.changes.length;
    while (i > 0 && (this.changes[i - 1] as { version: number }).version > version) i--;
    return this.changes.slice(i);
  }

  /** Whether silence `id` is in effect now and mutes these labels. */
  mutes(id: string, labels: Record<string, string>): boolean {
    const c = this.cache.get(id);
    if (!c || silenceState(c.silence, this.now()) !== "active") return false;
    return c.compiled.every((m) => m.matches(labels[m.name] ?? ""));
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

  /**
   * IDs of the active silences that mute these labels. Only the silences indexed under one of
   * the alert's own label pairs, and those without an equality matcher, are tested.
   */
  mutedBy(labels: Record<string, string>): string[] {
    const now = this.now();
    this.refresh(now);
    const ids: string[] = [];
    const test = ({ silence, compiled }: Cached): void => {
      if (silenceState(silence, now) !== "active") return;
      if (compiled.every((m) => m.matches(labels[m.name] ?? ""))) ids.push(silence.id);
    };
    for (const [name, value] of Object.entries(labels)) {
      for (const c of this.byEquality.get(`${name}\u0000${value}`) ?? []) test(c);
    }
    for (const c of this.unindexed) test(c);
    return ids.sort();
  }

  /** Drops silences expired longer than the retention (Alertmanager's --data.retention, 5 days). */
  gc(): number {
    const cutoff = this.now() - SILENCE_RETENTION_MS;
    const ids = [...this.cache.values()].filter((c) => c.silence.endsAt < cutoff).map((c) => c.silence.id);
    if (ids.length > 0) this.delete(ids);
    return ids.length;
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
