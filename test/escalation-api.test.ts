import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprint } from "../src/alerts/notify/index.js";
import { type Recorder, startRecorder } from "./support/alertmanager.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { waitFor } from "./support/wait.js";

/**
 * Acknowledgement over HTTP on a real app (issue 18, part 4): the token route and its validation,
 * the signed link of a message (confirm page, form post without the token, refusals naming why),
 * `ack` in GET /monitoring/alerts, and the stack's path: Alertmanager's webhook to the intake of an
 * app whose notifier only escalates. Receivers are local recording servers; deliveries are
 * awaited, never slept for.
 */
const TOKEN = "escalation-test-token-0123456789";
let rec: Recorder;
let dir: string;
const apps: TestApp[] = [];

beforeAll(async () => {
  rec = await startRecorder();
  dir = mkdtempSync(join(tmpdir(), "tug-escalation-api-"));
});
afterAll(async () => {
  for (const a of apps) await a.close();
  await rec?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** alertmanager.yml and escalation.yml in their own folder; B is paged `after` without an ack. */
function files(name: string, after: string): string {
  const folder = mkdtempSync(join(dir, `${name}-`));
  writeFileSync(
    join(folder, "alertmanager.yml"),
    [
      "route:",
      "  receiver: a",
      "  group_by: [alertname]",
      "  group_wait: 100ms",
      "  group_interval: 1s",
      "receivers:",
      `  - name: a\n    webhook_configs: [{ url: '${rec.url}/${name}/a', send_resolved: true }]`,
      `  - name: b\n    webhook_configs: [{ url: '${rec.url}/${name}/b', send_resolved: true }]`,
    ].join("\n"),
  );
  writeFileSync(
    join(folder, "escalation.yml"),
    `policies:\n  - name: critical\n    matchers: ['severity="critical"']\n    steps: [{ receiver: b, after: ${after} }]\n`,
  );
  return join(folder, "alertmanager.yml");
}

async function app(amFile: string, env: Record<string, string> = {}): Promise<TestApp> {
  const t = await startTestApp(
    { MONITORING_TOKEN: TOKEN, ...env },
    { yaml: `notifications:\n  alertmanagerConfig: ${JSON.stringify(amFile)}\n` },
  );
  apps.push(t);
  return t;
}

const at = (path: string) => rec.received.filter((r) => r.path === path);

describe("embedded: acknowledging over HTTP", () => {
  let t: TestApp;
  const labels = { alertname: "PaymentsDown", severity: "critical", service: "payments" };
  const fp = fingerprint(labels);
  let link: URL;

  beforeAll(async () => {
    t = await app(files("embedded", "1h"));
    const posted = await t.call("POST", "/monitoring/api/v2/alerts", { token: TOKEN, body: [{ labels }] });
    expect(posted.status).toBe(200);
    const page = await waitFor("A paged", () => at("/embedded/a")[0]);
    link = new URL(page.json.alerts[0].ackURL);
  }, 60_000);

  const call = (method: string, path: string, o: Parameters<TestApp["call"]>[2] = {}) =>
    t.call(method, path, { token: TOKEN, ...o });
  const signed = (u: URL) => `${u.pathname}${u.search}`;
  const notifier = () => {
    if (!t.app.notifier) throw new Error("the app has no notifier");
    return t.app.notifier;
  };

  it("links to the app's own ack route, with an expiry and a signature", () => {
    expect(link.pathname).toBe(`/monitoring/alerts/${fp}/ack`);
    expect(link.searchParams.get("sig")).toMatch(/^[0-9a-f]{64}$/);
    expect(Number(link.searchParams.get("exp")) * 1000).toBeGreaterThan(Date.now() + 6 * 86_400_000);
  });

  it("refuses bad input naming the field, unknown alerts with 404, and requests without the token", async () => {
    const bad = await call("POST", "/monitoring/alerts/not-a-fingerprint/ack", { body: {} });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([
      { field: "fingerprint", message: expect.stringMatching(/16 lower-case hex/) },
    ]);
    const unknown = await call("POST", "/monitoring/alerts/0123456789abcdef/ack", { body: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toMatch("0123456789abcdef");
    const by = await call("POST", `/monitoring/alerts/${fp}/ack`, { body: { by: 5 } });
    expect(by.status).toBe(400);
    expect(by.body.error.details.map((d: { field: string }) => d.field)).toEqual(["by"]);
    const extra = await call("POST", `/monitoring/alerts/${fp}/ack`, { body: { who: "x" } });
    expect(extra.status).toBe(400);
    expect(extra.body.error.details.map((d: { field: string }) => d.field)).toEqual(["who"]);
    const noToken = await t.call("POST", `/monitoring/alerts/${fp}/ack`, { body: {} });
    expect(noToken.status).toBe(401);
    // Nothing of that acknowledged anything.
    const list = await call("GET", "/monitoring/alerts");
    expect(list.body.alerts.find((a: any) => a.labels.alertname === "PaymentsDown").ack).toBeNull();
  });

  it("refuses a tampered or expired link with 403 naming why", async () => {
    const tampered = new URL(link);
    const sig = tampered.searchParams.get("sig") ?? "";
    tampered.searchParams.set("sig", `${sig.slice(0, -1)}${sig.endsWith("0") ? "1" : "0"}`);
    const page = await t.call("GET", signed(tampered));
    expect(page.status).toBe(403);
    expect(page.body).toMatch("the signature does not match this alert and expiry");
    const expired = new URL(notifier().ackLinks.url(fp, Date.now() - 8 * 86_400_000));
    const post = await t.call("POST", signed(expired), { body: {} });
    expect(post.status).toBe(403);
    expect(post.body.error.message).toMatch(/the link expired at \d{4}-/);
    const form = await t.call("POST", signed(expired), {
      raw: "by=mallory",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(403);
    expect(form.headers.get("content-type")).toMatch("text/html");
    expect(form.body).toMatch(/Not acknowledged.*the link expired at/s);
    const otherAlert = signed(link).replace(fp, "0123456789abcdef");
    expect((await t.call("POST", otherAlert, { body: {} })).status).toBe(403);
    const list = await call("GET", "/monitoring/alerts");
    expect(list.body.alerts.find((a: any) => a.labels.alertname === "PaymentsDown").ack).toBeNull();
  });

  it("acknowledges through the link's page without the token; the listing shows who and when", async () => {
    const page = await t.call("GET", signed(link));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch("text/html");
    expect(page.body).toMatch('<form method="post">');
    const unknown = new URL(notifier().ackLinks.url("0123456789abcdef", Date.now()));
    const gone = await t.call("GET", signed(unknown));
    expect(gone.status).toBe(404);
    expect(gone.body).toMatch("not firing");
    const done = await t.call("POST", signed(link), {
      raw: "by=carol&comment=",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(done.status).toBe(200);
    expect(done.body).toMatch("Acknowledged");
    const list = await call("GET", "/monitoring/alerts");
    const ack = list.body.alerts.find((a: any) => a.labels.alertname === "PaymentsDown").ack;
    expect(ack).toEqual({ by: "carol", at: expect.stringMatching(/^\d{4}-.*Z$/) });
    expect(list.body.alerts.find((a: any) => a.labels.alertname === "PaymentsDown").fingerprint).toBe(fp);
    // Again, with the token: the first acknowledgement stands.
    const again = await call("POST", `/monitoring/alerts/${fp}/ack`, {
      body: { by: "dave", comment: "me too" },
    });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ fingerprint: fp, acknowledgedAt: ack.at, by: "carol" });
  });
});

describe("stack: Alertmanager's webhook to the escalation intake", () => {
  it("escalates what Alertmanager hands over, stops nothing else, and tells B of the resolution", async () => {
    const t = await app(files("stack", "1s"), { NOTIFICATIONS_ENABLED: "false" });
    expect(t.app.notifier).toBeUndefined(); // nothing is sent but escalation pages
    const labels = { alertname: "DatabaseDown", severity: "critical", service: "tug-api" };
    const message = (status: "firing" | "resolved", endsAt: string) => ({
      receiver: "tug-escalation",
      status,
      alerts: [
        {
          status,
          labels,
          annotations: {},
          startsAt: new Date().toISOString(),
          endsAt,
          generatorURL: "",
          fingerprint: fingerprint(labels),
        },
      ],
      groupLabels: { alertname: "DatabaseDown" },
      commonLabels: labels,
      commonAnnotations: {},
      externalURL: "http://alertmanager:9093",
      version: "4",
      groupKey: "{}:{}",
      truncatedAlerts: 0,
    });
    const path = "/monitoring/api/escalation/alertmanager";
    const bad = await t.call("POST", path, {
      token: TOKEN,
      body: { ...message("firing", "0001-01-01T00:00:00Z"), version: "3" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { field: string }) => d.field)).toEqual(["version"]);
    expect((await t.call("POST", path, { body: message("firing", "0001-01-01T00:00:00Z") })).status).toBe(
      401,
    );

    const started = await t.call("POST", path, {
      token: TOKEN,
      body: message("firing", "0001-01-01T00:00:00Z"),
    });
    expect(started.body).toEqual({ started: 1, resolved: 0, refused: 0 });
    const page = await waitFor("B paged by the escalation", () => at("/stack/b")[0]);
    expect(page.json.escalation.step).toBe("step1.0");
    expect(at("/stack/a")).toEqual([]); // Alertmanager paged the route's receiver, not us

    const ack = await t.call("POST", `/monitoring/alerts/${fingerprint(labels)}/ack`, {
      token: TOKEN,
      body: { by: "erin" },
    });
    expect(ack.status).toBe(200);
    const resolved = await t.call("POST", path, {
      token: TOKEN,
      body: message("resolved", new Date().toISOString()),
    });
    expect(resolved.body).toEqual({ started: 0, resolved: 1, refused: 0 });
    await waitFor("B told of the resolution", () => at("/stack/b").length === 2);
    expect(at("/stack/b").map((r) => r.json.status)).toEqual(["firing", "resolved"]);
    const metrics = await t.call("GET", "/monitoring/metrics", { token: TOKEN });
    expect(metrics.body).toMatch(/^escalation_pages_total\{policy="critical",kind="page"\} 1$/m);
    expect(metrics.body).toMatch(/^escalation_pages_total\{policy="critical",kind="resolved"\} 1$/m);
    expect(metrics.body).toMatch(/^escalations_open 0$/m);
  }, 60_000);
});
