import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type Recorder, startRecorder } from "./support/alertmanager.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { waitFor } from "./support/wait.js";

/**
 * The notifier inside the app, end to end: the rule engine evaluates a rule file in which
 * DatabaseDown and HighErrorRate both fire, the repository's own alertmanager.yml route tree and
 * inhibit rules decide (receivers pointed at a local recording server), and the HTTP API shows
 * what is firing and why it is or is not sent.
 *
 * Load and order independence: every test identifies the deliveries it expects (by alert name,
 * or by a receiver path of its own) instead of counting what the shared recorder received, and
 * waits for events (a delivery, a group flush, an empty outbox) instead of for fixed times, so a
 * group of another test that flushes late cannot change what a test sees.
 */
const ROOT = new URL("..", import.meta.url).pathname;
let recorder: Recorder;
let t: TestApp;
let amFile: string;
/** Every flush of an aggregation group the notifier's pipeline saw: group key and alert names. */
const flushes: Array<{ groupKey: string; alertnames: string[] }> = [];

/** The repository's alertmanager.yml with every receiver replaced by one local webhook. */
function repoAlertmanagerConfig(url: string): string {
  const doc = parse(readFileSync(join(ROOT, "monitoring/alertmanager.yml"), "utf8"));
  const retarget = (route: any) => {
    if (route.receiver) route.receiver = "hook";
    for (const r of route.routes ?? []) retarget(r);
  };
  retarget(doc.route);
  doc.route.group_wait = "1s";
  doc.route.group_interval = "2s";
  doc.receivers = [{ name: "hook", webhook_configs: [{ url, send_resolved: true }] }];
  return stringify(doc);
}

