import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Notifier, openStateDb, parseAlertmanagerConfig } from "../src/alerts/notify/index.js";
import type { Channel, Notification } from "../src/alerts/notify/types.js";
import { ManualClock } from "./support/clock.js";

/**
 * Alertmanager's pipeline semantics on the embedded notifier, with a recording channel per
 * receiver integration (real channels are tested against real servers elsewhere): routing with
 * `continue`, time intervals, send_resolved, repeat_interval, and the persisted notification log.
 * Group timers run on the manual clock (test/support/clock.ts): each test moves time itself, so
 * the flushes happen at exactly their configured times whatever the machine's load.
 */
let clock = new ManualClock();
beforeEach(() => {
  clock = new ManualClock();
});
const notifiers: Notifier[] = [];
afterEach(async () => {
  for (const n of notifiers.splice(0)) await n.stop(100);
});

function start(yaml: string, db = openStateDb(":memory:")) {
  const sent: Array<{ receiver: string; integration: string; n: Notification; at: number }> = [];
  const { config } = parseAlertmanagerConfig(yaml, "test.yml");
  const notifier = new Notifier({
    config,
    db,
    createChannels: (r) =>
      r.webhookConfigs.map(
        (c, index): Channel => ({
          kind: "webhook",
          index,
          sendResolved: c.sendResolved,
          multiGroup: false,
          async send(ns) {
            for (const n of ns) sent.push({ receiver: r.name, integration: c.url, n, at: clock.now() });
            return { ok: true };
          },
        }),
      ),
    externalURL: "http://am.test",
    initialBackoffMs: 10,
    maxBackoffMs: 100,
    expiryMs: 60_000,
    ratePerMinute: 0,
    now: clock.now,
    timers: clock,
  });
  notifier.start();
  notifiers.push(notifier);
  return { notifier, sent, db };
}

const TIMING = "  group_wait: 50ms\n  group_interval: 200ms\n  repeat_interval: 1h\n";
const firing = (labels: Record<string, string>) => ({
  labels,
  startsAt: new Date(clock.now()).toISOString(),
  endsAt: new Date(clock.now() + 3_600_000).toISOString(),
});
const resolved = (alert: ReturnType<typeof firing>) => ({
  ...alert,
  endsAt: new Date(clock.now()).toISOString(),
});

describe("routing", () => {
  it("sends to every matching route with continue, and stops at the first without", async () => {
    const { notifier, sent } = start(
      [
        "route:",
        "  receiver: fallback",
        "  group_by: [alertname]",
        TIMING,
        "  routes:",
        "    - matchers: ['team=\"db\"']",
        "      receiver: db",
        "      continue: true",
        "    - matchers: ['severity=~\"critical|page\"']",
        "      receiver: pager",
        "    - matchers: ['severity=\"critical\"']",
        "      receiver: never",
        "receivers:",
        "  - name: fallback",
        "    webhook_configs: [{ url: 'http://fallback' }]",
        "  - name: db",
        "    webhook_configs: [{ url: 'http://db' }]",
        "  - name: pager",
        "    webhook_configs: [{ url: 'http://pager' }]",
        "  - name: never",
        "    webhook_configs: [{ url: 'http://never' }]",
      ].join("\n"),
    );
    notifier.receive([
      firing({ alertname: "A", team: "db", severity: "critical" }),
      firing({ alertname: "B" }),
    ]);
    await clock.advanceAsync(50); // group_wait
    expect(sent).toHaveLength(3);
    await clock.advanceAsync(1_000); // five group_intervals later: nothing changed, nothing sent
    expect(sent.map((s) => `${s.receiver}:${s.n.groupLabels.alertname}`).sort()).toEqual([
      "db:A",
      "fallback:B",
      "pager:A",
    ]);
  });
});

