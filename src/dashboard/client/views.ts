/// <reference lib="dom" />
// The chart views: Overview, Traffic, Errors and logs, Resources, Users. Each draws its panels
// from the live payload and reads the JSON endpoints it needs on each refresh.

import { useEffect, useMemo, useState } from "preact/hooks";
import type { SlowQueryPattern } from "../../logs/analysis/slowqueries.js";
import { PANELS, type Panel, ROUTE_PANELS, type Unit, type ViewName } from "../panels.js";
import { api } from "./api.js";
import { Chart, fmt } from "./chart.js";
import { hasData, type LivePayload, lastValue, type PanelData, panelData } from "./data.js";
import { html } from "./html.js";
import { SloTable } from "./slo.js";

export interface ViewProps {
  live: LivePayload | undefined;
  liveError: string | undefined;
  params: URLSearchParams;
  /** Changes on every live refresh: views re-read their JSON endpoints then. */
  tick: number;
}

/** A JSON endpoint read on each refresh: its data, or why there is none. */
export function useJson<T>(
  path: string | null,
  tick: number,
): { data: T | undefined; error: string | undefined } {
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined }>({
    data: undefined,
    error: undefined,
  });
  useEffect(() => {
    if (!path) return;
    let live = true;
    api<T>(path).then(
      (data) => live && setState({ data, error: undefined }),
      (err: Error) => live && setState((s) => ({ data: s.data, error: err.message })),
    );
    return () => {
      live = false;
    };
  }, [path, tick]);
  return state;
}

export function Loading(props: { what: string }) {
  return html`<p class="state" role="status">Loading ${props.what}…</p>`;
}

export function Failed(props: { what: string; error: string }) {
  return html`<p class="state error" role="alert">Could not load ${props.what}: ${props.error}</p>`;
}

function panelsOf(view: ViewName, live: LivePayload | undefined): Map<string, PanelData> {
  const out = new Map<string, PanelData>();
  if (!live) return out;
  for (const p of PANELS[view]) out.set(p.id, panelData(p, live.panels[p.id], live.head));
  return out;
}

export function PanelBox(props: {
  panel: Panel;
  data: PanelData | undefined;
  liveError: string | undefined;
}) {
  const { panel, data } = props;
  const id = `p-${panel.id}`;
  let body: unknown;
  if (!data)
    body = props.liveError
      ? html`<${Failed} what=${panel.title} error=${props.liveError} />`
      : html`<${Loading} what=${panel.title} />`;
  else if (data.error && data.chart.series.length === 0)
    body = html`<${Failed} what=${panel.title} error=${data.error} />`;
  else if (data.chart.series.length === 0) body = html`<p class="state">${panel.empty}</p>`;
  else
    body = html`${hasData(data) ? null : html`<p class="state">${panel.empty}</p>`}
      <${Chart} data=${data.chart} unit=${panel.unit} title=${panel.title} />`;
  return html`<section class="panel" aria-labelledby=${id} data-panel=${panel.id}>
    <h3 id=${id}>${panel.title}</h3>
    ${body}
  </section>`;
}

function Panels(props: {
  view: ViewName;
  ids?: string[];
  live: LivePayload | undefined;
  liveError: string | undefined;
}) {
  const data = useMemo(() => panelsOf(props.view, props.live), [props.view, props.live]);
  // A panel of a part the app may not have (Redis) shows only when the server evaluated it.
  const panels = PANELS[props.view].filter(
    (p) =>
      !p.table &&
      (!props.ids || props.ids.includes(p.id)) &&
      (!p.when || props.live?.panels[p.id] !== undefined),
  );
  return html`<div class="grid">
    ${panels.map((p) => html`<${PanelBox} key=${p.id} panel=${p} data=${data.get(p.id)} liveError=${props.liveError} />`)}
  </div>`;
}

function Card(props: { label: string; value: unknown; cls?: string }) {
  return html`<div class="card"><div class="label">${props.label}</div><div class=${`value ${props.cls ?? ""}`}>${props.value}</div></div>`;
}

