import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_NOTIFIER_LIMITS,
  fingerprint,
  Notifier,
  type NotifierLimits,
  openStateDb,
  parseAlertmanagerConfig,
  type RefusalReport,
  SilenceError,
  Silences,
  type StateDb,
  StatePruner,
} from "../src/alerts/notify/index.js";
import { Outbox } from "../src/alerts/notify/outbox.js";
import { WAL_SIZE_LIMIT_BYTES } from "../src/alerts/notify/state.js";
import type { Notification, NotificationAlert } from "../src/alerts/notify/types.js";
import type { ApiAlert } from "../src/alerts/rules/index.js";
import { configSchema } from "../src/core/config/index.js";
import { alertRoutes } from "../src/http/alerts.js";
import { installErrorHandling } from "../src/http/errors.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { ManualClock } from "./support/clock.js";

/**
 * The notifier's bounds (`notifications.limits`): the intake of alerts (per request, per alert,
 * per source), silences, the state file, and the paginated listings. Most of it is tested on a
 * Notifier and the routes built directly (as the server builds them), so the limits given here
 * are small; the last part runs the whole app with no limits configured, which must be bounded
 * by the defaults.
 */
const AM_YAML = [
  "route:",
  "  receiver: r",
  "  group_by: [alertname]",
  "  group_wait: 1h",
  "  group_interval: 1h",
  "inhibit_rules:",
  "  - source_matchers: ['severity=\"critical\"']",
  "    target_matchers: ['severity=\"warning\"']",
  "    equal: [service]",
  "receivers:",
  "  - name: r",
].join("\n");

const notifiers: Notifier[] = [];
afterEach(async () => {
  for (const n of notifiers.splice(0)) await n.stop(10);
});

function makeNotifier(
  limits: Partial<NotifierLimits> = {},
  extra: {
    clock?: ManualClock;
    db?: StateDb;
    reports?: RefusalReport[];
    reportMs?: number;
  } = {},
): Notifier {
  const { config } = parseAlertmanagerConfig(AM_YAML, "test.yml");
  const n = new Notifier({
    config,
    db: extra.db ?? openStateDb(":memory:"),
    createChannels: () => [],
    externalURL: "http://am.test",
    initialBackoffMs: 10,
    maxBackoffMs: 100,
    expiryMs: 60_000,
    ratePerMinute: 0,
    limits,
    ...(extra.clock ? { now: extra.clock.now, timers: extra.clock } : {}),
    ...(extra.reportMs !== undefined ? { refusalReportIntervalMs: extra.reportMs } : {}),
    events: { refused: (r) => extra.reports?.push(r) },
  });
  notifiers.push(n);
  return n;
}

const alert = (labels: Record<string, string>, more: Record<string, unknown> = {}) => ({ labels, ...more });
const many = (n: number, prefix = "a") =>
  Array.from({ length: n }, (_, i) => alert({ alertname: "Flood", n: `${prefix}${i}` }));

describe("defaults", () => {
  it("equal the configuration schema's, so an unconfigured notifier is bounded the same way", () => {
    const fromSchema = configSchema.parse({}).notifications.limits;
    expect({ ...DEFAULT_NOTIFIER_LIMITS }).toEqual(fromSchema);
    expect(makeNotifier().limits).toEqual(fromSchema);
    expect(makeNotifier({ maxAlerts: 7 }).limits).toEqual({ ...fromSchema, maxAlerts: 7 });
  });

  it("fingerprints stay Alertmanager's (FNV-1a 64 over UTF-8) for ASCII and non-ASCII labels", () => {
    // Reference: BigInt FNV-1a over the UTF-8 bytes, names sorted, 0xff after each name and value.
    const ref = (labels: Record<string, string>) => {
      let h = 0xcbf29ce484222325n;
      const add = (b: number) => {
        h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
      };
      for (const k of Object.keys(labels).sort()) {
        for (const b of new TextEncoder().encode(k)) add(b);
        add(0xff);
        for (const b of new TextEncoder().encode(labels[k] ?? "")) add(b);
        add(0xff);
      }
      return h.toString(16).padStart(16, "0");
    };
    const cases: Array<Record<string, string>> = [
      { alertname: "HighErrorRate", service: "tug-api" },
      { alertname: "Ünïcode", city: "Zürich 🚒", x: "a\u00e9b" },
      { a: "" },
    ];
    for (const labels of cases) expect(fingerprint(labels)).toBe(ref(labels));
  });
});

