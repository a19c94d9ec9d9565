import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type Recorder, startRecorder } from "./support/alertmanager.js";
import { startTestApp, type TestApp } from "./support/app.js";

/**
 * The notifier inside the app, end to end: the rule engine evaluates a rule file in which
 * DatabaseDown and HighErrorRate both fire, the repository's own alertmanager.yml route tree and
 * inhibit rules decide (receivers pointed at a local recording server), and the HTTP API shows
 * what is firing and why it is or is not sent.
 */
const ROOT = new URL("..", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let recorder: Recorder;
let t: TestApp;
let amFile: string;

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
  doc.receivers = [{ name: "hook", webhook_configs: [{ url: `${url}/hook`, send_resolved: true }] }];
  return stringify(doc);
}

beforeAll(async () => {
  recorder = await startRecorder();
  const dir = mkdtempSync(join(tmpdir(), "tug-alerts-api-"));
  amFile = join(dir, "alertmanager.yml");
  writeFileSync(amFile, repoAlertmanagerConfig(recorder.url));
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
}, 60_000);

afterAll(async () => {
  await t?.close();
  await recorder?.close();
});

const hooks = () => recorder.received.filter((r) => r.path === "/hook");

describe("correlation", () => {
  it("a firing DatabaseDown inhibits HighErrorRate of the same service: one notification, not two", async () => {
    const deadline = Date.now() + 20_000;
    while (hooks().length === 0 && Date.now() < deadline) await sleep(100);
    // Several evaluation and group intervals more: nothing else may arrive.
    await sleep(5000);
    const sent = hooks().map((r) => `${r.json.groupLabels.alertname}:${r.json.status}`);
    expect(sent).toEqual(["DatabaseDown:firing"]);
    const body = hooks()[0]?.json;
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
    expect(
      hooks()
        .slice(before)
        .map((x) => x.json.groupLabels.alertname),
    ).toContain("TestAlert");
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
    const text = (await t.call("GET", "/monitoring/metrics")).body as string;
    expect(text).toMatch(/^notifications_total\{receiver="hook",outcome="delivered"\} [1-9]/m);
    expect(text).toMatch(/^alerts_firing\{severity="critical"\} 2$/m);
    expect(text).toMatch(/^notification_latency_seconds_count\{receiver="hook"\} [1-9]/m);
    expect(text).toMatch(/^notifications_pending 0$/m);
  });

  it("`tug alerts test --receiver hook` sends one from the command line", async () => {
    const before = hooks().length;
    const yaml = join(t.dir, "cli.yml");
    writeFileSync(yaml, `notifications:\n  alertmanagerConfig: ${JSON.stringify(amFile)}\n`);
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
    expect(hooks().length).toBe(before + 1);
  });
});
