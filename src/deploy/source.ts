// Where the analysis' numbers come from: PromQL over Prometheus's HTTP API — the app's own
// /monitoring/api/v1/query (embedded mode) or a Prometheus server (the stack). Both speak the same
// language, so there is one set of queries. Four instant queries per window, evaluated at the
// window's end over its length:
//
//   sum(increase(http_requests_total{S}[Ds]))                      requests
//   sum(increase(http_requests_total{S, status_code=~"5.."}[Ds]))  5xx
//   sum by (le) (increase(http_request_duration_seconds_bucket{S}[Ds]))   latency histogram
//   sum(increase(http_request_duration_seconds_sum{S}[Ds]))        latency sum (the mean)
//
// where S leaves out the monitoring and probe routes (a deploy is judged on what users get) and
// adds the deployment's selector. `increase` copes with the counter resets of a restart, which
// is what a deploy usually is. The queries run in the engine worker (embedded) or in Prometheus,
// never on the API's thread; each is bounded by a timeout.

import { describeFetchError } from "../alerts/channels/index.js";
import { type DeploymentConfig, queryUrls } from "./config.js";
import type { CumulativeHistogram, WindowCounts } from "./types.js";

/** Routes that are not the service's: the monitoring API and the probes. */
export const EXCLUDED_ROUTES = 'route!~"/monitoring.*|/health.*"';

/**
 * The largest answer read (the four queries return a handful of series): a broken or hostile
 * endpoint must not make the API's thread read and parse hundreds of megabytes.
 */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** The body as text, or undefined (the rest cancelled) once it passes `max` bytes. */
async function boundedText(res: Response, max: number): Promise<string | undefined> {
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (declared > max || !res.body) {
    await res.body?.cancel();
    return declared > max ? undefined : "";
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export interface MetricsSource {
  /** The window's counts, or an error saying why they could not be read. */
  measure(startMs: number, endMs: number): Promise<WindowCounts | { error: string }>;
}

export interface PromqlSourceOptions {
  /** Prometheus's /api/v1/query URL. */
  url: string;
  token?: string;
  /** Label matchers added to every query (no braces). */
  selector?: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

type Sample = { metric: Record<string, string>; value: [number, string] };

export class PromqlSource implements MetricsSource {
  constructor(private readonly opts: PromqlSourceOptions) {}

  /** The four queries of a window of `seconds` (exported for the docs and the tests). */
  static queries(
    seconds: number,
    selector?: string,
  ): Record<"requests" | "errors" | "buckets" | "sum", string> {
    const s = [EXCLUDED_ROUTES, selector].filter(Boolean).join(", ");
    const r = `[${seconds}s]`;
    return {
      requests: `sum(increase(http_requests_total{${s}}${r}))`,
      errors: `sum(increase(http_requests_total{${s}, status_code=~"5.."}${r}))`,
      buckets: `sum by (le) (increase(http_request_duration_seconds_bucket{${s}}${r}))`,
      sum: `sum(increase(http_request_duration_seconds_sum{${s}}${r}))`,
    };
  }

  async measure(startMs: number, endMs: number): Promise<WindowCounts | { error: string }> {
    const seconds = Math.max(1, Math.round((endMs - startMs) / 1000));
    const q = PromqlSource.queries(seconds, this.opts.selector);
    const at = endMs / 1000;
    try {
      const [requests, errors, buckets, sum] = await Promise.all([
        this.query(q.requests, at),
        this.query(q.errors, at),
        this.query(q.buckets, at),
        this.query(q.sum, at),
      ]);
      const n = Math.round(scalar(requests) ?? 0);
      return {
        startMs,
        endMs,
        requests: n,
        errors: Math.min(n, Math.round(scalar(errors) ?? 0)),
        latency: histogram(buckets),
        latencySumSeconds: scalar(sum) ?? null,
      };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  private async query(expr: string, at: number): Promise<Sample[]> {
    const f = this.opts.fetch ?? fetch;
    const body = new URLSearchParams({ query: expr, time: String(at) }).toString();
    let res: Response;
    try {
      res = await f(this.opts.url, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
        },
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      throw new Error(`query ${display(this.opts.url)}: ${describeFetchError(err, this.opts.timeoutMs)}`);
    }
    const text = await boundedText(res, MAX_ANSWER_BYTES);
    if (text === undefined)
      throw new Error(`query ${display(this.opts.url)}: the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    let parsed: { status?: string; error?: string; data?: { resultType?: string; result?: unknown } };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new Error(`query ${display(this.opts.url)}: HTTP ${res.status}, not JSON`);
    }
    if (res.status !== 200 || parsed.status !== "success")
      throw new Error(`query ${display(this.opts.url)}: HTTP ${res.status} ${parsed.error ?? ""}`.trim());
    if (parsed.data?.resultType !== "vector" || !Array.isArray(parsed.data.result))
      throw new Error(`query ${display(this.opts.url)}: expected a vector, got ${parsed.data?.resultType}`);
    return parsed.data.result as Sample[];
  }
}

/** Only the scheme, host and path: a URL may carry credentials. */
function display(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "<invalid URL>"; // validated before it gets here; never echo it
  }
}

function scalar(v: Sample[]): number | undefined {
  const s = v[0];
  if (!s) return undefined;
  const x = Number(s.value[1]);
  return Number.isFinite(x) ? x : undefined;
}

function histogram(v: Sample[]): CumulativeHistogram | null {
  const points = v
    .map((s) => ({
      le: s.metric.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.metric.le),
      c: Number(s.value[1]),
    }))
    .filter((p) => !Number.isNaN(p.le) && Number.isFinite(p.c))
    .sort((a, b) => a.le - b.le);
  if (points.length === 0 || points[points.length - 1]?.le !== Number.POSITIVE_INFINITY) return null;
  // increase() extrapolates each bucket on its own: rounding and a running max keep the counts
  // whole and cumulative.
  let run = 0;
  const cumulative = points.map((p) => {
    run = Math.max(run, Math.round(p.c));
    return run;
  });
  return { le: points.map((p) => p.le), cumulative };
}

/**
 * A deployment's two sources: the new version's and the baseline's query APIs (queryUrls), with
 * its token (`metricsToken`, else `defaultToken`) and selectors.
 */
export function promqlSources(
  c: DeploymentConfig,
  o: { defaultToken?: string; timeoutMs: number },
): { canary: MetricsSource; baseline: MetricsSource } {
  const urls = queryUrls(c);
  const token = c.metricsToken ?? o.defaultToken;
  const source = (url: string, selector: string | undefined) =>
    new PromqlSource({
      url,
      timeoutMs: o.timeoutMs,
      ...(token ? { token } : {}),
      ...(selector ? { selector } : {}),
    });
  return {
    canary: source(urls.canary, c.selector),
    baseline: source(urls.baseline, c.baselineSelector ?? c.selector),
  };
}