describe("alert intake in the notifier", () => {
  it("refuses an alert over a size limit naming its index and field, and keeps the valid ones", () => {
    const n = makeNotifier({ maxLabelsPerAlert: 3, maxLabelValueBytes: 64, maxAnnotationBytes: 256 });
    const tooManyLabels = alert({ alertname: "A", b: "1", c: "2", d: "3" });
    const longValue = alert({ alertname: "B", instance: "x".repeat(65) });
    const longName = alert({ alertname: "C", ["n".repeat(65)]: "1" });
    const tooManyAnnotations = alert({ alertname: "D" }, { annotations: { a: "1", b: "2", c: "3", d: "4" } });
    const longAnnotation = alert({ alertname: "E" }, { annotations: { description: "é".repeat(129) } });
    const longUrl = alert({ alertname: "F" }, { generatorURL: `http://x/${"u".repeat(256)}` });
    const valid = alert(
      { alertname: "G", instance: "x".repeat(64) },
      { annotations: { d: "y".repeat(256) } },
    );
    const r = n.receive(
      [tooManyLabels, valid, longValue, longName, tooManyAnnotations, longAnnotation, longUrl],
      "api",
    );
    expect(r.accepted).toBe(1);
    expect(r.refused).toEqual([]);
    expect(r.invalid.map((e) => [e.field, e.reason])).toEqual([
      ["alerts[0].labels", "too_large"],
      ["alerts[2].labels.instance", "too_large"],
      ["alerts[3].labels", "too_large"],
      ["alerts[4].annotations", "too_large"],
      ["alerts[5].annotations.description", "too_large"],
      ["alerts[6].generatorURL", "too_large"],
    ]);
    expect(r.invalid[0]?.message).toMatch(
      /4 labels, more than the 3 allowed \(notifications.limits.maxLabelsPerAlert\)/,
    );
    // Bytes, not characters: 129 × "é" is 258 bytes.
    expect(r.invalid[4]?.message).toMatch(
      /258 bytes, more than 256 \(notifications.limits.maxAnnotationBytes\)/,
    );
    expect(n.alertPage({ offset: 0, limit: 10 }).alerts.map((a) => a.labels.alertname)).toEqual(["G"]);
    expect(n.refusedCounts()).toEqual([{ source: "api", reason: "too_large", count: 6 }]);
  });

  it("holds at most maxAlerts new alerts per source; held ones still update; resolved ones make room", () => {
    const clock = new ManualClock();
    const n = makeNotifier({ maxAlerts: 5 }, { clock });
    const first = n.receive(many(8), "api");
    expect(first).toMatchObject({ accepted: 5, refused: [5, 6, 7], invalid: [] });
    // Updates of held alerts pass even when full; new ones in the same batch do not.
    const update = n.receive([...many(2), alert({ alertname: "Flood", n: "new" })], "api");
    expect(update).toMatchObject({ accepted: 2, refused: [2] });
    // The rule engine's alerts are counted apart: a flood of posted alerts cannot starve them.
    expect(n.receive(many(3, "rule"), "rules")).toMatchObject({ accepted: 3, refused: [] });
    expect(n.alertPage({ offset: 0, limit: 100 }).total).toBe(8);
    // Two posted alerts resolve: the next batch makes room from them instead of refusing.
    const past = new Date(clock.now() - 1000).toISOString();
    n.receive(
      many(2).map((a) => ({ ...a, startsAt: new Date(clock.now() - 5000).toISOString(), endsAt: past })),
      "api",
    );
    expect(n.receive(many(3, "b"), "api")).toMatchObject({ accepted: 2, refused: [2] });
    expect(n.refusedCounts()).toEqual([{ source: "api", reason: "store_full", count: 5 }]);
  });

  it("refuses a batch over maxAlertsPerRequest whole, naming the bound", () => {
    const n = makeNotifier({ maxAlertsPerRequest: 10 });
    expect(() => n.receive(many(11), "api")).toThrow(
      /11 alerts in one request, more than the 10 allowed \(notifications.limits.maxAlertsPerRequest\)/,
    );
    expect(n.alertPage({ offset: 0, limit: 100 }).total).toBe(0);
    // The rule engine's batches are not HTTP requests: bounded per alert and per source only.
    expect(n.receive(many(11), "rules").accepted).toBe(11);
  });

  it("never throws at the rule engine; refusals are reported at most once per interval", async () => {
    const reports: RefusalReport[] = [];
    const clock = new ManualClock();
    const n = makeNotifier({ maxAlerts: 2 }, { reports, reportMs: 300, clock });
    expect(() => n.receive([alert({ "bad-name": "x" }), ...many(3)], "rules")).not.toThrow();
    // The first refusal is reported at once; what follows within the interval waits for it.
    expect(reports).toHaveLength(1);
    expect(reports[0]?.refused).toEqual([{ source: "rules", reason: "invalid", count: 1 }]);
    n.receive(many(5, "x"), "rules");
    n.receive(many(5, "y"), "rules");
    clock.advance(299);
    expect(reports).toHaveLength(1);
    clock.advance(1);
    expect(reports).toHaveLength(2);
    expect(reports[1]?.refused).toEqual([{ source: "rules", reason: "store_full", count: 11 }]);
    expect(reports[1]?.example).toMatch(/notifications.limits.maxAlerts/);
    expect(n.refusedCounts()).toEqual([
      { source: "rules", reason: "invalid", count: 1 },
      { source: "rules", reason: "store_full", count: 11 },
    ]);
  });
});

