import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { createChannels } from "../src/alerts/channels/index.js";
import { loadAlertmanagerConfig, Notifier, openStateDb } from "../src/alerts/notify/index.js";
import {
  type RealAlertmanager,
  type Recorder,
  startAlertmanager,
  startRecorder,
} from "./support/alertmanager.js";
import { startTestApp } from "./support/app.js";

/**
 * Parity with the real Alertmanager 0.25: the same alertmanager.yml and the same scripted
 * sequence of alerts go to both (to the real one through POST /api/v2/alerts, to ours through
 * the same call the rule engine makes); a local webhook receiver records what each sends, told
 * apart by User-Agent. The notifications must agree in grouping, order, alerts and their
 * firing/resolved status, with arrival times within one group_interval.
 */
const GROUP_WAIT_S = 2;
const GROUP_INTERVAL_S = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let recorder: Recorder;
let am: RealAlertmanager;
let notifier: Notifier;

beforeAll(async () => {
  recorder = await startRecorder();
  const yaml = [
    "route:",
    "  receiver: hook",
    "  group_by: ['alertname', 'service']",
    `  group_wait: ${GROUP_WAIT_S}s`,
    `  group_interval: ${GROUP_INTERVAL_S}s`,
    "  repeat_interval: 1h",
    "inhibit_rules:",
    "  - source_matchers: ['alertname=\"DatabaseDown\"']",
    "    target_matchers: ['alertname=\"HighErrorRate\"']",
    "    equal: ['service']",
    "receivers:",
    "  - name: hook",
    "    webhook_configs:",
    `      - url: ${recorder.url}/hook`,
    "        send_resolved: true",
    "",
  ].join("\n");
  const dir = mkdtempSync(join(tmpdir(), "tug-parity-"));
  const file = join(dir, "alertmanager.yml");
  writeFileSync(file, yaml);
  const externalURL = "http://alertmanager.test";
  am = await startAlertmanager(yaml, externalURL);
  const { config } = loadAlertmanagerConfig(file);
  notifier = new Notifier({
    config,
    db: openStateDb(join(dir, "notifier.db")),
    createChannels: (r) => createChannels(r, { timeoutMs: 5000 }),
    externalURL,
    initialBackoffMs: 200,
    maxBackoffMs: 1000,
    expiryMs: 60_000,
    ratePerMinute: 0,
  });
  notifier.start();
}, 300_000);

afterAll(async () => {
  await notifier?.stop(1000);
  await am?.stop();
  await recorder?.close();
});

interface Sent {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
}

function alert(alertname: string, instance: string | undefined, startsAt: number, endsAt: number): Sent {
  return {
    labels: { alertname, service: "api", severity: "critical", ...(instance ? { instance } : {}) },
    annotations: { summary: `${alertname} on ${instance ?? "api"}` },
    startsAt: new Date(startsAt).toISOString(),
    endsAt: new Date(endsAt).toISOString(),
    generatorURL: `http://prometheus.test/graph?g0.expr=${alertname}`,
  };
}

/** What both must agree on, per notification. */
function shape(body: any) {
  return {
    groupKey: body.groupKey,
    status: body.status,
    groupLabels: body.groupLabels,
    commonLabels: body.commonLabels,
    commonAnnotations: body.commonAnnotations,
    alerts: body.alerts.map((a: any) => ({
      status: a.status,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: a.startsAt,
      fingerprint: a.fingerprint,
      generatorURL: a.generatorURL,
      resolved: a.endsAt !== "0001-01-01T00:00:00Z",
    })),
  };
}

