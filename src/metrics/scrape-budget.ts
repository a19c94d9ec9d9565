import { performance } from "node:perf_hooks";

/**
 * Renders of /monitoring/metrics, bounded in number per second.
 *
 * A render runs on the API's event loop (the registry lives there) and costs ~2–3 ms on the
 * reference machine: prom-client collects and formats ~350 samples, its default collectors read
 * /proc and the event-loop-delay histogram, and the 35 KB string is garbage a moment later. One
 * scraper every 15 s is nothing; 33 scrapes on fresh connections at once (the abuse suite's
 * cold-start burst) were ~90 ms of the loop, so a probe queued behind them waited that long. The
 * cost grew with the number of scrapers, which is input, so it is bounded:
 *
 * - at most `perSecond` renders a second (a token bucket holding one second's worth);
 * - a scrape past that is answered with the last render of its format if that is at most
 *   `maxAgeMs` old: the values a scrape that much earlier would have read. Counters and
 *   histograms are cumulative, so nothing is lost; the next render carries everything since.
 *   The answer says so (the caller sets a header and counts it);
 * - with no render that recent it renders anyway (a render owed against the budget), so no
 *   scraper ever reads older values; a sustained flood gets about `perSecond` renders a second,
 *   and at least one per `maxAgeMs`.
 *
 * Counted in renders rather than measured in milliseconds, so that whether a scrape is rendered
 * does not depend on how busy the machine is: a Prometheus, a Grafana and a person with curl
 * (or a test that scrapes, acts and scrapes again) stay far below the default and always get a
 * render of their own. `perSecond: 0` turns the bound off.
 */
export interface ScrapeBudgetOptions {
  /** Renders allowed per second (and at once); 0: no bound. */
  perSecond: number;
  /** The oldest render a scrape past the budget may be answered with, in ms. */
  maxAgeMs: number;
  /** Monotonic milliseconds; performance.now by default. */
  now?: () => number;
}

export interface ScrapeBody<T> {
  body: T;
  /** Rendered for this scrape; false: the last render, past the budget. */
  fresh: boolean;
  /** How long ago the answering render began, ms: 0 when rendered for this scrape. */
  ageMs: number;
}

export class ScrapeBudget<T> {
  private readonly now: () => number;
  /** Renders still allowed; refills at perSecond, holds at most perSecond. */
  private tokens: number;
  private refilledAt: number;
  /** The last render of each format, by when it began; a pending one is shared as its promise. */
  private readonly last = new Map<string, { body: Promise<T>; at: number }>();

  constructor(private readonly opts: ScrapeBudgetOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.tokens = opts.perSecond;
    this.refilledAt = this.now();
  }

  /** The body for one scrape of format `key`: rendered by `render`, or the last render (see above). */
  async serve(key: string, render: () => Promise<T>): Promise<ScrapeBody<T>> {
    const { perSecond, maxAgeMs } = this.opts;
    const now = this.now();
    if (perSecond > 0) {
      this.tokens = Math.min(perSecond, this.tokens + ((now - this.refilledAt) * perSecond) / 1000);
      this.refilledAt = now;
      const prev = this.last.get(key);
      if (this.tokens < 1 && prev && now - prev.at <= maxAgeMs)
        return { body: await prev.body, fresh: false, ageMs: now - prev.at };
      this.tokens -= 1;
    }
    const body = render();
    const entry = { body, at: now };
    this.last.set(key, entry);
    try {
      return { body: await body, fresh: true, ageMs: 0 };
    } catch (err) {
      // A failed render is nobody's answer: the next scrape renders again.
      if (this.last.get(key) === entry) this.last.delete(key);
      throw err;
    }
  }
}