describe("silenced and inhibited state", () => {
  it("follows silences being created, starting, ending and expiring (cached per alert)", () => {
    const clock = new ManualClock();
    const n = makeNotifier({}, { clock });
    n.receive([alert({ alertname: "Disk", instance: "a", team: "db" }), alert({ alertname: "Cpu" })], "api");
    const state = () =>
      n
        .alertPage({ offset: 0, limit: 10 })
        .alerts.map((a) => `${a.labels.alertname}:${a.status.state}:${a.status.silencedBy.length}`);
    expect(state()).toEqual(["Disk:active:0", "Cpu:active:0"]);
    const m = (name: string, value: string, isRegex = false, isEqual = true) => ({
      name,
      value,
      isRegex,
      isEqual,
    });
    const base = { createdBy: "t", comment: "c", endsAt: clock.now() + 60_000 };
    const eq = n.silences.set({ ...base, matchers: [m("instance", "a")], startsAt: clock.now() });
    expect(state()).toEqual(["Disk:suppressed:1", "Cpu:active:0"]);
    // Only a regex (not indexed by an equality matcher), a negative and a pending one.
    n.silences.set({ ...base, matchers: [m("alertname", "C.u", true)], startsAt: clock.now() });
    n.silences.set({
      ...base,
      matchers: [m("team", "db"), m("alertname", "Disk", false, false)],
      startsAt: clock.now(),
    });
    n.silences.set({ ...base, matchers: [m("team", "db")], startsAt: clock.now() + 10_000 });
    expect(state()).toEqual(["Disk:suppressed:1", "Cpu:suppressed:1"]);
    clock.advance(10_000); // the pending one starts
    expect(state()).toEqual(["Disk:suppressed:2", "Cpu:suppressed:1"]);
    n.silences.expire(eq);
    expect(state()).toEqual(["Disk:suppressed:1", "Cpu:suppressed:1"]);
    clock.advance(50_000); // every silence ends
    expect(state()).toEqual(["Disk:active:0", "Cpu:active:0"]);
    expect(n.summary()).toMatchObject({ firing: 2, suppressed: 0 });
    // Many changes at once (more than are applied one by one): recomputed, same answer.
    const ids = Array.from({ length: 40 }, (_, i) =>
      n.silences.set({
        ...base,
        endsAt: clock.now() + 60_000,
        matchers: [m("instance", i === 37 ? "a" : `z${i}`)],
        startsAt: clock.now(),
      }),
    );
    expect(n.status({ alertname: "Disk", instance: "a", team: "db" }).silencedBy).toEqual([ids[37]]);
    n.silences.expire(ids[37] as string);
    expect(state()).toEqual(["Disk:active:0", "Cpu:active:0"]);
  });

  it("follows inhibiting alerts appearing, resolving by time and being collected", () => {
    const clock = new ManualClock();
    const n = makeNotifier({ maxAlerts: 3 }, { clock });
    const warn = alert({ alertname: "Slow", severity: "warning", service: "api" });
    const other = alert({ alertname: "Slow", severity: "warning", service: "web" });
    n.receive([warn, other], "api");
    const inhibited = () =>
      n
        .alertPage({ offset: 0, limit: 10 })
        .alerts.map((a) => (a.status.inhibitedBy.length ? "inhibited" : "-"));
    expect(inhibited()).toEqual(["-", "-"]);
    const crit = alert(
      { alertname: "Down", severity: "critical", service: "api" },
      { endsAt: new Date(clock.now() + 5000).toISOString() },
    );
    n.receive([crit], "api");
    expect(inhibited()).toEqual(["-", "-", "-"].map((x, i) => (i === 0 ? "inhibited" : x)));
    expect(n.status(warn.labels).inhibitedBy).toEqual([fingerprint(crit.labels)]);
    expect(n.summary()).toMatchObject({ firing: 2, suppressed: 1 });
    clock.advance(5000); // the critical alert resolves: nothing is inhibited any more
    expect(inhibited()).toEqual(["-", "-"]);
    expect(n.summary()).toMatchObject({ firing: 2, suppressed: 0 });
    // The store is full (3), and the resolved one is collected to make room for a new one.
    expect(
      n.receive([alert({ alertname: "New", severity: "critical", service: "api" })], "api").accepted,
    ).toBe(1);
    expect(inhibited()).toEqual(["inhibited", "-", "-"]);
  });
});

