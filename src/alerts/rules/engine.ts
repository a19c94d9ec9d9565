// Rule evaluation (Prometheus 2.42 rules/group.go, rules/alerting.go, rules/recording.go):
// recording rules write their results back into the store; alerting rules keep per-alert state
// inactive → pending → firing, honour `for` and `keep_firing_for`, keep resolved alerts for 15
// minutes, and write ALERTS / ALERTS_FOR_STATE. Pure over the store and an injected clock.

import { systemClock, systemTimers, type TimerHandle, type Timers } from "../../core/clock.js";
import { type EngineOptions, evaluateInstant, formatFloatPlain, type Sample } from "../../promql/index.js";
import {
  type Labels,
  labelsFromObject,
  labelsKey,
  labelsToObject,
  METRIC_NAME,
  type Storage,
} from "../../tsdb/index.js";
import type { PostableAlert } from "../wire.js";
import {
  DEFAULT_FOR_GRACE_PERIOD_MS,
  DEFAULT_OUTAGE_TOLERANCE_MS,
  type ForStateOptions,
  lastForState,
  restoredActiveAt,
} from "./for-state.js";
import { formatE } from "./gofmt.js";
import type { GroupDef, RuleDef } from "./load.js";
import { expandTemplate } from "./template.js";

export type AlertState = "inactive" | "pending" | "firing";
export type RuleHealth = "unknown" | "ok" | "err";

/** Resolved alerts are kept (and re-sent as resolved) this long, as in Prometheus. */
export const RESOLVED_RETENTION_MS = 15 * 60_000;
export const DEFAULT_EVALUATION_INTERVAL_MS = 60_000;
export const DEFAULT_RESEND_DELAY_MS = 60_000;

/** One alert of an alerting rule (an element of Prometheus's `AlertingRule.active`). */
export interface Alert {
  labels: Labels;
  annotations: Record<string, string>;
  state: AlertState;
  value: number;
  activeAtMs: number;
  firedAtMs: number | undefined;
  resolvedAtMs: number | undefined;
  lastSentAtMs: number | undefined;
  validUntilMs: number | undefined;
  keepFiringSinceMs: number | undefined;
}

/** A state transition of one alert, for listeners. */
export interface AlertChange {
  group: string;
  rule: string;
  labels: Record<string, string>;
  from: AlertState;
  to: AlertState;
  atMs: number;
}

// Shapes of Prometheus's /api/v1/alerts and /api/v1/rules (web/api/v1/api.go, v2.42).
export interface ApiAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
  activeAt: string;
  keepFiringSince?: string;
  value: string;
}

export interface ApiAlertingRule {
  state: AlertState;
  name: string;
  query: string;
  duration: number;
  keepFiringFor: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  alerts: ApiAlert[];
  health: RuleHealth;
  lastError?: string;
  evaluationTime: number;
  lastEvaluation: string;
  type: "alerting";
}

export interface ApiRecordingRule {
  name: string;
  query: string;
  labels?: Record<string, string>;
  health: RuleHealth;
  lastError?: string;
  evaluationTime: number;
  lastEvaluation: string;
  type: "recording";
}

export interface ApiRuleGroup {
  name: string;
  file: string;
  rules: Array<ApiAlertingRule | ApiRecordingRule>;
  interval: number;
  limit: number;
  evaluationTime: number;
  lastEvaluation: string;
}

/** A group about to be evaluated (RuleEngineOptions.onGroupEvaluationStart). */
export interface GroupEvaluationStart {
  group: string;
  file: string;
  intervalMs: number;
  /** Rules in the group (each is one evaluation). */
  rules: number;
}

/** One rule whose evaluation failed; `index` is its position in the group (names may repeat). */
export interface RuleFailure {
  rule: string;
  index: number;
  error: string;
}

/**
 * What one evaluation of a group did (RuleEngineOptions.onGroupEvaluation): the figures behind
 * Prometheus's prometheus_rule_evaluations_total, _evaluation_failures_total,
 * _group_last_duration_seconds and _group_iterations_missed_total, and the failures it logs.
 */
