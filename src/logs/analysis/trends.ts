// Per-route trends over hours: every minute, each route's requests, 5xx errors, mean and p95
// latency of that minute are kept (24 h per route, bounded routes). A trend is the least-squares
// slope over the window, the change against the window before it, and the change against the
// same length of time before the last deployment, for latency and for the error rate.

export interface MinutePoint {
  minute: number;
  requests: number;
  errors: number;
  /** Seconds; NaN when no request in that minute. */
  meanLatency: number;
  p95Latency: number;
}

export interface TrendFigures {
  /** Mean over the window (seconds, or an error ratio). */
  current: number | null;
  previous: number | null;
  beforeDeployment: number | null;
  /** Change per hour of the least-squares line through the window. */
  slopePerHour: number | null;
  /** current / previous - 1. */
  changeVsPrevious: number | null;
  changeVsBeforeDeployment: number | null;
}

export interface RouteTrend {
  route: string;
  requests: number;
  latencyMean: TrendFigures;
  latencyP95: TrendFigures;
  errorRate: TrendFigures;
  direction: "worse" | "better" | "steady" | "unknown";
}

const KEEP_MINUTES = 24 * 60;

function mean(values: number[]): number | null {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length;
}

/** Least-squares slope of (minute, value), in value per hour; null with fewer than 3 points. */
export function slopePerHour(points: Array<[number, number]>): number | null {
  const p = points.filter(([, y]) => Number.isFinite(y));
  if (p.length < 3) return null;
  const mx = p.reduce((a, [x]) => a + x, 0) / p.length;
  const my = p.reduce((a, [, y]) => a + y, 0) / p.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of p) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

function change(cur: number | null, prev: number | null): number | null {
  if (cur === null || prev === null || prev === 0) return null;
  return cur / prev - 1;
}

export class RouteTrends {
  private readonly routes = new Map<string, MinutePoint[]>();
  private deploymentMinute: number | undefined;

  constructor(private readonly maxRoutes = 200) {}

  /** Records one minute of one route. */
  add(route: string, p: MinutePoint): void {
    let series = this.routes.get(route);
    if (!series) {
      if (this.routes.size >= this.maxRoutes) return;
      series = [];
      this.routes.set(route, series);
    }
    const last = series[series.length - 1];
    if (last && last.minute >= p.minute) return;
    series.push(p);
    if (series.length > KEEP_MINUTES) series.splice(0, series.length - KEEP_MINUTES);
  }

  /** The last deployment: "before deployment" figures compare with the time before it. */
  markDeployment(atMs: number): void {
    this.deploymentMinute = Math.floor(atMs / 60_000);
  }

  /** The minute of the deployment "before deployment" compares with (ISO), if any. */
  deploymentAt(): string | null {
    return this.deploymentMinute === undefined
      ? null
      : new Date(this.deploymentMinute * 60_000).toISOString();
  }

  list(nowMs: number, windowMinutes = 60): RouteTrend[] {
    const now = Math.floor(nowMs / 60_000);
    const out: RouteTrend[] = [];
    for (const [route, series] of this.routes) {
      const inRange = (from: number, to: number) => series.filter((p) => p.minute > from && p.minute <= to);
      const cur = inRange(now - windowMinutes, now);
      const prev = inRange(now - 2 * windowMinutes, now - windowMinutes);
      const dep = this.deploymentMinute;
      // The window before the deployment ends with the minute before it: the deployment's own
      // minute is the new process's first (start-up, cold caches) and belongs to after.
      const before = dep === undefined ? [] : inRange(dep - 1 - windowMinutes, dep - 1);
      const figures = (f: (p: MinutePoint) => number, weighted: boolean): TrendFigures => {
        const avg = (ps: MinutePoint[]) => {
          if (!weighted) return mean(ps.map(f));
          const req = ps.reduce((a, p) => a + p.requests, 0);
          return req === 0 ? null : ps.reduce((a, p) => a + p.errors, 0) / req;
        };
        const c = avg(cur);
        const pv = avg(prev);
        const b = avg(before);
        return {
          current: c,
          previous: pv,
          beforeDeployment: b,
          slopePerHour: slopePerHour(cur.map((p) => [p.minute, f(p)])),
          changeVsPrevious: change(c, pv),
          changeVsBeforeDeployment: change(c, b),
        };
      };
      const latencyMean = figures((p) => p.meanLatency, false);
      const latencyP95 = figures((p) => p.p95Latency, false);
      const errorRate = figures((p) => (p.requests > 0 ? p.errors / p.requests : Number.NaN), true);
      const signal = latencyP95.changeVsPrevious ?? latencyMean.changeVsPrevious;
      const errUp = (errorRate.current ?? 0) - (errorRate.previous ?? 0);
      const direction: RouteTrend["direction"] =
        signal === null && errorRate.previous === null
          ? "unknown"
          : (signal ?? 0) > 0.2 || errUp > 0.01
            ? "worse"
            : (signal ?? 0) < -0.2 || errUp < -0.01
              ? "better"
              : "steady";
      out.push({
        route,
        requests: cur.reduce((a, p) => a + p.requests, 0),
        latencyMean,
        latencyP95,
        errorRate,
        direction,
      });
    }
    return out.sort((a, b) => b.requests - a.requests);
  }

  toJSON(): unknown {
    return { routes: [...this.routes], deploymentMinute: this.deploymentMinute };
  }

  static fromJSON(data: unknown, maxRoutes?: number): RouteTrends {
    const t = new RouteTrends(maxRoutes);
    const d = data as { routes?: Array<[string, MinutePoint[]]>; deploymentMinute?: number } | undefined;
    for (const [route, series] of d?.routes ?? []) {
      if (typeof route === "string" && Array.isArray(series))
        t.routes.set(
          route,
          series.map((p) => ({
            ...p,
            meanLatency: p.meanLatency ?? Number.NaN,
            p95Latency: p.p95Latency ?? Number.NaN,
          })),
        );
    }
    if (typeof d?.deploymentMinute === "number") t.deploymentMinute = d.deploymentMinute;
    return t;
  }
}
