// Alerts as Alertmanager 0.25 holds them (types.Alert, provider/mem): identified by label
// fingerprint, merged when a new report overlaps the one held, resolved once endsAt passes.
// Unlike Alertmanager's, an alert is also checked against the notifier's size limits, and the
// store counts what each source (API clients, the rule engine) holds, so that the notifier can
// refuse new alerts beyond `maxAlerts` per source.

import type { PostableAlert } from "../wire.js";
import { fingerprint } from "./fingerprint.js";
import { DEFAULT_NOTIFIER_LIMITS, type NotifierLimits, shortQuote, utf8Bytes } from "./limits.js";

export type { PostableAlert };

export interface StoredAlert {
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: number;
  /** 0 only in notification copies of firing alerts (Go's zero time). */
  endsAt: number;
  generatorURL: string;
  updatedAt: number;
  /** endsAt was not given by the client but set from resolve_timeout. */
  timeout: boolean;
}

/** Go's `!EndsAt.IsZero() && !EndsAt.After(t)`. */
export function resolvedAt(a: StoredAlert, t: number): boolean {
  return a.endsAt !== 0 && a.endsAt <= t;
}

/** Who sent an alert: a client of POST /api/v2/alerts, or the embedded rule engine. */
export type AlertSource = "api" | "rules";

/**
 * Why an alert was refused: `invalid` (Alertmanager's own validation), `too_large` (a size
 * limit of one alert), `request_too_large` (maxAlertsPerRequest), `store_full` (maxAlerts).
 */
export type RefusalReason = "invalid" | "too_large" | "request_too_large" | "store_full";

/** A rejected alert; `field` names what was wrong. */
export class AlertInputError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly reason: RefusalReason = "invalid",
  ) {
    super(message);
    this.name = "AlertInputError";
  }
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseTime(v: string | undefined, field: string): number {
  if (v === undefined || v === "" || v.startsWith("0001-01-01")) return 0;
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new AlertInputError(`${field}: invalid RFC 3339 time ${JSON.stringify(v)}`, field);
  return t;
}

/** The size limits of one alert (labels, annotations, generatorURL); throws AlertInputError. */
function checkSize(input: PostableAlert, where: string, limits: NotifierLimits): void {
  const tooLarge = (field: string, what: string, limit: string) =>
    new AlertInputError(`${field}: ${what}, more than ${limit}`, field, "too_large");
  const nameMax = limits.maxLabelValueBytes;
  const labels = Object.entries(input.labels ?? {});
  if (labels.length > limits.maxLabelsPerAlert)
    throw tooLarge(
      `${where}.labels`,
      `${labels.length} labels`,
      `the ${limits.maxLabelsPerAlert} allowed (notifications.limits.maxLabelsPerAlert)`,
    );
  for (const [k, v] of labels) {
    if (utf8Bytes(k) > nameMax)
      throw tooLarge(
        `${where}.labels`,
        `label name ${shortQuote(k)} has ${utf8Bytes(k)} bytes`,
        `${nameMax} (notifications.limits.maxLabelValueBytes)`,
      );
    if (typeof v === "string" && utf8Bytes(v) > nameMax)
      throw tooLarge(
        `${where}.labels.${k}`,
        `value has ${utf8Bytes(v)} bytes`,
        `${nameMax} (notifications.limits.maxLabelValueBytes)`,
      );
  }
  const annotations = Object.entries(input.annotations ?? {});
  if (annotations.length > limits.maxLabelsPerAlert)
    throw tooLarge(
      `${where}.annotations`,
      `${annotations.length} annotations`,
      `the ${limits.maxLabelsPerAlert} allowed (notifications.limits.maxLabelsPerAlert)`,
    );
  for (const [k, v] of annotations) {
    if (utf8Bytes(k) > nameMax)
      throw tooLarge(
        `${where}.annotations`,
        `annotation name ${shortQuote(k)} has ${utf8Bytes(k)} bytes`,
        `${nameMax} (notifications.limits.maxLabelValueBytes)`,
      );
    if (typeof v === "string" && utf8Bytes(v) > limits.maxAnnotationBytes)
      throw tooLarge(
        `${where}.annotations.${k}`,
        `value has ${utf8Bytes(v)} bytes`,
        `${limits.maxAnnotationBytes} (notifications.limits.maxAnnotationBytes)`,
      );
  }
  const url = input.generatorURL ?? "";
  if (utf8Bytes(url) > limits.maxAnnotationBytes)
    throw tooLarge(
      `${where}.generatorURL`,
      `${utf8Bytes(url)} bytes`,
      `${limits.maxAnnotationBytes} (notifications.limits.maxAnnotationBytes)`,
    );
}

/**
 * Alertmanager's API v2 postAlerts normalisation and validation: a missing startsAt becomes
 * now (or endsAt), a missing endsAt becomes now + resolve_timeout and marks the alert as
 * timing out; label names must be valid and an alert needs at least one label. The size limits
 * (`notifications.limits`) are checked first, so nothing larger is ever parsed further.
 */
