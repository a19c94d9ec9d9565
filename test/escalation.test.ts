import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { composeEmail, createChannels, slackBody, webhookBody } from "../src/alerts/channels/index.js";
import { parseEscalationConfig, schedule } from "../src/alerts/escalation/config.js";
import { AckLinks } from "../src/alerts/escalation/links.js";
import { fingerprint, Notifier, openStateDb, parseAlertmanagerConfig } from "../src/alerts/notify/index.js";
import type { EmailConfig, Notification, SlackConfig } from "../src/alerts/notify/types.js";
import { ConfigError } from "../src/core/config/index.js";
import { type Recorder, startRecorder } from "./support/alertmanager.js";
import { ManualClock } from "./support/clock.js";
import { waitFor } from "./support/wait.js";

/**
 * Escalation end to end on the notifier (issue 18, part 4): real webhook channels posting to
 * local recording servers (one per receiver), the state in a SQLite file that restarts reopen,
 * and every timer on the manual clock (test/support/clock.ts), so each step happens at exactly
 * its configured time whatever the machine's load. HTTP deliveries are awaited, never slept for.
 */
const MIN = 60_000;
let dir: string;
const rec: Record<"a" | "b" | "c", Recorder> = {} as never;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tug-escalation-"));
  rec.a = await startRecorder();
  rec.b = await startRecorder();
  rec.c = await startRecorder();
});
afterAll(async () => {
  for (const r of Object.values(rec)) await r.close();
  rmSync(dir, { recursive: true, force: true });
});

const amYaml = () =>
  [
    "route:",
    "  receiver: a",
    "  group_by: [alertname]",
    "  group_wait: 1s",
    "  group_interval: 5s",
    "  repeat_interval: 4h",
    "receivers:",
    `  - name: a\n    webhook_configs: [{ url: '${rec.a.url}/a', send_resolved: true }]`,
    // b does not send resolved alerts through routes: the escalation still tells it of the end.
    `  - name: b\n    webhook_configs: [{ url: '${rec.b.url}/b', send_resolved: false }]`,
    `  - name: c\n    webhook_configs: [{ url: '${rec.c.url}/c' }]`,
  ].join("\n");

const ESCALATION = `
policies:
  - name: critical
    matchers: ['severity="critical"']
    receivers: [a]
    steps:
      - receiver: b
        after: 10m
      - receiver: c
        after: 30m
        repeat: 10m
        max_repeats: 2
`;

let clock: ManualClock;
let dbFile: string;
const open: Array<{ close(): Promise<void> }> = [];
beforeEach(() => {
  clock = new ManualClock();
  dbFile = join(dir, `notifier-${Math.random().toString(36).slice(2)}.db`);
  for (const r of Object.values(rec)) {
    r.received.length = 0;
    r.mode.status = 200;
  }
});
afterEach(async () => {
  for (const n of open.splice(0)) await n.close();
});

/** A notifier on the test's state file (a restart is close() then build() again). */
function build() {
  const db = openStateDb(dbFile);
  const { config } = parseAlertmanagerConfig(amYaml(), "alertmanager.yml");
  const escalation = parseEscalationConfig(ESCALATION, "escalation.yml", new Set(config.receivers.keys()));
  const n = new Notifier({
    config,
    db,
    createChannels: (r) => createChannels(r, { timeoutMs: 10_000 }),
    externalURL: "http://tug.test/monitoring",
    initialBackoffMs: 1_000,
    maxBackoffMs: 10_000,
    expiryMs: 86_400_000,
    ratePerMinute: 0,
    escalation,
    now: clock.now,
    timers: clock,
  });
  n.start();
  let closed = false;
  const handle = {
    n,
    async close() {
      if (closed) return;
      closed = true;
      await n.stop(1_000);
      db.close();
    },
  };
  open.push(handle);
  return handle;
}

