// The Grafana dashboards: valid models, consistent variables, units and links, and every PromQL panel query
// parsing (embedded parser and promtool) and returning data from the app's own Prometheus-compatible API.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseExpr } from "../src/promql/index.js";
import { startTestApp, type TestApp } from "./support/app.js";
import {
  DASHBOARDS_DIR,
  dashboardQueries,
  flattenPanels,
  loadDashboards,
  substituteVariables,
} from "./support/dashboards.js";
import { promtoolPath } from "./support/services.js";
import { waitFor } from "./support/wait.js";

const FILES = [
  "database-performance.json",
  "error-tracking.json",
  "slo.json",
  "system-resources.json",
  "tug-api-overview.json",
];
const OVERVIEW = "tug-api-overview";
const OTHERS = ["system-resources", "database-performance", "error-tracking"];
const DATASOURCES_DIR = join(DASHBOARDS_DIR, "..", "provisioning", "datasources");
/** What monitoring/grafana/provisioning/datasources provisions; the file is read when present. */
const EXPECTED_DATASOURCES: Record<string, string> = {
  prometheus: "prometheus",
  loki: "loki",
  alertmanager: "alertmanager",
};

/** uid → type of the provisioned data sources. */
function provisionedDatasources(): Record<string, string> {
  if (!existsSync(DATASOURCES_DIR)) return EXPECTED_DATASOURCES;
  const out: Record<string, string> = {};
  for (const f of readdirSync(DATASOURCES_DIR).filter((n) => /\.ya?ml$/.test(n))) {
    const doc = parseYaml(readFileSync(join(DATASOURCES_DIR, f), "utf8")) ?? {};
    for (const ds of doc.datasources ?? []) if (ds?.uid) out[String(ds.uid)] = String(ds.type);
  }
  return Object.keys(out).length > 0 ? out : EXPECTED_DATASOURCES;
}

/** Metric names a PromQL AST selects (generic walk: VectorSelector nodes anywhere). */
function metricNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const n of node) metricNames(n, out);
  } else if (node && typeof node === "object") {
    const o = node as Record<string, unknown>;
    if (o.type === "VectorSelector") {
      const name =
        (o.name as string | null) ??
        (o.matchers as Array<{ name: string; type: string; value: string }>).find(
          (m) => m.name === "__name__" && m.type === "=",
        )?.value;
      if (name) out.add(name);
    }
    for (const v of Object.values(o)) metricNames(v, out);
  }
  return out;
}

const dashboards = loadDashboards();
const queries = dashboardQueries();
const promql = queries.filter((q) => q.datasource === "prometheus");
const where = (q: (typeof queries)[number]) => `${q.dashboard} #${q.panelId} "${q.panelTitle}" ${q.refId}`;

