// Defaults that do not cry wolf: a receiver with no integration, or an integration whose
// destination is a name reserved for examples, is told once per group and never retried — no
// day-long "delivery failed; will retry" — and `tug alerts test` says which are placeholders.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emailPlaceholder, webhookPlaceholder } from "../src/alerts/channels/index.js";
import { alertsCommand } from "../src/cli/alerts.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { runAsync } from "./support/cli.js";
import { waitFor } from "./support/wait.js";

const webhook = (url: string) =>
  ({ url, sendResolved: true, maxAlerts: 0 }) as Parameters<typeof webhookPlaceholder>[0];
const email = (to: string, smarthost: string) =>
  ({ to, smarthost, sendResolved: false }) as unknown as Parameters<typeof emailPlaceholder>[0];

describe("placeholder destinations", () => {
  it("are the names reserved for examples, and only those", () => {
    expect(webhookPlaceholder(webhook("http://hooks.example.invalid/x"))).toMatch(/hooks\.example\.invalid/);
    expect(webhookPlaceholder(webhook("https://example.com/alerts"))).toMatch(/reserved/);
    expect(webhookPlaceholder(webhook("http://ci.test:8080/hook"))).toMatch(/ci\.test/);
    expect(webhookPlaceholder(webhook("http://127.0.0.1:9095/alerts"))).toBeUndefined();
    expect(webhookPlaceholder(webhook("https://hooks.slack.com/services/T/B/X"))).toBeUndefined();
    expect(webhookPlaceholder(webhook("http://examples.com/x"))).toBeUndefined();
    expect(emailPlaceholder(email("oncall@acme.io", "smtp.example.com:587"))).toMatch(
      /SMTP relay is smtp\.example\.com/,
    );
    expect(emailPlaceholder(email("a@example.org, B <b@x.example>", "smtp.acme.io:587"))).toMatch(
      /every recipient/,
    );
    expect(emailPlaceholder(email("a@example.org, b@acme.io", "smtp.acme.io:587"))).toBeUndefined();
  });
});

describe("on a real app", () => {
  let t: TestApp;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "tug-placeholders-"));
    const am = join(dir, "alertmanager.yml");
    writeFileSync(
      am,
      [
        "route:",
        "  receiver: nowhere",
        "  group_by: ['alertname']",
        "  group_wait: 0s",
        "  group_interval: 1s",
        "  repeat_interval: 4h",
        "  routes:",
        "    - matchers: ['severity=\"critical\"']",
        "      receiver: placeholders",
        "receivers:",
        "  - name: nowhere",
        "  - name: placeholders",
        "    webhook_configs:",
        "      - url: http://hooks.example.invalid/alerts",
        "    email_configs:",
        "      - to: oncall@example.com",
        "        smarthost: smtp.example.com:587",
        "        from: am@example.com",
        "",
      ].join("\n"),
    );
    t = await startTestApp(
      {},
      {
        yaml: `alerts:\n  ruleFiles: []\nnotifications:\n  alertmanagerConfig: ${am}\n  rateLimitPerMinute: 0\n`,
      },
    );
  });
  afterAll(async () => {
    await t?.close();
  });

  it("placeholder integrations are refused once per group, a receiver without one is told once; nothing retried", async () => {
    const post = (alertname: string, severity: string) =>
      t.call("POST", "/monitoring/api/v2/alerts", { body: [{ labels: { alertname, severity } }] });
    expect((await post("PagesNobody", "critical")).status).toBe(200);
    expect((await post("GoesNowhere", "warning")).status).toBe(200);
    const log = () =>
      readFileSync(join(t.dir, "app.log"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const refusals = () =>
      log().filter((l) => l.msg === "notification not sent: this integration is not configured yet");
    await waitFor(
      "both refusals and the unsent group in the log",
      () => refusals().length >= 2 && log().some((l) => String(l.msg).startsWith("alert group not sent")),
      { last: () => log().slice(-5) },
    );
    // The same alerts again: the groups' later flushes (every 1 s) must not repeat the lines.
    await post("PagesNobody", "critical");
    await post("GoesNowhere", "warning");
    const metrics = async () => (await t.call("GET", "/monitoring/metrics")).body as string;
    await waitFor("the refusals counted", async () =>
      /notifications_total\{[^}]*outcome="rejected"[^}]*\} [1-9]/.test(await metrics()),
    );
    const lines = log();
    expect(refusals()).toHaveLength(2);
    expect(refusals().map((l) => l.level)).toEqual(["WARN", "WARN"]);
    expect(refusals().map((l) => String(l.error))).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^placeholder: the webhook goes to hooks\.example\.invalid/),
        expect.stringMatching(/^placeholder: the SMTP relay is smtp\.example\.com/),
      ]),
    );
    expect(lines.filter((l) => String(l.msg).startsWith("alert group not sent"))).toHaveLength(1);
    expect(lines.filter((l) => String(l.msg).includes("will retry"))).toEqual([]);
  });

  it("tug alerts test names the placeholders of the default file", async () => {
    const r = await runAsync(alertsCommand, ["test", "--receiver", "oncall"]);
    expect(r.code).toBe(1);
    expect(`${r.out}${r.err}`).toMatch(/placeholder: the SMTP relay is smtp\.example\.com/);
  });
});
