import type { Registry } from "prom-client";
import { type Label, type Labels, labelsKey, METRIC_NAME } from "./labels.js";
import type { SeriesRef, SeriesStore } from "./store.js";

export const DEFAULT_SCRAPE_INTERVAL_MS = 5_000;

type TimerHandle = { unref?: () => unknown };

export interface SamplerOptions {
  registry: Registry;
  store: SeriesStore;
  /** Scrape interval. Default 5 s. */
  intervalMs?: number;
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  setInterval?: (fn: () => void, ms: number) => TimerHandle;
  clearInterval?: (handle: TimerHandle) => void;
  /** Called when a scrape fails (a collect function threw); never rethrown. */
  onError?: (err: unknown) => void;
  /** Run `store.gc(now)` after each scrape. Default true. */
  gc?: boolean;
}

/** What one scrape did. */
export interface ScrapeResult {
  ok: boolean;
  /** Samples stored. */
  appended: number;
  /** Samples the store refused (series limit, duplicate, out of order, invalid). */
  rejected: number;
  /** Staleness markers written for series that disappeared. */
  staleMarked: number;
}

/** Cumulative sampler figures, for the app to export. */
export interface SamplerStats {
  scrapesTotal: number;
  scrapeFailuresTotal: number;
  samplesRejectedTotal: number;
  lastScrapeDurationMs: number;
}

/**
 * Reads a prom-client registry into a SeriesStore every interval, as a Prometheus scrape
 * would: one sample per exposed value, and a staleness marker for each series that was in
 * the previous scrape but not in this one (or for all of them when the scrape fails).
 */
export class Sampler {
  readonly intervalMs: number;
  private readonly registry: Registry;
  private readonly store: SeriesStore;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => TimerHandle;
  private readonly clearTimer: (handle: TimerHandle) => void;
  private readonly onError: (err: unknown) => void;
  private readonly runGc: boolean;
  private timer: TimerHandle | undefined;
  private inFlight = false;
  /** Series of the previous scrape: key → ref. */
  private previous = new Map<string, SeriesRef>();
  private readonly figures: SamplerStats = {
    scrapesTotal: 0,
    scrapeFailuresTotal: 0,
    samplesRejectedTotal: 0,
    lastScrapeDurationMs: 0,
  };

  constructor(opts: SamplerOptions) {
    this.registry = opts.registry;
    this.store = opts.store;
    this.intervalMs = opts.intervalMs ?? DEFAULT_SCRAPE_INTERVAL_MS;
    this.now = opts.now ?? Date.now;
    this.setTimer = opts.setInterval ?? ((fn, ms) => setInterval(fn, ms));
    this.clearTimer = opts.clearInterval ?? ((h) => clearInterval(h as ReturnType<typeof setInterval>));
    this.onError = opts.onError ?? (() => {});
    this.runGc = opts.gc ?? true;
  }

  /** Starts scraping every interval; the timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = this.setTimer(() => {
      if (this.inFlight) return; // a slow collect must not pile scrapes up
      void this.scrapeOnce(Math.floor(this.now()));
    }, this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (!this.timer) return;
    this.clearTimer(this.timer);
    this.timer = undefined;
  }

  stats(): SamplerStats {
    return { ...this.figures };
  }

  /** Scrapes the registry once, stamping every sample with `nowMs`. Never rejects. */
  async scrapeOnce(nowMs: number): Promise<ScrapeResult> {
    this.inFlight = true;
    const started = this.now();
    const result: ScrapeResult = { ok: true, appended: 0, rejected: 0, staleMarked: 0 };
    const current = new Map<string, SeriesRef>();
    try {
      let families: Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;
      try {
        families = await this.registry.getMetricsAsJSON();
      } catch (err) {
        result.ok = false;
        this.figures.scrapeFailuresTotal++;
        this.onError(err);
        families = [];
      }
      for (const family of families) {
        for (const v of family.values) {
          const name = (v as { metricName?: string }).metricName ?? family.name;
          const labels = toLabels(name, v.labels);
          const key = labelsKey(labels);
          const ref = this.store.getOrCreate(labels, key);
          const r = typeof ref === "number" ? this.store.appendRef(ref, nowMs, v.value) : ref;
          if (r === "ok") result.appended++;
          else result.rejected++;
          if (typeof ref === "number") current.set(key, ref);
        }
      }
      for (const [key, ref] of this.previous) {
        if (current.has(key)) continue;
        if (this.store.appendStale(ref, nowMs) === "ok") result.staleMarked++;
      }
      this.previous = current;
      if (this.runGc) this.store.gc(nowMs);
    } finally {
      this.inFlight = false;
      this.figures.scrapesTotal++;
      this.figures.samplesRejectedTotal += result.rejected;
      this.figures.lastScrapeDurationMs = this.now() - started;
    }
    return result;
  }
}

/** Labels of one prom-client value; `le` and `quantile` are rendered as Prometheus clients do. */
function toLabels(name: string, raw: Readonly<Record<string, string | number | undefined>>): Labels {
  const out: Label[] = [{ name: METRIC_NAME, value: name }];
  for (const n in raw) {
    const r = raw[n];
    if (r === undefined) continue;
    const value = typeof r === "string" ? r : n === "le" || n === "quantile" ? formatFloat(r) : String(r);
    if (value !== "" && n !== METRIC_NAME) out.push({ name: n, value });
  }
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

/**
 * A float in the form of Go's `strconv.FormatFloat(v, 'f', -1, 64)` (shortest round-trip
 * digits, never an exponent), with Prometheus's `+Inf` / `-Inf` / `NaN`.
 */
export function formatFloat(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  if (Object.is(v, -0)) return "-0";
  const s = String(v);
  const e = s.indexOf("e");
  if (e < 0) return s;
  // JS switches to exponent form below 1e-6 and from 1e21; expand the shortest digits.
  const sign = s[0] === "-" ? "-" : "";
  const mantissa = s.slice(sign.length, e);
  const exp = Number(s.slice(e + 1));
  const dot = mantissa.indexOf(".");
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const pointAt = (dot < 0 ? mantissa.length : dot) + exp;
  if (pointAt <= 0) return `${sign}0.${"0".repeat(-pointAt)}${digits}`;
  if (pointAt >= digits.length) return `${sign}${digits}${"0".repeat(pointAt - digits.length)}`;
  return `${sign}${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
}