const LABELS = { alertname: "DatabaseDown", severity: "critical", service: "tug-api" };
const FP = fingerprint(LABELS);
let startsAt = 0;
/** As the rule engine posts it: the same startsAt on every re-send, endsAt ahead while firing. */
const firing = () => ({
  labels: LABELS,
  startsAt: new Date(startsAt).toISOString(),
  endsAt: new Date(clock.now() + 24 * 3_600_000).toISOString(),
});
const resolved = () => ({ ...firing(), endsAt: new Date(clock.now()).toISOString() });

/** What a receiver got: one entry per request, `firing`/`resolved` and the escalation step. */
const got = (r: Recorder) =>
  r.received
    .filter((x) => x.answered < 300)
    .map((x) => `${x.json.status}:${x.json.escalation?.step ?? "route"}`);

/** Moves the clock and waits until every queued notification is delivered. */
async function advance(n: Notifier, ms: number) {
  await clock.advanceAsync(ms);
  await waitFor("the outbox to be empty", async () => {
    await clock.advanceAsync(0); // the outbox's next pump after a delivery is a timer
    return n.outbox.pendingCount() === 0;
  });
}

describe("escalation", () => {
  it("pages B once when nobody acknowledges A's page, survives restarts, stops on acknowledgement, tells both of the resolution", async () => {
    startsAt = clock.now();
    let s = build();
    s.n.receive([firing()]);
    await advance(s.n, 1_000); // group_wait: A is paged, the episode starts
    expect(got(rec.a)).toEqual(["firing:route"]);
    const ackURL: string = rec.a.received[0]?.json.alerts[0].ackURL;
    expect(ackURL).toMatch(
      new RegExp(`^http://tug\\.test/monitoring/alerts/${FP}/ack\\?exp=\\d+&sig=[0-9a-f]{64}$`),
    );

    await advance(s.n, 9 * MIN - 1_000); // 9 minutes after the page: not yet
    expect(got(rec.b)).toEqual([]);

    // Restart before the step is due: the new notifier finds the episode in the state file.
    await s.close();
    s = build();
    s.n.receive([firing()]); // the rule engine re-sends; A was told already (nflog)
    await advance(s.n, MIN + 1_000); // 10 minutes after the page
    expect(got(rec.a)).toEqual(["firing:route"]);
    expect(got(rec.b)).toEqual(["firing:step1.0"]);
    const page = rec.b.received[0]?.json;
    expect(page.escalation.note).toMatch(
      /^Not acknowledged 10m after the first page \(escalation policy critical, step1\.0\)$/,
    );
    expect(page.alerts[0].ackURL).toMatch(`/alerts/${FP}/ack?exp=`);

    // Restart right after the step: it is not sent again.
    await s.close();
    s = build();
    s.n.receive([firing()]);
    await advance(s.n, 10 * MIN);
    expect(got(rec.b)).toEqual(["firing:step1.0"]);

    const ack = s.n.acknowledge(FP, "alice", "on it");
    expect(ack).toMatchObject({
      fingerprint: FP,
      by: "alice",
      acknowledgedAt: new Date(clock.now()).toISOString(),
    });
    expect(s.n.ackOf(FP)).toEqual({ by: "alice", at: ack?.acknowledgedAt });
    await advance(s.n, 40 * MIN); // step 2 (C at 30 m, repeated) is not paged once acknowledged
    expect(got(rec.c)).toEqual([]);

    s.n.receive([resolved()]);
    await advance(s.n, 5_000);
    await advance(s.n, 60 * MIN);
    expect(got(rec.a)).toEqual(["firing:route", "resolved:route"]);
    expect(got(rec.b)).toEqual(["firing:step1.0", "resolved:resolved"]);
    expect(got(rec.c)).toEqual([]);
    expect(s.n.ackOf(FP)).toBeNull();
    const kinds = s.n.listHistory({ limit: 100 }).entries.map((e) => e.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(["escalation_started", "escalated", "acknowledged", "escalation_resolved"]),
    );
  });

  it("repeats a step as configured and no more; the resolution reaches every paged receiver once", async () => {
    startsAt = clock.now();
    const s = build();
    s.n.receive([firing()]);
    await advance(s.n, 1_000);
    for (let i = 0; i < 8; i++) {
      await advance(s.n, 10 * MIN);
      s.n.receive([firing()]);
    }
    // 81 minutes after the page: B at 10, C at 30, 40 and 50 (max_repeats 2), nothing since.
    expect(got(rec.b)).toEqual(["firing:step1.0"]);
    expect(got(rec.c)).toEqual(["firing:step2.0", "firing:step2.1", "firing:step2.2"]);
    s.n.receive([resolved()]);
    await advance(s.n, 5_000);
    await advance(s.n, 30 * MIN);
    expect(got(rec.a)).toEqual(["firing:route", "resolved:route"]);
    expect(got(rec.b)).toEqual(["firing:step1.0", "resolved:resolved"]);
    expect(got(rec.c)).toEqual(["firing:step2.0", "firing:step2.1", "firing:step2.2", "resolved:resolved"]);
  });

  it("a page to a receiver that is down waits in the outbox, across a restart, and arrives once", async () => {
    startsAt = clock.now();
    let s = build();
    s.n.receive([firing()]);
    await advance(s.n, 1_000);
    rec.b.mode.status = 503;
    await clock.advanceAsync(10 * MIN);
    await waitFor("B to refuse the page", () => rec.b.received.length > 0);
    await s.close();
    s = build();
    s.n.receive([firing()]);
    await clock.advanceAsync(5 * MIN); // retries, still refused
    rec.b.mode.status = 200;
    await advance(s.n, 5 * MIN);
    expect(got(rec.b)).toEqual(["firing:step1.0"]);
    const keys = new Set(rec.b.received.map((r) => r.headers["idempotency-key"]));
    expect(keys.size).toBe(1); // every attempt was the same notification
  });

  it("an alert that resolves by its end time, unseen, still tells the paged receivers; also after a restart", async () => {
    startsAt = clock.now();
    let s = build();
    // Posted once, never again: it resolves by its endsAt, 15 minutes on.
    s.n.receive([{ ...firing(), endsAt: new Date(clock.now() + 15 * MIN).toISOString() }]);
    await advance(s.n, 1_000);
    await advance(s.n, 10 * MIN);
    expect(got(rec.b)).toEqual(["firing:step1.0"]);
    await advance(s.n, 5 * MIN); // the group flush after 15 m sees it resolved
    expect(got(rec.a)).toEqual(["firing:route", "resolved:route"]);
    expect(got(rec.b)).toEqual(["firing:step1.0", "resolved:resolved"]);

    // The same, but the notifier restarts in between and never hears of the alert again.
    for (const r of Object.values(rec)) r.received.length = 0;
    const labels = { ...LABELS, instance: "2" };
    startsAt = clock.now();
    s.n.receive([{ ...firing(), labels, endsAt: new Date(clock.now() + 15 * MIN).toISOString() }]);
    await advance(s.n, 5_000); // it joins the group: paged at its next flush
    await advance(s.n, 10 * MIN);
    expect(got(rec.b)).toEqual(["firing:step1.0"]);
    await s.close();
    s = build();
    await advance(s.n, 30 * MIN); // the next due step (or the GC, every 30 m) ends the episode it cannot see
    expect(got(rec.b)).toEqual(["firing:step1.0", "resolved:resolved"]);
    expect(got(rec.c)).toEqual([]); // no step after the alert's end
  });

  it("a silenced alert does not escalate while the silence lasts; its step follows once it ends", async () => {
    startsAt = clock.now();
    const s = build();
    s.n.receive([firing()]);
    await advance(s.n, 1_000);
    s.n.silences.set({
      matchers: [{ name: "alertname", value: "DatabaseDown", isRegex: false, isEqual: true }],
      startsAt: clock.now(),
      endsAt: clock.now() + 20 * MIN,
      createdBy: "test",
      comment: "maintenance",
    });
    await advance(s.n, 19 * MIN);
    expect(got(rec.b)).toEqual([]);
    await advance(s.n, 2 * MIN); // the silence ended at 20 m; a waiting step is looked at every minute
    expect(got(rec.b)).toEqual(["firing:step1.0"]);
  });

  it("alerts no policy covers carry no link and are never escalated, but can be acknowledged", async () => {
    startsAt = clock.now();
    const s = build();
    const warning = { ...firing(), labels: { alertname: "HighCpuUsage", severity: "warning" } };
    s.n.receive([warning]);
    await advance(s.n, 1_000);
    expect(rec.a.received[0]?.json.alerts[0]).not.toHaveProperty("ackURL");
    expect(s.n.acknowledge(fingerprint(warning.labels), "bob", "")).toMatchObject({ by: "bob" });
    await advance(s.n, 60 * MIN);
    expect(got(rec.b)).toEqual([]);
    expect(s.n.acknowledge("0123456789abcdef", "bob", "")).toBeUndefined();
  });
});

