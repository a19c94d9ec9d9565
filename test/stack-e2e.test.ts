import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type Recorder, startRecorder } from "./support/alertmanager.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { dashboardQueries } from "./support/dashboards.js";
import { ensurePackage, freePort } from "./support/services.js";

/**
 * The stack end to end, without Docker: the app, a real Prometheus 2.42 with
 * monitoring/prometheus.yml, a real Alertmanager 0.25 with monitoring/alertmanager.yml and a real
 * node exporter — the repository's files with only targets and receivers rewritten to loopback
 * ports. Traffic with errors and slow requests runs until HighErrorRate (for: 5m) has gone from
 * Prometheus through Alertmanager to a local webhook, and the embedded engine fired it in the
 * same window. Then every dashboard query must return data, from Prometheus and (except the
 * node-exporter panels) from the app's own query API.
 */
const ROOT = new URL("..", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

let app: TestApp;
let recorder: Recorder;
const ports = { prometheus: 0, alertmanager: 0, node: 0, app: 0 };
let promUrl = "";
let stopTraffic = false;
let traffic: Promise<void> | undefined;
const logs: Record<string, string> = {};

function start(name: string, bin: string, args: string[]): ChildProcess {
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  logs[name] = "";
  child.stderr?.on("data", (d) => {
    logs[name] = ((logs[name] ?? "") + d).slice(-4000);
  });
  children.push(child);
  return child;
}

async function waitFor(url: string, name: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (
    !(await fetch(url).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`${name} did not start: ${logs[name]}`);
    await sleep(200);
  }
}

/** monitoring/prometheus.yml with every target on loopback, rule files absolute. */
function prometheusConfig(): string {
  const doc = parse(readFileSync(join(ROOT, "monitoring/prometheus.yml"), "utf8"));
  const targetOf: Record<string, string> = {
    "tug-api": `127.0.0.1:${ports.app}`,
    "node-exporter": `127.0.0.1:${ports.node}`,
    prometheus: `127.0.0.1:${ports.prometheus}`,
    alertmanager: `127.0.0.1:${ports.alertmanager}`,
  };
  const jobs = (doc.scrape_configs as Array<Record<string, any>>).filter((j) => j.job_name in targetOf);
  for (const j of jobs) {
    j.static_configs = [{ targets: [targetOf[j.job_name]] }];
    // The test app runs in development: no token, so no credentials file to read.
    delete j.authorization;
    delete j.dns_sd_configs;
  }
  doc.scrape_configs = jobs;
  doc.rule_files = (doc.rule_files as string[]).map((f) =>
    join(ROOT, "monitoring", f.split("/").pop() as string),
  );
  doc.alerting = { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${ports.alertmanager}`] }] }] };
  return stringify(doc);
}

/** monitoring/alertmanager.yml with every receiver a webhook to the local recorder. */
function alertmanagerConfig(): string {
  const doc = parse(readFileSync(join(ROOT, "monitoring/alertmanager.yml"), "utf8"));
  doc.receivers = (doc.receivers as Array<{ name: string }>).map((r) => ({
    name: r.name,
    webhook_configs: [{ url: `${recorder.url}/hook`, send_resolved: true }],
  }));
  // The secrets files of the real receivers are not used by webhooks.
  for (const k of Object.keys(doc.global ?? {})) if (k.endsWith("_file")) delete doc.global[k];
  return stringify(doc);
}

async function drive(base: string): Promise<void> {
  const email = `e2e-${Date.now()}@example.com`;
  await fetch(`${base}/api/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "correct horse battery", name: "E2E" }),
  });
  const login = (await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "correct horse battery" }),
  }).then((r) => r.json())) as { token: string };
  const auth = { authorization: `Bearer ${login.token}`, "content-type": "application/json" };
  let i = 0;
  while (!stopTraffic) {
    i++;
    const k = i % 10;
    const req =
      k < 3
        ? fetch(`${base}/e2e/fail`)
        : k === 3
          ? fetch(`${base}/e2e/slow`)
          : k === 4
            ? fetch(`${base}/api/v1/activities`, {
                method: "POST",
                headers: auth,
                body: JSON.stringify({ type: "run", title: `run ${i}`, durationMinutes: i % 60 }),
              })
            : k === 5
              ? fetch(`${base}/no/such/route/${i}`)
              : fetch(`${base}/api/v1/activities?limit=5`, { headers: auth });
    await req.then((r) => r.arrayBuffer()).catch(() => undefined);
    await sleep(50);
  }
}

