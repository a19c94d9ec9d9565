// The live hub: one evaluation of a view's panels per refresh interval, shared by every page that
// watches that view and range, pushed to each as a server-sent event. A (view, range) pair is
// evaluated only while at least one client listens to it; the first client gets the last result
// at once if there is one. Every query runs in the engine worker (`engine.run`, op
// `query_range`), one after another, each under the hub's timeout; the API's thread only joins
// the bytes the engine rendered (it never parses a result) and counts the series in them.
//
// A group is a view over a window: a preset range ending now ("1h"), or a fixed from/to (which
// stops refreshing once its end has passed); with a `route` the view adds that route's drill-down
// panels. The route table's queries (`table` panels) are evaluated at the window's end only: one
// value per route and column, not the whole range (at 100 routes × 1 h × 5 s that was ~10 MB a
// refresh for a table that shows the last values).
//
// Bounds: `maxClients` listeners in all (beyond, the caller answers 429); at most
// `maxSeriesPerPanel` series per query (a query over it is replaced by an error naming the limit);
// each query's `queryTimeoutMs`; views × presets groups by construction, plus at most
// `maxParamGroups` groups with a route or a fixed window.

import type { Engine } from "../engine/protocol.js";
import {
  PANELS,
  type Panel,
  type RangeId,
  ROUTE_PANELS,
  rangeOf,
  rateIntervalMs,
  renderExpr,
  stepFor,
  type ViewName,
} from "./panels.js";

/** A fixed window (ms since the epoch), validated by the caller (from < to, within retention). */
export interface FixedRange {
  fromMs: number;
  toMs: number;
}
/** What a group evaluates over: a preset ending now, or a fixed window. */
export type Window = RangeId | FixedRange;
/** A view's parameters that change its queries: the Traffic view's drill-down route. */
export interface ViewParams {
  route?: string;
}

const isFixed = (w: Window): w is FixedRange => typeof w === "object";

export interface HubOptions {
  engine: Pick<Engine, "run">;
  scrapeIntervalMs: number;
  maxClients: number;
  maxSeriesPerPanel: number;
  queryTimeoutMs: number;
  /** Groups with a route or a fixed window at once (each one a set of queries per interval). */
  maxParamGroups?: number;
  /** Parts the app has configured: panels `when` one of these are evaluated, others left out. */
  features?: ReadonlySet<string>;
  /** Wall clock (ms); default Date.now. */
  now?: () => number;
  /** Extra data of a view, computed once per evaluation with its queries (JSON-serialisable). */
  extras?: Partial<Record<ViewName, () => Promise<unknown> | unknown>>;
  /** Called after each evaluation (tests count them; the capability's metric). */
  onEvaluation?: (view: ViewName, range: Window, ms: number) => void;
  onError?: (err: unknown) => void;
}

export interface Listener {
  /** Receives each payload: an SSE frame, ready to write. */
  send(frame: Buffer): void;
}

export class HubFullError extends Error {
  constructor(
    readonly max: number,
    readonly what: "listeners" | "groups" = "listeners",
  ) {
    super(
      what === "listeners"
        ? `the live dashboard has ${max} listeners already (its limit); try again later`
        : `the live dashboard evaluates ${max} route drill-downs or custom time ranges already (its limit); try again later or use a preset range`,
    );
    this.name = "HubFullError";
  }
}

interface Group {
  key: string;
  view: ViewName;
  window: Window;
  params: ViewParams;
  listeners: Set<Listener>;
  timer: NodeJS.Timeout | undefined;
  last: Buffer | undefined;
  running: boolean;
  /** A fixed window whose end has passed: its last frame is final, no more evaluations. */
  final: boolean;
}

const DEFAULT_MAX_PARAM_GROUPS = 16;

function groupKey(view: ViewName, w: Window, p: ViewParams): string {
  const win = isFixed(w) ? `${w.fromMs}-${w.toMs}` : w;
  return JSON.stringify([view, win, p.route ?? null]);
}

interface Span {
  startMs: number;
  endMs: number;
  stepMs: number;
  rate: number;
  rangeMs: number;
}

const enc = (s: string) => Buffer.from(s, "utf8");
const SERIES_KEY = enc('{"metric":');
const NEWLINE = 0x0a;

/** How many series an engine-rendered result holds: each one opens with `{"metric":`. */
export function countSeries(body: Uint8Array): number {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let n = 0;
  for (let i = buf.indexOf(SERIES_KEY); i >= 0; i = buf.indexOf(SERIES_KEY, i + SERIES_KEY.length)) n++;
  return n;
}

