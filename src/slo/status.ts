// The `slo` section of /monitoring/status: each objective's target, remaining error budget and
// burn rate per window, read from the recorded tug_slo_* series by one instant query that runs
// in the engine worker (never on the API's thread), under the engine's deadline.

import type { Engine } from "../engine/index.js";
import { BURN_WINDOWS } from "./spec.js";

export interface SloStatusEntry {
  service: string;
  slo: string;
  /** The good share to reach (tug_slo_objective_ratio). */
  objective: number;
  /** 1 untouched, 0 spent, negative overspent; null before any traffic was recorded. */
  errorBudgetRemaining: number | null;
  /** Burn rate per window (1 = spending the budget exactly over the SLO window); null: no traffic. */
  burnRates: Record<string, number | null>;
}

export const SLO_STATUS_QUERY =
  '{__name__=~"tug_slo_objective_ratio|tug_slo_error_budget_remaining_ratio|tug_slo_burn_rate"}';

/** Reads the SLO figures through the engine; an engine error is reported, never thrown. */
export async function sloStatus(
  engine: Pick<Engine, "run">,
  opts: { now?: () => number; timeoutMs?: number } = {},
): Promise<{ objectives: SloStatusEntry[] } | { error: string }> {
  let samples: Array<{ labels: Record<string, string>; value: number }>;
  try {
    samples = await engine.run(
      { op: "samples", query: SLO_STATUS_QUERY, timeMs: (opts.now ?? Date.now)() },
      { timeoutMs: opts.timeoutMs ?? 5_000 },
    );
  } catch (e) {
    return { error: `the SLO figures could not be read: ${(e as Error).message}` };
  }
  return { objectives: sloEntries(samples) };
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Groups the samples by service and SLO; objectives without a recorded target are left out. */
export function sloEntries(
  samples: Array<{ labels: Record<string, string>; value: number }>,
): SloStatusEntry[] {
  const by = new Map<string, SloStatusEntry>();
  const entry = (service: string, slo: string) => {
    const key = `${service}\u0000${slo}`;
    let e = by.get(key);
    if (!e) {
      e = {
        service,
        slo,
        objective: Number.NaN,
        errorBudgetRemaining: null,
        burnRates: Object.fromEntries(BURN_WINDOWS.map((w) => [w, null])),
      };
      by.set(key, e);
    }
    return e;
  };
  for (const { labels, value } of samples) {
    const { service, slo } = labels;
    if (service === undefined || slo === undefined) continue;
    const e = entry(service, slo);
    switch (labels.__name__) {
      case "tug_slo_objective_ratio":
        e.objective = value;
        break;
      case "tug_slo_error_budget_remaining_ratio":
        e.errorBudgetRemaining = finite(value);
        break;
      case "tug_slo_burn_rate":
        if (labels.window !== undefined) e.burnRates[labels.window] = finite(value);
        break;
    }
  }
  return [...by.values()]
    .filter((e) => Number.isFinite(e.objective))
    .sort((a, b) => a.service.localeCompare(b.service) || a.slo.localeCompare(b.slo));
}