export interface GroupEvaluation {
  group: string;
  file: string;
  intervalMs: number;
  /** The evaluation's timestamp (its tick), ms since the epoch. */
  timestampMs: number;
  durationMs: number;
  /** Rules evaluated (all of the group's). */
  evaluations: number;
  failures: RuleFailure[];
  /**
   * Ticks of this group that passed without an evaluation since the previous one: the timer fired
   * late or the evaluation outlasted the interval (0 for evaluations on demand).
   */
  missedIterations: number;
}

export interface RuleEngineOptions {
  store: Storage;
  groups: GroupDef[];
  /** Interval of groups without their own `interval`. Default 1 m. */
  evaluationIntervalMs?: number;
  externalLabels?: Record<string, string>;
  externalURL?: string;
  /** Milliseconds since the epoch. Default the system clock (src/core/clock.ts). */
  now?: () => number;
  /** Default the system timers; the group timers are unref'd. */
  timers?: Timers;
  engine?: EngineOptions;
  /** Minimum time between re-sends of a firing alert. Default 1 m. */
  resendDelayMs?: number;
  /**
   * Restoring pending and firing alerts from ALERTS_FOR_STATE at each rule's first evaluation
   * (for-state.ts); false turns it off. Default: 1 h outage tolerance, 1 min grace period.
   */
  forState?: ForStateOptions | false;
  /** Called before each evaluation of a group (scheduled or on demand), before its first rule. */
  onGroupEvaluationStart?: (group: GroupEvaluationStart) => void;
  /**
   * Called after each evaluation of a group (scheduled or on demand), after its alerts went to the
   * notify listeners. A failing rule is also recorded on the rule (health "err", lastError).
   */
  onGroupEvaluation?: (event: GroupEvaluation) => void;
}

interface RuleState {
  def: RuleDef;
  health: RuleHealth;
  lastError: string | undefined;
  lastEvaluationMs: number | undefined;
  evaluationTimeMs: number;
  /** Alerting rules: alerts by label-set key. */
  active: Map<string, Alert>;
  /** Series written at the previous evaluation (for staleness markers). */
  previous: Map<string, Labels>;
  /** The rule's alerts had their for state restored (at its first evaluation). */
  restored: boolean;
}

interface GroupState {
  def: GroupDef;
  intervalMs: number;
  rules: RuleState[];
  lastEvaluationMs: number | undefined;
  evaluationTimeMs: number;
  timer: TimerHandle | undefined;
  /** Phase of the group's ticks within its interval (Prometheus: a hash of name and file). */
  offsetMs: number;
}

