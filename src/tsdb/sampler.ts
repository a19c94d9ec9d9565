// The scrape half that must stay on the API's thread: prom-client's registry lives there, so it is
// read there, every interval, into one compact batch for the monitoring engine (a worker thread,
// src/engine/). Everything else a scrape did — appending to the store, staleness markers for the
// series that vanished, retention — happens where the store is (src/engine/host.ts).
//
// The batch is cheap to build and to post: two typed arrays (series ref, value) whose buffers are
// transferred, not copied, and label sets only for series the engine has not seen yet. A series'
// ref is interned by a key built from the registry's own label object, so an unchanged series
// costs one Map lookup per scrape and is sent as a number.

import type { Registry } from "prom-client";
import { systemClock, systemTimers, type TimerHandle, type Timers } from "../core/clock.js";
import { type Label, METRIC_NAME } from "./labels.js";

export const DEFAULT_SCRAPE_INTERVAL_MS = 5_000;

/** One scrape of the registry, as posted to the engine. */
export interface ScrapeBatch {
  /** The scrape's timestamp, ms since the epoch (every sample is stamped with it). */
  timeMs: number;
  /** false: the registry could not be read; the engine marks every series of the last scrape stale. */
  ok: boolean;
  /** Forget every ref defined before this batch (a new engine, or the sampler started over). */
  reset: boolean;
  /** Series first seen in this batch: ref and labels as flat name, value pairs sorted by name. */
  defs: Array<{ ref: number; labels: string[] }>;
  /** Refs the sampler no longer uses (series gone for a while); their number may not come back. */
  forget: number[];
  /** This scrape's series and values, index for index. */
  refs: Int32Array;
  values: Float64Array;
  /**
   * What was scraped; refs and staleness markers are per source (the app's sampler leaves it
   * out: DEFAULT_SOURCE). A series missing from a source's scrape is marked stale only there.
   */
  source?: string;
}

/** The source of the app's own sampler. */
export const DEFAULT_SOURCE = "self";

/** What one scrape did to the store (known only where the store is). */
export interface ScrapeResult {
  ok: boolean;
  /** Samples stored. */
  appended: number;
  /** Samples the store refused (series limit, duplicate, out of order, invalid). */
  rejected: number;
  /** Staleness markers written for series that disappeared. */
  staleMarked: number;
}

/** Where batches go: the engine (in a worker, or in process for tests and injected clocks). */
export interface ScrapeSink {
  /**
   * Takes one batch built for `generation`; a sink whose generation has moved on (its engine
   * restarted) drops it. Returns the store's result when the store is in this thread.
   */
  ingest(batch: ScrapeBatch, generation: number): ScrapeResult | undefined;
  /** Changes whenever the engine loses what it knew about refs (a restarted worker). */
  generation(): number;
}

export interface SamplerOptions {
  registry: Registry;
  sink: ScrapeSink;
  /** Scrape interval. Default 5 s. */
  intervalMs?: number;
  /** Clock in ms since the epoch. Default the system clock. */
  now?: () => number;
  /** The scrape interval's timer (unref'd). Default the system timers. */
  timers?: Timers;
  /** Called when a scrape fails (a collect function threw); never rethrown. */
  onError?: (err: unknown) => void;
  /** A ref unseen for this many scrapes is forgotten. Default 60. */
  forgetAfterScrapes?: number;
  /**
   * The scrape target's `job` and `instance`: with them, each scrape also writes the series
   * Prometheus writes for a target — `up` (1, or 0 when the registry could not be read),
   * `scrape_duration_seconds` and `scrape_samples_scraped` — so that `up`, `up == 0` and
   * `absent(up)` mean in embedded mode what they mean in the stack.
   */
  target?: () => { job: string; instance: string } | undefined;
}

/** What one scrape sent. */
export interface SamplerScrape {
  ok: boolean;
  /** Series in the batch. */
  series: number;
  /** Of which sent with their labels (first seen). */
  defined: number;
  /** The store's result, when the engine runs in this thread. */
  result: ScrapeResult | undefined;
}

/** Cumulative sampler figures (the main thread's side of scraping). */
export interface SamplerStats {
  scrapesTotal: number;
  scrapeFailuresTotal: number;
  /** Main-thread time of the last scrape: collecting the registry and building the batch. */
  lastScrapeDurationMs: number;
  /** When the last scrape ran (its samples' timestamp) and whether it read the registry. */
  lastScrapeAtMs: number | undefined;
  lastScrapeOk: boolean | undefined;
}

interface Interned {
  ref: number;
  /** Scrape number of the last scrape that had the series. */
  seen: number;
}

/**
 * Reads a prom-client registry every interval, as a Prometheus scrape would (one sample per
 * exposed value), and posts the batch to the engine, which stores it and writes staleness markers.
 */