describe("Grafana dashboards", () => {
  it("are the four dashboards of the issue and the SLO one, each with its stable uid", () => {
    expect(dashboards.map((d) => d.file)).toEqual(FILES);
    for (const { file, json } of dashboards) expect(`${json.uid}.json`).toBe(file);
    expect(dashboards.map((d) => d.json.title).sort()).toEqual([
      "Database Performance",
      "Error Tracking",
      "Service Level Objectives",
      "System Resources",
      "TUG API Overview",
    ]);
  });

  describe.each(dashboards)("$file", ({ file, json }) => {
    it("is a Grafana 10/11 dashboard model with the shared time range and refresh", () => {
      for (const key of ["title", "uid", "schemaVersion", "panels", "templating", "time", "refresh"]) {
        expect(json, `${file} lacks ${key}`).toHaveProperty(key);
      }
      expect(json.id).toBeNull();
      expect(json.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(json.time).toEqual({ from: "now-1h", to: "now" });
      expect(json.refresh).toBe("30s");
      expect(Array.isArray(json.panels)).toBe(true);
      // Committed pretty-printed (2 spaces), as biome formats it.
      expect(readFileSync(join(DASHBOARDS_DIR, file), "utf8")).toMatch(/^\{\n {2}"/);
    });

    it("has unique panel ids, rows included, and panels on the 24-column grid without overlaps", () => {
      const all = flattenPanels(json).map((p) => p.panel);
      const ids = all.map((p) => p.id);
      expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      const boxes = all.map((p) => ({ id: p.id, ...p.gridPos }));
      for (const b of boxes) {
        for (const k of ["h", "w", "x", "y"])
          expect(Number.isInteger(b[k]), `panel ${b.id} gridPos.${k}`).toBe(true);
        expect(b.x + b.w, `panel ${b.id} is wider than the grid`).toBeLessThanOrEqual(24);
      }
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i], boxes[j]];
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          expect(overlap, `panels ${a.id} and ${b.id} overlap`).toBe(false);
        }
      }
    });

    it("gives every panel a type, a provisioned data source by uid, a unit and at least one query", () => {
      const provisioned = provisionedDatasources();
      const checkDs = (ds: any, what: string) => {
        expect(ds, `${what}: datasource must be {type, uid}`).toMatchObject({
          type: expect.any(String),
          uid: expect.any(String),
        });
        expect(provisioned[ds.uid], `${what}: data source uid ${ds.uid} is not provisioned`).toBe(ds.type);
      };
      for (const { panel } of flattenPanels(json)) {
        const what = `${file} panel ${panel.id} "${panel.title}"`;
        expect(typeof panel.type, what).toBe("string");
        expect(typeof panel.title, what).toBe("string");
        if (panel.type === "row") continue;
        checkDs(panel.datasource, what);
        expect(panel.fieldConfig?.defaults?.unit, `${what} has no unit`).toMatch(/\S/);
        expect(panel.targets?.length, `${what} has no query`).toBeGreaterThan(0);
        const refIds = panel.targets.map((t: any) => t.refId);
        expect(new Set(refIds).size, `${what}: refIds`).toBe(refIds.length);
        for (const t of panel.targets) {
          checkDs(t.datasource, `${what} ${t.refId}`);
          expect(t.expr, `${what} ${t.refId}`).toMatch(/\S/);
        }
      }
    });

    it("has the instance and route variables (All = .*)", () => {
      const vars = json.templating.list;
      const instance = vars.find((v: any) => v.name === "instance");
      const route = vars.find((v: any) => v.name === "route");
      expect(instance).toMatchObject({
        type: "query",
        datasource: { type: "prometheus", uid: "prometheus" },
        includeAll: true,
        allValue: ".*",
      });
      expect(instance.definition).toBe("label_values(http_requests_total, instance)");
      expect(route).toMatchObject({
        type: "query",
        datasource: { type: "prometheus", uid: "prometheus" },
        includeAll: true,
        allValue: ".*",
      });
      expect(route.definition).toBe('label_values(http_requests_total{instance=~"$instance"}, route)');
    });
  });

  it("the overview drills down to the other three by uid (dashboard links and panel links)", () => {
    const overview = dashboards.find((d) => d.json.uid === OVERVIEW)?.json;
    const dashLinks: string[] = (overview.links ?? []).map((l: any) => l.url as string);
    const panelLinks: string[] = flattenPanels(overview).flatMap(({ panel }) => [
      ...(panel.links ?? []).map((l: any) => l.url as string),
      ...(panel.fieldConfig?.defaults?.links ?? []).map((l: any) => l.url as string),
    ]);
    for (const uid of OTHERS) {
      expect(
        dashLinks.some((u) => u.startsWith(`/d/${uid}/`)),
        `dashboard link to ${uid}`,
      ).toBe(true);
      expect(
        panelLinks.some((u) => u.startsWith(`/d/${uid}/`)),
        `panel link to ${uid}`,
      ).toBe(true);
    }
    // The links carry the time range and the variables along.
    for (const l of overview.links) expect(l).toMatchObject({ includeVars: true, keepTime: true });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
    for (const u of panelLinks) expect(u).toContain("${__url_time_range}");
  });

  it("every query has its variables substituted; stack-only panels are exactly the node-exporter ones", () => {
    expect(promql.length).toBeGreaterThan(60);
    for (const q of queries) expect(q.expr, where(q)).not.toMatch(/\$\{?\w/);
    const nodeExporter = promql.filter((q) => /\bnode_\w+/.test(q.expr));
    expect(nodeExporter.length).toBeGreaterThan(0);
    expect(promql.filter((q) => q.stackOnly).map(where)).toEqual(nodeExporter.map(where));
    const loki = queries.filter((q) => q.datasource === "loki");
    expect(loki.map((q) => q.dashboard)).toEqual(expect.arrayContaining(["error-tracking"]));
    expect(loki.length).toBeGreaterThanOrEqual(2);
  });

  it("every PromQL query parses in the embedded engine's parser (Prometheus 2.42 grammar)", () => {
    const failures: string[] = [];
    for (const q of promql) {
      try {
        parseExpr(q.expr);
      } catch (err) {
        failures.push(`${where(q)}: ${(err as Error).message}\n    ${q.expr}`);
      }
    }
    expect(failures, failures.join("\n")).toEqual([]);
  });

  it("every PromQL query parses in Prometheus 2.42 itself (promtool check rules)", async () => {
    const promtool = await promtoolPath();
    const dir = mkdtempSync(join(tmpdir(), "tug-dash-"));
    const file = join(dir, "dashboard_queries.yml");
    const rules = promql.map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.expr }));
    writeFileSync(file, JSON.stringify({ groups: [{ name: "dashboards", rules }] }));
    const { code, out } = await new Promise<{ code: number | null; out: string }>((done, fail) => {
      const child = spawn(promtool, ["check", "rules", file]);
      let text = "";
      child.stdout.on("data", (b: Buffer) => {
        text += b.toString("utf8");
      });
      child.stderr.on("data", (b: Buffer) => {
        text += b.toString("utf8");
      });
      child.on("error", fail);
      child.on("close", (c) => done({ code: c, out: text }));
    });
    expect(code, out).toBe(0);
    expect(out).toContain(`${rules.length} rules found`);
  });

  it("the extractor reads panels nested in collapsed rows and marks stack-only rows", () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-dash-"));
    mkdirSync(dir, { recursive: true });
    const prom = { type: "prometheus", uid: "prometheus" };
    writeFileSync(
      join(dir, "x.json"),
      JSON.stringify({
        uid: "x",
        panels: [
          { id: 1, type: "stat", title: "a", datasource: prom, targets: [{ refId: "A", expr: "up" }] },
          {
            id: 2,
            type: "row",
            title: "Host (node exporter, stack only)",
            collapsed: true,
            panels: [
              {
                id: 3,
                type: "timeseries",
                title: "b",
                datasource: prom,
                targets: [{ refId: "A", expr: "rate(node_cpu_seconds_total[$__rate_interval])" }],
              },
            ],
          },
          { id: 4, type: "row", title: "Logs", panels: [] },
          {
            id: 5,
            type: "logs",
            title: "c",
            datasource: { type: "loki", uid: "loki" },
            // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
            targets: [{ refId: "A", expr: '{job="x"} [${__range}]' }],
          },
        ],
      }),
    );
    expect(dashboardQueries(dir)).toEqual([
      {
        dashboard: "x",
        panelId: 1,
        panelTitle: "a",
        refId: "A",
        datasource: "prometheus",
        expr: "up",
        stackOnly: false,
      },
      {
        dashboard: "x",
        panelId: 3,
        panelTitle: "b",
        refId: "A",
        datasource: "prometheus",
        expr: "rate(node_cpu_seconds_total[1m])",
        stackOnly: true,
      },
      {
        dashboard: "x",
        panelId: 5,
        panelTitle: "c",
        refId: "A",
        datasource: "loki",
        expr: '{job="x"} [1h]',
        stackOnly: false,
      },
    ]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
    expect(substituteVariables('x{i=~"${instance:regex}"}[$__interval] $unknown')).toBe(
      'x{i=~".*"}[15s] $unknown',
    );
  });
});

