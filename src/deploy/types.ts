// The deployment monitor's vocabulary, shared by its parts: the analysis core (analysis.ts,
// stats.ts: pure functions, no I/O), the monitor (monitor.ts: phases, health gate, rollback),
// its history (store.ts), the metrics source (source.ts), the HTTP API and the CLI gate.

/**
 * A deployment's phase. In progress: `pending` (created, nothing measured yet), `verifying`
 * (measuring, no verdict yet), `healthy` (the last look passed), `degraded` (something failed,
 * not yet past what is allowed). Outcomes: `succeeded`; `failed` (then `rolling_back` →
 * `rolled_back` | `rollback_failed` when automatic rollback is on); `aborted` by a person;
 * `inconclusive` (too little data at the end, and the configuration says neither pass nor fail);
 * `interrupted` (the process that watched it stopped and it could not be resumed).
 */
export const PHASES = [
  "pending",
  "verifying",
  "healthy",
  "degraded",
  "succeeded",
  "failed",
  "rolling_back",
  "rolled_back",
  "rollback_failed",
  "aborted",
  "inconclusive",
  "interrupted",
] as const;
export type DeploymentPhase = (typeof PHASES)[number];

/** Phases in which the monitor is still watching. */
export const ACTIVE_PHASES: ReadonlySet<DeploymentPhase> = new Set([
  "pending",
  "verifying",
  "healthy",
  "degraded",
]);

/** The final outcome, as counted in `deployments_total{outcome}` and returned by the CLI gate. */
export type DeploymentOutcome =
  | "succeeded"
  | "failed"
  | "rolled_back"
  | "rollback_failed"
  | "aborted"
  | "inconclusive"
  | "interrupted";

// ---------------------------------------------------------------------------------------------
// What the analysis reads: counts over one window, from PromQL (the app's own query API or a
// Prometheus), so that the analysis core stays a pure function of numbers.

/** A cumulative histogram: upper bounds ascending, the last one +Inf; counts cumulative. */
export interface CumulativeHistogram {
  le: number[];
  cumulative: number[];
}

/** What one window [startMs, endMs] of one version served. */
export interface WindowCounts {
  startMs: number;
  endMs: number;
  /** Requests counted (the increase of http_requests_total over the window, rounded). */
  requests: number;
  /** Of which 5xx. */
  errors: number;
  /** Their latency histogram; null when the source had none. */
  latency: CumulativeHistogram | null;
  /** Sum of their latencies in seconds (for the mean); null when the source had none. */
  latencySumSeconds: number | null;
}

/** Settings of the regression analysis (see DEFAULT_ANALYSIS in analysis.ts for the defaults). */
export interface AnalysisSettings {
  /** The seed's absolute limit: the new version's 5xx share must stay under this (percent). */
  maxErrorRatePercent: number;
  /** Requests the new version must have served (in its window) before any verdict. */
  minRequests: number;
  /** Significance level of each statistical test, per look. */
  alpha: number;
  /** An error-rate increase over the baseline smaller than this (percentage points) never fails. */
  minErrorRateIncreasePoints: number;
  /** Latency fails only when the rank test finds the new version slower AND its p95 is more than
   * this much higher than the baseline's (percent)... */
  maxP95IncreasePercent: number;
  /** ...or its mean is more than this much higher (percent). */
  maxMeanIncreasePercent: number;
  /** Consecutive failing looks before a regression is decided (guards against one noisy look). */
  consecutiveFailures: number;
  /** Fail when the new version burns its availability SLO's error budget faster than this
   * (its 5xx share over its window / (1 − sloObjective)); undefined: no such check. */
  maxBurnRate?: number;
  /** The availability objective the burn rate is measured against (monitoring/slos.yml). */
  sloObjective?: number;
}

export type CheckOutcome = "pass" | "fail" | "inconclusive";

export type CheckName =
  | "error_rate_limit"
  | "slo_burn_rate"
  | "error_rate_vs_baseline"
  | "latency_rank"
  | "latency_p95"
  | "latency_mean";

/** One check of one look, with everything needed to explain it afterwards. */
export interface CheckResult {
  check: CheckName;
  outcome: CheckOutcome;
  /** One sentence with the numbers: "5xx share 9.8 % (49 of 500) is over the limit 5 % (p = 0.0001)". */
  explanation: string;
  /** The measured value of the new version (a ratio, seconds...) and of the baseline. */
  canary?: number;
  baseline?: number;
  /** Sample sizes (requests) behind the two values. */
  canaryN?: number;
  baselineN?: number;
  statistic?: number;
  pValue?: number;
  threshold?: number;
}

/** One look of the analysis: every check and their combination. */
export interface Verdict {
  outcome: CheckOutcome;
  checks: CheckResult[];
  /** One line: the failing checks' explanations, or why it is inconclusive, or "all checks passed". */
  reason: string;
}

/** A look as the judge decides it: the verdict, and whether the regression is now decided. */
export interface Decision {
  verdict: Verdict;
  /** Consecutive failing looks so far (this one included). */
  consecutiveFailures: number;
  /** True once `consecutiveFailures` reached the setting: the deployment has failed. */
  regression: boolean;
}