export class Sampler {
  readonly intervalMs: number;
  private readonly registry: Registry;
  private readonly sink: ScrapeSink;
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly onError: (err: unknown) => void;
  private readonly forgetAfter: number;
  private readonly target: (() => { job: string; instance: string } | undefined) | undefined;
  private timer: TimerHandle | undefined;
  private inFlight = false;
  private readonly interned = new Map<string, Interned>();
  private nextRef = 1;
  private scrapeNo = 0;
  /** The sink generation the interned refs belong to; NaN before the first scrape. */
  private generation = Number.NaN;
  private readonly figures: SamplerStats = {
    scrapesTotal: 0,
    scrapeFailuresTotal: 0,
    lastScrapeDurationMs: 0,
    lastScrapeAtMs: undefined,
    lastScrapeOk: undefined,
  };

  constructor(opts: SamplerOptions) {
    this.registry = opts.registry;
    this.sink = opts.sink;
    this.intervalMs = opts.intervalMs ?? DEFAULT_SCRAPE_INTERVAL_MS;
    this.now = opts.now ?? systemClock.now;
    this.timers = opts.timers ?? systemTimers;
    this.onError = opts.onError ?? (() => {});
    this.forgetAfter = opts.forgetAfterScrapes ?? 60;
    this.target = opts.target;
  }

  /** Starts scraping every interval; the timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.timer = this.timers.setInterval(() => {
      if (this.inFlight) return; // a slow collect must not pile scrapes up
      void this.scrapeOnce(Math.floor(this.now()));
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (!this.timer) return;
    this.timers.clearInterval(this.timer);
    this.timer = undefined;
  }

  stats(): SamplerStats {
    return { ...this.figures };
  }

  /** Scrapes the registry once, stamping every sample with `nowMs`, and posts it. Never rejects. */
  async scrapeOnce(nowMs: number): Promise<SamplerScrape> {
    this.inFlight = true;
    const started = performance.now();
    let ok = true;
    try {
      let families: Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;
      try {
        families = await this.registry.getMetricsAsJSON();
      } catch (err) {
        ok = false;
        this.figures.scrapeFailuresTotal++;
        this.onError(err);
        families = [];
      }
      const generation = this.sink.generation();
      const reset = generation !== this.generation;
      if (reset) {
        this.interned.clear();
        this.generation = generation;
      }
      const scrape = ++this.scrapeNo;
      let n = 0;
      for (const family of families) n += family.values.length;
      const scraped = n;
      const target = this.target?.();
      if (target) n += 3;
      const refs = new Int32Array(n);
      const values = new Float64Array(n);
      const defs: ScrapeBatch["defs"] = [];
      let i = 0;
      const add = (
        name: string,
        labels: Readonly<Record<string, string | number | undefined>>,
        value: number,
      ) => {
        const key = seriesKey(name, labels);
        let e = this.interned.get(key);
        if (e === undefined) {
          e = { ref: this.nextRef++, seen: scrape };
          this.interned.set(key, e);
          defs.push({ ref: e.ref, labels: flatLabels(name, labels) });
        }
        e.seen = scrape;
        refs[i] = e.ref;
        values[i] = value;
        i++;
      };
      for (const family of families) {
        for (const v of family.values)
          add((v as { metricName?: string }).metricName ?? family.name, v.labels, v.value);
      }
      if (target) {
        add("up", target, ok ? 1 : 0);
        add("scrape_duration_seconds", target, (performance.now() - started) / 1000);
        add("scrape_samples_scraped", target, scraped);
      }
      const forget: number[] = [];
      if (scrape % 16 === 0) {
        for (const [key, e] of this.interned) {
          if (scrape - e.seen <= this.forgetAfter) continue;
          forget.push(e.ref);
          this.interned.delete(key);
        }
      }
      const batch: ScrapeBatch = { timeMs: nowMs, ok, reset, defs, forget, refs, values };
      const result = this.sink.ingest(batch, generation);
      return { ok, series: n, defined: defs.length, result };
    } finally {
      this.inFlight = false;
      this.figures.scrapesTotal++;
      this.figures.lastScrapeDurationMs = performance.now() - started;
      this.figures.lastScrapeAtMs = nowMs;
      this.figures.lastScrapeOk = ok;
    }
  }
}

/** An identity for a registry value: its name and its label object in the registry's own order. */
function seriesKey(name: string, raw: Readonly<Record<string, string | number | undefined>>): string {
  let key = name;
  for (const n in raw) {
    const r = raw[n];
    if (r !== undefined) key += `\u0000${n}\u0001${r}`;
  }
  return key;
}

/** Labels of one prom-client value as flat pairs; `le` and `quantile` rendered as Prometheus clients do. */
function flatLabels(name: string, raw: Readonly<Record<string, string | number | undefined>>): string[] {
  const out: Label[] = [{ name: METRIC_NAME, value: name }];
  for (const n in raw) {
    const r = raw[n];
    if (r === undefined) continue;
    const value = typeof r === "string" ? r : n === "le" || n === "quantile" ? formatFloat(r) : String(r);
    if (value !== "" && n !== METRIC_NAME) out.push({ name: n, value });
  }
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const flat: string[] = [];
  for (const l of out) flat.push(l.name, l.value);
  return flat;
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
