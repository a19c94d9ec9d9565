// Alertmanager 0.25's time intervals (timeinterval/timeinterval.go): parsing one entry of a
// `time_intervals:` list and deciding whether an instant falls inside, in the entry's zone.

import type { TimeIntervalSpec } from "./types.js";

type Range = { begin: number; end: number };

const WEEKDAYS: Record<string, number> = {
  sunday: 0,
  monday: 1,
  tuesday: 2,
  wednesday: 3,
  thursday: 4,
  friday: 5,
  saturday: 6,
};

const MONTHS: Record<string, number> = {
  january: 1,
  february: 2,
  march: 3,
  april: 4,
  may: 5,
  june: 6,
  july: 7,
  august: 8,
  september: 9,
  october: 10,
  november: 11,
  december: 12,
};

const KEYS = new Set(["times", "weekdays", "days_of_month", "months", "years", "location"]);

// Alertmanager's validTime: HH:MM from 00:00 to 23:59, or exactly 24:00.
const TIME_RE = /^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)/;

// An entry whose list is present but empty never matches in Alertmanager (a non-nil empty Go
// slice); these impossible ranges keep that meaning in the flat TimeIntervalSpec shape.
const NEVER_TIME = { startMinute: 0, endMinute: 0 };
const NEVER_RANGE: Range = { begin: 1, end: 0 };

class IntervalError extends Error {}

function fail(where: string, message: string): never {
  throw new IntervalError(`${where}: ${message}`);
}

/** yaml.v2 decodes any scalar into a Go string field; maps and lists are type errors. */
function scalarString(v: unknown, where: string): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v === null || v === undefined) return "";
  return fail(where, `expected a string, got ${Array.isArray(v) ? "a list" : "a mapping"}`);
}

function list(v: unknown, where: string): unknown[] | undefined {
  if (v === null || v === undefined) return undefined;
  if (!Array.isArray(v)) fail(where, "expected a list");
  return v;
}

/** Go's strconv.Atoi: optional sign, ASCII digits, nothing else. */
function atoi(s: string, where: string): number {
  if (!/^[+-]?[0-9]+$/.test(s)) fail(where, `strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  return Number.parseInt(s, 10);
}

/** Alertmanager's stringableRangeFromString: `a` or `a:b`, lower-cased, members mapped by `member`. */
function parseRange(raw: string, member: (s: string) => number, where: string): Range {
  const s = raw.toLowerCase();
  if (!s.includes(":")) {
    const v = member(s);
    return { begin: v, end: v };
  }
  const parts = s.split(":");
  if (parts.length !== 2) fail(where, `couldn't parse range ${s}, invalid format`);
  return { begin: member(parts[0] as string), end: member(parts[1] as string) };
}

function parseMinutes(s: string, where: string): number {
  if (!TIME_RE.test(s)) fail(where, `couldn't parse timestamp ${s}, invalid format`);
  const [h, m] = s.split(":").map(Number) as [number, number];
  return h * 60 + m;
}

function parseTimes(v: unknown, where: string): TimeIntervalSpec["times"] {
  const items = list(v, where) ?? [];
  if (items.length === 0) return v === null || v === undefined ? [] : [NEVER_TIME];
  return items.map((item, i) => {
    const at = `${where}[${i}]`;
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      return fail(at, "expected a mapping with start_time and end_time");
    }
    const rec = item as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      if (k !== "start_time" && k !== "end_time") fail(at, `field ${k} not found in a time range`);
    }
    const start = scalarString(rec.start_time, `${at}.start_time`);
    const end = scalarString(rec.end_time, `${at}.end_time`);
    if (start === "" || end === "") fail(at, "both start and end times must be provided");
    const startMinute = parseMinutes(start, `${at}.start_time`);
    const endMinute = parseMinutes(end, `${at}.end_time`);
    if (startMinute >= endMinute) fail(at, "start time cannot be equal or greater than end time");
    return { startMinute, endMinute };
  });
}