beforeAll(async () => {
  recorder = await startRecorder();
  const dir = mkdtempSync(join(tmpdir(), "tug-alerts-api-"));
  amFile = join(dir, "alertmanager.yml");
  writeFileSync(amFile, repoAlertmanagerConfig(`${recorder.url}/hook`));
  const rules = join(dir, "rules.yml");
  writeFileSync(
    rules,
    stringify({
      groups: [
        {
          name: "incident",
          interval: "1s",
          rules: [
            {
              alert: "DatabaseDown",
              expr: "vector(1)",
              labels: { severity: "critical", service: "tug-api" },
              annotations: { summary: "The database does not answer" },
            },
            {
              alert: "HighErrorRate",
              expr: "vector(0.42)",
              labels: { severity: "critical", service: "tug-api" },
              annotations: { summary: "Error rate {{ $value | humanizePercentage }}" },
            },
          ],
        },
      ],
    }),
  );
  t = await startTestApp(
    {},
    {
      yaml: [
        "alerts:",
        `  ruleFiles: [${JSON.stringify(rules)}]`,
        "notifications:",
        `  alertmanagerConfig: ${JSON.stringify(amFile)}`,
        "",
      ].join("\n"),
    },
  );
  // Observe the notifier's group flushes (the dispatcher calls this method on each one), so the
  // inhibition test can wait for flushes that must have sent nothing instead of sleeping.
  const notifier = t.app.notifier as unknown as {
    pipeline(
      group: { groupKey: string },
      alerts: Array<{ labels: Record<string, string> }>,
      now: number,
    ): boolean;
  };
  const pipeline = notifier.pipeline.bind(notifier);
  notifier.pipeline = (group, alerts, now) => {
    const ok = pipeline(group, alerts, now);
    flushes.push({ groupKey: group.groupKey, alertnames: alerts.map((a) => a.labels.alertname ?? "") });
    return ok;
  };
  // Every test starts from both rules firing in the notifier, whichever test runs first.
  await waitFor("DatabaseDown and HighErrorRate firing", async () => {
    const { body } = await t.call("GET", "/monitoring/alerts");
    const firing = new Set(
      body.alerts.filter((a: any) => a.state === "firing").map((a: any) => a.labels.alertname),
    );
    return firing.has("DatabaseDown") && firing.has("HighErrorRate");
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
  await recorder?.close();
});

const hooks = () => recorder.received.filter((r) => r.path === "/hook");
/** Deliveries to the app's receiver of the groups of these alert names. */
const deliveriesOf = (...alertnames: string[]) =>
  hooks().filter((r) => alertnames.includes(r.json?.groupLabels?.alertname));
const pending = () => t.app.notifier?.outbox.pendingCount() ?? 0;
/** The rule engine's DatabaseDown notification has reached the receiver. */
const databaseDownDelivered = () =>
  waitFor("DatabaseDown delivered", () => deliveriesOf("DatabaseDown").length > 0, {
    last: () => hooks().map((r) => r.json?.groupLabels),
  });

describe("correlation", () => {
  it("a firing DatabaseDown inhibits HighErrorRate of the same service: one notification, not two", async () => {
    await databaseDownDelivered();
    // HighErrorRate's group flushed at group_wait and again a group_interval later while
    // DatabaseDown fired, and whatever those flushes queued has been delivered: had inhibition
    // let it through, its notification would be here by now.
    const herFlushes = () => flushes.filter((f) => f.alertnames.includes("HighErrorRate")).length;
    await waitFor(
      "two flushes of HighErrorRate's group and an empty outbox",
      () => herFlushes() >= 2 && pending() === 0,
      {
        last: () => ({ flushes, pending: pending() }),
      },
    );
    const sent = deliveriesOf("DatabaseDown", "HighErrorRate").map(
      (r) => `${r.json.groupLabels.alertname}:${r.json.status}`,
    );
    expect(sent).toEqual(["DatabaseDown:firing"]);
    const body = deliveriesOf("DatabaseDown")[0]?.json;
    expect(body.groupKey).toBe('{}/{severity="critical"}:{alertname="DatabaseDown", service="tug-api"}');
    expect(body.alerts[0].labels).toEqual({
      alertname: "DatabaseDown",
      severity: "critical",
      service: "tug-api",
    });

    const { status, body: alerts } = await t.call("GET", "/monitoring/alerts");
    expect(status).toBe(200);
    const byName = new Map(alerts.alerts.map((a: any) => [a.labels.alertname, a]));
    const db = byName.get("DatabaseDown") as any;
    const her = byName.get("HighErrorRate") as any;
    expect(db).toMatchObject({ state: "firing", value: "1e+00", notification: { state: "active" } });
    expect(her.state).toBe("firing");
    expect(her.value).toBe("4.2e-01");
    expect(her.notification.state).toBe("suppressed");
    expect(her.notification.inhibitedBy).toHaveLength(1);
    expect(typeof her.since).toBe("string");
  });
});

describe("silences", () => {
  it("refuses invalid silences naming the field", async () => {
    const base = {
      matchers: [{ name: "alertname", value: "DatabaseDown", isRegex: false }],
      endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      createdBy: "test",
      comment: "maintenance",
    };
    let r = await t.call("POST", "/monitoring/silences", { body: { ...base, matchers: [] } });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].field).toBe("matchers");
    r = await t.call("POST", "/monitoring/silences", { body: { ...base, endsAt: "yesterday" } });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].field).toBe("endsAt");
    r = await t.call("POST", "/monitoring/silences", {
      body: { ...base, matchers: [{ name: "alertname", value: "(", isRegex: true }] },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].field).toBe("matchers[0].value");
    r = await t.call("POST", "/monitoring/silences", {
      body: { ...base, matchers: [{ name: "alertname", value: ".*", isRegex: true }] },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/must not match the empty string/);
  });

  it("creates, lists, applies and expires a silence", async () => {
    const created = await t.call("POST", "/monitoring/silences", {
      body: {
        matchers: [{ name: "alertname", value: "Database.*", isRegex: true }],
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        createdBy: "ops@example.com",
        comment: "planned failover",
      },
    });
    expect(created.status).toBe(200);
    const id = created.body.silenceID as string;
    const list = await t.call("GET", "/monitoring/silences");
    expect(list.body.find((s: any) => s.id === id)).toMatchObject({
      status: { state: "active" },
      createdBy: "ops@example.com",
      matchers: [{ name: "alertname", value: "Database.*", isRegex: true, isEqual: true }],
    });
    const alerts = await t.call("GET", "/monitoring/alerts");
    const db = alerts.body.alerts.find((a: any) => a.labels.alertname === "DatabaseDown");
    expect(db.notification).toMatchObject({ state: "suppressed", silencedBy: [id] });
    expect((await t.call("GET", "/monitoring/status")).body.alerts).toMatchObject({
      suppressed: 2,
      silences: { active: 1 },
    });

    expect((await t.call("DELETE", `/monitoring/silences/${id}`)).status).toBe(200);
    expect((await t.call("GET", `/monitoring/silences/${id}`)).body.status.state).toBe("expired");
    const again = await t.call("DELETE", `/monitoring/silences/${id}`);
    expect(again.status).toBe(400);
    expect(again.body.error.message).toMatch(/already expired/);
    expect((await t.call("DELETE", "/monitoring/silences/no-such-id")).status).toBe(404);
  });
});

