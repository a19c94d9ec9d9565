/// <reference lib="dom" />
// The live payload (one per refresh, the same for every page watching a view) turned into chart
// series and table rows. The panels' definitions are the server's own (../panels.ts, bundled).

import type { Panel } from "../panels.js";
import type { ChartData, Series } from "./chart.js";

export interface Head {
  view: string;
  /** A preset's id, or "custom" for a from/to window (fromMs, toMs). */
  range: string;
  fromMs?: number;
  toMs?: number;
  /** The drill-down's route, when the page asked for one. */
  route?: string;
  startMs: number;
  endMs: number;
  stepMs: number;
  at: number;
}

interface Matrix {
  status: "success";
  data: {
    resultType: "matrix";
    result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;
  };
}
export type QueryResult = Matrix | { error: string };

export interface LivePayload {
  head: Head;
  panels: Record<string, QueryResult[]>;
  extra?: unknown;
}

/** Grafana's legendFormat: {{label}} replaced by the series' label value. */
export function legend(template: string, metric: Record<string, string>): string {
  const s = template.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, k: string) => metric[k] ?? "").trim();
  // A series without the template's labels (the `or vector(0)` placeholder): "all".
  return s || (Object.keys(metric).length > 0 ? JSON.stringify(metric) : "all");
}

export interface PanelData {
  chart: ChartData;
  /** The first query error, if any query failed. */
  error: string | undefined;
  /** Labels of each series, in chart order (for tables and drill-down). */
  metrics: Array<Record<string, string>>;
  /** Which query each series came from. */
  query: number[];
}

export function panelData(panel: Panel, results: QueryResult[] | undefined, head: Head): PanelData {
  const steps = Math.floor((head.endMs - head.startMs) / head.stepMs) + 1;
  const times = Array.from({ length: steps }, (_, i) => (head.startMs + i * head.stepMs) / 1000);
  const series: Series[] = [];
  const metrics: Array<Record<string, string>> = [];
  const query: number[] = [];
  let error: string | undefined;
  (results ?? []).forEach((r, qi) => {
    if ("error" in r) {
      error ??= r.error;
      return;
    }
    const def = panel.queries[qi];
    for (const s of r.data.result) {
      const values: Array<number | null> = new Array(steps).fill(null);
      for (const [t, v] of s.values) {
        const i = Math.round((t * 1000 - head.startMs) / head.stepMs);
        // NaN (a quantile of no requests) and ±Inf cannot be drawn: gaps.
        const n = Number(v);
        if (i >= 0 && i < steps && Number.isFinite(n)) values[i] = n;
      }
      series.push({ label: legend(def?.legend ?? "", s.metric), values });
      metrics.push(s.metric);
      query.push(qi);
    }
  });
  return { chart: { times, series }, error, metrics, query };
}

/** The last non-null value of a series. */
export function lastValue(values: Array<number | null>): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined && Number.isFinite(v)) return v;
  }
  return null;
}

/** Whether a chart has any value in the range (zeros are values: 0 errors is data). */
export function hasData(d: PanelData): boolean {
  return d.chart.series.some((s) => s.values.some((v) => v !== null));
}