/** Parses each entry of a range list with `one`; an empty (non-null) list never matches. */
function parseRanges(v: unknown, where: string, one: (s: string, at: string) => Range): Range[] {
  const items = list(v, where);
  if (items === undefined) return [];
  if (items.length === 0) return [NEVER_RANGE];
  return items.map((item, i) => one(scalarString(item, `${where}[${i}]`), `${where}[${i}]`));
}

function weekdayRange(s: string, at: string): Range {
  const r = parseRange(
    s,
    (name) => {
      const d = WEEKDAYS[name];
      return d ?? fail(at, `${name} is not a valid weekday`);
    },
    at,
  );
  if (r.begin > r.end) fail(at, "start day cannot be before end day");
  return r;
}

function dayOfMonthRange(s: string, at: string): Range {
  const r = parseRange(s, (n) => atoi(n, at), at);
  const outOfRange = (d: number) => d === 0 || d < -31 || d > 31;
  if (outOfRange(r.begin)) fail(at, `${r.begin} is not a valid day of the month: out of range`);
  if (outOfRange(r.end)) fail(at, `${r.end} is not a valid day of the month: out of range`);
  if (r.begin < 0 && r.end > 0) fail(at, "end day must be negative if start day is negative");
  // With negative days the order depends on the month; Alertmanager rejects only ranges that are
  // backwards even in a 28-day month.
  const checkBegin = r.begin < 0 ? 28 + r.begin : r.begin;
  const checkEnd = r.end < 0 ? 28 + r.end : r.end;
  if (checkBegin > checkEnd) fail(at, `end day ${r.end} is always before start day ${r.begin}`);
  return r;
}

function monthRange(s: string, at: string): Range {
  // Numbers are not range-checked (Alertmanager 0.25 accepts "13", which then never matches).
  const r = parseRange(s, (name) => MONTHS[name] ?? atoiMonth(name, at), at);
  if (r.begin > r.end) fail(at, `end month ${r.end} is before start month ${r.begin}`);
  return r;
}

function atoiMonth(s: string, at: string): number {
  if (!/^[+-]?[0-9]+$/.test(s)) fail(at, `${s} is not a valid month`);
  return Number.parseInt(s, 10);
}

function yearRange(s: string, at: string): Range {
  const r = parseRange(s, (n) => atoi(n, at), at);
  if (r.begin > r.end) fail(at, `end year ${r.end} is before start year ${r.begin}`);
  return r;
}

function parseLocation(v: unknown, where: string): string {
  const name = scalarString(v, where);
  // Go's time.LoadLocation: "" and "UTC" are UTC, "Local" is the machine's zone.
  if (name === "" || name === "UTC") return "UTC";
  if (name === "Local") return "Local";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
  } catch {
    fail(where, `unknown time zone ${name}`);
  }
  return name;
}

/**
 * One entry of a named time interval, as Alertmanager's TimeInterval.UnmarshalYAML reads it.
 * `raw` is the entry as plain data (a YAML mapping); `where` prefixes error messages.
 * Throws an Error naming the field and the problem.
 */
export function parseTimeInterval(raw: unknown, where: string): TimeIntervalSpec {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) fail(where, "expected a mapping");
  const rec = raw as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    if (!KEYS.has(k)) fail(where, `field ${k} not found in a time interval`);
  }
  return {
    times: parseTimes(rec.times, `${where}.times`),
    weekdays: parseRanges(rec.weekdays, `${where}.weekdays`, weekdayRange),
    daysOfMonth: parseRanges(rec.days_of_month, `${where}.days_of_month`, dayOfMonthRange),
    months: parseRanges(rec.months, `${where}.months`, monthRange),
    years: parseRanges(rec.years, `${where}.years`, yearRange),
    location: parseLocation(rec.location, `${where}.location`),
  };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