beforeAll(async () => {
  const [prometheus, alertmanager, nodeExporter] = await Promise.all([
    ensurePackage("prometheus", "prometheus"),
    ensurePackage("prometheus-alertmanager", "prometheus-alertmanager"),
    ensurePackage("prometheus-node-exporter", "prometheus-node-exporter"),
  ]);
  recorder = await startRecorder();
  app = await startTestApp(
    {},
    {
      plugins: [
        (f) => {
          f.get("/e2e/fail", async () => {
            throw new Error("e2e: the downstream service failed");
          });
          f.get("/e2e/slow", async () => {
            await sleep(1200);
            return { slow: true };
          });
        },
      ],
    },
  );
  ports.app = Number(new URL(app.url).port);
  ports.prometheus = await freePort();
  ports.alertmanager = await freePort();
  ports.node = await freePort();
  promUrl = `http://127.0.0.1:${ports.prometheus}`;
  const dir = mkdtempSync(join(tmpdir(), "tug-stack-"));
  writeFileSync(join(dir, "prometheus.yml"), prometheusConfig());
  writeFileSync(join(dir, "alertmanager.yml"), alertmanagerConfig());
  const node = start("node exporter", nodeExporter, [`--web.listen-address=127.0.0.1:${ports.node}`]);
  const am = start("alertmanager", alertmanager, [
    `--config.file=${join(dir, "alertmanager.yml")}`,
    `--storage.path=${join(dir, "am")}`,
    `--web.listen-address=127.0.0.1:${ports.alertmanager}`,
    "--cluster.listen-address=",
  ]);
  const prom = start("prometheus", prometheus, [
    `--config.file=${join(dir, "prometheus.yml")}`,
    `--storage.tsdb.path=${join(dir, "prom")}`,
    `--web.listen-address=127.0.0.1:${ports.prometheus}`,
  ]);
  await Promise.all([
    waitFor(`http://127.0.0.1:${ports.node}/metrics`, "node exporter", node),
    waitFor(`http://127.0.0.1:${ports.alertmanager}/-/ready`, "alertmanager", am),
    waitFor(`${promUrl}/-/ready`, "prometheus", prom),
  ]);
  traffic = drive(app.url);
}, 300_000);

afterAll(async () => {
  stopTraffic = true;
  await traffic;
  for (const c of children) c.kill("SIGTERM");
  await app?.close();
  await recorder?.close();
});

