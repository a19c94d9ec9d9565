// What the engine tells the API's thread, handled once for both engines: the worker's client
// (src/engine/client.ts, events arriving as messages) and the in-process engine
// (src/engine/inline.ts, events emitted by the host directly). Alerts to send and state changes
// go to their listeners; the alerts mirror and the store's figures are kept for synchronous
// readers; rule-group evaluations feed the observer and the failure log; log events are logged.

import type { AlertChange, PostableAlert } from "../alerts/rules/index.js";
import type { AlertsMirror, EngineEvent, EngineObserver, EngineStats } from "./protocol.js";
import type { RuleFailureLog } from "./rule-log.js";

export const EMPTY_MIRROR: AlertsMirror = { alerts: [], pending: 0, firing: 0, truncated: false };

type LogEvent = Extract<EngineEvent, { kind: "log" }>;

export interface EngineEventsOptions {
  observer?: EngineObserver | undefined;
  ruleLog: RuleFailureLog;
  /** Where the engine's own log events go. */
  log(level: LogEvent["level"], fields: Record<string, unknown>, msg: string): void;
  /** The engine says it computes until this wall-clock time (the watchdog's business). */
  busy?(until: number): void;
}

export class EngineEvents {
  /** The pending and firing alerts as the engine last posted them. */
  mirror: AlertsMirror = EMPTY_MIRROR;
  /** The store's figures as the engine last posted them. */
  stats: EngineStats | undefined;
  private readonly notifyListeners = new Set<(alerts: PostableAlert[]) => void>();
  private readonly changeListeners = new Set<(change: AlertChange) => void>();

  constructor(private readonly opts: EngineEventsOptions) {}

  onNotify(listener: (alerts: PostableAlert[]) => void): () => void {
    this.notifyListeners.add(listener);
    return () => this.notifyListeners.delete(listener);
  }

  onChange(listener: (change: AlertChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Forgets the mirror and the figures (a new worker starts from nothing). */
  reset(): void {
    this.mirror = EMPTY_MIRROR;
    this.stats = undefined;
  }

  dispatch(e: EngineEvent): void {
    switch (e.kind) {
      case "notify":
        for (const l of this.notifyListeners) l(e.alerts);
        return;
      case "change":
        for (const l of this.changeListeners) l(e.change);
        return;
      case "mirror":
        this.mirror = e.mirror;
        return;
      case "stats":
        this.stats = e.stats;
        return;
      case "busy":
        this.opts.busy?.(e.until);
        return;
      case "rule_group":
        this.opts.observer?.ruleGroup(e.evaluation);
        this.opts.ruleLog.record(e.evaluation);
        return;
      case "log":
        this.opts.log(e.level, e.fields ?? {}, e.msg);
        return;
    }
  }
}
