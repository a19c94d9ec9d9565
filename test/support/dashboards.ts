// Reads the Grafana dashboards in monitoring/grafana/dashboards and lists every panel query, with the
// dashboard variables replaced the way the tests run them (Grafana itself is not available here).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder Grafana is provisioned from. */
export const DASHBOARDS_DIR = fileURLToPath(new URL("../../monitoring/grafana/dashboards/", import.meta.url));

/** Values the tests give Grafana's built-in and dashboard variables. */
export const VARIABLE_VALUES: Readonly<Record<string, string>> = {
  __rate_interval: "1m",
  __interval: "15s",
  __range: "1h",
  instance: ".*",
  route: ".*",
};

/** A row whose title matches this holds panels that only have data in stack mode (node exporter). */
const STACK_ONLY_ROW = /stack only/i;

export type DatasourceType = "prometheus" | "loki" | "alertmanager";

export interface DashboardQuery {
  /** The dashboard's uid. */
  dashboard: string;
  panelId: number;
  panelTitle: string;
  refId: string;
  datasource: DatasourceType;
  /** The query with every variable substituted (VARIABLE_VALUES). */
  expr: string;
  /** Under a row titled "... stack only": needs metrics only the docker-compose stack has (node exporter). */
  stackOnly: boolean;
}

export interface LoadedDashboard {
  /** File name, e.g. `tug-api-overview.json`. */
  file: string;
  json: any;
}

/** Every `*.json` dashboard of `dir`, parsed, in file-name order. */
export function loadDashboards(dir: string = DASHBOARDS_DIR): LoadedDashboard[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(dir, file), "utf8")) }));
}

/**
 * Every panel of a dashboard, rows included, with the title of the row it sits under: panels nested in
 * a collapsed row's `panels`, and top-level panels that follow an expanded row.
 */
export function flattenPanels(dashboard: any): Array<{ panel: any; row: string | null }> {
  const out: Array<{ panel: any; row: string | null }> = [];
  let row: string | null = null;
  for (const panel of dashboard.panels ?? []) {
    if (panel.type === "row") {
      row = typeof panel.title === "string" ? panel.title : "";
      out.push({ panel, row: null });
      for (const inner of panel.panels ?? []) out.push({ panel: inner, row });
      continue;
    }
    out.push({ panel, row });
  }
  return out;
}

/** `$name`, `${name}` and `${name:format}` replaced from `values`; unknown variables are left as they are. */
export function substituteVariables(
  expr: string,
  values: Readonly<Record<string, string>> = VARIABLE_VALUES,
) {
  return expr.replace(/\$\{(\w+)(?::[^}]*)?\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
    const name = braced ?? bare ?? "";
    return Object.hasOwn(values, name) ? (values[name] as string) : whole;
  });
}

function datasourceType(ds: unknown): DatasourceType | null {
  if (ds && typeof ds === "object" && "type" in ds) {
    const type = (ds as { type: unknown }).type;
    if (type === "prometheus" || type === "loki" || type === "alertmanager") return type;
  }
  return null;
}

/** Every target's query of every dashboard in `dir`, variables substituted. */
export function dashboardQueries(dir: string = DASHBOARDS_DIR): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const { file, json } of loadDashboards(dir)) {
    for (const { panel, row } of flattenPanels(json)) {
      for (const target of panel.targets ?? []) {
        if (typeof target.expr !== "string" || target.hide === true) continue;
        const datasource = datasourceType(target.datasource) ?? datasourceType(panel.datasource);
        if (!datasource) {
          throw new Error(
            `${file}: panel ${panel.id} target ${target.refId}: no prometheus/loki data source`,
          );
        }
        out.push({
          dashboard: String(json.uid),
          panelId: panel.id,
          panelTitle: String(panel.title ?? ""),
          refId: String(target.refId ?? ""),
          datasource,
          expr: substituteVariables(target.expr),
          stackOnly: row !== null && STACK_ONLY_ROW.test(row),
        });
      }
    }
  }
  return out;
}
