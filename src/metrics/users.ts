import { Counter, Gauge, type Registry } from "prom-client";
import { systemClock } from "../core/clock.js";
import { GuardedChildren, type GuardLogger } from "./guard.js";

const WINDOWS = [
  ["5m", 5 * 60_000],
  ["1h", 60 * 60_000],
  ["24h", 24 * 60 * 60_000],
] as const;
const LONGEST_MS = 24 * 60 * 60_000;

type Inc = { inc(): void };

/**
 * User activity: registrations, logins, feature usage and active users. User ids are held
 * only in memory to count distinct active users; they never become label values.
 */
export class UserActivityMonitor {
  private readonly lastSeen = new Map<string, number>();
  private readonly registrations: GuardedChildren<Inc>;
  private readonly logins: GuardedChildren<Inc>;
  private readonly features: GuardedChildren<Inc>;
  private readonly throttled: Counter<"reason">;
  private lastPrune = 0;

  constructor(
    registry: Registry,
    maxSeries: number,
    overflow: Counter<"metric">,
    private readonly now: () => number = systemClock.now,
    logger?: GuardLogger,
  ) {
    const counter = <L extends string>(name: string, help: string, label: L) => {
      const c = new Counter<L>({ name, help, labelNames: [label], registers: [registry] });
      return new GuardedChildren<Inc>(
        name,
        [label],
        maxSeries,
        (labels) => c.labels(labels as Record<L, string>),
        overflow,
        logger,
      );
    };
    this.registrations = counter("user_registrations_total", "User accounts registered, by method", "method");
    this.logins = counter("user_logins_total", "Login attempts, by outcome", "outcome");
    this.features = counter("feature_usage_total", "Uses of a product feature, by feature", "feature");
    // Three fixed reasons, all present from the start (a rate() over a missing series is no alert).
    this.throttled = new Counter({
      name: "auth_login_throttled_total",
      help: "Logins refused with 429, by what refused them: the per-account or per-address limit (account, address) or a full password-check queue (busy)",
      labelNames: ["reason"],
      registers: [registry],
    });
    for (const reason of ["account", "address", "busy"]) this.throttled.inc({ reason }, 0);
    const self = this;
    new Gauge({
      name: "users_active",
      help: "Distinct users active within the window (5m, 1h, 24h)",
      labelNames: ["window"],
      registers: [registry],
      collect() {
        const counts = self.activeCounts();
        for (const [window] of WINDOWS) this.set({ window }, counts[window]);
      },
    });
  }

  /** Note that `userId` did something now (every tracked event calls this). */
  touch(userId: string | null | undefined): void {
    if (!userId) return;
    const t = this.now();
    const prev = this.lastSeen.get(userId);
    // Within a second nothing a window of minutes can tell changes: skip the re-insert.
    if (prev !== undefined && t - prev < 1000 && t >= prev) return;
    // Re-insert so the Map stays ordered by last activity: pruning stops at the first fresh entry.
    this.lastSeen.delete(userId);
    this.lastSeen.set(userId, t);
    if (t - this.lastPrune > 60_000) this.prune(t);
  }

  trackUserRegistration(userId: string, method = "email"): void {
    this.registrations.get(method, () => ({ method })).inc();
    this.touch(userId);
  }

  /** `outcome` is a small fixed set such as success | failure; userId may be null on failure. */
  trackUserLogin(userId: string | null, outcome = "success"): void {
    this.logins.get(outcome, () => ({ outcome })).inc();
    if (outcome === "success") this.touch(userId);
  }

  /** A login refused by the per-account or the per-address limit, or by a full password-check queue. */
  trackLoginThrottled(reason: "account" | "address" | "busy"): void {
    this.throttled.inc({ reason });
  }

  trackFeatureUsage(userId: string | null, feature: string): void {
    this.features.get(feature, () => ({ feature })).inc();
    this.touch(userId);
  }

  /** Distinct active users per window. */
  activeCounts(): Record<(typeof WINDOWS)[number][0], number> {
    const t = this.now();
    this.prune(t);
    const counts = { "5m": 0, "1h": 0, "24h": 0 };
    for (const seen of this.lastSeen.values()) {
      const age = t - seen;
      if (age <= WINDOWS[0][1]) counts["5m"]++;
      if (age <= WINDOWS[1][1]) counts["1h"]++;
      counts["24h"]++;
    }
    return counts;
  }

  private prune(t: number): void {
    this.lastPrune = t;
    for (const [id, seen] of this.lastSeen) {
      if (t - seen <= LONGEST_MS) break;
      this.lastSeen.delete(id);
    }
  }
}
