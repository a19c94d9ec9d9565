/// <reference lib="dom" />
// The dashboard page (docs/dashboard.md). Views are addressed by the URL's hash (#/alerts?…) so
// notifications, the status JSON and the docs link straight to one.
//
// Decision: Preact + htm rather than Lit. Preact is 4 kB gzipped and htm 1 kB; views are plain
// functions of the live payload, re-rendered on each refresh by a small virtual DOM diff, with
// no build step for templates (htm's tagged templates, not JSX). Lit (≈6 kB) renders into web
// components whose shadow roots keep the global stylesheet and the accessibility checker's view
// of the page apart, for no gain on a single page that owns its whole document.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { isView, type ViewName } from "../panels.js";
import { ApiError, api, getToken, setToken, stream } from "./api.js";
import type { LivePayload } from "./data.js";
import { html } from "./html.js";
import { Alerts, Deployments, Errors } from "./ops.js";
import { RangePicker, rangeOfParams, rangeQuery } from "./range.js";
import { Overview, Resources, Traffic, Users, type ViewProps } from "./views.js";

interface Config {
  service: { name: string; version: string };
  environment: string;
  retentionMs: number;
  views: string[];
  ranges: Array<{ id: string; ms: number; refreshMs: number }>;
}

const TITLES: Record<ViewName, string> = {
  overview: "Overview",
  traffic: "Traffic",
  errors: "Errors and logs",
  resources: "Resources",
  alerts: "Alerts",
  deployments: "Deployments",
  users: "Users",
};

const VIEW_COMPONENTS: Record<ViewName, (p: ViewProps) => unknown> = {
  overview: Overview,
  traffic: Traffic,
  errors: Errors,
  resources: Resources,
  alerts: Alerts,
  deployments: Deployments,
  users: Users,
};

interface Route {
  view: string;
  params: URLSearchParams;
}

/**
 * `#/<view>[/<id>][?params]`. A path after the view is its item: `#/deployments/<id>` (the
 * deployment alerts' link) is `#/deployments?id=<id>`.
 */