it("sends the same notifications as Alertmanager 0.25 for a scripted incident", async () => {
  const t0 = Date.now();
  const at = async (s: number) => {
    const wait = t0 + s * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
  };
  const both = async (alerts: Sent[]) => {
    notifier.receive(alerts);
    await am.post(alerts);
  };
  const hour = 3_600_000;
  const starts = t0;
  // A group forms: two HighErrorRate alerts of one service.
  await both([alert("HighErrorRate", "a", starts, t0 + hour)]);
  await at(0.5);
  await both([alert("HighErrorRate", "b", starts, t0 + hour)]);
  // Another joins between the first flush (2 s) and the next (6 s).
  await at(3);
  await both([alert("HighErrorRate", "c", starts, t0 + hour)]);
  // One resolves before the flush at 10 s.
  await at(7);
  await both([alert("HighErrorRate", "a", starts, Date.now())]);
  // The database goes down: its alert inhibits HighErrorRate of the same service, including
  // one that starts while it fires.
  await at(11);
  await both([alert("DatabaseDown", undefined, Date.now(), t0 + hour)]);
  await at(11.5);
  await both([alert("HighErrorRate", "d", Date.now(), t0 + hour)]);
  // A silence on DatabaseDown, then it resolves: the silenced resolution is not sent, and
  // HighErrorRate, no longer inhibited, is sent again at its next flush (18 s).
  await at(15);
  const silence = {
    matchers: [{ name: "alertname", value: "DatabaseDown", isRegex: false, isEqual: true }],
    startsAt: new Date().toISOString(),
    endsAt: new Date(Date.now() + hour).toISOString(),
    createdBy: "parity test",
    comment: "maintenance",
  };
  notifier.silences.set({
    matchers: silence.matchers,
    startsAt: Date.now(),
    endsAt: Date.parse(silence.endsAt),
    createdBy: silence.createdBy,
    comment: silence.comment,
  });
  const r = await fetch(`${am.url}/api/v2/silences`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(silence),
  });
  expect(r.status).toBe(200);
  await at(16);
  await both([alert("DatabaseDown", undefined, t0 + 11_000, Date.now())]);
  await at(18 + GROUP_INTERVAL_S + 1);

  // Only this script's groups: the forwarding test shares the real Alertmanager (and so this
  // receiver), and may run first.
  const scripted = recorder.received.filter((x) =>
    ["HighErrorRate", "DatabaseDown"].includes(x.json?.groupLabels?.alertname),
  );
  const fromAm = scripted.filter((x) => String(x.headers["user-agent"]).startsWith("Alertmanager"));
  const fromUs = scripted.filter((x) => !String(x.headers["user-agent"]).startsWith("Alertmanager"));
  const summary = (list: typeof fromAm) =>
    list.map(
      (x) =>
        `${((x.at - t0) / 1000).toFixed(1)}s ${x.json.groupLabels.alertname} ${x.json.status} ` +
        x.json.alerts.map((a: any) => `${a.labels.instance ?? "-"}:${a.status}`).join(","),
    );
  const context = `\nalertmanager:\n  ${summary(fromAm).join("\n  ")}\nembedded:\n  ${summary(fromUs).join("\n  ")}`;

  console.info(`parity timeline (seconds after the first alert):${context}`);
  // The incident as a person on call sees it: five notifications.
  expect(
    summary(fromAm).map((s) => s.replace(/^\S+ /, "")),
    context,
  ).toEqual([
    "HighErrorRate firing a:firing,b:firing",
    "HighErrorRate firing a:firing,b:firing,c:firing",
    "HighErrorRate firing a:resolved,b:firing,c:firing",
    "DatabaseDown firing -:firing",
    "HighErrorRate firing b:firing,c:firing,d:firing",
  ]);
  expect(
    fromUs.map((x) => shape(x.json)),
    context,
  ).toEqual(fromAm.map((x) => shape(x.json)));
  for (let i = 0; i < fromAm.length; i++) {
    const dt = Math.abs((fromUs[i]?.at ?? 0) - (fromAm[i]?.at ?? 0));
    expect(dt, `notification ${i + 1} arrival differs by ${dt} ms${context}`).toBeLessThan(
      GROUP_INTERVAL_S * 1000,
    );
  }
  // The full bodies agree too, apart from what is ours by design.
  const strip = (b: any) => {
    const { dedupKey: _d, ...rest } = b;
    return {
      ...rest,
      alerts: b.alerts.map((a: any) => ({
        ...a,
        endsAt: a.endsAt === "0001-01-01T00:00:00Z" ? a.endsAt : "resolved",
      })),
    };
  };
  expect(fromUs.map((x) => strip(x.json))).toEqual(fromAm.map((x) => strip(x.json)));
}, 120_000);

it("forwards the rule engine's alerts to a real Alertmanager (notifications.forwardTo)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tug-forward-"));
  const rules = join(dir, "rules.yml");
  writeFileSync(
    rules,
    stringify({
      groups: [
        {
          name: "fwd",
          interval: "1s",
          rules: [
            {
              alert: "ForwardedAlert",
              expr: "vector(7)",
              labels: { severity: "warning", service: "tug-api" },
            },
          ],
        },
      ],
    }),
  );
  const app = await startTestApp(
    {},
    {
      yaml: [
        "alerts:",
        `  ruleFiles: [${JSON.stringify(rules)}]`,
        "notifications:",
        "  enabled: false",
        `  forwardTo: [${JSON.stringify(am.url)}]`,
        "",
      ].join("\n"),
    },
  );
  try {
    const deadline = Date.now() + 15_000;
    let found: any;
    while (!found && Date.now() < deadline) {
      const list = (await fetch(`${am.url}/api/v2/alerts`).then((r) => r.json())) as any[];
      found = list.find((a) => a.labels.alertname === "ForwardedAlert");
      if (!found) await sleep(200);
    }
    expect(found?.labels).toEqual({ alertname: "ForwardedAlert", severity: "warning", service: "tug-api" });
    expect(found?.status.state).toBe("active");
    expect(found?.generatorURL).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/monitoring\/graph\?g0\.expr=vector\(7\)/,
    );
  } finally {
    await app.close();
  }
}, 60_000);