interface WallClock {
  year: number;
  month: number; // 1-12
  day: number;
  weekday: number; // 0 = Sunday
  minuteOfDay: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(location: string): Intl.DateTimeFormat {
  let f = formatters.get(location);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: location === "Local" ? undefined : location,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      weekday: "short",
      era: "short",
    });
    formatters.set(location, f);
  }
  return f;
}

const SHORT_WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

function wallClock(epochMs: number, location: string): WallClock {
  const parts: Record<string, string> = {};
  for (const p of formatter(location).formatToParts(new Date(epochMs))) parts[p.type] = p.value;
  const yearOfEra = Number(parts.year);
  return {
    year: parts.era === "BC" ? 1 - yearOfEra : yearOfEra,
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: SHORT_WEEKDAYS[parts.weekday ?? ""] ?? 0,
    minuteOfDay: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

/** The zone's UTC offset (ms) at an instant. */
function offsetAt(epochMs: number, location: string): number {
  const parts: Record<string, string> = {};
  for (const p of formatter(location).formatToParts(new Date(epochMs))) parts[p.type] = p.value;
  const yearOfEra = Number(parts.year);
  const year = parts.era === "BC" ? 1 - yearOfEra : yearOfEra;
  const asUtc = Date.UTC(
    year,
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return asUtc - Math.floor(epochMs / 1000) * 1000;
}

/** The instant of local midnight on the first of a month (the month may be 13: next January). */
function monthStart(year: number, month: number, location: string): number {
  const naive = Date.UTC(year, month - 1, 1);
  let t = naive - offsetAt(naive, location);
  t = naive - offsetAt(t, location); // second pass settles offsets that change near midnight
  return t;
}

/**
 * Alertmanager's daysInMonth divides the elapsed hours by 24 and truncates, so in a zone where
 * clocks spring forward that month has one day fewer (March in Europe/Berlin: 743 h → 30 days),
 * which moves "-1" (the last day) to the 30th. Kept for parity.
 */
function daysInMonth(year: number, month: number, location: string): number {
  const hours = (monthStart(year, month + 1, location) - monthStart(year, month, location)) / 3_600_000;
  return Math.trunc(hours / 24);
}

function inRanges(v: number, ranges: Range[]): boolean {
  return ranges.some((r) => v >= r.begin && v <= r.end);
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(Math.max(n, min), max);
}

function dayOfMonthMatches(c: WallClock, ranges: Range[], location: string): boolean {
  const days = daysInMonth(c.year, c.month, location);
  return ranges.some((r) => {
    const begin = r.begin < 0 ? days + r.begin + 1 : r.begin;
    const end = r.end < 0 ? days + r.end + 1 : r.end;
    if (begin > days) return false; // e.g. day 31 in a 30-day month
    return c.day >= clamp(begin, -days, days) && c.day <= clamp(end, -days, days);
  });
}

/** TimeInterval.ContainsTime: every part that is present must match. */
function specContains(spec: TimeIntervalSpec, epochMs: number): boolean {
  const c = wallClock(epochMs, spec.location);
  if (spec.times.length > 0) {
    const inTimes = spec.times.some((t) => c.minuteOfDay >= t.startMinute && c.minuteOfDay < t.endMinute);
    if (!inTimes) return false;
  }
  if (spec.daysOfMonth.length > 0 && !dayOfMonthMatches(c, spec.daysOfMonth, spec.location)) return false;
  if (spec.months.length > 0 && !inRanges(c.month, spec.months)) return false;
  if (spec.weekdays.length > 0 && !inRanges(c.weekday, spec.weekdays)) return false;
  if (spec.years.length > 0 && !inRanges(c.year, spec.years)) return false;
  return true;
}

/** Whether `at` falls in any entry of a named time interval (Alertmanager's interval semantics). */
export function intervalContains(specs: readonly TimeIntervalSpec[], at: Date): boolean {
  const t = at.getTime();
  return specs.some((s) => specContains(s, t));
}
