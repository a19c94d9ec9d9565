// The dashboard's panels: every chart's PromQL, written once. Where a Grafana panel of
// monitoring/grafana/dashboards/*.json shows the same thing, the query here names it (`grafana`)
// and keeps Grafana's own text, template variables included ($instance, $route,
// $__rate_interval, $__range); test/dashboard-panels.test.ts holds the two equal, so they cannot
// drift. `renderExpr` turns a template into the query the live hub evaluates: every instance and
// route (`.*`), and Grafana's rate interval computed the way Grafana does.
//
// Decision: a test holding the Grafana JSON equal to these definitions, rather than generating
// the Grafana JSON from them. The Grafana files carry layout, thresholds, links, annotations and
// Loki panels that this page does not have; generating them would move all of that into code (or
// a second template) for the sake of one string per panel. The test names the panel and both
// texts when they differ, which is all "cannot drift" needs.

export const VIEWS = [
  "overview",
  "traffic",
  "errors",
  "resources",
  "alerts",
  "deployments",
  "users",
] as const;
export type ViewName = (typeof VIEWS)[number];

/** Units as Grafana names them (its fieldConfig.defaults.unit), so both read the same. */
export type Unit = "reqps" | "s" | "percentunit" | "bytes" | "short" | "ops" | "cps" | "none";

export interface GrafanaRef {
  /** The dashboard's uid (its file is monitoring/grafana/dashboards/<file>). */
  dashboard: string;
  panel: number;
  refId: string;
}

export interface PanelQuery {
  /** PromQL in Grafana's template form. */
  expr: string;
  /** Series name: Grafana's legendFormat ({{label}} substituted), or fixed text. */
  legend: string;
  grafana?: GrafanaRef;
  /**
   * Draw only the `top` highest series at each step (the hub runs `topk(top, expr)`): a chart of
   * one line per route is unreadable at 100 routes and ships 100 × 720 points a refresh.
   */
  top?: number;
}

export interface Panel {
  id: string;
  title: string;
  unit: Unit;
  queries: PanelQuery[];
  /** What an empty chart means, shown instead of a blank panel. */
  empty: string;
  /**
   * Draw as a table of the last values rather than a chart (the per-route table): the hub
   * evaluates its queries at the range's end only, one value per series, not the whole range.
   */
  table?: boolean;
  /** Only when the app has this part configured (the hub leaves the panel out otherwise). */
  when?: "redis";
}

const g = (dashboard: string, panel: number, refId = "A"): GrafanaRef => ({ dashboard, panel, refId });

const OVERVIEW = "tug-api-overview";
const ERRORS = "error-tracking";
const RESOURCES = "system-resources";
const DB = "database-performance";

const HTTP = 'http_requests_total{instance=~"$instance",route=~"$route"}';
const HTTP_5XX = 'http_requests_total{instance=~"$instance",route=~"$route",status_code=~"5.."}';
const HTTP_4XX = 'http_requests_total{instance=~"$instance",route=~"$route",status_code=~"4.."}';
const LATENCY = 'http_request_duration_seconds_bucket{instance=~"$instance",route=~"$route"}';
const DB_BUCKET = 'db_query_duration_seconds_bucket{instance=~"$instance"}';
const ratio = (num: string) =>
  `(sum(rate(${num}[$__rate_interval])) or vector(0)) / (sum(rate(${HTTP}[$__rate_interval])) > 0) or vector(0)`;
const quantile = (q: number, bucket: string, by = "le") =>
  `histogram_quantile(${q}, sum by (${by}) (rate(${bucket}[$__rate_interval])))`;

const NO_TRAFFIC = "No requests in this range: the API has not been called yet.";

const requestRate: Panel = {
  id: "request_rate",
  title: "Request rate",
  unit: "reqps",
  queries: [
    {
      expr: `sum(rate(${HTTP}[$__rate_interval])) or vector(0)`,
      legend: "requests",
      grafana: g(OVERVIEW, 1),
    },
  ],
  empty: NO_TRAFFIC,
};

const errorRatio: Panel = {
  id: "error_ratio",
  title: "Error ratio",
  unit: "percentunit",
  queries: [
    { expr: ratio(HTTP_5XX), legend: "5xx", grafana: g(OVERVIEW, 13, "A") },
    { expr: ratio(HTTP_4XX), legend: "4xx", grafana: g(OVERVIEW, 13, "B") },
  ],
  empty: NO_TRAFFIC,
};