/** A stable phase in [0, intervalMs) for a group, so groups do not all evaluate at once. */
function groupOffset(def: GroupDef, intervalMs: number): number {
  let h = 0x811c9dc5;
  for (const ch of `${def.file}\u0000${def.name}`) {
    h ^= ch.codePointAt(0) as number;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % intervalMs;
}

const ZERO_TIME = "0001-01-01T00:00:00Z";

function iso(ms: number | undefined): string {
  if (ms === undefined) return ZERO_TIME;
  return new Date(ms).toISOString().replace(/\.000Z$/, "Z");
}

/** Evaluates rule groups against a store, at their intervals or on demand. */
export class RuleEngine {
  private readonly store: Storage;
  private readonly forState: Required<ForStateOptions> | undefined;
  private readonly groupStates: GroupState[];
  private readonly externalLabels: Record<string, string>;
  private readonly externalURL: string;
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly engineOpts: EngineOptions;
  private readonly resendDelayMs: number;
  private readonly notifyListeners = new Set<(alerts: PostableAlert[]) => void>();
  private readonly changeListeners = new Set<(change: AlertChange) => void>();
  private readonly onStart: RuleEngineOptions["onGroupEvaluationStart"];
  private readonly onEvaluated: RuleEngineOptions["onGroupEvaluation"];
  private running = false;

  constructor(opts: RuleEngineOptions) {
    this.store = opts.store;
    this.externalLabels = opts.externalLabels ?? {};
    this.externalURL = opts.externalURL ?? "";
    this.now = opts.now ?? systemClock.now;
    this.timers = opts.timers ?? systemTimers;
    this.engineOpts = opts.engine ?? {};
    this.resendDelayMs = opts.resendDelayMs ?? DEFAULT_RESEND_DELAY_MS;
    this.forState =
      opts.forState === false
        ? undefined
        : {
            outageToleranceMs: opts.forState?.outageToleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS,
            forGracePeriodMs: opts.forState?.forGracePeriodMs ?? DEFAULT_FOR_GRACE_PERIOD_MS,
          };
    this.onStart = opts.onGroupEvaluationStart;
    this.onEvaluated = opts.onGroupEvaluation;
    const defaultInterval = opts.evaluationIntervalMs ?? DEFAULT_EVALUATION_INTERVAL_MS;
    this.groupStates = opts.groups.map((def) => ({
      def,
      intervalMs: def.intervalMs ?? defaultInterval,
      rules: def.rules.map((r) => ({
        def: r,
        health: "unknown",
        lastError: undefined,
        lastEvaluationMs: undefined,
        evaluationTimeMs: 0,
        active: new Map(),
        previous: new Map(),
        restored: false,
      })),
      lastEvaluationMs: undefined,
      evaluationTimeMs: 0,
      timer: undefined,
      offsetMs: groupOffset(def, def.intervalMs ?? defaultInterval),
    }));
  }

  /** Starts evaluating every group at its interval (the first evaluation after one interval). */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const g of this.groupStates) this.schedule(g);
  }

  /** Stops all timers; state is kept. */
  stop(): void {
    this.running = false;
    for (const g of this.groupStates) {
      if (g.timer !== undefined) this.timers.clearTimeout(g.timer);
      g.timer = undefined;
    }
  }

  /**
   * Prometheus's group ticker: evaluations at fixed, interval-aligned times (plus the group's
   * offset), each at its tick's timestamp. Scheduling "one interval after the last one ended"
   * would drift by the evaluation time every round and tie the phase to the start-up moment.
   */
  private schedule(g: GroupState): number {
    const now = this.now();
    const at = this.nextTick(g, now);
    g.timer = this.timers.setTimeout(() => this.tick(g, at), Math.max(0, at - now)).unref();
    return at;
  }

  /** The group's first tick after `now`. */
  private nextTick(g: GroupState, now: number): number {
    const adjusted = now - g.offsetMs;
    return adjusted - (((adjusted % g.intervalMs) + g.intervalMs) % g.intervalMs) + g.offsetMs + g.intervalMs;
  }

  /**
   * One scheduled evaluation (of the tick at `at`) and the next tick's timer. The ticks between
   * `at` and the next one are skipped, as Prometheus's ticker drops them, and reported as missed.
   */
  private tick(g: GroupState, at: number): void {
    if (!this.running) return;
    let event: GroupEvaluation;
    let next: number | undefined;
    try {
      event = this.evaluateGroup(g, Math.min(at, this.now()));
    } finally {
      // Whatever a listener threw, the group keeps its schedule.
      if (this.running) next = this.schedule(g);
    }
    next ??= this.nextTick(g, this.now());
    event.missedIterations = Math.max(0, Math.round((next - at) / g.intervalMs) - 1);
    this.onEvaluated?.(event);
  }

  /** Evaluates every group once at `tMs`, in file order (what tests and `promtool test rules` use). */
  evaluateGroupsAt(tMs: number, order?: readonly string[]): void {
    const groups = order
      ? [
          ...order.flatMap((n) => this.groupStates.filter((g) => g.def.name === n)),
          ...this.groupStates.filter((g) => !order.includes(g.def.name)),
        ]
      : this.groupStates;
    for (const g of groups) {
      const event = this.evaluateGroup(g, tMs);
      this.onEvaluated?.(event);
    }
  }

  /** Called with the alerts due to be sent to Alertmanager after each group evaluation. */
  onNotify(listener: (alerts: PostableAlert[]) => void): () => void {
    this.notifyListeners.add(listener);
    return () => this.notifyListeners.delete(listener);
  }

  /** Called on every alert state change (inactive → pending → firing → inactive). */
  onChange(listener: (change: AlertChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Evaluates every rule of the group at `ts`; the caller reports the result (onGroupEvaluation). */
  private evaluateGroup(g: GroupState, ts: number): GroupEvaluation {
    this.onStart?.({ group: g.def.name, file: g.def.file, intervalMs: g.intervalMs, rules: g.rules.length });
    const start = performance.now();
    const toSend: PostableAlert[] = [];
    const failures: RuleFailure[] = [];
    g.rules.forEach((r, index) => {
      const t0 = performance.now();
      try {
        if (r.def.kind === "recording") this.evalRecording(g, r, ts);
        else {
          this.evalAlerting(g, r, ts);
          toSend.push(...this.alertsToSend(g, r, ts));
        }
        r.health = "ok";
        r.lastError = undefined;
      } catch (e) {
        r.health = "err";
        r.lastError = e instanceof Error ? e.message : String(e);
        failures.push({ rule: r.def.name, index, error: r.lastError });
      }
      r.lastEvaluationMs = ts;
      r.evaluationTimeMs = performance.now() - t0;
    });
    g.lastEvaluationMs = ts;
    g.evaluationTimeMs = performance.now() - start;
    if (toSend.length > 0) for (const l of this.notifyListeners) l(toSend);
    return {
      group: g.def.name,
      file: g.def.file,
      intervalMs: g.intervalMs,
      timestampMs: ts,
      durationMs: g.evaluationTimeMs,
      evaluations: g.rules.length,
      failures,
      missedIterations: 0,
    };
  }

  private query(r: RuleState, ts: number): Sample[] {
    const v = evaluateInstant(r.def.parsed, ts, this.store, this.engineOpts);
    if (v.type === "vector") return v.samples;
    if (v.type === "scalar") return [{ labels: [], value: v.value }];
    throw new Error("rule result is not a vector or scalar");
  }

  /** Writes samples at ts and staleness markers for the series written last time but not now. */
  private write(r: RuleState, ts: number, samples: Array<{ labels: Labels; value: number }>): void {
    const now = new Map<string, Labels>();
    for (const s of samples) {
      const key = labelsKey(s.labels);
      now.set(key, s.labels);
      this.store.append(s.labels, ts, s.value);
    }
    for (const [key, labels] of r.previous) if (!now.has(key)) this.store.appendStale(labels, ts);
    r.previous = now;
  }

  private evalRecording(g: GroupState, r: RuleState, ts: number): void {
    const res = this.query(r, ts);
    const out: Array<{ labels: Labels; value: number }> = [];
    const seen = new Set<string>();
    for (const s of res) {
      const obj = labelsToObject(s.labels);
      obj[METRIC_NAME] = r.def.name;
      for (const [k, v] of Object.entries(r.def.labels)) {
        if (v === "") delete obj[k];
        else obj[k] = v;
      }
      const labels = labelsFromObject(obj);
      const key = labelsKey(labels);
      if (seen.has(key))
        throw new Error("vector contains metrics with the same labelset after applying rule labels");
      seen.add(key);
      out.push({ labels, value: s.value });
    }
    if (g.def.limit > 0 && out.length > g.def.limit)
      throw new Error(`exceeded limit of ${g.def.limit} with ${out.length} series`);
    this.write(r, ts, out);
  }

  private change(g: GroupState, r: RuleState, a: Alert, from: AlertState, ts: number): void {
    if (from === a.state || this.changeListeners.size === 0) return;
    const c: AlertChange = {
      group: g.def.name,
      rule: r.def.name,
      labels: labelsToObject(a.labels),
      from,
      to: a.state,
      atMs: ts,
    };
    for (const l of this.changeListeners) l(c);
  }

  private evalAlerting(g: GroupState, r: RuleState, ts: number): void {
    const def = r.def;
    const res = this.query(r, ts);
    const fresh = new Map<string, Alert>();
    for (const s of res) {
      const data = {
        labels: labelsToObject(s.labels),
        value: s.value,
        externalLabels: this.externalLabels,
        externalURL: this.externalURL,
      };
      const tmplName = `__alert_${def.name}`;
      const obj = labelsToObject(s.labels);
      delete obj[METRIC_NAME];
      for (const [k, v] of Object.entries(def.labels)) {
        const expanded = expandTemplate(v, data, tmplName);
        if (expanded === "") delete obj[k];
        else obj[k] = expanded;
      }
      obj.alertname = def.name;
      const labels = labelsFromObject(obj);
      const annotations: Record<string, string> = {};
      for (const [k, v] of Object.entries(def.annotations))
        annotations[k] = expandTemplate(v, data, tmplName);
      const key = labelsKey(labels);
      if (fresh.has(key))
        throw new Error("vector contains metrics with the same labelset after applying alert labels");
      fresh.set(key, {
        labels,
        annotations,
        state: "pending",
        value: s.value,
        activeAtMs: ts,
        firedAtMs: undefined,
        resolvedAtMs: undefined,
        lastSentAtMs: undefined,
        validUntilMs: undefined,
        keepFiringSinceMs: undefined,
      });
    }
    for (const [key, a] of fresh) {
      const existing = r.active.get(key);
      if (existing !== undefined && existing.state !== "inactive") {
        existing.value = a.value;
        existing.annotations = a.annotations;
        continue;
      }
      if (!r.restored) this.restoreForState(def.forMs, a, ts);
      r.active.set(key, a);
      this.change(g, r, a, "inactive", ts);
    }
    r.restored = true;
    const series: Array<{ labels: Labels; value: number }> = [];
    let numActive = 0;
    for (const [key, a] of r.active) {
      if (!fresh.has(key)) {
        let keepFiring = false;
        if (a.state === "firing" && def.keepFiringForMs > 0) {
          if (a.keepFiringSinceMs === undefined) a.keepFiringSinceMs = ts;
          if (ts - a.keepFiringSinceMs < def.keepFiringForMs) keepFiring = true;
        }
        if (
          a.state === "pending" ||
          (a.resolvedAtMs !== undefined && ts - a.resolvedAtMs > RESOLVED_RETENTION_MS)
        ) {
          r.active.delete(key);
        }
        if (a.state !== "inactive" && !keepFiring) {
          const from = a.state;
          a.state = "inactive";
          a.resolvedAtMs = ts;
          this.change(g, r, a, from, ts);
        }
        if (!keepFiring) continue;
      } else {
        a.keepFiringSinceMs = undefined;
      }
      numActive++;
      if (a.state === "pending" && ts - a.activeAtMs >= def.forMs) {
        a.state = "firing";
        a.firedAtMs = ts;
        this.change(g, r, a, "pending", ts);
      }
      const alertsLabels = labelsFromObject({
        ...labelsToObject(a.labels),
        [METRIC_NAME]: "ALERTS",
        alertstate: a.state,
      });
      series.push({ labels: alertsLabels, value: 1 });
      series.push({
        labels: labelsFromObject({ ...labelsToObject(a.labels), [METRIC_NAME]: "ALERTS_FOR_STATE" }),
        value: Math.floor(a.activeAtMs / 1000),
      });
    }
    if (g.def.limit > 0 && numActive > g.def.limit) {
      r.active.clear();
      throw new Error(`exceeded limit of ${g.def.limit} with ${numActive} alerts`);
    }
    this.write(r, ts, series);
  }

  /** At a rule's first evaluation: the alert's activeAt from before a restart (for-state.ts). */
  private restoreForState(forMs: number, a: Alert, ts: number): void {
    if (this.forState === undefined || forMs <= 0) return;
    const last = lastForState(this.store, a.labels, ts, this.forState.outageToleranceMs);
    if (last === undefined) return;
    const activeAt = restoredActiveAt(forMs, last, ts, this.forState.forGracePeriodMs);
    if (activeAt !== undefined) a.activeAtMs = activeAt;
  }

  private generatorURL(expr: string): string {
    // Prometheus links the expression's one-line String(); without a printer, the rule text
    // with its line breaks and indentation folded comes closest.
    const oneLine = expr.replace(/\s+/g, " ").replace(/\( /g, "(").replace(/ \)/g, ")").trim();
    return `${this.externalURL}/graph?g0.expr=${encodeURIComponent(oneLine).replace(/%20/g, "+")}&g0.tab=1`;
  }

  /** Prometheus's sendAlerts: firing alerts every resend delay, resolved ones once more after resolving. */
  private alertsToSend(g: GroupState, r: RuleState, ts: number): PostableAlert[] {
    const out: PostableAlert[] = [];
    for (const a of r.active.values()) {
      if (a.state === "pending") continue;
      const resolvedSinceSent =
        a.resolvedAtMs !== undefined && (a.lastSentAtMs === undefined || a.resolvedAtMs > a.lastSentAtMs);
      const due =
        resolvedSinceSent || a.lastSentAtMs === undefined || a.lastSentAtMs + this.resendDelayMs < ts;
      if (!due) continue;
      a.lastSentAtMs = ts;
      a.validUntilMs = ts + 4 * Math.max(this.resendDelayMs, g.intervalMs);
      out.push({
        labels: { ...labelsToObject(a.labels), ...withoutOverrides(this.externalLabels, a.labels) },
        annotations: { ...a.annotations },
        startsAt: iso(a.firedAtMs ?? a.activeAtMs),
        endsAt: iso(a.resolvedAtMs ?? a.validUntilMs),
        generatorURL: this.generatorURL(r.def.expr),
      });
    }
    return out;
  }

  /** Every alert of every alerting rule, resolved ones included (state "inactive" with resolvedAtMs). */
  allAlerts(): Array<Alert & { rule: string; group: string }> {
    const out: Array<Alert & { rule: string; group: string }> = [];
    for (const g of this.groupStates)
      for (const r of g.rules)
        for (const a of r.active.values()) out.push({ ...a, rule: r.def.name, group: g.def.name });
    return out;
  }

  /** Pending and firing alerts, shaped like Prometheus's `/api/v1/alerts` `data.alerts`. */
  alerts(): ApiAlert[] {
    const out: ApiAlert[] = [];
    for (const g of this.groupStates) for (const r of g.rules) out.push(...activeApiAlerts(r));
    return out;
  }

  /** Groups and rules, shaped like Prometheus's `/api/v1/rules` `data.groups`. */
  groups(filter?: { type?: "alert" | "record" }): ApiRuleGroup[] {
    return this.groupStates.map((g) => ({
      name: g.def.name,
      file: g.def.file,
      rules: g.rules
        .filter((r) =>
          filter?.type === undefined
            ? true
            : filter.type === "alert"
              ? r.def.kind === "alerting"
              : r.def.kind === "recording",
        )
        .map((r) => ruleView(r)),
      interval: g.intervalMs / 1000,
      limit: g.def.limit,
      evaluationTime: g.evaluationTimeMs / 1000,
      lastEvaluation: iso(g.lastEvaluationMs),
    }));
  }
}

function withoutOverrides(ext: Record<string, string>, labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ext)) if (!labels.some((l) => l.name === k)) out[k] = v;
  return out;
}