describe("signed acknowledgement links", () => {
  const links = new AckLinks("a-secret-of-some-length", "http://tug.test/monitoring", 3_600_000);
  const now = Date.UTC(2026, 0, 1);
  const parts = (url: string) => {
    const u = new URL(url);
    return { exp: u.searchParams.get("exp") ?? "", sig: u.searchParams.get("sig") ?? "" };
  };

  it("accepts its own link until it expires, and nothing else", () => {
    const { exp, sig } = parts(links.url(FP, now));
    expect(links.check(FP, exp, sig, now + 3_599_000)).toEqual({ ok: true });
    expect(links.check(FP, exp, sig, now + 3_600_000)).toEqual({
      ok: false,
      reason: `the link expired at ${new Date(now + 3_600_000).toISOString()}`,
    });
    const other = fingerprint({ alertname: "Other" });
    expect(links.check(other, exp, sig, now)).toMatchObject({ reason: /signature does not match/ });
    expect(links.check(FP, String(Number(exp) + 3600), sig, now)).toMatchObject({
      reason: /signature does not match/,
    });
    const flipped = `${sig.slice(0, -1)}${sig.endsWith("0") ? "1" : "0"}`;
    expect(links.check(FP, exp, flipped, now)).toMatchObject({ reason: /signature does not match/ });
    const otherKey = new AckLinks("another-secret-of-length", "http://tug.test/monitoring", 3_600_000);
    expect(otherKey.check(FP, exp, sig, now)).toMatchObject({ reason: /signature does not match/ });
    expect(links.check(FP, "soon", sig, now)).toMatchObject({ reason: /^exp must be/ });
    expect(links.check(FP, exp, "XYZ", now)).toMatchObject({ reason: /^sig must be/ });
    expect(links.check(FP, undefined, undefined, now)).toMatchObject({ ok: false });
  });
});