describe("silences", () => {
  const m = (value: string) => ({ name: "alertname", value, isRegex: false, isEqual: true });
  const input = (now: number, over: Record<string, unknown> = {}) => ({
    matchers: [m("A")],
    startsAt: now,
    endsAt: now + 3_600_000,
    createdBy: "ops",
    comment: "maintenance",
    ...over,
  });
  const refusal = (fn: () => unknown): SilenceError => {
    try {
      fn();
    } catch (err) {
      if (err instanceof SilenceError) return err;
      throw err;
    }
    throw new Error("not refused");
  };
  const limits = {
    ...DEFAULT_NOTIFIER_LIMITS,
    maxSilences: 3,
    maxMatchersPerSilence: 2,
    maxLabelValueBytes: 64,
  };

  it("at most maxSilences active or pending (429), updates and replacements still pass", () => {
    const now = Date.now();
    const s = new Silences(openStateDb(":memory:"), () => now, limits);
    const ids = [s.set(input(now)), s.set(input(now, { matchers: [m("B")] })), s.set(input(now + 60_000))];
    const e = refusal(() => s.set(input(now, { matchers: [m("D")] })));
    expect(e.status).toBe(429);
    expect(e.field).toBe("silences");
    expect(e.message).toMatch(
      /3 silences are active or pending, the most allowed \(notifications.limits.maxSilences\)/,
    );
    // An update in place, and a change of matchers (which expires and replaces), need no room.
    expect(s.set(input(now, { id: ids[0], comment: "longer", endsAt: now + 7_200_000 }))).toBe(ids[0]);
    const replaced = s.set(input(now, { id: ids[1], matchers: [m("C")] }));
    expect(replaced).not.toBe(ids[1]);
    expect(s.counts()).toEqual({ active: 2, pending: 1, expired: 1 });
    s.expire(ids[2] as string);
    expect(s.set(input(now, { matchers: [m("D")] }))).toBeTypeOf("string");
  });

  it("bounds matchers, their sizes, createdBy and comment, naming the field", () => {
    const now = Date.now();
    const s = new Silences(openStateDb(":memory:"), () => now, limits);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ matchers: [m("A"), m("B"), m("C")] }, "matchers", /3 matchers, more than the 2 allowed/],
      [{ matchers: [m("x".repeat(65))] }, "matchers[0].value", /65 bytes, more than 64/],
      [{ matchers: [{ ...m("A"), name: "n".repeat(65) }] }, "matchers[0].name", /65 bytes, more than 64/],
      [{ createdBy: "c".repeat(4097) }, "createdBy", /4097 bytes, more than 4096/],
      [{ comment: "é".repeat(2049) }, "comment", /4098 bytes, more than 4096/],
    ];
    for (const [over, field, message] of cases) {
      const e = refusal(() => s.set(input(now, over)));
      expect([e.status, e.field]).toEqual([400, field]);
      expect(e.message).toMatch(message);
    }
    // As Alertmanager: a regex must also compile unanchored (`^(?:a)(b)$` would).
    const unanchored = refusal(() => s.set(input(now, { matchers: [{ ...m("a)(b"), isRegex: true }] })));
    expect([unanchored.status, unanchored.field]).toEqual([400, "matchers[0].value"]);
    expect(unanchored.message).toBe(
      'matchers[0].value: invalid regular expression "a)(b": error parsing regexp: unexpected ): `a)(b`',
    );
    // A regex value over the limit is refused before it is compiled.
    const e = refusal(() =>
      s.set(input(now, { matchers: [{ ...m(`(a+)+${"b".repeat(64)}`), isRegex: true }] })),
    );
    expect(e.field).toBe("matchers[0].value");
  });

  it("keeps expired silences 5 days (Alertmanager's retention) and never more than maxSilences of them", () => {
    const clock = new ManualClock();
    const db = openStateDb(":memory:");
    const s = new Silences(db, clock.now, limits);
    for (let i = 0; i < 5; i++) {
      s.expire(s.set(input(clock.now(), { matchers: [m(`S${i}`)] })));
      clock.advance(1000);
    }
    const expired = s.list().filter((x) => x.status.state === "expired");
    // The three that ended last are kept.
    expect(expired.map((x) => x.matchers[0]?.value).sort()).toEqual(["S2", "S3", "S4"]);
    expect((db.prepare("SELECT COUNT(*) AS n FROM silences").get() as { n: number }).n).toBe(3);
    clock.advance(5 * 86_400_000 - 2500); // S2 ended more than 5 days ago, S3 and S4 not yet
    expect(s.gc()).toBe(1);
    expect(s.list()).toHaveLength(2);
    // And they survive a restart from the state file as they were.
    expect(new Silences(db, clock.now, limits).list()).toHaveLength(2);
  });
});