describe("dashboard queries against the app's embedded Prometheus API", () => {
  let t: TestApp;
  let exposed: Set<string>;

  beforeAll(async () => {
    // Rules every second: the SLO panels read monitoring/slo_rules.yml's recordings.
    t = await startTestApp(
      {},
      { yaml: "tsdb:\n  scrapeIntervalMs: 1000\nalerts:\n  evaluationIntervalMs: 1000\n" },
    );
    // Traffic of every kind the panels break down: 2xx, 4xx (unmatched and validation), 5xx, DB statements;
    // in two bursts a few scrapes apart (1 s interval), so the rates are above zero.
    const email = "dash@example.com";
    const password = "correct horse";
    expect((await t.call("POST", "/api/v1/auth/register", { body: { email, password } })).status).toBe(201);
    const burst = async () => {
      const login = await t.call("POST", "/api/v1/auth/login", { body: { email, password } });
      expect(login.status).toBe(200);
      const token = login.body.token as string;
      await t.call("POST", "/api/v1/auth/login", { body: { email, password: "wrong password" } });
      await t.call("GET", "/api/v1/users/me", { token });
      await t.call("POST", "/api/v1/activities", { token, body: {} });
      await t.call("GET", "/api/v1/activities", { token });
      expect((await t.call("GET", "/no/such/route")).status).toBe(404);
      const timeout = await t.call("GET", "/monitoring/api/v1/query?query=vector(1)&timeout=0.000000001");
      expect(timeout.status).toBe(503);
    };
    // The store has sampled the registry after `ms` (a scrape, not a fixed wait, which a loaded
    // machine can outlast): the newest sample of http_requests_total is younger than that.
    const scrapedAfter = (ms: number) =>
      waitFor(`a scrape after ${new Date(ms).toISOString()}`, async () => {
        const r = await t.call("GET", "/monitoring/api/v1/query?query=max(timestamp(http_requests_total))");
        return Number(r.body?.data?.result?.[0]?.value?.[1] ?? 0) * 1000 > ms;
      });
    await burst();
    await scrapedAfter(Date.now());
    await burst();
    const metrics = await t.call("GET", "/monitoring/metrics");
    exposed = new Set(
      [...String(metrics.body).matchAll(/^# TYPE (\w+) (\w+)$/gm)].flatMap(([, name = "", type]) =>
        type === "histogram" || type === "summary"
          ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`]
          : [name],
      ),
    );
    // The second burst reaches the store at the next scrape.
    await scrapedAfter(Date.now());
    // ... and the SLO rules have recorded a budget from the traffic (a rule evaluation after it).
    await waitFor("the SLO recordings", async () => {
      const r = await t.call("GET", "/monitoring/api/v1/query?query=tug_slo_error_budget_remaining_ratio");
      return (r.body?.data?.result?.length ?? 0) > 0;
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it("every metric a panel reads is one the app exports, records (SLO rules) or ALERTS; node_* only in stack-only panels", () => {
    const recorded = new Set(
      [
        ...readFileSync(join(DASHBOARDS_DIR, "../../slo_rules.yml"), "utf8").matchAll(
          /^\s+- record: (\S+)$/gm,
        ),
      ].map((m) => m[1]),
    );
    const unknown: string[] = [];
    for (const q of promql) {
      for (const name of metricNames(parseExpr(q.expr))) {
        if (
          q.stackOnly
            ? name.startsWith("node_")
            : name === "ALERTS" || exposed.has(name) || recorded.has(name)
        )
          continue;
        unknown.push(`${where(q)}: ${name}`);
      }
    }
    expect(unknown, unknown.join("\n")).toEqual([]);
  });

  it("every non-stack-only PromQL query returns data, without a stray fallback series", async () => {
    const failures: string[] = [];
    const checked = promql.filter((q) => !q.stackOnly);
    const results = new Map<string, Array<{ metric: Record<string, string>; value: [number, string] }>>();
    for (const q of checked) {
      const res = await t.call("GET", `/monitoring/api/v1/query?query=${encodeURIComponent(q.expr)}`);
      const result = res.body?.data?.result;
      if (
        res.status !== 200 ||
        res.body?.status !== "success" ||
        !Array.isArray(result) ||
        result.length === 0
      ) {
        failures.push(
          `${where(q)}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 200)}\n    ${q.expr}`,
        );
        continue;
      }
      results.set(where(q), result);
      // `x or vector(0)` beside labelled series adds a bogus `{}` series; `or on() vector(0)` does not.
      if (result.length > 1 && result.some((s: any) => Object.keys(s.metric).length === 0)) {
        failures.push(`${where(q)}: an unlabelled series among labelled ones\n    ${q.expr}`);
      }
    }
    expect(failures, failures.join("\n")).toEqual([]);
    expect(checked.length).toBeGreaterThan(50);

    // The traffic shows: not only the `or vector(0)` fallbacks answer.
    const value = (dashboard: string, title: string, refId = "A") => {
      const q = checked.find((x) => x.dashboard === dashboard && x.panelTitle === title && x.refId === refId);
      expect(q, `${dashboard} "${title}"`).toBeDefined();
      return results.get(where(q as (typeof checked)[number])) ?? [];
    };
    const scalar = (dashboard: string, title: string) => Number(value(dashboard, title)[0]?.value[1]);
    expect(scalar("tug-api-overview", "Request rate")).toBeGreaterThan(0);
    expect(scalar("tug-api-overview", "Error ratio (5xx)")).toBeGreaterThan(0);
    expect(scalar("tug-api-overview", "p95 latency")).toBeGreaterThan(0);
    expect(scalar("database-performance", "Query rate")).toBeGreaterThan(0);
    expect(scalar("error-tracking", "4xx ratio")).toBeGreaterThan(0);
    expect(value("error-tracking", "5xx by route and status").map((s) => s.metric)).toContainEqual({
      route: "/monitoring/api/v1/query",
      status_code: "503",
    });
    expect(value("error-tracking", "4xx by route and status").map((s) => s.metric)).toContainEqual({
      route: "__unmatched__",
      status_code: "404",
    });
  });
});