describe("escalation.yml", () => {
  const parse = (text: string) => parseEscalationConfig(text, "escalation.yml", new Set(["a", "b"]));
  const policy = (steps: string, extra = "") =>
    `policies:\n  - name: p\n    matchers: ['severity="critical"']\n${extra}    steps:\n${steps}`;

  it("reads policies and their schedule", () => {
    const c = parse(
      policy(
        "      - { receiver: a, after: 5m }\n      - { receiver: b, after: 1h, repeat: 30m, max_repeats: 2 }\n",
      ),
    );
    expect(schedule(c.policies[0] as never).map((p) => `${p.key}:${p.receiver}@${p.offsetMs / MIN}`)).toEqual(
      ["step1.0:a@5", "step2.0:b@60", "step2.1:b@90", "step2.2:b@120"],
    );
    expect(parse("").policies).toEqual([]);
    expect(parse("policies: []").policies).toEqual([]);
  });

  it.each([
    [
      "unknown key",
      policy("      - { receiver: a, after: 5m, wait: 1m }\n"),
      /^escalation\.yml:5:9: policies\.0\.steps\.0: unknown field wait$/,
    ],
    [
      "bad duration",
      policy("      - { receiver: a, after: soon }\n"),
      /^escalation\.yml:5:\d+: .*after: not a valid duration string: "soon"/,
    ],
    ["zero delay", policy("      - { receiver: a, after: 0s }\n"), /after must be longer than 0/],
    [
      "unknown receiver",
      policy("      - { receiver: z, after: 5m }\n"),
      /^escalation\.yml:5:\d+: no receiver named "z" in alertmanager\.yml$/,
    ],
    [
      "repeat alone",
      policy("      - { receiver: a, after: 5m, repeat: 1m }\n"),
      /repeat: repeat and max_repeats go together/,
    ],
    [
      "order",
      policy("      - { receiver: a, after: 5m }\n      - { receiver: b, after: 1m }\n"),
      /^escalation\.yml:6:\d+: steps must be in order/,
    ],
    [
      "bad matcher",
      policy("      - { receiver: a, after: 5m }\n").replace('severity="critical"', "severity=~("),
      /^escalation\.yml:3:\d+: bad matcher/,
    ],
    [
      "no steps",
      policy("    []\n").replace("    steps:\n    []", "    steps: []"),
      /steps: Too small|steps:.*>=1/i,
    ],
    ["bad YAML", "policies: [", /^escalation\.yml:1:\d+: invalid YAML/],
    [
      "an alias bomb",
      `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\npolicies: [*c]\n`,
      /^escalation\.yml: Excessive alias count/,
    ],
  ])("refuses %s with file:line", (_what, text, message) => {
    expect(() => parse(text)).toThrow(ConfigError);
    expect(() => parse(text)).toThrow(message);
  });
});

