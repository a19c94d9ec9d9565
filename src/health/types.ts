export type HealthStatus = "pass" | "warn" | "fail";

/** What a check observed; the runner adds status from thresholds, time and duration. */
export interface Observation {
  status?: HealthStatus;
  observedValue?: number | string | boolean;
  observedUnit?: string;
  output?: string;
  /** Several components under one check (e.g. one entry per disk volume). */
  componentId?: string;
}

export interface CheckSpec {
  /** Unique name; also the `check` label of health_check_* metrics. */
  name: string;
  /** IETF key `component:measurement`, e.g. "database:responseTime". */
  key: string;
  componentType: "datastore" | "system" | "component" | string;
  /** A failing critical check takes the instance out of readiness. */
  critical: boolean;
  timeoutMs: number;
  /** Numeric thresholds applied to observedValue (when the check sets no status itself). */
  warn?: number;
  fail?: number;
  /** Runs the check; it should stop work when `signal` aborts (the runner does not wait). */
  run(signal: AbortSignal): Promise<Observation | Observation[]>;
}

export interface CheckResult {
  name: string;
  key: string;
  componentType: string;
  critical: boolean;
  status: HealthStatus;
  observedValue?: number | string | boolean;
  observedUnit?: string;
  output?: string;
  componentId?: string;
  /** ISO time the check finished. */
  time: string;
  durationMs: number;
}

export interface HealthReport {
  status: HealthStatus;
  /** Worst status among critical checks: what readiness uses. */
  criticalStatus: HealthStatus;
  results: CheckResult[];
  /** Epoch ms when this report was completed. */
  at: number;
}

export const STATUS_VALUE: Record<HealthStatus, number> = { pass: 1, warn: 0.5, fail: 0 };

export function worst(a: HealthStatus, b: HealthStatus): HealthStatus {
  return STATUS_VALUE[a] <= STATUS_VALUE[b] ? a : b;
}
