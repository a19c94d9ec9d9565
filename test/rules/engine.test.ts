import { describe, expect, it } from "vitest";
import {
  type AlertChange,
  type PostableAlert,
  parseRuleFile,
  RuleEngine,
} from "../../src/alerts/rules/index.js";
import { evaluateInstant, type VectorValue } from "../../src/promql/index.js";
import { isStaleMarker, labelsFromObject, SeriesStore } from "../../src/tsdb/index.js";
import { ManualClock } from "../support/clock.js";

const M = 60_000;

function setup(rules: string, extra: Partial<ConstructorParameters<typeof RuleEngine>[0]> = {}) {
  const store = new SeriesStore({ maxSeries: 10_000, retentionMs: 1e12 });
  const groups = parseRuleFile(rules, "test.yml");
  const engine = new RuleEngine({ store, groups, ...extra });
  const gauge = (name: string, labels: Record<string, string>, t: number, v: number) =>
    store.append(labelsFromObject({ __name__: name, ...labels }), t, v);
  const query = (q: string, t: number) => (evaluateInstant(q, t, store) as VectorValue).samples;
  return { store, engine, gauge, query };
}

const ALERT = `groups:
  - name: g
    rules:
      - alert: Hot
        expr: temp > 80
        for: 3m
        labels: { severity: "{{ if gt $value 90.0 }}critical{{ else }}warning{{ end }}" }
        annotations: { summary: "{{ $labels.room }} is {{ $value }} degrees" }
`;