function parseHash(): Route {
  const h = location.hash.replace(/^#\/?/, "");
  const q = h.indexOf("?");
  const path = (q >= 0 ? h.slice(0, q) : h) || "overview";
  const params = new URLSearchParams(q >= 0 ? h.slice(q + 1) : "");
  const slash = path.indexOf("/");
  if (slash < 0) return { view: path, params };
  const item = path.slice(slash + 1);
  if (item) params.set("id", decodeURIComponent(item));
  return { view: path.slice(0, slash), params };
}

function useRoute(): Route {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

function SignIn(props: { error: string | undefined; onToken: (t: string) => void }) {
  const [value, setValue] = useState("");
  return html`<main class="shell" id="main"><div class="signin panel">
    <h1>TUG monitoring</h1>
    <p>This instance needs its monitoring token (<code>MONITORING_TOKEN</code>). It is kept in this tab's session storage only, and sent as an Authorization header.</p>
    <form onSubmit=${(e: Event) => {
      e.preventDefault();
      if (value.trim()) props.onToken(value.trim());
    }}>
      <label>Monitoring token<input type="password" name="token" autocomplete="current-password" required value=${value}
        onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} /></label>
      <button class="primary" type="submit">Sign in</button>
      ${props.error ? html`<p class="error" role="alert">${props.error}</p>` : null}
    </form>
  </div></main>`;
}

/**
 * The live payload of a view's query (view, range or from/to, route): one shared evaluation per
 * interval, pushed by the server.
 */
function useLive(view: ViewName | undefined, query: string, enabled: boolean) {
  const [state, setState] = useState<{
    live: LivePayload | undefined;
    error: string | undefined;
    connected: boolean;
    tick: number;
  }>({
    live: undefined,
    error: undefined,
    connected: false,
    tick: 0,
  });
  useEffect(() => {
    if (!view || !enabled) return;
    setState({ live: undefined, error: undefined, connected: false, tick: 0 });
    return stream(`/monitoring/dashboard/live?view=${view}&${query}`, {
      onOpen: () => setState((s) => ({ ...s, connected: true, error: undefined })),
      onError: (err) => setState((s) => ({ ...s, connected: false, error: err.message })),
      onEvent: (event, data) => {
        if (event !== "data") return;
        try {
          const live = JSON.parse(data) as LivePayload;
          setState((s) => ({ live, error: undefined, connected: true, tick: s.tick + 1 }));
        } catch (err) {
          setState((s) => ({ ...s, error: `a live update could not be read: ${(err as Error).message}` }));
        }
      },
    });
  }, [view, query, enabled]);
  return state;
}

function App() {
  const route = useRoute();
  const [config, setConfig] = useState<Config | undefined>();
  const [auth, setAuth] = useState<{ needed: boolean; error: string | undefined }>({
    needed: false,
    error: undefined,
  });
  const [loadError, setLoadError] = useState<string | undefined>();
  const [attempt, setAttempt] = useState(0);
  const choice = rangeOfParams(route.params);
  const range = choice.range;
  useEffect(() => {
    api<Config>("/monitoring/dashboard/config").then(
      (c) => {
        setConfig(c);
        setAuth({ needed: false, error: undefined });
      },
      (err: Error) => {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
          // A token was sent and refused: say so, and forget it.
          const refused = getToken() !== null;
          setToken(null);
          setAuth({ needed: true, error: refused ? `That token is wrong: ${err.message}` : undefined });
        } else setLoadError(err.message);
      },
    );
  }, [attempt]);
  const view = isView(route.view) ? route.view : undefined;
  const query = rangeQuery(choice);
  // The Traffic view's drill-down: the server evaluates that route's series for this page's group.
  const drill = view === "traffic" ? route.params.get("route") : null;
  if (drill) query.set("route", drill);
  const rangeKnown = range === "custom" || config?.ranges.some((r) => r.id === range) === true;
  const live = useLive(view, query.toString(), rangeKnown);
  if (auth.needed)
    return html`<${SignIn} error=${auth.error} onToken=${(t: string) => {
      setToken(t);
      setAttempt((a) => a + 1);
    }} />`;
  if (loadError)
    return html`<main class="shell" id="main"><p class="state error" role="alert">The dashboard could not start: ${loadError}</p></main>`;
  if (!config)
    return html`<main class="shell" id="main"><p class="state" role="status">Loading the dashboard…</p></main>`;
  const setRange = (c: ReturnType<typeof rangeOfParams>) => {
    const p = new URLSearchParams(route.params);
    for (const k of ["range", "from", "to"]) p.delete(k);
    for (const [k, v] of rangeQuery(c)) p.set(k, v);
    location.hash = `#/${route.view}?${p}`;
  };
  const View = view ? VIEW_COMPONENTS[view] : undefined;
  // Links to the other views keep the range (a preset other than the default, or from/to).
  const keep = range === "1h" ? "" : `?${rangeQuery(choice)}`;
  return html`<a class="skip" href="#main" onClick=${(e: Event) => {
    e.preventDefault();
    document.getElementById("main")?.focus();
  }}>Skip to content</a>
    <header class="top">
      <h1>${config.service.name} <span class="muted">${config.environment}</span></h1>
      <nav class="views" aria-label="Views"><ul>
        ${(Object.keys(TITLES) as ViewName[]).map(
          (v) =>
            html`<li><a href=${`#/${v}${keep}`} aria-current=${v === view ? "page" : undefined}>${TITLES[v]}</a></li>`,
        )}
      </ul></nav>
      <div class="controls">
        <${RangePicker} key=${`${choice.from}|${choice.to}`} choice=${choice} presets=${config.ranges} retentionMs=${config.retentionMs} onChange=${setRange} />
        <span class=${`live ${live.connected ? "on" : "off"}`} role="status">${live.connected ? "live" : "offline"}</span>
        ${
          getToken()
            ? html`<button type="button" onClick=${() => {
                setToken(null);
                location.reload();
              }}>Sign out</button>`
            : null
        }
      </div>
    </header>
    <main class="shell" id="main" tabindex="-1">
      ${
        !View
          ? html`<p class="state error" role="alert">Unknown view “${route.view}”. The views are: ${(Object.keys(TITLES) as ViewName[]).map((v) => html` <a href=${`#/${v}`}>${TITLES[v]}</a>`)}</p>`
          : !rangeKnown
            ? html`<p class="state error" role="alert">Unknown or too long time range “${range}”: choose one of ${config.ranges.map((r) => r.id).join(", ")}.</p>`
            : range === "custom" && live.error && !live.live
              ? html`<p class="state error" role="alert">This time range cannot be shown: ${live.error}</p>`
              : html`<${View} live=${live.live} liveError=${live.error} params=${route.params} tick=${live.tick} />`
      }
    </main>`;
}

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(html`<${App} />`, root);
}