export function normalizeAlert(
  input: PostableAlert,
  index: number,
  nowMs: number,
  resolveTimeoutMs: number,
  limits: NotifierLimits = DEFAULT_NOTIFIER_LIMITS,
): StoredAlert {
  const where = `alerts[${index}]`;
  checkSize(input, where, limits);
  const labels = input.labels ?? {};
  if (Object.keys(labels).length === 0)
    throw new AlertInputError(`${where}.labels: at least one label pair required`, `${where}.labels`);
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL_NAME.test(k))
      throw new AlertInputError(
        `${where}.labels: invalid label name ${JSON.stringify(k)}`,
        `${where}.labels`,
      );
    if (typeof v !== "string" || v === "")
      throw new AlertInputError(
        `${where}.labels.${k}: value must be a non-empty string`,
        `${where}.labels.${k}`,
      );
  }
  let startsAt = parseTime(input.startsAt, `${where}.startsAt`);
  let endsAt = parseTime(input.endsAt, `${where}.endsAt`);
  let timeout = false;
  if (startsAt === 0) startsAt = endsAt === 0 ? nowMs : endsAt;
  if (endsAt === 0) {
    timeout = true;
    endsAt = nowMs + resolveTimeoutMs;
  }
  if (endsAt < startsAt)
    throw new AlertInputError(`${where}.endsAt: start time must be before end time`, `${where}.endsAt`);
  return {
    fingerprint: fingerprint(labels),
    labels: { ...labels },
    annotations: { ...(input.annotations ?? {}) },
    startsAt,
    endsAt,
    generatorURL: input.generatorURL ?? "",
    updatedAt: nowMs,
    timeout,
  };
}

/** types.Alert.Merge: the younger report wins, keeping the earliest start and the right end. */
export function mergeAlerts(a: StoredAlert, o: StoredAlert, nowMs: number): StoredAlert {
  if (o.updatedAt < a.updatedAt) return mergeAlerts(o, a, nowMs);
  const res = { ...o };
  if (a.startsAt < o.startsAt) res.startsAt = a.startsAt;
  if (resolvedAt(o, nowMs)) {
    if (resolvedAt(a, nowMs) && a.endsAt > o.endsAt) res.endsAt = a.endsAt;
  } else if (a.endsAt > o.endsAt && !a.timeout) {
    res.endsAt = a.endsAt;
  }
  return res;
}

/**
 * The alert store (provider/mem): merges overlapping reports of the same alert. Iteration is in
 * order of first arrival (a Map keeps it), which the listing pages through. Each alert counts
 * against the source that first sent it.
 */
export class AlertStore {
  private readonly alerts = new Map<string, StoredAlert>();
  private readonly origin = new Map<string, AlertSource>();
  private readonly counts: Record<AlertSource, number> = { api: 0, rules: 0 };

  put(alert: StoredAlert, nowMs: number, source: AlertSource = "rules"): StoredAlert {
    const old = this.alerts.get(alert.fingerprint);
    let next = alert;
    if (
      old &&
      ((alert.endsAt > old.startsAt && alert.endsAt < old.endsAt) ||
        (alert.startsAt > old.startsAt && alert.startsAt < old.endsAt))
    ) {
      next = mergeAlerts(old, alert, nowMs);
    }
    if (!old) {
      this.origin.set(next.fingerprint, source);
      this.counts[source]++;
    }
    this.alerts.set(next.fingerprint, next);
    return next;
  }

  get(fp: string): StoredAlert | undefined {
    return this.alerts.get(fp);
  }

  has(fp: string): boolean {
    return this.alerts.has(fp);
  }

  /** Alerts held that this source sent first. */
  count(source: AlertSource): number {
    return this.counts[source];
  }

  list(): StoredAlert[] {
    return [...this.alerts.values()];
  }

  /** Every alert held, in order of first arrival, without copying. */
  values(): IterableIterator<StoredAlert> {
    return this.alerts.values();
  }

  /** Drops resolved alerts (Alertmanager's periodic alert GC). */
  gc(nowMs: number): StoredAlert[] {
    const dropped: StoredAlert[] = [];
    for (const [fp, a] of this.alerts) {
      if (resolvedAt(a, nowMs)) {
        this.alerts.delete(fp);
        const source = this.origin.get(fp);
        if (source) this.counts[source]--;
        this.origin.delete(fp);
        dropped.push(a);
      }
    }
    return dropped;
  }

  get size(): number {
    return this.alerts.size;
  }
}

/** Go's `%q` for the label values in group keys (printable Unicode kept as is). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (c === 7) out += "\\a";
    else if (c === 8) out += "\\b";
    else if (c === 12) out += "\\f";
    else if (c === 11) out += "\\v";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** model.LabelSet.String(): `{a="1", b="2"}`, names sorted. */
export function labelSetString(labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  return `{${names.map((n) => `${n}=${goQuote(labels[n] as string)}`).join(", ")}}`;
}

/** model.LabelSet.Before. */
function labelSetBefore(a: Record<string, string>, b: Record<string, string>): boolean {
  const an = Object.keys(a);
  const bn = Object.keys(b);
  if (an.length !== bn.length) return an.length < bn.length;
  for (const ln of [...an, ...bn].sort()) {
    const x = a[ln];
    if (x === undefined) return true;
    const y = b[ln];
    if (y === undefined) return false;
    if (x < y) return true;
    if (x > y) return false;
  }
  return false;
}

/** types.AlertSlice's order: by `job`, then `instance`, then the whole label set. */
export function compareAlerts(a: StoredAlert, b: StoredAlert): number {
  for (const key of ["job", "instance"]) {
    const x = a.labels[key];
    const y = b.labels[key];
    if (x === undefined && y === undefined) continue;
    if (x === undefined) return 1;
    if (y === undefined) return -1;
    if (x !== y) return x < y ? -1 : 1;
  }
  if (labelSetBefore(a.labels, b.labels)) return -1;
  if (labelSetBefore(b.labels, a.labels)) return 1;
  return 0;
}

/** Go's time.Time JSON (RFC 3339 with trailing fractional zeros dropped); 0 is the zero time. */
export function goTime(ms: number): string {
  if (ms === 0) return "0001-01-01T00:00:00Z";
  return new Date(ms)
    .toISOString()
    .replace(/\.?0+Z$/, "Z")
    .replace(/\.Z$/, "Z");
}

/** Go's regexp.QuoteMeta: Alertmanager puts the receiver name into notifications this way. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}