const latency: Panel = {
  id: "latency",
  title: "Latency percentiles",
  unit: "s",
  queries: [
    { expr: quantile(0.5, LATENCY), legend: "p50", grafana: g(OVERVIEW, 16, "A") },
    { expr: quantile(0.95, LATENCY), legend: "p95", grafana: g(OVERVIEW, 16, "B") },
    { expr: quantile(0.99, LATENCY), legend: "p99", grafana: g(OVERVIEW, 16, "C") },
  ],
  empty: NO_TRAFFIC,
};

const inFlight: Panel = {
  id: "in_flight",
  title: "In-flight requests",
  unit: "short",
  queries: [
    {
      expr: 'sum(http_requests_in_flight{instance=~"$instance"}) or vector(0)',
      legend: "in flight",
      grafana: g(OVERVIEW, 4),
    },
  ],
  empty: "The in-flight gauge has not been sampled yet.",
};

const alertsOverTime: Panel = {
  id: "alerts",
  title: "Alerts",
  unit: "short",
  queries: [
    {
      expr: 'count by (alertname, severity) (ALERTS{alertstate="firing"}) or on() vector(0)',
      legend: "{{alertname}} {{severity}}",
      grafana: g(OVERVIEW, 24, "A"),
    },
    {
      expr: 'count(ALERTS{alertstate="pending"}) or vector(0)',
      legend: "pending",
      grafana: g(OVERVIEW, 24, "B"),
    },
  ],
  empty: "No alert has been pending or firing in this range.",
};

// Service level objectives: the recording rules of monitoring/slo_rules.yml (made from
// monitoring/slos.yml); the Grafana "SLOs" dashboard (monitoring/grafana/dashboards/slo.json)
// reads the same series.
const NO_SLO =
  "No SLO data in this range: the SLOs of monitoring/slos.yml are recorded by the rules of monitoring/slo_rules.yml once the API has served requests (or none are configured).";

/** SLO windows of tug_slo_burn_rate, shortest first. */
export const SLO_WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] as const;

const slos: Panel = {
  id: "slos",
  title: "Service level objectives",
  unit: "percentunit",
  table: true,
  queries: [
    { expr: "max by (service, slo) (tug_slo_objective_ratio)", legend: "objective" },
    { expr: "max by (service, slo) (tug_slo_error_budget_remaining_ratio)", legend: "budget" },
    { expr: "max by (service, slo, window) (tug_slo_burn_rate)", legend: "{{window}}" },
  ],
  empty: NO_SLO,
};

const sloBudget: Panel = {
  id: "slo_budget",
  title: "Error budget remaining (1 untouched, 0 spent)",
  unit: "percentunit",
  queries: [
    {
      expr: "max by (service, slo) (tug_slo_error_budget_remaining_ratio)",
      legend: "{{service}} {{slo}}",
    },
  ],
  empty: NO_SLO,
};

const byRoute = (what: string) => `sum by (method, route) (rate(${what}[$__rate_interval]))`;

const routes: Panel = {
  id: "routes",
  title: "Routes",
  unit: "reqps",
  table: true,
  queries: [
    { expr: byRoute(HTTP), legend: "rate", grafana: g(OVERVIEW, 11) },
    { expr: byRoute(HTTP_5XX), legend: "5xx" },
    { expr: byRoute(HTTP_4XX), legend: "4xx" },
    { expr: quantile(0.5, LATENCY, "le, method, route"), legend: "p50" },
    { expr: quantile(0.95, LATENCY, "le, method, route"), legend: "p95" },
    { expr: quantile(0.99, LATENCY, "le, method, route"), legend: "p99" },
  ],
  empty: NO_TRAFFIC,
};

const byStatus: Panel = {
  id: "by_status",
  title: "Requests by status code",
  unit: "reqps",
  queries: [
    {
      expr: `sum by (status_code) (rate(${HTTP}[$__rate_interval]))`,
      legend: "{{status_code}}",
      grafana: g(OVERVIEW, 10),
    },
  ],
  empty: NO_TRAFFIC,
};