function activeApiAlerts(r: RuleState): ApiAlert[] {
  const out: ApiAlert[] = [];
  for (const a of r.active.values()) {
    if (a.state === "inactive") continue;
    const v: ApiAlert = {
      labels: labelsToObject(a.labels),
      annotations: { ...a.annotations },
      state: a.state,
      activeAt: iso(a.activeAtMs),
      value: formatE(a.value, -1),
    };
    if (a.keepFiringSinceMs !== undefined) v.keepFiringSince = iso(a.keepFiringSinceMs);
    out.push(v);
  }
  return out;
}

function ruleView(r: RuleState): ApiAlertingRule | ApiRecordingRule {
  const d = r.def;
  if (d.kind === "recording") {
    const v: ApiRecordingRule = {
      name: d.name,
      query: d.expr.trim(),
      health: r.health,
      evaluationTime: r.evaluationTimeMs / 1000,
      lastEvaluation: iso(r.lastEvaluationMs),
      type: "recording",
    };
    if (Object.keys(d.labels).length > 0) v.labels = { ...d.labels };
    if (r.lastError !== undefined) v.lastError = r.lastError;
    return v;
  }
  const alerts = activeApiAlerts(r);
  const state: AlertState = alerts.some((a) => a.state === "firing")
    ? "firing"
    : alerts.length > 0
      ? "pending"
      : "inactive";
  const v: ApiAlertingRule = {
    state,
    name: d.name,
    query: d.expr.trim(),
    duration: d.forMs / 1000,
    keepFiringFor: d.keepFiringForMs / 1000,
    labels: { ...d.labels },
    annotations: { ...d.annotations },
    alerts,
    health: r.health,
    evaluationTime: r.evaluationTimeMs / 1000,
    lastEvaluation: iso(r.lastEvaluationMs),
    type: "alerting",
  };
  if (r.lastError !== undefined) v.lastError = r.lastError;
  return v;
}

/** Go's `strconv.FormatFloat(v, 'f', -1, 64)` (re-exported for API code formatting sample values). */
export const formatSampleValue = formatFloatPlain;