/**
 * One SSE frame of `event` whose data is `body`: the spec's `data:` lines joined by newlines,
 * so a body with newlines (JSON has none outside its strings, where they are escaped) still
 * arrives whole.
 */
export function sseFrame(event: string, body: Buffer): Buffer {
  const parts: Buffer[] = [enc(`event: ${event}\n`)];
  let start = 0;
  for (let i = body.indexOf(NEWLINE); i >= 0; i = body.indexOf(NEWLINE, start)) {
    parts.push(enc("data: "), body.subarray(start, i), enc("\n"));
    start = i + 1;
  }
  parts.push(enc("data: "), body.subarray(start), enc("\n\n"));
  return Buffer.concat(parts);
}

export class LiveHub {
  private readonly groups = new Map<string, Group>();
  private clients = 0;
  private evaluationCount = 0;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: HubOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Evaluations done since start (every group's). */
  get evaluations(): number {
    return this.evaluationCount;
  }

  get listeners(): number {
    return this.clients;
  }

  /** The refresh interval of a window: the scrape interval, or the step when it is longer. */
  intervalMs(range: Window): number {
    const step = isFixed(range)
      ? stepFor(range.toMs - range.fromMs, this.o.scrapeIntervalMs)
      : rangeOf(range)?.stepMs;
    return Math.max(this.o.scrapeIntervalMs, step ?? 0);
  }

  /**
   * Adds a listener of (view, window, params); returns its removal. Throws HubFullError at the
   * listener limit, or when a new route or fixed-window group would pass `maxParamGroups`.
   */
  subscribe(view: ViewName, range: Window, listener: Listener, params: ViewParams = {}): () => void {
    if (this.stopped) throw new Error("the live dashboard is stopped");
    if (this.clients >= this.o.maxClients) throw new HubFullError(this.o.maxClients);
    const key = groupKey(view, range, params);
    let group = this.groups.get(key);
    if (!group) {
      const max = this.o.maxParamGroups ?? DEFAULT_MAX_PARAM_GROUPS;
      if ((isFixed(range) || params.route !== undefined) && this.paramGroups() >= max)
        throw new HubFullError(max, "groups");
      group = {
        key,
        view,
        window: range,
        params,
        listeners: new Set(),
        timer: undefined,
        last: undefined,
        running: false,
        final: false,
      };
      this.groups.set(key, group);
    }
    group.listeners.add(listener);
    this.clients++;
    if (group.last) listener.send(group.last);
    if (!group.timer && !group.running && !group.final) void this.tick(group);
    const g = group;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      g.listeners.delete(listener);
      this.clients--;
      if (g.listeners.size === 0) {
        if (g.timer) clearTimeout(g.timer);
        g.timer = undefined;
        this.groups.delete(key);
      }
    };
  }

  /** Groups with a next evaluation scheduled. */
  get refreshing(): number {
    let n = 0;
    for (const g of this.groups.values()) if (g.timer) n++;
    return n;
  }

  /** Groups with a route or a fixed window (bounded by maxParamGroups). */
  paramGroups(): number {
    let n = 0;
    for (const g of this.groups.values()) if (isFixed(g.window) || g.params.route !== undefined) n++;
    return n;
  }

  stop(): void {
    this.stopped = true;
    for (const g of this.groups.values()) if (g.timer) clearTimeout(g.timer);
    this.groups.clear();
  }

  private async tick(group: Group): Promise<void> {
    group.timer = undefined;
    if (this.stopped || group.listeners.size === 0) return;
    group.running = true;
    const started = performance.now();
    // A fixed window that had ended (by a scrape interval) when this evaluation began is complete.
    const final = isFixed(group.window) && group.window.toMs <= this.now() - this.o.scrapeIntervalMs;
    try {
      const frame = await this.evaluate(group.view, group.window, group.params);
      this.evaluationCount++;
      group.final = final;
      this.o.onEvaluation?.(group.view, group.window, performance.now() - started);
      group.last = frame;
      for (const l of group.listeners) l.send(frame);
    } catch (err) {
      this.o.onError?.(err);
    } finally {
      group.running = false;
    }
    // The group may have lost its last listener (and been dropped) while it evaluated.
    if (this.stopped || group.final || group.listeners.size === 0 || this.groups.get(group.key) !== group)
      return;
    const every = this.intervalMs(group.window);
    // The next tick is aligned to the interval, so every group refreshes just after a scrape.
    const wait = every - (this.now() % every) + 50;
    group.timer = setTimeout(() => void this.tick(group), wait);
    group.timer.unref?.();
  }

