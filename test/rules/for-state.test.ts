import { describe, expect, it } from "vitest";
import { lastForState, restoredActiveAt } from "../../src/alerts/rules/for-state.js";
import { labelsFromObject, SeriesStore } from "../../src/tsdb/index.js";

const MIN = 60_000;

describe("restoring an alert's for state (Prometheus's RestoreForState arithmetic)", () => {
  const t0 = 1_700_000_000_000;

  it("a for: 5m alert pending 4 min before a 30 s restart fires about a minute after", () => {
    const last = { t: t0 + 4 * MIN, activeAtSec: t0 / 1000 };
    const now = t0 + 4 * MIN + 30_000;
    const activeAt = restoredActiveAt(5 * MIN, last, now, MIN) as number;
    expect(activeAt + 5 * MIN - now).toBe(MIN); // one minute of pending left, as before the restart
  });

  it("an alert that was firing keeps its activeAt, so it fires again at once", () => {
    const last = { t: t0 + 20 * MIN, activeAtSec: t0 / 1000 };
    expect(restoredActiveAt(5 * MIN, last, t0 + 21 * MIN, MIN)).toBe(t0);
  });

  it("less than the grace period left waits the grace period", () => {
    const last = { t: t0 + 10 * MIN - 20_000, activeAtSec: t0 / 1000 }; // 20 s left of for: 10m
    const now = t0 + 30 * MIN;
    const activeAt = restoredActiveAt(10 * MIN, last, now, 2 * MIN) as number;
    expect(activeAt + 10 * MIN - now).toBe(2 * MIN);
  });

  it("a rule whose for is shorter than the grace period is not restored", () => {
    expect(restoredActiveAt(30_000, { t: t0, activeAtSec: t0 / 1000 - 20 }, t0 + MIN, MIN)).toBeUndefined();
  });

  it("truncates to whole seconds as Prometheus does", () => {
    const last = { t: t0 + 4 * MIN + 999, activeAtSec: t0 / 1000 + 0.9 };
    const now = t0 + 4 * MIN + 30_000;
    expect(restoredActiveAt(5 * MIN, last, now, MIN)).toBe(t0 + 30_000);
  });

  it("finds the alert's own series within the outage tolerance, and nothing after a staleness marker", () => {
    const store = new SeriesStore({ retentionMs: 1000 * MIN });
    const alert = labelsFromObject({ alertname: "HighErrorRate", severity: "critical" });
    const own = labelsFromObject({
      __name__: "ALERTS_FOR_STATE",
      alertname: "HighErrorRate",
      severity: "critical",
    });
    const wider = labelsFromObject({
      __name__: "ALERTS_FOR_STATE",
      alertname: "HighErrorRate",
      severity: "critical",
      route: "/x",
    });
    for (let k = 0; k <= 4; k++) {
      store.append(own, t0 + k * MIN, t0 / 1000);
      store.append(wider, t0 + k * MIN, t0 / 1000 - 999);
    }
    expect(lastForState(store, alert, t0 + 5 * MIN, 60 * MIN)).toEqual({
      t: t0 + 4 * MIN,
      activeAtSec: t0 / 1000,
    });
    // outside the outage tolerance: nothing
    expect(lastForState(store, alert, t0 + 70 * MIN, 60 * MIN)).toBeUndefined();
    store.appendStale(own, t0 + 5 * MIN);
    expect(lastForState(store, alert, t0 + 6 * MIN, 60 * MIN)).toBeUndefined();
  });
});
