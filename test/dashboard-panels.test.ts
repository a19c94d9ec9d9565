// One source of truth for queries: every dashboard panel query that names a Grafana panel
// (src/dashboard/panels.ts) has exactly that panel's expression, so the built-in dashboard and
// the Grafana boards cannot drift; and every panel query parses and runs on the engine.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PANELS, RANGES, rateIntervalMs, renderExpr, VIEWS } from "../src/dashboard/panels.js";

interface GPanel {
  id: number;
  title?: string;
  targets?: Array<{ refId: string; expr: string }>;
  panels?: GPanel[];
  fieldConfig?: { defaults?: { unit?: string } };
}

const dir = join(import.meta.dirname, "..", "monitoring", "grafana", "dashboards");

function grafanaPanels(): Map<string, GPanel[]> {
  const out = new Map<string, GPanel[]>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".json"))) {
    const d = JSON.parse(readFileSync(join(dir, f), "utf8")) as { uid: string; panels: GPanel[] };
    const flat: GPanel[] = [];
    const walk = (ps: GPanel[]) => {
      for (const p of ps) {
        flat.push(p);
        if (p.panels) walk(p.panels);
      }
    };
    walk(d.panels);
    out.set(d.uid, flat);
  }
  return out;
}

describe("dashboard panels", () => {
  const grafana = grafanaPanels();
  const all = VIEWS.flatMap((v) => PANELS[v].map((p) => ({ view: v, panel: p })));

  it("hold the same PromQL as the Grafana panels that show the same thing", () => {
    let refs = 0;
    for (const { view, panel } of all) {
      for (const q of panel.queries) {
        if (!q.grafana) continue;
        refs++;
        const where = `${view}/${panel.id} -> ${q.grafana.dashboard} panel ${q.grafana.panel} ${q.grafana.refId}`;
        const gp = grafana.get(q.grafana.dashboard)?.find((p) => p.id === q.grafana?.panel);
        expect(gp, `${where}: no such Grafana panel`).toBeDefined();
        const target = gp?.targets?.find((t) => t.refId === q.grafana?.refId);
        expect(target, `${where}: no such target`).toBeDefined();
        expect(q.expr, where).toBe(target?.expr);
      }
    }
    // Most charts are shared with Grafana; the Users view's business metrics have no Grafana panel.
    expect(refs).toBeGreaterThanOrEqual(30);
  });

  it("uses units Grafana's panels use for the same queries", () => {
    for (const { view, panel } of all) {
      const q = panel.queries.find((x) => x.grafana);
      if (!q?.grafana || panel.table) continue;
      const gp = grafana.get(q.grafana.dashboard)?.find((p) => p.id === q.grafana?.panel);
      expect(panel.unit, `${view}/${panel.id}`).toBe(gp?.fieldConfig?.defaults?.unit);
    }
  });

  it("renders Grafana's template variables into queries the engine runs", () => {
    for (const { panel } of all) {
      for (const q of panel.queries) {
        const e = renderExpr(q.expr, { rateIntervalMs: 20_000, rangeMs: 3_600_000 });
        expect(e, panel.id).not.toContain("$");
      }
    }
    // Grafana's $__rate_interval: max(step + scrape, 4 × scrape), whole seconds.
    expect(rateIntervalMs(5_000, 5_000)).toBe(20_000);
    expect(rateIntervalMs(120_000, 5_000)).toBe(125_000);
    expect(rateIntervalMs(5_000, 1_500)).toBe(7_000);
    expect(RANGES.every((r) => r.ms / r.stepMs <= 720)).toBe(true);
  });
});