describe("the state file", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "tug-notify-limits-"));
  });

  it("prunes history and finished notifications by age and count in small batches, and truncates the WAL", async () => {
    const file = join(dir, "prune.db");
    const db = openStateDb(file);
    const now = Date.now();
    const day = 86_400_000;
    const history = db.prepare(
      "INSERT INTO alert_history (at, kind, fingerprint, alertname, labels, detail) VALUES (?, 'firing', 'f', 'A', '{}', ?)",
    );
    const outbox = db.prepare(
      `INSERT INTO outbox (dedup_key, receiver, integration, group_key, payload, state, created_at,
         next_attempt_at, expires_at, finished_at) VALUES ('k', 'r', 'webhook[0]', 'g', ?, ?, ?, ?, ?, ?)`,
    );
    const big = "x".repeat(2000);
    db.transaction(() => {
      // 1,500 rows older than the retention, then 3,000 recent ones.
      for (let i = 0; i < 1500; i++) history.run(now - 8 * day, big);
      for (let i = 0; i < 3000; i++) history.run(now - 1000, big);
      for (let i = 0; i < 1200; i++)
        outbox.run(big, "delivered", now - 8 * day, now, now + day, now - 8 * day);
      for (let i = 0; i < 2500; i++) outbox.run(big, "delivered", now - 1000, now, now + day, now - 1000);
      for (let i = 0; i < 10; i++) outbox.run(big, "pending", now - 8 * day, now, now + day, null);
    })();
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(WAL_SIZE_LIMIT_BYTES);
    const pruner = new StatePruner({
      db,
      limits: { ...DEFAULT_NOTIFIER_LIMITS, maxHistoryRows: 2000 },
      batchRows: 100,
    });
    // The pass gives the event loop a turn between batches: count the turns it gets meanwhile.
    let turns = 0;
    let counting = true;
    const tick = () => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const result = await pruner.runOnce();
    counting = false;
    expect(result.history).toBe(2500);
    // By count the newest maxHistoryRows ids are kept, pending ones included: a little fewer remain.
    expect(result.outbox).toBeGreaterThanOrEqual(1700);
    expect(result.nflog).toBe(0);
    expect(turns).toBeGreaterThanOrEqual(40);
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    expect(count("SELECT COUNT(*) AS n FROM alert_history")).toBe(2000);
    expect(count(`SELECT COUNT(*) AS n FROM alert_history WHERE at < ${now - 7 * day}`)).toBe(0);
    // Pending notifications are never pruned, however old.
    expect(count("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'")).toBe(10);
    const finished = count("SELECT COUNT(*) AS n FROM outbox WHERE state != 'pending'");
    expect(finished).toBeLessThanOrEqual(2000);
    expect(finished).toBeGreaterThanOrEqual(1990);
    expect(
      count(`SELECT COUNT(*) AS n FROM outbox WHERE state != 'pending' AND finished_at < ${now - 7 * day}`),
    ).toBe(0);
    expect(statSync(`${file}-wal`).size).toBeLessThanOrEqual(WAL_SIZE_LIMIT_BYTES);
    db.close();
  });

  it("merges a failed notification into a newer one of its group instead of sending both, keeping the backoff", async () => {
    const db = openStateDb(":memory:");
    const sent: Array<Notification[]> = [];
    let fail = true;
    const clock = new ManualClock();
    const outbox = new Outbox({
      db,
      now: clock.now,
      timers: clock,
      channel: () => ({
        kind: "webhook",
        index: 0,
        sendResolved: true,
        multiGroup: false,
        async send(ns) {
          sent.push(ns);
          return fail ? { ok: false, retryable: true, error: "down" } : { ok: true };
        },
      }),
      initialBackoffMs: 200,
      maxBackoffMs: 200,
      expiryMs: 60_000,
      ratePerMinute: 0,
      random: () => 1, // no jitter: the retry comes exactly 200 ms after the failure
    });
    const a = (name: string, status: "firing" | "resolved"): NotificationAlert => ({
      status,
      labels: { alertname: "G", n: name },
      annotations: {},
      startsAt: "2024-01-01T00:00:00Z",
      endsAt: status === "firing" ? "0001-01-01T00:00:00Z" : "2024-01-01T01:00:00Z",
      generatorURL: "",
      fingerprint: fingerprint({ alertname: "G", n: name }),
    });
    const note = (alerts: NotificationAlert[]): Omit<Notification, "dedupKey"> => ({
      receiver: "r",
      status: "firing",
      alerts,
      groupLabels: { alertname: "G" },
      commonLabels: {},
      commonAnnotations: {},
      externalURL: "http://am.test",
      groupKey: '{}:{alertname="G"}',
    });
    outbox.start();
    try {
      outbox.enqueue("r", "webhook[0]", note([a("1", "firing"), a("2", "firing")]));
      await clock.advanceAsync(0);
      expect(sent).toHaveLength(1);
      // While it waits for its retry: a newer state of the group (2 gone from it, 3 new).
      fail = false;
      outbox.enqueue("r", "webhook[0]", note([a("1", "firing"), a("3", "firing")]));
      await clock.advanceAsync(0);
      await clock.advanceAsync(199);
      expect(sent).toHaveLength(1); // the backoff is kept: the newer one does not jump it
      await clock.advanceAsync(1);
      expect(outbox.pendingCount()).toBe(0);
      expect(sent).toHaveLength(2);
      expect(sent[1]?.map((n) => n.alerts.map((x) => x.labels.n))).toEqual([["1", "3", "2"]]);
      expect(db.prepare("SELECT state, attempts FROM outbox ORDER BY id").all()).toEqual([
        { state: "coalesced", attempts: 1 },
        { state: "delivered", attempts: 2 },
      ]);
    } finally {
      await outbox.stop(10);
    }
  });

  it("keeps no body of a finished notification, only its record", async () => {
    const db = openStateDb(":memory:");
    const { config } = parseAlertmanagerConfig(
      [
        "route:",
        "  receiver: r",
        "  group_wait: 10ms",
        "receivers:",
        "  - name: r",
        "    webhook_configs: [{ url: 'http://r.test' }]",
      ].join("\n"),
      "t.yml",
    );
    let sent = 0;
    const clock = new ManualClock();
    const n = new Notifier({
      config,
      db,
      now: clock.now,
      timers: clock,
      createChannels: (r) =>
        r.webhookConfigs.map((c, index) => ({
          kind: "webhook",
          index,
          sendResolved: c.sendResolved,
          multiGroup: false,
          async send() {
            sent++;
            return { ok: true as const };
          },
        })),
      externalURL: "http://am.test",
      initialBackoffMs: 10,
      maxBackoffMs: 100,
      expiryMs: 60_000,
      ratePerMinute: 0,
    });
    notifiers.push(n);
    n.start();
    n.receive([alert({ alertname: "A" })]);
    await clock.advanceAsync(10); // group_wait
    expect(sent).toBe(1);
    expect(n.outbox.pendingCount()).toBe(0);
    expect(db.prepare("SELECT state, payload, receiver, attempts FROM outbox").all()).toEqual([
      { state: "delivered", payload: "", receiver: "r", attempts: 1 },
    ]);
  });
});