const p95ByRoute: Panel = {
  id: "p95_by_route",
  title: "p95 latency by route",
  unit: "s",
  queries: [
    { expr: quantile(0.95, LATENCY, "le, route"), legend: "{{route}}", grafana: g(OVERVIEW, 17), top: 10 },
  ],
  empty: NO_TRAFFIC,
};

const errorsByRoute: Panel = {
  id: "errors_by_route",
  title: "Errors by route and status",
  unit: "reqps",
  queries: [
    {
      expr: `sum by (route, status_code) (rate(${HTTP_5XX}[$__rate_interval])) or on() vector(0)`,
      legend: "{{route}} {{status_code}}",
      grafana: g(ERRORS, 6),
    },
    {
      expr: `sum by (route, status_code) (rate(${HTTP_4XX}[$__rate_interval])) or on() vector(0)`,
      legend: "{{route}} {{status_code}}",
      grafana: g(ERRORS, 7),
    },
  ],
  empty: "No 4xx or 5xx responses in this range.",
};

const logLines: Panel = {
  id: "log_lines",
  title: "Log lines by level",
  unit: "cps",
  queries: [
    {
      expr: 'sum by (level) (rate(log_lines_total{instance=~"$instance"}[$__rate_interval])) or on() vector(0)',
      legend: "{{level}}",
      grafana: g(ERRORS, 11),
    },
  ],
  empty: "No log lines counted yet (log analysis off, or nothing logged).",
};

const anomalyScores: Panel = {
  id: "anomaly_scores",
  title: "Anomaly scores",
  unit: "none",
  queries: [
    {
      expr: 'max by (series) (anomaly_score{instance=~"$instance"}) or on() vector(0)',
      legend: "{{series}}",
      grafana: g(ERRORS, 13),
    },
  ],
  empty: "No anomaly scores yet: the detector needs a few minutes of history.",
};

const cpuMemory: Panel = {
  id: "cpu_memory",
  title: "CPU and memory",
  unit: "percentunit",
  queries: [
    {
      expr: 'max(system_cpu_usage_ratio{instance=~"$instance"})',
      legend: "cpu",
      grafana: g(OVERVIEW, 19, "A"),
    },
    {
      expr: 'max(system_memory_usage_ratio{instance=~"$instance"})',
      legend: "memory",
      grafana: g(OVERVIEW, 19, "B"),
    },
  ],
  empty: "The system sampler has not reported yet.",
};

const disk: Panel = {
  id: "disk",
  title: "Disk usage by mountpoint",
  unit: "percentunit",
  queries: [
    {
      expr: 'max by (instance, mountpoint) (system_disk_usage_ratio{instance=~"$instance"})',
      legend: "{{mountpoint}}",
      grafana: g(RESOURCES, 7),
    },
  ],
  empty: "No volume reported: the disk check has no mountpoints configured.",
};

const eventLoop: Panel = {
  id: "event_loop",
  title: "Event-loop lag",
  unit: "s",
  queries: [
    {
      expr: 'max(nodejs_eventloop_lag_p50_seconds{instance=~"$instance"})',
      legend: "p50",
      grafana: g(OVERVIEW, 20, "A"),
    },
    {
      expr: 'max(nodejs_eventloop_lag_p99_seconds{instance=~"$instance"})',
      legend: "p99",
      grafana: g(OVERVIEW, 20, "B"),
    },
  ],
  empty: "The Node.js runtime metrics have not been sampled yet.",
};

const heap: Panel = {
  id: "heap",
  title: "Process memory",
  unit: "bytes",
  queries: [
    {
      expr: 'sum by (instance) (process_resident_memory_bytes{instance=~"$instance"})',
      legend: "rss",
      grafana: g(RESOURCES, 13, "A"),
    },
    {
      expr: 'sum by (instance) (nodejs_heap_size_used_bytes{instance=~"$instance"})',
      legend: "heap used",
      grafana: g(RESOURCES, 13, "C"),
    },
  ],
  empty: "The Node.js runtime metrics have not been sampled yet.",
};

