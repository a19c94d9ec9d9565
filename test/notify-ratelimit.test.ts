import { describe, expect, it } from "vitest";
import { Outbox } from "../src/alerts/notify/outbox.js";
import { openStateDb } from "../src/alerts/notify/state.js";
import type { Channel, Notification } from "../src/alerts/notify/types.js";
import { ManualClock } from "./support/clock.js";

/**
 * The rate limit and its coalescing, on the outbox itself with a manual clock (state machines get
 * fake time, test/support/clock.ts; the channels are tested against real servers in channels.test.ts). Over the limit,
 * nothing is dropped: waiting notifications of a group merge into the next allowed message.
 */
function recordingChannel(multiGroup: boolean) {
  const sent: Notification[][] = [];
  const channel: Channel = {
    kind: multiGroup ? "email" : "webhook",
    index: 0,
    sendResolved: true,
    multiGroup,
    async send(ns) {
      sent.push(ns);
      return { ok: true };
    },
  };
  return { channel, sent };
}

function notification(
  group: string,
  alert: string,
  status: "firing" | "resolved" = "firing",
): Omit<Notification, "dedupKey"> {
  const labels = { alertname: group, instance: alert };
  return {
    receiver: "team",
    status,
    alerts: [
      {
        status,
        labels,
        annotations: {},
        startsAt: "2026-11-27T10:00:00Z",
        endsAt: status === "firing" ? "0001-01-01T00:00:00Z" : "2026-11-27T10:05:00Z",
        generatorURL: "",
        fingerprint: `${group}-${alert}`,
      },
    ],
    groupLabels: { alertname: group },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: "http://x",
    groupKey: `{}:{alertname="${group}"}`,
  };
}

function setup(multiGroup: boolean) {
  const clock = new ManualClock(1_000_000);
  const { channel, sent } = recordingChannel(multiGroup);
  const coalesced: number[] = [];
  const outbox = new Outbox({
    db: openStateDb(":memory:"),
    channel: () => channel,
    initialBackoffMs: 1000,
    maxBackoffMs: 10_000,
    expiryMs: 86_400_000,
    ratePerMinute: 2,
    now: clock.now,
    timers: clock,
    events: { coalesced: (row) => coalesced.push(row.id) },
  });
  outbox.start();
  return { clock, outbox, sent, coalesced };
}

describe("rate limit (2 a minute)", () => {
  it("coalesces what waited into the next allowed message, per group, losing no alert", async () => {
    const { clock, outbox, sent, coalesced } = setup(false);
    outbox.enqueue("team", "webhook[0]", notification("G", "1"));
    await clock.advanceAsync(0);
    outbox.enqueue("team", "webhook[0]", notification("G", "2"));
    await clock.advanceAsync(0);
    expect(sent).toHaveLength(2); // the bucket's two tokens
    outbox.enqueue("team", "webhook[0]", notification("G", "3"));
    outbox.enqueue("team", "webhook[0]", notification("G", "1", "resolved"));
    outbox.enqueue("team", "webhook[0]", notification("G", "4"));
    outbox.enqueue("team", "webhook[0]", notification("H", "1"));
    await clock.advanceAsync(1000);
    expect(sent).toHaveLength(2); // over the limit: they wait
    await clock.advanceAsync(30_000); // one token
    expect(sent).toHaveLength(3);
    // G's three waiting notifications became one, carrying every alert with its latest state.
    const merged = sent[2]?.[0];
    expect(merged?.groupKey).toBe('{}:{alertname="G"}');
    expect(merged?.alerts.map((a) => `${a.labels.instance}:${a.status}`).sort()).toEqual([
      "1:resolved",
      "3:firing",
      "4:firing",
    ]);
    expect(coalesced).toHaveLength(2);
    await clock.advanceAsync(30_000);
    expect(sent.map((s) => s.map((n) => n.groupKey))).toEqual([
      ['{}:{alertname="G"}'],
      ['{}:{alertname="G"}'],
      ['{}:{alertname="G"}'],
      ['{}:{alertname="H"}'],
    ]);
    expect(outbox.pendingCount()).toBe(0);
  });

  it("puts every waiting group into one message on channels that carry several (email, Slack)", async () => {
    const { clock, outbox, sent, coalesced } = setup(true);
    outbox.enqueue("team", "email[0]", notification("A", "1"));
    outbox.enqueue("team", "email[0]", notification("B", "1"));
    await clock.advanceAsync(0);
    outbox.enqueue("team", "email[0]", notification("C", "1"));
    outbox.enqueue("team", "email[0]", notification("D", "1"));
    outbox.enqueue("team", "email[0]", notification("C", "2"));
    await clock.advanceAsync(1000);
    expect(sent).toHaveLength(2);
    await clock.advanceAsync(30_000);
    expect(sent).toHaveLength(3);
    expect(sent[2]?.map((n) => `${n.groupLabels.alertname}:${n.alerts.length}`)).toEqual(["C:2", "D:1"]);
    expect(coalesced).toHaveLength(1);
    expect(outbox.pendingCount()).toBe(0);
  });

  it("retries with backoff in order, and expires what cannot be delivered", async () => {
    const clock = new ManualClock(1_000_000);
    const attempts: number[] = [];
    const expired: number[] = [];
    const channel: Channel = {
      kind: "webhook",
      index: 0,
      sendResolved: true,
      multiGroup: false,
      async send() {
        attempts.push(clock.now());
        return { ok: false, retryable: true, error: "HTTP 500" };
      },
    };
    const outbox = new Outbox({
      db: openStateDb(":memory:"),
      channel: () => channel,
      initialBackoffMs: 1000,
      maxBackoffMs: 8000,
      expiryMs: 60_000,
      ratePerMinute: 0,
      now: clock.now,
      timers: clock,
      random: () => 1,
      events: { expired: (row) => expired.push(row.id) },
    });
    outbox.start();
    outbox.enqueue("team", "webhook[0]", notification("G", "1"));
    await clock.advanceAsync(70_000);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
    expect(gaps.slice(0, 5)).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(expired).toHaveLength(1);
    expect(outbox.pendingCount()).toBe(0);
  });
});
