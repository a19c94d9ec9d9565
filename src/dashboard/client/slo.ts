/// <reference lib="dom" />
// The Overview's service level objectives: one row per (service, SLO) with its objective, the
// error budget left and the burn rate over each window, from the SLO recording rules' last values
// (the `slos` table panel); the budget over time is a chart beside the others.

import { PANELS, SLO_WINDOWS } from "../panels.js";
import { fmt } from "./chart.js";
import { type LivePayload, lastValue, panelData } from "./data.js";
import { html } from "./html.js";

// The panel states as views.ts words them (not imported: views.ts renders this table).
const loading = html`<p class="state" role="status">Loading the SLOs…</p>`;
const failed = (error: string) =>
  html`<p class="state error" role="alert">Could not load the SLOs: ${error}</p>`;

interface SloRow {
  service: string;
  slo: string;
  objective: number | null;
  budget: number | null;
  burn: Record<string, number | null>;
}

function sloRows(live: LivePayload): { rows: SloRow[]; error: string | undefined } {
  const p = PANELS.overview.find((x) => x.id === "slos");
  if (!p) return { rows: [], error: undefined };
  const d = panelData(p, live.panels.slos, live.head);
  const rows = new Map<string, SloRow>();
  d.metrics.forEach((m, i) => {
    const key = JSON.stringify([m.service ?? "", m.slo ?? ""]);
    let row = rows.get(key);
    if (!row) {
      row = { service: m.service ?? "", slo: m.slo ?? "", objective: null, budget: null, burn: {} };
      rows.set(key, row);
    }
    const v = lastValue(d.chart.series[i]?.values ?? []);
    const q = d.query[i];
    if (q === 0) row.objective = v;
    else if (q === 1) row.budget = v;
    else if (m.window) row.burn[m.window] = v;
  });
  return { rows: [...rows.values()], error: d.error };
}

/** A burn rate: how many times faster than the objective allows the budget is spent. */
const burn = (v: number | null | undefined) =>
  v === null || v === undefined ? "–" : `${Math.round(v * 100) / 100}×`;

export function SloTable(props: { live: LivePayload | undefined; liveError: string | undefined }) {
  const empty = PANELS.overview.find((x) => x.id === "slos")?.empty;
  let body: unknown;
  if (!props.live) body = props.liveError ? failed(props.liveError) : loading;
  else {
    const { rows, error } = sloRows(props.live);
    if (rows.length === 0) body = error ? failed(error) : html`<p class="state">${empty}</p>`;
    else
      body = html`<div class="tablewrap"><table><thead><tr>
        <th scope="col">Service</th><th scope="col">SLO</th><th scope="col" class="num">Objective</th><th scope="col" class="num">Budget left</th>
        ${SLO_WINDOWS.map((w) => html`<th scope="col" class="num">Burn ${w}</th>`)}</tr></thead>
        <tbody>${rows.map(
          (
            r,
          ) => html`<tr data-slo=${r.slo}><td>${r.service}</td><td>${r.slo}</td><td class="num">${fmt(r.objective, "percentunit")}</td>
          <td class=${`num ${r.budget === null ? "" : r.budget <= 0 ? "status-fail" : r.budget < 0.25 ? "status-warn" : "status-pass"}`}>${fmt(r.budget, "percentunit")}</td>
          ${SLO_WINDOWS.map((w) => html`<td class=${`num ${(r.burn[w] ?? 0) > 1 ? "status-warn" : ""}`}>${burn(r.burn[w])}</td>`)}</tr>`,
        )}</tbody></table></div>`;
  }
  return html`<section class="panel" aria-labelledby="slo-h" data-panel="slos">
    <h3 id="slo-h">Service level objectives</h3>
    ${body}
  </section>`;
}