const dbLatency: Panel = {
  id: "db_latency",
  title: "Database query latency",
  unit: "s",
  queries: [
    { expr: quantile(0.5, DB_BUCKET), legend: "p50", grafana: g(DB, 9, "A") },
    { expr: quantile(0.95, DB_BUCKET), legend: "p95", grafana: g(DB, 9, "B") },
    { expr: quantile(0.99, DB_BUCKET), legend: "p99", grafana: g(DB, 9, "C") },
  ],
  empty: "No database queries in this range.",
};

const dbErrors: Panel = {
  id: "db_errors",
  title: "Database errors by operation and table",
  unit: "ops",
  queries: [
    {
      expr: 'sum by (operation, table) (rate(db_query_errors_total{instance=~"$instance"}[$__rate_interval])) or on() vector(0)',
      legend: "{{operation}} {{table}}",
      grafana: g(DB, 14),
    },
  ],
  empty: "No database errors in this range.",
};

const redis: Panel = {
  id: "redis",
  title: "Redis PING latency (its check's status is under Health checks)",
  unit: "s",
  when: "redis",
  queries: [
    {
      expr: 'max(health_check_duration_seconds{instance=~"$instance",check="redis"})',
      legend: "PING",
    },
  ],
  empty: "The Redis health check has not run yet.",
};

const healthChecks: Panel = {
  id: "health_checks",
  title: "Health checks (1 pass, 0.5 warn, 0 fail)",
  unit: "none",
  queries: [
    {
      expr: 'min by (check) (health_check_status{instance=~"$instance"})',
      legend: "{{check}}",
      grafana: g(OVERVIEW, 25),
    },
  ],
  empty: "The health checks have not run yet.",
};

// The seed's business metrics: no Grafana panel shows them but the active-users stat.
const registrations: Panel = {
  id: "registrations",
  title: "Registrations",
  unit: "ops",
  queries: [
    {
      expr: 'sum by (method) (rate(user_registrations_total{instance=~"$instance"}[$__rate_interval]))',
      legend: "{{method}}",
    },
  ],
  empty: "Nobody registered in this range.",
};

const logins: Panel = {
  id: "logins",
  title: "Logins by outcome",
  unit: "ops",
  queries: [
    {
      expr: 'sum by (outcome) (rate(user_logins_total{instance=~"$instance"}[$__rate_interval]))',
      legend: "{{outcome}}",
    },
  ],
  empty: "Nobody logged in (or failed to) in this range.",
};

const features: Panel = {
  id: "features",
  title: "Feature usage",
  unit: "ops",
  queries: [
    {
      expr: 'sum by (feature) (rate(feature_usage_total{instance=~"$instance"}[$__rate_interval]))',
      legend: "{{feature}}",
    },
  ],
  empty: "No feature was used in this range.",
};

const activeUsers: Panel = {
  id: "active_users",
  title: "Active users",
  unit: "short",
  queries: [
    {
      expr: 'sum(users_active{instance=~"$instance",window="5m"}) or vector(0)',
      legend: "5m",
      grafana: g(OVERVIEW, 8),
    },
    { expr: 'sum by (window) (users_active{instance=~"$instance",window!="5m"})', legend: "{{window}}" },
  ],
  empty: "No user activity recorded yet.",
};

/** Each view's charts, in the order they are drawn. Alerts and Deployments are lists, not charts. */
export const PANELS: Record<ViewName, readonly Panel[]> = {
  overview: [requestRate, errorRatio, latency, inFlight, alertsOverTime, slos, sloBudget],
  traffic: [routes, byStatus, p95ByRoute, latency],
  errors: [errorsByRoute, logLines, anomalyScores],
  resources: [cpuMemory, disk, eventLoop, heap, dbLatency, dbErrors, redis, healthChecks],
  alerts: [alertsOverTime],
  deployments: [requestRate, errorRatio, latency],
  users: [activeUsers, registrations, logins, features],
};

// The Traffic view's drill-down (`#/traffic?route=…`): one route's series over the range, evaluated
// only for the pages watching that route (the hub renders `$route` as an exact, escaped matcher).
const routeRequests: Panel = {
  id: "route_reqps",
  title: "Requests to the route",
  unit: "reqps",
  queries: [
    { expr: `sum by (method) (rate(${HTTP}[$__rate_interval]))`, legend: "{{method}} requests" },
    { expr: `sum by (method) (rate(${HTTP_5XX}[$__rate_interval]))`, legend: "{{method}} 5xx" },
    { expr: `sum by (method) (rate(${HTTP_4XX}[$__rate_interval]))`, legend: "{{method}} 4xx" },
  ],
  empty: "No requests to this route in this range.",
};

