import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type PostableAlert, parseRuleFile, RuleEngine } from "../../src/alerts/rules/index.js";
import { DurableStore, labelsFromObject } from "../../src/tsdb/index.js";

const S = 1000;
const M = 60_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % (60 * M));

const RULES = `groups:
  - name: g
    interval: 15s
    rules:
      - alert: Down
        expr: up == 0
        for: 5m
        labels: { severity: critical }
`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** One life of the app: a durable store in `dir` and a rule engine evaluated every 15 s by hand. */
function life(dir: string) {
  const store = new DurableStore({ dir, blockRangeMs: 60 * M, syncIntervalMs: 60 * M });
  const engine = new RuleEngine({ store, groups: parseRuleFile(RULES, "rules.yml") });
  const sent: { at: number; alerts: PostableAlert[] }[] = [];
  let at = 0;
  engine.onNotify((alerts) => sent.push({ at, alerts }));
  const step = (t: number, up: number) => {
    at = t;
    store.append(labelsFromObject({ __name__: "up", job: "tug" }), t, up);
    engine.evaluateGroupsAt(t);
    store.gc(t);
  };
  return { store, engine, step, sent, state: () => engine.alerts()[0] };
}

describe("alert for state across a restart (durable store)", () => {
  it("a for: 5m alert pending 4 minutes before a restart fires about a minute after it", () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-restore-"));
    dirs.push(dir);
    const first = life(dir);
    for (let t = T0; t <= T0 + 4 * M; t += 15 * S) first.step(t, 0);
    expect(first.state()?.state).toBe("pending");
    // the process dies here (no close); it comes back 30 s later
    const second = life(dir);
    const restart = T0 + 4 * M + 30 * S;
    let firedAt: number | undefined;
    for (let t = restart; t <= restart + 5 * M; t += 15 * S) {
      second.step(t, 0);
      if (firedAt === undefined && second.state()?.state === "firing") firedAt = t;
    }
    expect(firedAt).toBeDefined();
    // one minute of pending was left; the downtime (30 s) does not count
    expect(((firedAt as number) - restart) / S).toBe(60);
    // without restoring, it would wait its whole for: 5m
    const third = mkdtempSync(join(tmpdir(), "tug-restore-"));
    dirs.push(third);
    const fresh = life(third);
    let freshFired: number | undefined;
    for (let t = restart; t <= restart + 6 * M; t += 15 * S) {
      fresh.step(t, 0);
      if (freshFired === undefined && fresh.state()?.state === "firing") freshFired = t;
    }
    expect(((freshFired as number) - restart) / S).toBe(300);
    second.store.close();
    fresh.store.close();
  });

  it("a firing alert is firing again at the first evaluation after a restart, with its old activeAt", () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-restore-"));
    dirs.push(dir);
    const first = life(dir);
    for (let t = T0; t <= T0 + 10 * M; t += 15 * S) first.step(t, 0);
    const before = first.state();
    expect(before?.state).toBe("firing");
    const second = life(dir);
    const restart = T0 + 10 * M + 45 * S;
    second.step(restart, 0);
    expect(second.state()?.state).toBe("firing");
    expect(second.state()?.activeAt).toBe(before?.activeAt);
    // its startsAt for the notifier is the moment it fired after the restart; the notifier
    // (which keeps its own state, test/notify-*) groups it with the one it already sent
    expect(second.sent.at(-1)?.alerts[0]?.labels).toEqual(first.sent.at(-1)?.alerts[0]?.labels);
    second.store.close();
  });

  it("nothing is restored after an outage longer than the tolerance (1 h)", () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-restore-"));
    dirs.push(dir);
    const first = life(dir);
    for (let t = T0; t <= T0 + 4 * M; t += 15 * S) first.step(t, 0);
    const second = life(dir);
    const restart = T0 + 4 * M + 61 * M;
    second.step(restart, 0);
    expect(second.state()?.state).toBe("pending");
    expect(Date.parse(second.state()?.activeAt as string)).toBe(restart);
    second.store.close();
  });
});