async function promQuery(base: string, expr: string): Promise<unknown[]> {
  const r = (await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`).then((x) => x.json())) as {
    status: string;
    data?: { resultType: string; result: unknown };
    error?: string;
  };
  if (r.status !== "success") throw new Error(`${expr}: ${r.error}`);
  const res = r.data?.result;
  if (r.data?.resultType === "scalar" || r.data?.resultType === "string") return [res];
  return res as unknown[];
}

it(
  "HighErrorRate travels Prometheus → Alertmanager → webhook, the embedded engine fires it in the same window, and every dashboard query has data",
  async () => {
    // Every target is up.
    const deadline = Date.now() + 90_000;
    let targets: Array<{ labels: { job: string }; health: string; lastError: string }> = [];
    for (;;) {
      targets = ((await fetch(`${promUrl}/api/v1/targets`).then((r) => r.json())) as any).data.activeTargets;
      if (targets.length > 0 && targets.every((t) => t.health === "up")) break;
      if (Date.now() > deadline) break;
      await sleep(1000);
    }
    expect(
      targets.map((t) => `${t.labels.job}:${t.health}${t.lastError ? ` (${t.lastError})` : ""}`).sort(),
    ).toEqual(["alertmanager:up", "node-exporter:up", "prometheus:up", "tug-api:up"]);

    // The alert: for: 5m, so about six minutes of traffic with 30 % errors.
    const started = Date.now();
    let firedProm = 0;
    let firedEmbedded = 0;
    let delivered = 0;
    const alertDeadline = started + 9 * 60_000;
    while (Date.now() < alertDeadline && !(firedProm && firedEmbedded && delivered)) {
      const now = Date.now();
      if (!firedProm) {
        const a = ((await fetch(`${promUrl}/api/v1/alerts`).then((r) => r.json())) as any).data
          .alerts as any[];
        if (a.some((x) => x.labels.alertname === "HighErrorRate" && x.state === "firing")) firedProm = now;
      }
      if (!firedEmbedded) {
        const a = (await app.call("GET", "/monitoring/api/v1/alerts")).body.data.alerts as any[];
        if (a.some((x) => x.labels.alertname === "HighErrorRate" && x.state === "firing"))
          firedEmbedded = now;
      }
      if (!delivered) {
        const hit = recorder.received.find(
          (r) =>
            String(r.headers["user-agent"]).startsWith("Alertmanager") &&
            r.json?.status === "firing" &&
            r.json.alerts.some((x: any) => x.labels.alertname === "HighErrorRate"),
        );
        if (hit) delivered = hit.at;
      }
      await sleep(2000);
    }
    const rel = (t: number) => (t ? `${((t - started) / 1000).toFixed(0)} s` : "never");
    console.info(
      `HighErrorRate firing: Prometheus ${rel(firedProm)}, embedded ${rel(firedEmbedded)}; ` +
        `Alertmanager → webhook ${rel(delivered)} (after the targets were up)`,
    );
    expect(firedProm, "Prometheus fired HighErrorRate").toBeGreaterThan(0);
    expect(delivered, "Alertmanager delivered HighErrorRate to the webhook").toBeGreaterThan(0);
    expect(firedEmbedded, "the embedded engine fired HighErrorRate").toBeGreaterThan(0);
    // The same window: one evaluation interval (30 s) plus one scrape interval apart at most.
    expect(Math.abs(firedProm - firedEmbedded)).toBeLessThanOrEqual(60_000);

    // Every dashboard query returns data from Prometheus, and from the app (node exporter panels
    // excepted: those series exist only in the stack).
    const queries = dashboardQueries();
    const empty: string[] = [];
    const notChecked: string[] = [];
    for (const q of queries) {
      const where = `${q.dashboard} #${q.panelId} "${q.panelTitle}" ${q.refId}`;
      if (q.datasource !== "prometheus") {
        notChecked.push(`${where} (${q.datasource})`);
        continue;
      }
      const fromProm = await promQuery(promUrl, q.expr).catch((e: Error) => [`error: ${e.message}`]);
      if (fromProm.length === 0 || typeof fromProm[0] === "string")
        empty.push(`prometheus: ${where}: ${q.expr} ${fromProm[0] ?? ""}`);
      if (q.stackOnly) continue;
      const fromApp = await promQuery(`${app.url}/monitoring`, q.expr).catch((e: Error) => [
        `error: ${e.message}`,
      ]);
      if (fromApp.length === 0 || typeof fromApp[0] === "string")
        empty.push(`embedded: ${where}: ${q.expr} ${fromApp[0] ?? ""}`);
    }
    console.info(
      `dashboard queries: ${queries.length} (${queries.filter((q) => q.datasource === "prometheus").length} PromQL); ` +
        `not checked here: ${notChecked.length} — Loki panels need a Loki server, which has no Debian package: ${notChecked.join("; ")}`,
    );
    expect(empty).toEqual([]);
  },
  15 * 60_000,
);
