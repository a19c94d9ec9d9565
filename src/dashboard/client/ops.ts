/// <reference lib="dom" />
// The list views: Errors and logs, Alerts (with silences made and expired from the page) and
// Deployments (with abort, promote and roll back). They read the /monitoring JSON endpoints on
// each live refresh and change state through them (same token, same checks as any client).

import { useEffect, useState } from "preact/hooks";
import { PANELS } from "../panels.js";
import { api } from "./api.js";
import { panelData } from "./data.js";
import { html } from "./html.js";
import { Sparkline } from "./spark.js";
import { Failed, Loading, PanelBox, useJson, type ViewProps } from "./views.js";

const when = (ms: number | string | null | undefined) =>
  ms === null || ms === undefined ? "–" : new Date(ms).toLocaleString();

function Listing<T>(props: {
  what: string;
  state: { data: T | undefined; error: string | undefined };
  empty: string;
  rows: (d: T) => unknown[];
  head: string[];
}) {
  const { state } = props;
  if (state.error && !state.data) return html`<${Failed} what=${props.what} error=${state.error} />`;
  if (!state.data) return html`<${Loading} what=${props.what} />`;
  const rows = props.rows(state.data);
  if (rows.length === 0) return html`<p class="state">${props.empty}</p>`;
  return html`<div class="tablewrap"><table><thead><tr>${props.head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

interface ErrorGroup {
  id: string;
  template: string;
  errorType: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
  status: string;
  samples: string[];
  routes: Record<string, number>;
}
interface Pattern {
  id: string;
  template: string;
  count: number;
  level: string;
  trend: string;
  perMinute: number[];
}
interface Anomaly {
  series: string;
  atMs: number;
  value: number;
  score: number;
}

function LogSearch() {
  const [q, setQ] = useState("");
  const [res, setRes] = useState<{
    data: { lines: Array<Record<string, unknown>> } | undefined;
    error: string | undefined;
  }>({ data: undefined, error: undefined });
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const data = await api<{ lines: Array<Record<string, unknown>> }>(
        `/monitoring/logs/search?limit=50${q ? `&q=${encodeURIComponent(q)}` : ""}`,
      );
      setRes({ data, error: undefined });
    } catch (err) {
      setRes({ data: undefined, error: (err as Error).message });
    }
  };
  return html`<section class="panel" aria-labelledby="search-h"><h3 id="search-h">Search the log files</h3>
    <form class="row" onSubmit=${submit}><label>Text<input type="search" value=${q} maxlength="200" onInput=${(e: Event) => setQ((e.target as HTMLInputElement).value)} /></label><button type="submit">Search</button></form>
    ${res.error ? html`<${Failed} what="the search" error=${res.error} />` : null}
    ${res.data ? (res.data.lines.length === 0 ? html`<p class="state">No line matches.</p>` : html`<ul>${res.data.lines.map((l) => html`<li><code>${String(l.time ?? "")} ${String(l.level ?? "")}</code> ${String(l.msg ?? "")} <code>${String(l.reqId ?? l.requestId ?? "")}</code></li>`)}</ul>`) : null}
  </section>`;
}

export function Errors(props: ViewProps) {
  const groups = useJson<{ groups: ErrorGroup[] }>("/monitoring/logs/errors?limit=50", props.tick);
  const patterns = useJson<{ patterns: Pattern[] }>("/monitoring/logs/patterns?limit=20", props.tick);
  const anomalies = useJson<{ threshold: number; anomalies: Anomaly[] }>(
    "/monitoring/logs/anomalies?limit=50",
    props.tick,
  );
  const live = props.live;
  const panel = (id: string) => {
    const p = PANELS.errors.find((x) => x.id === id);
    if (!p) return null;
    const data = live ? panelData(p, live.panels[id], live.head) : undefined;
    // The anomaly detector's threshold drawn across its scores: the points over it stand out.
    const threshold = anomalies.data?.threshold;
    if (data && id === "anomaly_scores" && threshold !== undefined)
      data.chart.series.push({
        label: `threshold ${threshold}`,
        values: data.chart.times.map(() => threshold),
      });
    return html`<${PanelBox} panel=${p} data=${data} liveError=${props.liveError} />`;
  };
  return html`<div><h2>Errors and logs</h2>
    <section class="panel" aria-labelledby="groups-h"><h3 id="groups-h">Error groups</h3>
      <${Listing} what="the error groups" state=${groups} empty="No error logged since the log analysis started." head=${["Status", "Error", "Count", "Routes", "First seen", "Last seen", "Sample"]}
        rows=${(d: { groups: ErrorGroup[] }) => d.groups.map((g) => html`<tr><td class=${`status-${g.status === "ongoing" ? "warn" : "fail"}`}>${g.status}</td><td><code>${g.errorType}</code> ${g.template}</td><td class="num">${g.count}</td><td>${Object.keys(g.routes).join(", ")}</td><td>${when(g.firstSeen)}</td><td>${when(g.lastSeen)}</td><td><pre>${g.samples[0] ?? ""}</pre></td></tr>`)} />
    </section>
    <div class="grid">${panel("errors_by_route")}${panel("log_lines")}${panel("anomaly_scores")}</div>
    <section class="panel" aria-labelledby="tpl-h"><h3 id="tpl-h">Top log templates</h3>
      <${Listing} what="the templates" state=${patterns} empty="No log line analysed yet." head=${["Level", "Template", "Count", "Trend", "Last hour (per minute)"]}
        rows=${(d: { patterns: Pattern[] }) => d.patterns.map((p) => html`<tr><td>${p.level}</td><td><code>${p.template}</code></td><td class="num">${p.count}</td><td>${p.trend}</td><td><${Sparkline} values=${p.perMinute ?? []} label=${`${p.template.slice(0, 60)}, lines per minute`} /> <span class="muted">${(p.perMinute ?? []).at(-1) ?? ""}/min</span></td></tr>`)} />
    </section>
    <section class="panel" aria-labelledby="anom-h"><h3 id="anom-h">Anomalies (points over the threshold)</h3>
      <${Listing} what="the anomalies" state=${anomalies} empty="No point scored over the threshold." head=${["Series", "At", "Value", "Score"]}
        rows=${(d: { threshold: number; anomalies: Anomaly[] }) => d.anomalies.map((a) => html`<tr><td>${a.series}</td><td>${when(a.atMs)}</td><td class="num">${a.value}</td><td class=${`num ${a.score >= d.threshold ? "status-fail" : ""}`}>${a.score.toFixed(2)}${a.score >= d.threshold ? " (over)" : ""}</td></tr>`)} />
    </section>
    <${LogSearch} />
  </div>`;
}

interface AlertRow {
  /** The key of POST /monitoring/alerts/:fingerprint/ack (Alertmanager's, from the labels). */
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
  since: string | null;
  value: unknown;
  notification?: { state: string; silencedBy: string[]; inhibitedBy: string[] };
  /** Who acknowledged the firing alert, and when (POST /monitoring/alerts/:fingerprint/ack). */
  ack?: { by: string; at: string } | null;
}
interface AlertGroup {
  receiver: string;
  labels: Record<string, string>;
}
interface Silence {
  id: string;
  status: { state: string };
  matchers: Array<{ name: string; value: string; isRegex: boolean; isEqual?: boolean }>;
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}
interface HistoryEntry {
  id: number;
  at: string;
  kind: string;
  alertname: string;
  detail: Record<string, unknown>;
}

type Matcher = { name: string; value: string };

function SilenceForm(props: { initial: Matcher[]; onDone: (msg: string) => void }) {
  const [text, setText] = useState(props.initial.map((m) => `${m.name}=${m.value}`).join("\n"));
  const [hours, setHours] = useState("2");
  const [by, setBy] = useState("dashboard");
  const [comment, setComment] = useState("");
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    const matchers = text
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => {
        const i = l.indexOf("=");
        return { name: l.slice(0, i).trim(), value: l.slice(i + 1).trim(), isRegex: false, isEqual: true };
      });
    if (matchers.length === 0 || matchers.some((m) => !m.name)) {
      setError("Write one matcher a line, as name=value");
      return;
    }
    try {
      const endsAt = new Date(Date.now() + Number(hours) * 3_600_000).toISOString();
      const r = await api<{ silenceID: string }>("/monitoring/silences", {
        method: "POST",
        body: { matchers, endsAt, createdBy: by, comment: comment || "silenced from the dashboard" },
      });
      setError(undefined);
      props.onDone(`Silence ${r.silenceID} created`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return html`<form class="row" onSubmit=${submit} aria-labelledby="new-silence-h">
    <label>Matchers (name=value, one a line)<textarea rows="3" cols="40" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}></textarea></label>
    <label>Hours<input type="number" min="0.1" max="720" step="0.1" value=${hours} onInput=${(e: Event) => setHours((e.target as HTMLInputElement).value)} /></label>
    <label>Created by<input value=${by} onInput=${(e: Event) => setBy((e.target as HTMLInputElement).value)} /></label>
    <label>Comment<input value=${comment} onInput=${(e: Event) => setComment((e.target as HTMLInputElement).value)} /></label>
    <button class="primary" type="submit">Create silence</button>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
  </form>`;
}

export function Alerts(props: ViewProps) {
  const [bump, setBump] = useState(0);
  const [note, setNote] = useState<string | undefined>();
  const tick = props.tick + bump * 1e6;
  const alerts = useJson<{ alerts: AlertRow[]; groups: AlertGroup[] }>("/monitoring/alerts?limit=200", tick);
  const silences = useJson<Silence[]>("/monitoring/silences", tick);
  const history = useJson<{ entries: HistoryEntry[] }>("/monitoring/alerts/history?limit=50", tick);
  // Matchers prefilled from the URL (a notification's link) or from an alert's Silence button.
  // `receiver` (Alertmanager's link in every notification) filters on the route, not a label.
  const receiver = props.params.get("receiver");
  const fromUrl = [...props.params]
    .filter(([k]) => !["range", "from", "to", "receiver"].includes(k))
    .map(([name, value]) => ({ name, value }));
  const [prefill, setPrefill] = useState<Matcher[]>(fromUrl);
  // A new link on the open page (same document, new hash) prefills anew.
  const urlKey = JSON.stringify(fromUrl);
  useEffect(() => setPrefill(JSON.parse(urlKey) as Matcher[]), [urlKey]);
  const done = (msg: string) => {
    setNote(msg);
    setBump((b) => b + 1);
  };
  // Acknowledge a firing alert (it stops escalating): the alert is named by the fingerprint the
  // listing gives.
  const acknowledge = async (a: AlertRow) => {
    const by = window.prompt(`Acknowledge ${a.labels.alertname ?? "the alert"} as`, "dashboard");
    if (by === null) return;
    try {
      const r = await api<{ by: string; acknowledgedAt: string }>(
        `/monitoring/alerts/${encodeURIComponent(a.fingerprint)}/ack`,
        { method: "POST", body: { by: by.trim() || "dashboard" } },
      );
      done(`${a.labels.alertname ?? "Alert"} acknowledged by ${r.by} at ${when(r.acknowledgedAt)}`);
    } catch (err) {
      setNote(`Could not acknowledge: ${(err as Error).message}`);
    }
  };
  const expire = async (id: string) => {
    try {
      await api(`/monitoring/silences/${encodeURIComponent(id)}`, { method: "DELETE" });
      done(`Silence ${id} expired`);
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  const extend = async (x: Silence) => {
    try {
      const endsAt = new Date(Math.max(Date.parse(x.endsAt), Date.now()) + 3_600_000).toISOString();
      const { id, matchers, startsAt, createdBy, comment } = x;
      await api("/monitoring/silences", {
        method: "POST",
        body: { id, matchers, startsAt, endsAt, createdBy, comment },
      });
      done(`Silence ${id} extended to ${when(endsAt)}`);
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  const routedTo = (a: AlertRow, groups: AlertGroup[]) =>
    groups.some(
      (g) => g.receiver === receiver && Object.entries(g.labels).every(([k, v]) => a.labels[k] === v),
    );
  const matches = (a: AlertRow, groups: AlertGroup[]) =>
    fromUrl.every((m) => a.labels[m.name] === m.value) && (!receiver || routedTo(a, groups));
  const p = PANELS.alerts[0];
  return html`<div><h2>Alerts</h2>
    ${note ? html`<p role="status">${note}</p>` : null}
    <section class="panel" aria-labelledby="active-h"><h3 id="active-h">Firing and pending${receiver ? ` routed to ${receiver}` : ""}${fromUrl.length ? " (matching the link)" : ""}</h3>
      <${Listing} what="the alerts" state=${alerts} empty="No alert is pending or firing." head=${["State", "Alert", "Labels", "Value", "Since", "Notification", ""]}
        rows=${(d: { alerts: AlertRow[]; groups?: AlertGroup[] }) =>
          d.alerts
            .filter((a) => matches(a, d.groups ?? []))
            .map(
              (a) => html`<tr data-alert=${a.labels.alertname}>
          <td class=${`status-${a.state}`}>${a.state}</td><td>${a.labels.alertname}<div class="muted">${a.annotations?.summary ?? ""}</div></td>
          <td><code>${Object.entries(a.labels)
            .filter(([k]) => k !== "alertname")
            .map(([k, v]) => `${k}=${v}`)
            .join(", ")}</code></td>
          <td class="num">${a.value === null || a.value === undefined ? "–" : String(Number(a.value))}</td><td>${when(a.since)}</td>
          <td>${a.notification ? (a.notification.silencedBy.length ? `silenced by ${a.notification.silencedBy.join(", ")}` : a.notification.inhibitedBy.length ? `inhibited by ${a.notification.inhibitedBy.join(", ")}` : a.notification.state) : ""}${a.ack ? html`<div class="acked">acknowledged by ${a.ack.by} at ${when(a.ack.at)}</div>` : null}</td>
          <td><button type="button" onClick=${() => setPrefill(Object.entries(a.labels).map(([name, value]) => ({ name, value })))}>Silence…</button>${a.state === "firing" && !a.ack ? html` <button type="button" class="ack" onClick=${() => acknowledge(a)}>Ack</button>` : null}</td></tr>`,
            )} />
    </section>
    <section class="panel" aria-labelledby="new-silence-h"><h3 id="new-silence-h">New silence</h3>
      <${SilenceForm} key=${JSON.stringify(prefill)} initial=${prefill} onDone=${done} />
    </section>
    <section class="panel" aria-labelledby="sil-h"><h3 id="sil-h">Silences</h3>
      <${Listing} what="the silences" state=${silences} empty="No silence." head=${["State", "Matchers", "Ends", "By", "Comment", ""]}
        rows=${(d: Silence[]) =>
          d.map(
            (
              s,
            ) => html`<tr data-silence=${s.id}><td>${s.status.state}</td><td><code>${s.matchers.map((m) => `${m.name}${m.isEqual === false ? "!" : ""}${m.isRegex ? "=~" : "="}${m.value}`).join(", ")}</code></td>
          <td>${when(s.endsAt)}</td><td>${s.createdBy}</td><td>${s.comment}</td>
          <td>${
            s.status.state !== "expired"
              ? html`<button type="button" onClick=${() => extend(s)}>Extend 1 h</button> <button type="button" class="danger" onClick=${() => expire(s.id)}>Expire</button>`
              : null
          }</td></tr>`,
          )} />
    </section>
    <section class="panel" aria-labelledby="hist-h"><h3 id="hist-h">Notification history</h3>
      <${Listing} what="the history" state=${history} empty="Nothing was notified yet." head=${["At", "Alert", "What", "Detail"]}
        rows=${(d: { entries: HistoryEntry[] }) => d.entries.map((e) => html`<tr><td>${when(e.at)}</td><td>${e.alertname}</td><td>${e.kind}</td><td><code>${JSON.stringify(e.detail).slice(0, 200)}</code></td></tr>`)} />
    </section>
    ${p ? html`<${PanelBox} panel=${p} data=${props.live ? panelData(p, props.live.panels[p.id], props.live.head) : undefined} liveError=${props.liveError} />` : null}
  </div>`;
}

interface Deployment {
  id: string;
  version: string;
  environment: string;
  phase: string;
  outcome: string | null;
  startedAt: number;
  finishedAt: number | null;
  reason: string | null;
  endsAt: number;
}
interface Transition {
  at: number;
  from: string | null;
  to: string;
  reason: string;
  values?: Record<string, unknown>;
}
interface Check {
  check: string;
  outcome: string;
  explanation: string;
}
interface DeploymentView extends Deployment {
  transitions: Transition[];
  verdict: { outcome: string; reason: string; checks: Check[] } | null;
}

const ACTIVE = new Set(["pending", "verifying", "healthy", "degraded"]);

function DeploymentDetail(props: { id: string; tick: number; onAction: () => void }) {
  const [note, setNote] = useState<string | undefined>();
  const d = useJson<{ deployment: DeploymentView }>(
    `/monitoring/deployments/${encodeURIComponent(props.id)}`,
    props.tick,
  );
  const act = async (action: "abort" | "promote" | "rollback") => {
    if (!window.confirm(`${action} deployment ${props.id}?`)) return;
    try {
      await api(`/monitoring/deployments/${encodeURIComponent(props.id)}/${action}`, {
        method: "POST",
        body: { reason: `${action} from the dashboard` },
      });
      setNote(`${action}: done`);
      props.onAction();
    } catch (err) {
      setNote((err as Error).message);
    }
  };
  if (d.error && !d.data) return html`<${Failed} what=${`deployment ${props.id}`} error=${d.error} />`;
  if (!d.data) return html`<${Loading} what=${`deployment ${props.id}`} />`;
  const x = d.data.deployment;
  return html`<section class="panel" aria-labelledby="dep-h"><h3 id="dep-h">Deployment ${x.id}: ${x.version} (${x.environment})</h3>
    <p>Phase <strong class=${`status-${x.outcome ?? x.phase}`}>${x.phase}</strong>${x.outcome ? ` · outcome ${x.outcome}` : ""}${x.reason ? ` · ${x.reason}` : ""}</p>
    <div class="row">
      ${ACTIVE.has(x.phase) ? html`<button type="button" onClick=${() => act("promote")}>Promote</button> <button type="button" onClick=${() => act("abort")}>Abort</button>` : null}
      <button type="button" class="danger" onClick=${() => act("rollback")}>Roll back</button>
    </div>
    ${note ? html`<p role="status">${note}</p>` : null}
    <h3>Phase timeline</h3>
    <ol class="timeline">${x.transitions.map((t) => html`<li><strong>${t.to}</strong> <span class="muted">${when(t.at)}</span> — ${t.reason}${t.values ? html` <code>${JSON.stringify(t.values).slice(0, 300)}</code>` : null}</li>`)}</ol>
    <h3>Latest verdict</h3>
    ${
      x.verdict
        ? html`<p class=${`status-${x.verdict.outcome === "pass" ? "pass" : x.verdict.outcome === "fail" ? "fail" : "warn"}`}>${x.verdict.outcome}: ${x.verdict.reason}</p>
      <ul>${x.verdict.checks.map((c) => html`<li><strong>${c.check}</strong> ${c.outcome} — ${c.explanation}</li>`)}</ul>`
        : html`<p class="state">No look analysed yet (the first comes after the first interval).</p>`
    }
  </section>`;
}

export function Deployments(props: ViewProps) {
  const [bump, setBump] = useState(0);
  const tick = props.tick + bump * 1e6;
  const list = useJson<{ deployments: Deployment[]; total: number }>(
    "/monitoring/deployments?limit=50",
    tick,
  );
  const id = props.params.get("id");
  const live = props.live;
  return html`<div><h2>Deployments</h2>
    ${id ? html`<${DeploymentDetail} id=${id} tick=${tick} onAction=${() => setBump((b) => b + 1)} />` : null}
    <section class="panel" aria-labelledby="deps-h"><h3 id="deps-h">Running and past deployments</h3>
      <${Listing} what="the deployments" state=${list} empty="No deployment was watched yet: start one with POST /monitoring/deployments or tug deploy watch." head=${["Id", "Version", "Phase", "Outcome", "Started", "Ends / ended", "Reason"]}
        rows=${(d: { deployments: Deployment[] }) =>
          d.deployments.map(
            (
              x,
            ) => html`<tr><td><a href=${`#/deployments?id=${encodeURIComponent(x.id)}`}>${x.id}</a></td><td>${x.version}</td>
          <td class=${`status-${x.phase}`}>${x.phase}</td><td>${x.outcome ?? "–"}</td><td>${when(x.startedAt)}</td><td>${when(x.finishedAt ?? x.endsAt)}</td><td>${x.reason ?? ""}</td></tr>`,
          )} />
    </section>
    <div class="grid">${PANELS.deployments.map((p) => html`<${PanelBox} key=${p.id} panel=${p} data=${live ? panelData(p, live.panels[p.id], live.head) : undefined} liveError=${props.liveError} />`)}</div>
  </div>`;
}