interface OverviewExtra {
  service: string;
  version: string;
  environment: string;
  state: string;
  uptimeSeconds: number;
  status: string;
  checks: Record<
    string,
    Array<{ status: string; observedValue?: unknown; observedUnit?: string; output?: string }>
  >;
  alerts: { pending: number; firing: number };
  deployment: { id: string; version: string; phase: string; outcome?: string | null } | null;
}

function uptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

function stat(live: LivePayload | undefined, id: string, query = 0): number | null {
  const p = PANELS.overview.find((x) => x.id === id);
  if (!live || !p) return null;
  const d = panelData(p, live.panels[id], live.head);
  const i = d.query.indexOf(query);
  return i >= 0 ? lastValue(d.chart.series[i]?.values ?? []) : null;
}

export function Overview(props: ViewProps) {
  const x = props.live?.extra as OverviewExtra | undefined;
  const s = (id: string, q: number, unit: Unit) => fmt(stat(props.live, id, q), unit);
  const checks = x ? Object.entries(x.checks) : [];
  return html`<div>
    <h2>Overview</h2>
    ${!props.live && props.liveError ? html`<${Failed} what="the overview" error=${props.liveError} />` : null}
    <div class="cards">
      <${Card} label="Health" value=${x?.status ?? "…"} cls=${`status-${x?.status}`} />
      <${Card} label="Request rate" value=${s("request_rate", 0, "reqps")} />
      <${Card} label="5xx ratio" value=${s("error_ratio", 0, "percentunit")} />
      <${Card} label="p50 / p95 / p99" value=${`${s("latency", 0, "s")} / ${s("latency", 1, "s")} / ${s("latency", 2, "s")}`} />
      <${Card} label="In flight" value=${s("in_flight", 0, "short")} />
      <${Card} label="Alerts firing / pending" value=${x ? html`<a href="#/alerts">${x.alerts.firing} / ${x.alerts.pending}</a>` : "…"} cls=${x && x.alerts.firing > 0 ? "status-firing" : ""} />
      <${Card} label="Deployment" value=${x?.deployment ? html`<a href=${`#/deployments?id=${encodeURIComponent(x.deployment.id)}`}>${x.deployment.version} · ${x.deployment.phase}</a>` : "none"} />
      <${Card} label="Uptime" value=${x ? uptime(x.uptimeSeconds) : "…"} />
      <${Card} label="Version" value=${x ? `${x.version} (${x.environment})` : "…"} />
    </div>
    <section class="panel" aria-labelledby="checks-h">
      <h3 id="checks-h">Health checks</h3>
      ${
        !x
          ? html`<${Loading} what="the health checks" />`
          : checks.length === 0
            ? html`<p class="state">No health check is configured.</p>`
            : html`<div class="tablewrap"><table>
          <thead><tr><th scope="col">Check</th><th scope="col">Status</th><th scope="col" class="num">Value</th><th scope="col">Output</th></tr></thead>
          <tbody>${checks.flatMap(([name, list]) =>
            list.map(
              (c) => html`<tr><td>${name}</td><td class=${`status-${c.status}`}>${c.status}</td>
              <td class="num">${c.observedValue === undefined ? "–" : `${c.observedValue} ${c.observedUnit ?? ""}`}</td><td>${c.output ?? ""}</td></tr>`,
            ),
          )}</tbody></table></div>`
      }
    </section>
    <${SloTable} live=${props.live} liveError=${props.liveError} />
    <${Panels} view="overview" live=${props.live} liveError=${props.liveError} />
  </div>`;
}

type RouteRow = {
  key: string;
  method: string;
  route: string;
  rate: number | null;
  e5: number | null;
  e4: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
};