describe("time intervals", () => {
  const yaml = (routeExtra: string) =>
    [
      "route:",
      "  receiver: r",
      "  group_by: [alertname]",
      TIMING,
      // Alertmanager refuses time intervals on the root route: a child takes every alert.
      "  routes:",
      "    - matchers: ['alertname=~\".+\"']",
      `    ${routeExtra}`,
      "time_intervals:",
      "  - name: always",
      "    time_intervals: [{ weekdays: ['sunday:saturday'] }]",
      "  - name: long-ago",
      "    time_intervals: [{ years: ['1990'] }]",
      "receivers:",
      "  - name: r",
      "    webhook_configs: [{ url: 'http://r' }]",
    ].join("\n");

  it("mutes a route during its mute_time_intervals", async () => {
    const { notifier, sent } = start(yaml("  mute_time_intervals: [always]"));
    notifier.receive([firing({ alertname: "Muted" })]);
    await clock.advanceAsync(1_000);
    expect(sent).toHaveLength(0);
  });

  it("sends only inside active_time_intervals", async () => {
    const { notifier, sent } = start(yaml("  active_time_intervals: [long-ago]"));
    notifier.receive([firing({ alertname: "Inactive" })]);
    await clock.advanceAsync(1_000);
    expect(sent).toHaveLength(0);
    const { notifier: n2, sent: s2 } = start(yaml("  active_time_intervals: [always]"));
    n2.receive([firing({ alertname: "Active" })]);
    await clock.advanceAsync(50);
    expect(s2).toHaveLength(1);
  });
});

describe("dedup", () => {
  const yaml = (sendResolved: boolean, repeat = "1h") =>
    [
      "route:",
      "  receiver: r",
      "  group_by: [alertname]",
      "  group_wait: 50ms",
      "  group_interval: 200ms",
      `  repeat_interval: ${repeat}`,
      "receivers:",
      "  - name: r",
      `    webhook_configs: [{ url: 'http://r', send_resolved: ${sendResolved} }]`,
    ].join("\n");

  it("without send_resolved, resolved alerts are left out and an all-resolved group is not sent", async () => {
    const { notifier, sent } = start(yaml(false));
    const a = firing({ alertname: "G", instance: "1" });
    const b = firing({ alertname: "G", instance: "2" });
    notifier.receive([a, b]);
    await clock.advanceAsync(150); // flushed at group_wait (50 ms)
    notifier.receive([resolved(a)]);
    await clock.advanceAsync(250); // flushed at 250 ms: a resolved, b unchanged
    notifier.receive([resolved(b)]);
    await clock.advanceAsync(250); // flushed at 450 ms: all resolved
    expect(sent.map((s) => s.n.alerts.map((x) => `${x.labels.instance}:${x.status}`).join(","))).toEqual([
      "1:firing,2:firing",
    ]);
  });

  it("with send_resolved, resolution is sent; nothing changes → nothing until repeat_interval", async () => {
    const { notifier, sent } = start(yaml(true, "600ms"));
    const a = firing({ alertname: "G", instance: "1" });
    notifier.receive([a]);
    await clock.advanceAsync(50);
    expect(sent).toHaveLength(1);
    await clock.advanceAsync(800); // the flushes at 250, 450, 650 and 850 ms
    expect(sent).toHaveLength(2);
    // Unchanged flushes every 200 ms in between sent nothing: the repeat came at the first flush
    // once repeat_interval had passed.
    const gap = (sent[1]?.at ?? 0) - (sent[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(600);
    expect(gap).toBeLessThanOrEqual(600 + 200);
    expect(sent[1]?.n.status).toBe("firing");
    notifier.receive([resolved(a)]);
    await clock.advanceAsync(200);
    expect(sent).toHaveLength(3);
    expect(sent.at(-1)?.n.status).toBe("resolved");
  });

  it("a restart does not re-send what the receiver was already told (the log is persisted)", async () => {
    const db = openStateDb(":memory:");
    const first = start(yaml(true), db);
    const a = firing({ alertname: "G", instance: "1" });
    first.notifier.receive([a]);
    await clock.advanceAsync(50);
    expect(first.sent).toHaveLength(1);
    await first.notifier.stop(100);
    const second = start(yaml(true), db);
    second.notifier.receive([a]);
    await clock.advanceAsync(1_000);
    expect(second.sent).toHaveLength(0);
    second.notifier.receive([firing({ alertname: "G", instance: "2" })]);
    await clock.advanceAsync(200); // the group's next flush
    expect(second.sent).toHaveLength(1);
  });
});