  /** The steps of a window as evaluated now. */
  private span(range: Window): Span {
    const now = this.now();
    if (isFixed(range)) {
      const rangeMs = range.toMs - range.fromMs;
      const step = stepFor(rangeMs, this.o.scrapeIntervalMs);
      if (step === undefined || rangeMs <= 0)
        throw new Error(`window ${range.fromMs}-${range.toMs} is invalid`);
      const endMs = Math.floor(Math.min(range.toMs, now) / step) * step;
      const startMs = Math.min(Math.ceil(range.fromMs / step) * step, endMs);
      return { startMs, endMs, stepMs: step, rate: rateIntervalMs(step, this.o.scrapeIntervalMs), rangeMs };
    }
    const r = rangeOf(range);
    if (!r) throw new Error(`unknown range ${range}`);
    const stepMs = Math.max(r.stepMs, this.o.scrapeIntervalMs);
    const endMs = Math.floor(now / stepMs) * stepMs;
    const rate = rateIntervalMs(stepMs, this.o.scrapeIntervalMs);
    return { startMs: endMs - r.ms, endMs, stepMs, rate, rangeMs: r.ms };
  }

  /** One evaluation of a view's panels over a window (a preset ends now), as an SSE frame. */
  async evaluate(view: ViewName, range: Window, params: ViewParams = {}): Promise<Buffer> {
    const w = this.span(range);
    const head = {
      view,
      range: isFixed(range) ? "custom" : range,
      ...(isFixed(range) ? { fromMs: range.fromMs, toMs: range.toMs } : {}),
      ...(params.route !== undefined ? { route: params.route } : {}),
      startMs: w.startMs,
      endMs: w.endMs,
      stepMs: w.stepMs,
      at: this.now(),
    };
    const parts: Buffer[] = [enc(`{"head":${JSON.stringify(head)},"panels":{`)];
    const features = this.o.features ?? new Set<string>();
    const panels: Array<[Panel, string | undefined]> = [
      ...PANELS[view]
        .filter((p) => !p.when || features.has(p.when))
        .map((p) => [p, undefined] as [Panel, undefined]),
      ...(params.route !== undefined ? (ROUTE_PANELS[view] ?? []) : []).map(
        (p) => [p, params.route] as [Panel, string | undefined],
      ),
    ];
    let firstPanel = true;
    for (const [panel, route] of panels) {
      parts.push(enc(`${firstPanel ? "" : ","}${JSON.stringify(panel.id)}:[`));
      firstPanel = false;
      parts.push(...(await this.panelResults(panel, w, route)));
      parts.push(enc("]"));
    }
    parts.push(enc("}"));
    const extra = this.o.extras?.[view];
    if (extra) {
      let value: unknown;
      try {
        value = await extra();
      } catch (err) {
        value = { error: (err as Error).message };
      }
      parts.push(enc(`,"extra":${JSON.stringify(value ?? null)}`));
    }
    parts.push(enc("}"));
    return sseFrame("data", Buffer.concat(parts));
  }

  private async panelResults(panel: Panel, w: Span, route: string | undefined): Promise<Buffer[]> {
    const out: Buffer[] = [];
    // A table shows each series' last value: evaluated at the window's end only.
    const startMs = panel.table ? w.endMs : w.startMs;
    for (const [i, q] of panel.queries.entries()) {
      if (i > 0) out.push(enc(","));
      const query = renderExpr(q.expr, {
        rateIntervalMs: w.rate,
        rangeMs: w.rangeMs,
        ...(route !== undefined ? { route } : {}),
        ...(q.top ? { top: q.top } : {}),
      });
      try {
        const body = await this.o.engine.run(
          { op: "query_range", query, startMs, endMs: w.endMs, stepMs: w.stepMs },
          { timeoutMs: this.o.queryTimeoutMs },
        );
        const series = countSeries(body);
        if (series > this.o.maxSeriesPerPanel) {
          out.push(
            enc(
              JSON.stringify({
                error: `${series} series, more than the dashboard draws in one panel (${this.o.maxSeriesPerPanel})`,
              }),
            ),
          );
        } else {
          out.push(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
        }
      } catch (err) {
        out.push(enc(JSON.stringify({ error: (err as Error).message || String(err) })));
      }
    }
    return out;
  }
}