const routeLatency: Panel = {
  id: "route_s",
  title: "Latency of the route",
  unit: "s",
  queries: [
    { expr: quantile(0.5, LATENCY, "le, method"), legend: "{{method}} p50" },
    { expr: quantile(0.95, LATENCY, "le, method"), legend: "{{method}} p95" },
    { expr: quantile(0.99, LATENCY, "le, method"), legend: "{{method}} p99" },
  ],
  empty: "No requests to this route in this range.",
};

/** Panels a view adds for one route (its drill-down), evaluated only with a `route` parameter. */
export const ROUTE_PANELS: Partial<Record<ViewName, readonly Panel[]>> = {
  traffic: [routeRequests, routeLatency],
};

/** A route as the drill-down takes it: printable, at most 300 characters (a route label's value). */
export const ROUTE_PATTERN = /^[^\p{Cc}]{1,300}$/u;

export function isView(v: string): v is ViewName {
  return (VIEWS as readonly string[]).includes(v);
}

/** Time ranges the picker offers (those within the store's retention), and the step of each. */
export const RANGES = [
  { id: "5m", ms: 5 * 60_000, stepMs: 5_000 },
  { id: "15m", ms: 15 * 60_000, stepMs: 5_000 },
  { id: "1h", ms: 3_600_000, stepMs: 5_000 },
  { id: "6h", ms: 6 * 3_600_000, stepMs: 30_000 },
  { id: "24h", ms: 24 * 3_600_000, stepMs: 120_000 },
  { id: "7d", ms: 7 * 86_400_000, stepMs: 900_000 },
] as const;
export type RangeId = (typeof RANGES)[number]["id"];

export function rangeOf(id: string): (typeof RANGES)[number] | undefined {
  return RANGES.find((r) => r.id === id);
}

/** The steps a range may have, shortest first: a range gets the shortest that gives ≤ 720 points. */
export const STEPS_MS = [5_000, 30_000, 120_000, 900_000] as const;
export const MAX_POINTS = 720;

/**
 * The step of a range of `spanMs`, as the presets choose theirs: the shortest of STEPS_MS (and at
 * least the scrape interval) that gives at most MAX_POINTS points; undefined when none does.
 */
export function stepFor(spanMs: number, scrapeIntervalMs: number): number | undefined {
  for (const s of STEPS_MS) {
    const step = Math.max(s, scrapeIntervalMs);
    if (spanMs / step <= MAX_POINTS) return step;
  }
  return undefined;
}

/**
 * Grafana's $__rate_interval: max($__interval + scrape interval, 4 × scrape interval), where
 * $__interval is the step. In whole seconds, as PromQL durations.
 */
export function rateIntervalMs(stepMs: number, scrapeIntervalMs: number): number {
  const ms = Math.max(stepMs + scrapeIntervalMs, 4 * scrapeIntervalMs);
  return Math.ceil(ms / 1000) * 1000;
}

/** A PromQL double-quoted string literal of `value` (Go escapes: backslash and quote). */
export function promqlString(value: string): string {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/**
 * A panel's template as the query the hub runs: all instances, the rate interval, and all routes
 * or, given `route`, exactly that one (an equality matcher with the value escaped as a PromQL
 * string, never pasted into the query's syntax). `top` wraps it in topk.
 */
export function renderExpr(
  expr: string,
  o: { rateIntervalMs: number; rangeMs: number; route?: string; top?: number },
): string {
  const routed =
    o.route === undefined
      ? expr.replaceAll('"$route"', '".*"')
      : expr.replaceAll('route=~"$route"', () => `route=${promqlString(o.route as string)}`);
  const out = routed
    .replaceAll('"$instance"', '".*"')
    .replaceAll("$__rate_interval", `${Math.round(o.rateIntervalMs / 1000)}s`)
    .replaceAll("$__range", `${Math.round(o.rangeMs / 1000)}s`);
  return o.top ? `topk(${o.top}, ${out})` : out;
}