describe("routes", () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });
  /** The routes as the server registers them, on a notifier of their own. */
  async function routes(limits: Partial<NotifierLimits>, ruleAlerts: ApiAlert[] = []) {
    const notifier = makeNotifier(limits);
    const app = Fastify();
    apps.push(app);
    installErrorHandling(app);
    await app.register(alertRoutes, { notifier, ruleAlerts: () => ruleAlerts, token: undefined });
    const call = async (method: "GET" | "POST", url: string, body?: unknown) => {
      const r = await app.inject({ method, url, ...(body !== undefined ? { payload: body as object } : {}) });
      return { status: r.statusCode, body: r.json(), headers: r.headers };
    };
    return { notifier, call };
  }
  const ruleAlert = (alertname: string, state: "firing" | "pending" = "firing"): ApiAlert => ({
    labels: { alertname },
    annotations: {},
    state,
    activeAt: "2024-01-01T00:00:00Z",
    value: "1",
  });

  it("POST /monitoring/api/v2/alerts: over maxAlertsPerRequest is a 400 naming the bound, nothing stored", async () => {
    const { notifier, call } = await routes({ maxAlertsPerRequest: 100 });
    const r = await call("POST", "/monitoring/api/v2/alerts", many(101, "big"));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("VALIDATION_FAILED");
    expect(r.body.error.details).toEqual([
      {
        field: "alerts",
        message:
          "alerts: 101 alerts in one request, more than the 100 allowed (notifications.limits.maxAlertsPerRequest)",
      },
    ]);
    expect(notifier.alertPage({ offset: 0, limit: 1 }).total).toBe(0);
    expect((await call("POST", "/monitoring/api/v2/alerts", many(100))).status).toBe(200);
  });

  it("keeps the valid alerts of a batch and answers 400 naming each invalid one (Alertmanager's way)", async () => {
    const { call } = await routes({ maxLabelValueBytes: 64 });
    const r = await call("POST", "/monitoring/api/v2/alerts", [
      alert({ alertname: "Good1" }),
      alert({ alertname: "Long", instance: "i".repeat(65) }),
      alert({ "bad-name": "x" }),
      alert({ alertname: "Good2" }),
    ]);
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe("Invalid body: 2 of 4 alerts refused as invalid; 2 accepted");
    expect(r.body.error.details.map((d: { field: string }) => d.field)).toEqual([
      "alerts[1].labels.instance",
      "alerts[2].labels",
    ]);
    expect(r.body.error.details[0].message).toMatch(
      /65 bytes, more than 64 \(notifications.limits.maxLabelValueBytes\)/,
    );
    const list = await call("GET", "/monitoring/alerts");
    expect(list.body.alerts.map((a: { labels: { alertname: string } }) => a.labels.alertname)).toEqual([
      "Good1",
      "Good2",
    ]);
  });

  it("a malformed alert refuses the whole batch (as Alertmanager's schema check), naming alerts[i]", async () => {
    const { notifier, call } = await routes({});
    const r = await call("POST", "/monitoring/api/v2/alerts", [
      alert({ alertname: "Fine" }),
      { labels: { alertname: "X", n: 5 } },
      { annotations: {} },
    ]);
    expect(r.status).toBe(400);
    expect(r.body.error.details.map((d: { field: string }) => d.field)).toEqual([
      "alerts[1].labels.n",
      "alerts[2].labels",
    ]);
    expect(notifier.alertPage({ offset: 0, limit: 10 }).total).toBe(0);
    const notArray = await call("POST", "/monitoring/api/v2/alerts", { labels: { alertname: "X" } });
    expect([notArray.status, notArray.body.error.details[0].field]).toEqual([400, "body"]);
  });

  it("takes a batch of 1,000 in slices of 50, giving the event loop turns in between", async () => {
    const { notifier, call } = await routes({});
    let turns = 0;
    let counting = true;
    const tick = () => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const r = await call("POST", "/monitoring/api/v2/alerts", many(1000));
    counting = false;
    expect(r.status).toBe(200);
    expect(notifier.alertPage({ offset: 0, limit: 1 }).total).toBe(1000);
    // 20 slices checked and 20 taken in: at least 38 turns between them.
    expect(turns).toBeGreaterThanOrEqual(38);
  });

  it("refuses new alerts beyond maxAlerts with a 429 saying how many; held ones still update", async () => {
    const { call } = await routes({ maxAlerts: 150 });
    expect((await call("POST", "/monitoring/api/v2/alerts", many(100, "p"))).status).toBe(200);
    expect((await call("POST", "/monitoring/api/v2/alerts", [alert({ alertname: "Held" })])).status).toBe(
      200,
    );
    // 101 held: 49 new ones fit.
    const r = await call("POST", "/monitoring/api/v2/alerts", [
      alert({ alertname: "Held" }),
      ...many(60, "q"),
    ]);
    expect(r.status).toBe(429);
    expect(r.headers["retry-after"]).toBe("60");
    expect(r.body.error.code).toBe("LIMIT_EXCEEDED");
    expect(r.body.error.message).toBe(
      "11 of 61 alerts refused: the notifier holds 150 alerts from API clients, the most allowed " +
        "(notifications.limits.maxAlerts); 50 accepted (alerts already held are always updated)",
    );
    expect(r.body.error.details).toEqual([
      {
        field: "alerts",
        message:
          "11 new alerts refused, the notifier holds 150 alerts from API clients, the most allowed " +
          "(notifications.limits.maxAlerts): alerts[50..60]",
      },
    ]);
    expect(typeof r.body.requestId).toBe("string");
    // Invalid ones and refused ones together: the 400 says both.
    const both = await call("POST", "/monitoring/api/v2/alerts", [
      alert({ "bad-name": "x" }),
      ...many(2, "z"),
    ]);
    expect(both.status).toBe(400);
    expect(both.body.error.message).toBe(
      "Invalid body: 1 of 3 alerts refused as invalid, 2 refused as the store is full; 0 accepted",
    );
    expect(both.body.error.details.map((d: { field: string }) => d.field)).toEqual([
      "alerts[0].labels",
      "alerts",
    ]);
  });

  it("GET /monitoring/alerts pages through the rule engine's alerts, then the posted ones", async () => {
    // Good1 is also posted (as the rule engine posts its alerts): listed once, as the rule's.
    const rules = [ruleAlert("RuleA"), ruleAlert("RuleB", "pending"), ruleAlert("Good1")];
    const { call } = await routes({}, rules);
    await call("POST", "/monitoring/api/v2/alerts", [
      alert({ alertname: "Good1" }),
      alert({ alertname: "Good2" }),
    ]);
    await call("POST", "/monitoring/api/v2/alerts", many(148));
    const first = await call("GET", "/monitoring/alerts");
    expect(first.status).toBe(200);
    expect(first.body.alerts).toHaveLength(100);
    expect(first.body.pagination).toEqual({ limit: 100, offset: 0, total: 152, nextOffset: 100 });
    expect(
      first.body.alerts.slice(0, 5).map((a: any) => `${a.labels.alertname}:${a.source}:${a.state}`),
    ).toEqual([
      "RuleA:rules:firing",
      "RuleB:rules:pending",
      "Good1:rules:firing",
      "Good2:api:firing",
      "Flood:api:firing",
    ]);
    // The aggregation groups of the alerts on the page.
    expect(first.body.groups).toEqual([
      { groupKey: '{}:{alertname="Good1"}', labels: { alertname: "Good1" }, receiver: "r", alerts: 1 },
      { groupKey: '{}:{alertname="Good2"}', labels: { alertname: "Good2" }, receiver: "r", alerts: 1 },
      { groupKey: '{}:{alertname="Flood"}', labels: { alertname: "Flood" }, receiver: "r", alerts: 148 },
    ]);
    const seen = new Set<string>();
    let next: number | null = 0;
    while (next !== null) {
      const page: any = await call("GET", `/monitoring/alerts?limit=40&offset=${next}`);
      expect(page.body.alerts.length).toBeLessThanOrEqual(40);
      for (const a of page.body.alerts) seen.add(JSON.stringify(a.labels));
      next = page.body.pagination.nextOffset;
    }
    expect(seen.size).toBe(152);
    const last = await call("GET", "/monitoring/alerts?limit=1000&offset=150");
    expect(last.body.alerts).toHaveLength(2);
    expect(last.body.pagination).toEqual({ limit: 1000, offset: 150, total: 152, nextOffset: null });
  });

  it("refuses non-decimal, negative, empty and out-of-range paging parameters naming the field", async () => {
    const { call } = await routes({});
    for (const path of ["/monitoring/alerts", "/monitoring/alerts/history"]) {
      for (const [q, field] of [
        ["limit=0x10", "limit"],
        ["limit=1e2", "limit"],
        ["limit=-1", "limit"],
        ["limit=", "limit"],
        ["limit=0", "limit"],
        ["limit=1001", "limit"],
        ["limit=1&limit=2", "limit"],
        ["offset=-1", "offset"],
        ["offset=1.5", "offset"],
        ["offset=%2010", "offset"],
      ]) {
        const r = await call("GET", `${path}?${q}`);
        expect([q, r.status, r.body.error?.details?.[0]?.field]).toEqual([q, 400, field]);
      }
      expect((await call("GET", `${path}?limit=1000&offset=0`)).status).toBe(200);
    }
  });

  it("GET /monitoring/alerts/history is paginated newest first, with its filters", async () => {
    const { call } = await routes({});
    await call("POST", "/monitoring/api/v2/alerts", [...many(150), alert({ alertname: "Other" })]);
    const all = await call("GET", "/monitoring/alerts/history?limit=1000");
    expect(all.body.entries).toHaveLength(151);
    expect(all.body.pagination).toEqual({ limit: 1000, offset: 0, total: 151, nextOffset: null });
    expect(all.body.entries[0].alertname).toBe("Other");
    const page = await call("GET", "/monitoring/alerts/history?limit=10&offset=5");
    expect(page.body.entries.map((e: { id: number }) => e.id)).toEqual(
      all.body.entries.slice(5, 15).map((e: { id: number }) => e.id),
    );
    expect(page.body.pagination).toEqual({ limit: 10, offset: 5, total: 151, nextOffset: 15 });
    const byDefault = await call("GET", "/monitoring/alerts/history");
    expect(byDefault.body.pagination).toEqual({ limit: 100, offset: 0, total: 151, nextOffset: 100 });
    const named = await call("GET", "/monitoring/alerts/history?alertname=Other");
    expect(named.body.entries.map((e: any) => `${e.kind}:${e.alertname}`)).toEqual(["firing:Other"]);
    expect(named.body.pagination).toEqual({ limit: 100, offset: 0, total: 1, nextOffset: null });
  });

  it("POST /monitoring/silences: 429 at maxSilences, 400 naming an oversized field", async () => {
    const { call } = await routes({ maxSilences: 10, maxLabelValueBytes: 64 });
    const body = (value: string) => ({
      matchers: [{ name: "alertname", value, isRegex: false }],
      endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      createdBy: "ops",
      comment: "maintenance",
    });
    for (let i = 0; i < 10; i++)
      expect((await call("POST", "/monitoring/silences", body(`S${i}`))).status).toBe(200);
    const full = await call("POST", "/monitoring/silences", body("S10"));
    expect(full.status).toBe(429);
    expect(full.body.error).toMatchObject({ code: "LIMIT_EXCEEDED", details: [{ field: "silences" }] });
    expect(full.body.error.message).toMatch(/notifications.limits.maxSilences/);
    const big = await call("POST", "/monitoring/silences", body("x".repeat(65)));
    expect(big.status).toBe(400);
    expect(big.body.error.details[0].field).toBe("matchers[0].value");
  });
});