describe("rule engine", () => {
  it("walks inactive → pending → firing → resolved, keeping resolved alerts 15 minutes", () => {
    const { engine, gauge, query } = setup(ALERT);
    const changes: AlertChange[] = [];
    engine.onChange((c) => changes.push(c));
    const states: string[] = [];
    for (let i = 0; i <= 30; i++) {
      gauge("temp", { room: "a" }, i * M, i >= 2 && i <= 8 ? 85 : 20);
      engine.evaluateGroupsAt(i * M);
      states.push(engine.alerts()[0]?.state ?? "-");
    }
    // pending from 2m, firing at 2m + for (3m), resolved at 9m
    expect(states.slice(0, 10)).toEqual([
      "-",
      "-",
      "pending",
      "pending",
      "pending",
      "firing",
      "firing",
      "firing",
      "firing",
      "-",
    ]);
    expect(changes.map((c) => `${c.from}>${c.to}@${c.atMs / M}`)).toEqual([
      "inactive>pending@2",
      "pending>firing@5",
      "firing>inactive@9",
    ]);
    const all = engine.allAlerts();
    expect(all).toHaveLength(0); // resolved at 9m, dropped after 15m of retention (at 25m)
    expect(query("ALERTS", 5 * M).map((s) => s.value)).toEqual([1]);
    expect(query('ALERTS{alertstate="firing"}', 5 * M)[0]?.labels).toEqual(
      labelsFromObject({
        __name__: "ALERTS",
        alertname: "Hot",
        alertstate: "firing",
        room: "a",
        severity: "warning",
      }),
    );
    expect(query("ALERTS_FOR_STATE", 6 * M).map((s) => s.value)).toEqual([120]);
    expect(query("ALERTS", 9 * M)).toEqual([]); // a staleness marker ended the series
  });

  it("keeps a resolved alert for 15 minutes and reports it once to the notifier", () => {
    const { engine, gauge } = setup(ALERT, { resendDelayMs: M });
    const sent: PostableAlert[][] = [];
    engine.onNotify((a) => sent.push(a));
    for (let i = 0; i <= 12; i++) {
      gauge("temp", { room: "a" }, i * M, i <= 4 ? 95 : 20);
      engine.evaluateGroupsAt(i * M);
    }
    const resolved = engine.allAlerts();
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({ state: "inactive", resolvedAtMs: 5 * M });
    expect(engine.alerts()).toEqual([]);
    // firing at 3m and 4m... sent at 3m, re-sent only after the resend delay; resolved sent at 5m
    const flat = sent.map((batch) => batch.map((a) => `${a.startsAt}|${a.endsAt}`));
    expect(flat[0]).toEqual(["1970-01-01T00:03:00Z|1970-01-01T00:07:00Z"]);
    expect(flat.at(-1)).toEqual(["1970-01-01T00:03:00Z|1970-01-01T00:05:00Z"]);
    expect(sent[0]?.[0]?.labels).toMatchObject({ alertname: "Hot", severity: "critical", room: "a" });
    expect(sent[0]?.[0]?.annotations).toEqual({ summary: "a is 95 degrees" });
  });

  it("honours keep_firing_for", () => {
    const { engine, gauge } = setup(`groups:
  - name: g
    rules:
      - alert: Flap
        expr: x > 0
        keep_firing_for: 2m
`);
    const states: string[] = [];
    for (let i = 0; i <= 6; i++) {
      gauge("x", {}, i * M, i === 1 ? 1 : 0);
      engine.evaluateGroupsAt(i * M);
      states.push(engine.alerts()[0]?.state ?? "-");
    }
    expect(states).toEqual(["-", "firing", "firing", "firing", "-", "-", "-"]);
  });

  it("writes recording rule results back into the store, with rule labels and staleness", () => {
    const { engine, gauge, query } = setup(`groups:
  - name: rec
    rules:
      - record: room:temp:max
        expr: max by (room) (temp)
        labels: { source: rules }
      - alert: Derived
        expr: room:temp:max > 50
`);
    gauge("temp", { room: "a", sensor: "1" }, 0, 40);
    gauge("temp", { room: "a", sensor: "2" }, 0, 60);
    engine.evaluateGroupsAt(0);
    expect(query("room:temp:max", 0)).toEqual([
      { labels: labelsFromObject({ __name__: "room:temp:max", room: "a", source: "rules" }), value: 60 },
    ]);
    // a later rule of the group sees the earlier rule's output of the same evaluation
    expect(engine.alerts()).toHaveLength(1);
    engine.evaluateGroupsAt(M); // temp has no sample since 0 but is within lookback; still 60
    expect(query("room:temp:max", M)[0]?.value).toBe(60);
  });

  it("marks a recording rule's vanished series stale", () => {
    const { engine, gauge, store } = setup(`groups:
  - name: rec
    rules:
      - record: up:sum
        expr: sum(up)
`);
    gauge("up", {}, 0, 1);
    engine.evaluateGroupsAt(0);
    store.appendStale(labelsFromObject({ __name__: "up" }), 30_000);
    engine.evaluateGroupsAt(M);
    const s = store.select([{ type: "=", name: "__name__", value: "up:sum" }], 0, M)[0];
    expect([...(s?.values ?? [])].map((v) => (isStaleMarker(v) ? "stale" : v))).toEqual([1, "stale"]);
  });

  it("serves /api/v1/rules and /api/v1/alerts shapes and records errors", () => {
    const { engine, gauge } = setup(`${ALERT}      - record: bad
        expr: label_replace(temp, "x", "$1", "room", "(.*)") + on() group_left temp
`);
    expect(engine.groups()[0]).toMatchObject({
      name: "g",
      file: "test.yml",
      interval: 60,
      limit: 0,
      lastEvaluation: "0001-01-01T00:00:00Z",
    });
    gauge("temp", { room: "a" }, 0, 85);
    gauge("temp", { room: "b" }, 0, 85);
    engine.evaluateGroupsAt(0);
    const [g] = engine.groups();
    expect(g?.lastEvaluation).toBe("1970-01-01T00:00:00Z");
    expect(g?.rules[0]).toMatchObject({
      type: "alerting",
      name: "Hot",
      state: "pending",
      duration: 180,
      keepFiringFor: 0,
      health: "ok",
      query: "temp > 80",
    });
    expect(g?.rules[1]).toMatchObject({ type: "recording", name: "bad", health: "err" });
    expect((g?.rules[1] as { lastError?: string } | undefined)?.lastError).toBeTruthy();
    expect(engine.alerts()[0]).toEqual({
      labels: { alertname: "Hot", room: "a", severity: "warning" },
      annotations: { summary: "a is 85 degrees" },
      state: "pending",
      activeAt: "1970-01-01T00:00:00Z",
      value: "8.5e+01",
    });
    expect(engine.groups({ type: "record" })[0]?.rules).toHaveLength(1);
  });

  it("evaluates each group at its interval with injected timers and clock", () => {
    const clock = new ManualClock(0);
    const { engine, gauge } = setup(
      `groups:
  - name: fast
    interval: 10s
    rules: [{ alert: A, expr: vector(1) }]
  - name: slow
    rules: [{ alert: B, expr: vector(1) }]
`,
      { now: clock.now, timers: clock, evaluationIntervalMs: 30_000 },
    );
    gauge("unused", {}, 0, 1);
    engine.start();
    // Prometheus's ticker: evaluations at interval-aligned times plus a stable per-group phase,
    // each stamped with its tick time (no drift, whatever an evaluation costs).
    const seen: Array<Set<string>> = [new Set(), new Set()];
    for (let t = 1000; t <= 120_000; t += 1000) {
      clock.advance(t - clock.now());
      engine.groups().forEach((g, i) => {
        if (g.lastEvaluation !== "0001-01-01T00:00:00Z") seen[i]?.add(g.lastEvaluation);
      });
    }
    const [fast, slow] = engine.groups();
    expect(fast?.interval).toBe(10);
    expect(slow?.interval).toBe(30);
    const times = (i: number) => [...(seen[i] ?? [])].map((x) => Date.parse(x));
    for (const [i, interval] of [
      [0, 10_000],
      [1, 30_000],
    ] as const) {
      const ts = times(i);
      expect(ts.length).toBeGreaterThanOrEqual(120_000 / interval - 1);
      for (let k = 1; k < ts.length; k++) expect((ts[k] as number) - (ts[k - 1] as number)).toBe(interval);
      expect((ts[0] as number) % interval).toBe((ts.at(-1) as number) % interval);
      expect(ts[0]).toBeLessThanOrEqual(interval);
    }
    engine.stop();
    expect(clock.size).toBe(0);
  });
});