describe("the messages", () => {
  const link = `http://tug.test/monitoring/alerts/${FP}/ack?exp=1767312000&sig=${"ab".repeat(32)}`;
  const notification = (ackURL?: string, escalation?: Notification["escalation"]): Notification => ({
    receiver: "oncall",
    status: "firing",
    alerts: [
      {
        status: "firing",
        labels: LABELS,
        annotations: {},
        startsAt: "2026-01-01T00:00:00Z",
        endsAt: "0001-01-01T00:00:00Z",
        generatorURL: "",
        fingerprint: FP,
        ...(ackURL ? { ackURL } : {}),
      },
    ],
    groupLabels: { alertname: "DatabaseDown" },
    commonLabels: LABELS,
    commonAnnotations: {},
    externalURL: "http://tug.test/monitoring",
    groupKey: "{}:{}",
    dedupKey: "k",
    ...(escalation ? { escalation } : {}),
  });
  const email: EmailConfig = {
    sendResolved: true,
    to: "oncall@tug.test",
    from: "am@tug.test",
    smarthost: "127.0.0.1:25",
    hello: "localhost",
    requireTls: false,
    headers: {},
  };
  const slack: SlackConfig = {
    sendResolved: true,
    apiUrl: "http://127.0.0.1/",
    linkNames: false,
    mrkdwnIn: [],
    fields: [],
    shortFields: false,
  };
  const step = {
    policy: "critical",
    step: "step1.0",
    note: "Not acknowledged 10m after the first page (escalation policy critical, step1.0)",
  };

  it("carry the signed link and the step's note where a policy covers the alert", () => {
    const mail = composeEmail(email, [notification(link, step)]);
    expect(mail.text).toContain(`Acknowledge (stops the escalation): ${link}`);
    expect(mail.text).toContain(step.note);
    expect(mail.html).toContain(
      `<a href="${link.replaceAll("&", "&#38;")}">Acknowledge (stops the escalation)</a>`,
    );
    const text = JSON.parse(slackBody(slack, [notification(link, step)])).attachments[0].text;
    expect(text).toBe(`${step.note}\n<${link}|Acknowledge> DatabaseDown (stops the escalation)`);
    const hook = JSON.parse(webhookBody(notification(link, step), 0));
    expect(hook.alerts[0].ackURL).toBe(link);
    expect(hook.escalation).toEqual(step);
  });

  it("are Alertmanager's, unchanged, where none does", () => {
    expect(composeEmail(email, [notification()]).text).not.toContain("Acknowledge");
    expect(JSON.parse(slackBody(slack, [notification()])).attachments[0].text).toBe("");
    const hook = JSON.parse(webhookBody(notification(), 0));
    expect(hook.alerts[0]).not.toHaveProperty("ackURL");
    expect(hook).not.toHaveProperty("escalation");
  });
});