describe("the whole app, with no limits configured", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(
      {},
      { yaml: ["alerts:", "  ruleFiles: []", "notifications:", "  rateLimitPerMinute: 0", ""].join("\n") },
    );
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it("holds 10,000 posted alerts, refuses the rest with 429, and lists one small page", async () => {
    const statuses: number[] = [];
    for (let b = 0; b < 11; b++) {
      const r = await t.call("POST", "/monitoring/api/v2/alerts", {
        body: Array.from({ length: 1000 }, (_, i) => ({
          labels: { alertname: "Flood", n: String(b * 1000 + i) },
        })),
      });
      statuses.push(r.status);
    }
    expect(statuses).toEqual([...Array(10).fill(200), 429]);
    const tooMany = await t.call("POST", "/monitoring/api/v2/alerts", {
      body: Array.from({ length: 1001 }, (_, i) => ({ labels: { alertname: "Big", n: String(i) } })),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details[0].message).toMatch(/maxAlertsPerRequest/);
    const list = await fetch(`${t.url}/monitoring/alerts`);
    const text = await list.text();
    const body = JSON.parse(text);
    expect(body.alerts).toHaveLength(100);
    expect(body.pagination).toEqual({ limit: 100, offset: 0, total: 10_000, nextOffset: 100 });
    expect(text.length).toBeLessThan(100_000);
    const bad = await t.call("GET", "/monitoring/alerts?limit=0x10");
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe("limit");
    const metrics = (await t.call("GET", "/monitoring/metrics")).body as string;
    expect(metrics).toMatch(/^notifier_alerts_refused_total\{source="api",reason="store_full"\} 1000$/m);
    expect(metrics).toMatch(
      /^notifier_alerts_refused_total\{source="api",reason="request_too_large"\} 1001$/m,
    );
  }, 60_000);
});
