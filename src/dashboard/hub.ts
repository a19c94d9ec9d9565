// The live hub: one evaluation of a view's panels per refresh interval, shared by every page that
// watches that view and range, pushed to each as a server-sent event. A (view, range) pair is
// evaluated only while at least one client listens to it; the first client gets the last result
// at once if there is one. Every query runs in the engine worker (`engine.run`, op
// `query_range`), one after another, each under the hub's timeout; the API's thread only joins
// the bytes the engine rendered (it never parses a result) and counts the series in them.
//
// Bounds: `maxClients` listeners in all (beyond, the caller answers 503); at most
// `maxSeriesPerPanel` series per query (a query over it is replaced by an error naming the limit);
// each query's `queryTimeoutMs`; at most views × ranges groups by construction.

import type { Engine } from "../engine/protocol.js";
import {
  PANELS,
  type Panel,
  type RangeId,
  rangeOf,
  rateIntervalMs,
  renderExpr,
  type ViewName,
} from "./panels.js";

export interface HubOptions {
  engine: Pick<Engine, "run">;
  scrapeIntervalMs: number;
  maxClients: number;
  maxSeriesPerPanel: number;
  queryTimeoutMs: number;
  /** Wall clock (ms); default Date.now. */
  now?: () => number;
  /** Extra data of a view, computed once per evaluation with its queries (JSON-serialisable). */
  extras?: Partial<Record<ViewName, () => Promise<unknown> | unknown>>;
  /** Called after each evaluation (tests count them; the capability's metric). */
  onEvaluation?: (view: ViewName, range: RangeId, ms: number) => void;
  onError?: (err: unknown) => void;
}

export interface Listener {
  /** Receives each payload: an SSE frame, ready to write. */
  send(frame: Buffer): void;
}

export class HubFullError extends Error {
  constructor(readonly max: number) {
    super(`the live dashboard has ${max} listeners already (its limit); try again later`);
    this.name = "HubFullError";
  }
}

interface Group {
  view: ViewName;
  range: RangeId;
  listeners: Set<Listener>;
  timer: NodeJS.Timeout | undefined;
  last: Buffer | undefined;
  running: boolean;
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

  /** The refresh interval of a range: the scrape interval, or the step when it is longer. */
  intervalMs(range: RangeId): number {
    const r = rangeOf(range);
    return Math.max(this.o.scrapeIntervalMs, r?.stepMs ?? 0);
  }

  /** Adds a listener of (view, range); returns its removal. Throws HubFullError at the limit. */
  subscribe(view: ViewName, range: RangeId, listener: Listener): () => void {
    if (this.stopped) throw new Error("the live dashboard is stopped");
    if (this.clients >= this.o.maxClients) throw new HubFullError(this.o.maxClients);
    const key = `${view}|${range}`;
    let group = this.groups.get(key);
    if (!group) {
      group = { view, range, listeners: new Set(), timer: undefined, last: undefined, running: false };
      this.groups.set(key, group);
    }
    group.listeners.add(listener);
    this.clients++;
    if (group.last) listener.send(group.last);
    if (!group.timer && !group.running) void this.tick(group);
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
    try {
      const frame = await this.evaluate(group.view, group.range);
      this.evaluationCount++;
      this.o.onEvaluation?.(group.view, group.range, performance.now() - started);
      group.last = frame;
      for (const l of group.listeners) l.send(frame);
    } catch (err) {
      this.o.onError?.(err);
    } finally {
      group.running = false;
    }
    // The group may have lost its last listener (and been dropped) while it evaluated.
    if (
      this.stopped ||
      group.listeners.size === 0 ||
      this.groups.get(`${group.view}|${group.range}`) !== group
    )
      return;
    const every = this.intervalMs(group.range);
    // The next tick is aligned to the interval, so every group refreshes just after a scrape.
    const wait = every - (this.now() % every) + 50;
    group.timer = setTimeout(() => void this.tick(group), wait);
    group.timer.unref?.();
  }

  /** One evaluation of a view's panels over a range ending now, as an SSE frame. */
  async evaluate(view: ViewName, range: RangeId): Promise<Buffer> {
    const r = rangeOf(range);
    if (!r) throw new Error(`unknown range ${range}`);
    const stepMs = Math.max(r.stepMs, this.o.scrapeIntervalMs);
    const endMs = Math.floor(this.now() / stepMs) * stepMs;
    const startMs = endMs - r.ms;
    const rate = rateIntervalMs(stepMs, this.o.scrapeIntervalMs);
    const head = { view, range, startMs, endMs, stepMs, at: this.now() };
    const parts: Buffer[] = [enc(`{"head":${JSON.stringify(head)},"panels":{`)];
    let firstPanel = true;
    for (const panel of PANELS[view]) {
      parts.push(enc(`${firstPanel ? "" : ","}${JSON.stringify(panel.id)}:[`));
      firstPanel = false;
      parts.push(...(await this.panelResults(panel, { startMs, endMs, stepMs, rate, rangeMs: r.ms })));
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

  private async panelResults(
    panel: Panel,
    w: { startMs: number; endMs: number; stepMs: number; rate: number; rangeMs: number },
  ): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (const [i, q] of panel.queries.entries()) {
      if (i > 0) out.push(enc(","));
      const query = renderExpr(q.expr, { rateIntervalMs: w.rate, rangeMs: w.rangeMs });
      try {
        const body = await this.o.engine.run(
          { op: "query_range", query, startMs: w.startMs, endMs: w.endMs, stepMs: w.stepMs },
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
