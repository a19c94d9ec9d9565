import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { type Recorder, startRecorder } from "./support/alertmanager.js";
import { type ChildApp, startChildApp } from "./support/child.js";
import { freePort } from "./support/services.js";

/**
 * Nothing lost: the receiver answers 500 for a minute, then refuses connections for a minute;
 * meanwhile alerts keep arriving and the app is killed with SIGKILL and started again on the
 * same state file. Afterwards every expected notification arrives; duplicates, if any, carry
 * the same deduplication key (and the same body). Real process, real SQLite file, real HTTP.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let recorder: Recorder | undefined;
let app: ChildApp | undefined;
afterAll(async () => {
  app?.child.kill("SIGKILL");
  await recorder?.close();
});

it("delivers every notification after a two-minute receiver outage and a SIGKILL", async () => {
  const port = await freePort();
  recorder = await startRecorder(port);
  recorder.mode.status = 500;
  const dir = mkdtempSync(join(tmpdir(), "tug-outbox-"));
  const amFile = join(dir, "alertmanager.yml");
  writeFileSync(
    amFile,
    [
      "route:",
      "  receiver: hook",
      "  group_by: ['alertname']",
      "  group_wait: 1s",
      "  group_interval: 5s",
      "  repeat_interval: 4h",
      "receivers:",
      "  - name: hook",
      "    webhook_configs:",
      `      - url: ${recorder.url}/hook`,
      "",
    ].join("\n"),
  );
  const yaml = [
    "alerts:",
    "  ruleFiles: []",
    "notifications:",
    `  alertmanagerConfig: ${amFile}`,
    `  stateFile: ${join(dir, "notifier.db")}`,
    "  rateLimitPerMinute: 0",
    "  retry:",
    "    initialBackoffMs: 500",
    "    maxBackoffMs: 5000",
    "",
  ].join("\n");
  const env = { DATABASE_URL: `sqlite:${join(dir, "tug.db")}` };
  app = await startChildApp(env, yaml);

  const t0 = Date.now();
  const posted = new Map<string, Record<string, unknown>>();
  const post = async (a: ChildApp, alerts: Array<Record<string, unknown>>) => {
    const r = await fetch(`${a.base}/monitoring/api/v2/alerts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(alerts),
    });
    expect(r.status, await r.text()).toBe(200);
  };
  // A new alert (its own group) every 10 s for two minutes; the receiver is failing throughout.
  let killedAt = 0;
  for (let i = 0; i < 12; i++) {
    const wait = t0 + i * 10_000 - Date.now();
    if (wait > 0) await sleep(wait);
    const alert = {
      labels: { alertname: `Outage${String(i).padStart(2, "0")}`, severity: "critical" },
      annotations: { summary: `alert ${i}` },
      startsAt: new Date().toISOString(),
      endsAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
    posted.set(alert.labels.alertname, alert);
    await post(app, [alert]);
    if (i === 5) {
      // Mid-outage: the receiver stops answering at all...
      await recorder.down();
    }
    if (i === 6) {
      // ...and the process dies without any chance to flush or finish (group_wait of the
      // alert just posted has not passed yet, so that one is only in memory).
      killedAt = Date.now() - t0;
      app.child.kill("SIGKILL");
      await app.exited;
      app = await startChildApp(env, yaml);
      // The alerts' source re-sends what is still firing, as Prometheus does every minute.
      await post(app, [...posted.values()]);
    }
  }
  const wait = t0 + 120_000 - Date.now();
  if (wait > 0) await sleep(wait);
  recorder.mode.status = 200;
  await recorder.up();
  const outageEnd = Date.now() - t0;

  // Retries back off to at most 5 s: everything arrives within a few seconds.
  const deadline = Date.now() + 30_000;
  const delivered = () => recorder?.received.filter((r) => r.answered === 200) ?? [];
  while (Date.now() < deadline) {
    const names = new Set(delivered().map((r) => r.json?.groupLabels?.alertname));
    if (names.size >= posted.size) break;
    await sleep(250);
  }
  await sleep(2000); // anything else in flight lands too, so duplicates are counted

  const ok = delivered();
  const failedAttempts = recorder.received.filter((r) => r.answered !== 200).length;
  const byKey = new Map<string, string[]>();
  for (const r of ok) {
    const key = String(r.headers["idempotency-key"]);
    expect(r.json.dedupKey).toBe(key);
    byKey.set(key, [...(byKey.get(key) ?? []), r.body]);
  }
  const duplicates = ok.length - byKey.size;
  for (const bodies of byKey.values()) expect(new Set(bodies).size).toBe(1);
  const names = [...new Set(ok.map((r) => r.json.groupLabels.alertname))].sort();
  console.info(
    `outbox: ${posted.size} alerts, killed at ${Math.round(killedAt / 1000)} s, receiver back at ` +
      `${Math.round(outageEnd / 1000)} s; ${failedAttempts} failed attempts answered 500 during the outage; ` +
      `${ok.length} deliveries, ${byKey.size} distinct notifications, ${duplicates} duplicates`,
  );
  expect(names).toEqual([...posted.keys()].sort());
  // One notification per group: the restart did not re-page anyone with a new key.
  expect(byKey.size).toBe(posted.size);
  for (const r of ok) expect(r.json.status).toBe("firing");
  // The metrics tell the same story.
  const metrics = await fetch(`${app.base}/monitoring/metrics`).then((r) => r.text());
  expect(metrics).toMatch(/notifications_total\{receiver="hook",outcome="delivered"\} \d+/);
  expect(metrics).toMatch(/notifications_pending 0/);
}, 240_000);