describe("history, intake, test notifications, metrics", () => {
  it("records firing alerts and delivered notifications", async () => {
    await databaseDownDelivered();
    const r = await t.call("GET", "/monitoring/alerts/history?limit=50");
    expect(r.status).toBe(200);
    const kinds = r.body.entries.map((e: any) => `${e.kind}:${e.alertname}`);
    expect(kinds).toContain("firing:DatabaseDown");
    expect(kinds).toContain("firing:HighErrorRate");
    expect(kinds).toContain("pending:DatabaseDown");
    const notified = r.body.entries.find((e: any) => e.kind === "notified");
    expect(notified.detail).toMatchObject({ receiver: "hook", integration: "webhook[0]", status: "firing" });
    expect((await t.call("GET", "/monitoring/alerts/history?limit=0")).status).toBe(400);
  });

  it("accepts alerts from Alertmanager clients and refuses bad ones naming the field", async () => {
    const bad = await t.call("POST", "/monitoring/api/v2/alerts", {
      body: [{ labels: { "bad-name": "x" } }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe("alerts[0].labels");
    const ok = await t.call("POST", "/monitoring/api/v2/alerts", {
      body: [
        {
          labels: { alertname: "ExternalCheck", service: "billing" },
          annotations: { summary: "from a cron job" },
        },
      ],
    });
    expect(ok.status).toBe(200);
    const alerts = await t.call("GET", "/monitoring/alerts");
    expect(alerts.body.alerts.find((a: any) => a.labels.alertname === "ExternalCheck")).toMatchObject({
      source: "api",
      state: "firing",
    });
    // Its group flushes after group_wait: wait for that delivery here, so it is not left in
    // flight for a later test.
    await waitFor("ExternalCheck delivered", () => deliveriesOf("ExternalCheck").length > 0);
    await waitFor("an empty outbox", () => pending() === 0);
    expect(deliveriesOf("ExternalCheck")).toHaveLength(1);
  });

  it("sends a test notification through one receiver", async () => {
    const before = hooks().length;
    const r = await t.call("POST", "/monitoring/alerts/test", { body: { receiver: "hook" } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      receiver: "hook",
      ok: true,
      results: [{ integration: "webhook[0]", ok: true }],
    });
    // Sent before the answer, bypassing the outbox: already here, exactly once.
    expect(
      hooks()
        .slice(before)
        .filter((x) => x.json.groupLabels.alertname === "TestAlert"),
    ).toHaveLength(1);
    const unknown = await t.call("POST", "/monitoring/alerts/test", { body: { receiver: "nobody" } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].field).toBe("receiver");
  });

  it("the alerts' generatorURL leads somewhere: /monitoring/graph answers with the query", async () => {
    const r = await fetch(`${t.url}/monitoring/graph?g0.expr=${encodeURIComponent("vector(1)")}&g0.tab=1`, {
      redirect: "manual",
    });
    expect(r.status).toBe(302);
    expect(r.headers.get("location")).toBe("/monitoring/api/v1/query?query=vector(1)");
  });

  it("exports the notifier's metrics", async () => {
    await databaseDownDelivered();
    await waitFor("an empty outbox", () => pending() === 0);
    const text = (await t.call("GET", "/monitoring/metrics")).body as string;
    expect(text).toMatch(/^notifications_total\{receiver="hook",outcome="delivered"\} [1-9]/m);
    expect(text).toMatch(/^alerts_firing\{severity="critical"\} 2$/m);
    expect(text).toMatch(/^notification_latency_seconds_count\{receiver="hook"\} [1-9]/m);
    expect(text).toMatch(/^notifications_pending 0$/m);
  });

  it("`tug alerts test --receiver hook` sends one from the command line", async () => {
    // The same routing file, with the receiver at a path of this test's own: what arrives there
    // came from this command and nothing else.
    const path = `/cli-${randomUUID()}`;
    const cliAm = join(t.dir, "cli-alertmanager.yml");
    writeFileSync(cliAm, repoAlertmanagerConfig(`${recorder.url}${path}`));
    const yaml = join(t.dir, "cli.yml");
    writeFileSync(yaml, `notifications:\n  alertmanagerConfig: ${JSON.stringify(cliAm)}\n`);
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [join(ROOT, "bin/tug.js"), "alerts", "test", "--receiver", "hook"],
        {
          env: { PATH: process.env.PATH ?? "", MONITORING_CONFIG: yaml },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        out += d;
      });
      child.on("exit", (c) => resolve({ code: c, out }));
    });
    expect(out).toMatch(/ok {6}webhook\[0\]/);
    expect(code).toBe(0);
    const mine = recorder.received.filter((r) => r.path === path);
    expect(mine.map((r) => r.json.groupLabels.alertname)).toEqual(["TestAlert"]);
  });
});