function routeRows(live: LivePayload | undefined): RouteRow[] {
  const p = PANELS.traffic.find((x) => x.id === "routes");
  if (!live || !p) return [];
  const d = panelData(p, live.panels.routes, live.head);
  const rows = new Map<string, RouteRow>();
  const fields = ["rate", "e5", "e4", "p50", "p95", "p99"] as const;
  d.metrics.forEach((m, i) => {
    const key = `${m.method ?? ""} ${m.route ?? ""}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        key,
        method: m.method ?? "",
        route: m.route ?? "",
        rate: null,
        e5: null,
        e4: null,
        p50: null,
        p95: null,
        p99: null,
      };
      rows.set(key, row);
    }
    const f = fields[d.query[i] ?? 0];
    if (f) row[f] = lastValue(d.chart.series[i]?.values ?? []);
  });
  return [...rows.values()];
}

const COLUMNS: Array<[keyof RouteRow, string, Unit | null]> = [
  ["route", "Route", null],
  ["rate", "Rate", "reqps"],
  ["e5", "5xx", "reqps"],
  ["e4", "4xx", "reqps"],
  ["p50", "p50", "s"],
  ["p95", "p95", "s"],
  ["p99", "p99", "s"],
];

export function Traffic(props: ViewProps) {
  const [sort, setSort] = useState<{ by: keyof RouteRow; desc: boolean }>({ by: "rate", desc: true });
  const selected = props.params.get("route");
  // The drill-down keeps the view's time range.
  const drillLink = (route: string) => {
    const p = new URLSearchParams(props.params);
    p.set("route", route);
    return `#/traffic?${p}`;
  };
  const rows = useMemo(() => routeRows(props.live), [props.live]);
  const sorted = [...rows].sort((a, b) => {
    const x = a[sort.by] ?? -1;
    const y = b[sort.by] ?? -1;
    return (x < y ? -1 : x > y ? 1 : 0) * (sort.desc ? -1 : 1);
  });
  const head = (c: (typeof COLUMNS)[number]) => {
    const active = sort.by === c[0];
    return html`<th scope="col" class=${c[2] ? "num" : ""} aria-sort=${active ? (sort.desc ? "descending" : "ascending") : "none"}>
      <button type="button" onClick=${() => setSort({ by: c[0], desc: active ? !sort.desc : true })}>${c[1]}${active ? (sort.desc ? " ↓" : " ↑") : ""}</button></th>`;
  };
  return html`<div>
    <h2>Traffic</h2>
    <section class="panel" aria-labelledby="routes-h" data-panel="routes">
      <h3 id="routes-h">Routes (last values; select a route to drill down)</h3>
      ${
        !props.live
          ? props.liveError
            ? html`<${Failed} what="the routes" error=${props.liveError} />`
            : html`<${Loading} what="the routes" />`
          : rows.length === 0
            ? html`<p class="state">${PANELS.traffic[0]?.empty}</p>`
            : html`<div class="tablewrap"><table><thead><tr>${COLUMNS.map(head)}</tr></thead><tbody>
          ${sorted.map(
            (r) => html`<tr class=${selected === r.route ? "selected" : ""}>
              <td><a href=${drillLink(r.route)}>${r.method} ${r.route}</a></td>
              ${COLUMNS.slice(1).map((c) => html`<td class="num">${fmt(r[c[0]] as number | null, c[2] as Unit)}</td>`)}</tr>`,
          )}</tbody></table></div>`
      }
    </section>
    ${selected ? html`<${RouteDrill} route=${selected} live=${props.live} tick=${props.tick} />` : null}
    <${Panels} view="traffic" live=${props.live} liveError=${props.liveError} />
  </div>`;
}

interface Figures {
  current: number | null;
  previous: number | null;
  beforeDeployment: number | null;
}
interface RouteTrend {
  route: string;
  requests: number;
  latencyP95: Figures;
  errorRate: Figures;
  direction: string;
}
type SlowQuery = SlowQueryPattern;

/**
 * One of the drill-down's charts: the live payload carries the route's own series over the range
 * (a route group of the hub, `ROUTE_PANELS`), the table only its last values.
 */
function routeChart(live: LivePayload | undefined, route: string, id: string, title: string) {
  const p = ROUTE_PANELS.traffic?.find((x) => x.id === id) as Panel;
  const panel: Panel = { ...p, title };
  // A frame of another route (the stream before it switched) is not this route's.
  if (!live || live.head.route !== route) return { panel, data: undefined };
  return { panel, data: panelData(p, live.panels[id], live.head) };
}

const pct = (v: number | null) => (v === null ? "–" : `${Math.round(v * 1000) / 10} %`);

/**
 * One route: its rate and errors, its latency percentiles, its trend against the hour before and
 * the last deployment (log analysis), the slow queries, and the error log lines that mention it
 * (with their request ids, as in the logs).
 */
function RouteDrill(props: { route: string; live: LivePayload | undefined; tick: number }) {
  const logs = useJson<{ lines: Array<Record<string, unknown>> }>(
    `/monitoring/logs/search?level=warn&q=${encodeURIComponent(props.route)}&limit=20`,
    props.tick,
  );
  const trends = useJson<{ routes: RouteTrend[]; slowQueries: SlowQuery[] }>(
    "/monitoring/logs/trends",
    props.tick,
  );
  const requests = routeChart(props.live, props.route, "route_reqps", `Requests to ${props.route}`);
  const latency = routeChart(props.live, props.route, "route_s", `Latency of ${props.route}`);
  const trend = trends.data?.routes.find((r) => r.route === props.route);
  return html`<section class="panel" aria-labelledby="drill-h">
    <h3 id="drill-h">Route ${props.route} <a href="#/traffic">(all routes)</a></h3>
    <div class="grid">
      <${PanelBox} panel=${requests.panel} data=${requests.data} liveError=${undefined} />
      <${PanelBox} panel=${latency.panel} data=${latency.data} liveError=${undefined} />
    </div>
    <h3>Trend (from the access log)</h3>
    ${
      trends.error
        ? html`<${Failed} what="the trends" error=${trends.error} />`
        : !trends.data
          ? html`<${Loading} what="the trends" />`
          : !trend
            ? html`<p class="state">No access line of this route in the last hour (log analysis off, or sampled out).</p>`
            : html`<p>${trend.requests} requests; p95 ${fmt(trend.latencyP95.current, "s")} (hour before ${fmt(trend.latencyP95.previous, "s")}, before the last deployment ${fmt(trend.latencyP95.beforeDeployment, "s")});
              errors ${pct(trend.errorRate.current)} (before ${pct(trend.errorRate.previous)}); ${trend.direction}</p>`
    }
    <h3>Slow queries (all routes)</h3>
    ${
      !trends.data
        ? null
        : trends.data.slowQueries.length === 0
          ? html`<p class="state">No query took longer than database.slowQueryThresholdMs.</p>`
          : html`<div class="tablewrap"><table><thead><tr><th scope="col">Query</th><th scope="col" class="num">Count</th><th scope="col" class="num">Mean</th><th scope="col" class="num">Max</th></tr></thead>
            <tbody>${trends.data.slowQueries.slice(0, 10).map((q) => html`<tr><td><code>${q.pattern}</code></td><td class="num">${q.count}</td><td class="num">${fmt(q.meanMs / 1000, "s")}</td><td class="num">${fmt(q.maxMs / 1000, "s")}</td></tr>`)}</tbody></table></div>`
    }
    <h3>Recent warning and error log lines</h3>
    ${
      logs.error
        ? html`<${Failed} what="the log lines" error=${logs.error} />`
        : !logs.data
          ? html`<${Loading} what="the log lines" />`
          : (logs.data.lines ?? []).length === 0
            ? html`<p class="state">No warning or error line mentions this route in the log file.</p>`
            : html`<ul>${(logs.data.lines ?? []).map((l) => html`<li><code>${String(l.time ?? "")} ${String(l.reqId ?? l.requestId ?? "")}</code> ${String(l.statusCode ?? "")} ${String(l.msg ?? "")}</li>`)}</ul>`
    }
  </section>`;
}

export function Resources(props: ViewProps) {
  return html`<div><h2>Resources</h2><${Panels} view="resources" live=${props.live} liveError=${props.liveError} /></div>`;
}

export function Users(props: ViewProps) {
  return html`<div><h2>Users</h2><${Panels} view="users" live=${props.live} liveError=${props.liveError} /></div>`;
}
