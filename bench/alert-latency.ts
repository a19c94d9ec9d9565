/**
 * Alert latency: the time from the moment the app's 5xx share crosses 10 % to the moment a
 * webhook receives the firing HighErrorRate notification, for
 *   (a) embedded: `tug serve` (a child process) with its own time-series store, rule engine and
 *       notifier, all at their default settings;
 *   (b) stack: a real Prometheus 2.42 scraping the same app instance's /monitoring/metrics and
 *       evaluating the same rule, sending to a real Alertmanager 0.25 (Debian's packages,
 *       installed on demand), at their default intervals.
 * Both read the SAME two files, derived at run time from the repository's:
 *   - monitoring/alert_rules.yml → the HighErrorRate rule (expr, labels, annotations and its
 *     group's `interval`) with `for: 0s`;
 *   - monitoring/alertmanager.yml → routes, route timings (group_wait ...) and inhibit rules as
 *     they are, every route's receiver replaced by one webhook receiver on a local recorder.
 * Both run at once against one app instance, so one error-rate crossing time T0 serves both.
 *
 * Traffic: a steady request rate of successful requests (GET /monitoring/health/live) for a
 * warm-up longer than the rule's 5 m window, then a switch to a mix in which `--error-share` of
 * the requests are 5xx. The 5xx come from a real failure path of the app (no test route):
 * the PromQL query API answers 503 {"errorType":"timeout"} when a query outlives the `timeout`
 * the client asked for, and a 1 ns timeout always is outlived. Every request the bench sends is
 * logged with its status and the time its response arrived; T0 is the first instant at which the
 * 5xx share of the logged requests over the rule's window (t − 5 m, t] exceeds 10 %.
 *
 * The warm-up gets a random 0..--jitter s on top, so that T0 falls at a random phase of the
 * evaluation and scrape cycles (they start with the processes; without it every run measures about
 * the same phase).
 *
 *   npx tsx bench/alert-latency.ts [--rate 30] [--warmup 330] [--jitter 30] [--error-share 0.5]
 *                                  [--timeout 900] [--out bench/results/alert-latency.json]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { ensurePackage, freePort } from "../test/support/services.js";

// ---------------------------------------------------------------------------------------------
// Options

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, "..");
const RULES_SOURCE = join(ROOT, "monitoring", "alert_rules.yml");
const AM_SOURCE = join(ROOT, "monitoring", "alertmanager.yml");
const ALERT = "HighErrorRate";
const THRESHOLD = 0.1;
const TARGET_EVAL_MULTIPLE = 2;
/** Defaults this bench relies on (and prints): config schema and Prometheus's documented ones. */
const EMBEDDED_DEFAULT_EVAL_MS = 15_000; // alerts.evaluationIntervalMs
const EMBEDDED_DEFAULT_SCRAPE_MS = 5_000; // tsdb.scrapeIntervalMs
const PROM_DEFAULT_SCRAPE_S = 60; // global.scrape_interval
const PROM_DEFAULT_EVAL_S = 60; // global.evaluation_interval

const { values: args } = parseArgs({
  options: {
    rate: { type: "string", default: "30" },
    warmup: { type: "string", default: "330" },
    "error-share": { type: "string", default: "0.5" },
    jitter: { type: "string", default: "30" },
    timeout: { type: "string", default: "900" },
    out: { type: "string", default: join(here, "results", "alert-latency.json") },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write(
    [
      "usage: npx tsx bench/alert-latency.ts [options]",
      "  --rate <n>          requests per second, all phases (default 30)",
      "  --warmup <s>        seconds of successful traffic before the switch (default 330; > the 5 m window)",
      "  --jitter <s>        add a random 0..s to the warm-up, so T0 falls at a random phase of the\n" +
        "                      evaluation cycles (default 30; 0: a fixed phase)",
      "  --error-share <p>   share of 5xx requests after the switch, 0 < p <= 1 (default 0.5)",
      "  --timeout <s>       give up this long after the switch (default 900)",
      "  --out <file>        JSON results (default bench/results/alert-latency.json)",
      "",
    ].join("\n"),
  );
  process.exit(0);
}
const RATE = Number(args.rate);
const WARMUP_S = Number(args.warmup);
const ERROR_SHARE = Number(args["error-share"]);
const TIMEOUT_S = Number(args.timeout);
const JITTER_S = Number(args.jitter);
if (!(RATE > 0 && RATE <= 500)) throw new Error("--rate must be in (0, 500]");
if (!(ERROR_SHARE > THRESHOLD && ERROR_SHARE <= 1))
  throw new Error(`--error-share must be in (${THRESHOLD}, 1]`);
if (!(WARMUP_S >= 0) || !(TIMEOUT_S > 0) || !(JITTER_S >= 0))
  throw new Error("--warmup and --timeout must be positive");

const log = (msg: string) => process.stdout.write(`${msg}\n`);
const iso = (ms: number) => new Date(ms).toISOString();
const secs = (ms: number) => (ms / 1000).toFixed(1);

// ---------------------------------------------------------------------------------------------
// Cleanup: every child is stopped on exit, on Ctrl-C / SIGTERM, and by a watchdog if this
// process is killed without running its handlers.

const work = mkdtempSync(join(tmpdir(), "tug-alert-latency-"));
const children = new Set<ChildProcess>();
let watchdog: ChildProcess | undefined;

function killAllSync(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  children.clear();
  if (watchdog?.pid) {
    try {
      process.kill(-watchdog.pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", killAllSync);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    log(`\n${sig}: stopping every child process`);
    process.exit(130);
  });
}

/** Restart the watchdog with the current children's pids. */
function armWatchdog(): void {
  if (watchdog?.pid) {
    try {
      process.kill(-watchdog.pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  const pids = [...children].map((c) => c.pid).filter((p): p is number => p !== undefined);
  watchdog = spawn(
    "/bin/sh",
    [
      "-c",
      'p=$1; shift; d=$1; shift; while kill -0 "$p" 2>/dev/null; do sleep 1; done; kill -KILL "$@" 2>/dev/null; rm -rf "$d"',
      "tug-bench-watchdog",
      String(process.pid),
      work,
      ...pids.map(String),
    ],
    { detached: true, stdio: "ignore" },
  );
  watchdog.on("error", () => undefined);
  watchdog.unref();
}

function startChild(name: string, cmd: string, argv: string[], env?: NodeJS.ProcessEnv, cwd?: string) {
  const out = openSync(join(work, `${name}.log`), "a");
  const child = spawn(cmd, argv, { cwd: cwd ?? work, env: env ?? process.env, stdio: ["ignore", out, out] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  armWatchdog();
  return child;
}

function logTail(name: string, lines = 15): string {
  try {
    return readFileSync(join(work, `${name}.log`), "utf8")
      .trimEnd()
      .split("\n")
      .slice(-lines)
      .join("\n");
  } catch {
    return "(no output)";
  }
}

async function waitReady(name: string, child: ChildProcess, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${name} did not become ready (exit ${child.exitCode}):\n${logTail(name)}`);
    }
    await sleep(100);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await gone;
  clearTimeout(t);
}

// ---------------------------------------------------------------------------------------------
// 1. The two files

interface RuleDef {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface GroupDef {
  name: string;
  interval?: string;
  rules: RuleDef[];
}

function durationToMs(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)/g;
  const unit: Record<string, number> = {
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 604_800_000,
    y: 31_536_000_000,
  };
  let total = 0;
  let matched = "";
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * (unit[m[2] as string] as number);
    matched += m[0];
  }
  if (matched !== s) throw new Error(`cannot parse duration ${JSON.stringify(s)}`);
  return total;
}

function deriveRuleFile(): { yaml: string; group: GroupDef; rule: RuleDef; windowMs: number } {
  const doc = parseYaml(readFileSync(RULES_SOURCE, "utf8")) as { groups: GroupDef[] };
  for (const g of doc.groups) {
    const r = g.rules.find((x) => x.alert === ALERT);
    if (!r) continue;
    const rule: RuleDef = { alert: ALERT, expr: r.expr, for: "0s" };
    if (r.labels) rule.labels = r.labels;
    if (r.annotations) rule.annotations = r.annotations;
    const group: GroupDef = { name: g.name, ...(g.interval ? { interval: g.interval } : {}), rules: [rule] };
    const windows = [...r.expr.matchAll(/\[([0-9a-z.]+)\]/g)].map((m) => durationToMs(m[1] as string));
    if (windows.length === 0) throw new Error(`${ALERT}'s expr has no range selector: ${r.expr}`);
    return { yaml: toYaml({ groups: [group] }), group, rule, windowMs: Math.max(...windows) };
  }
  throw new Error(`no ${ALERT} rule in ${RULES_SOURCE}`);
}

interface RouteDef {
  receiver?: string;
  routes?: RouteDef[];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  [k: string]: unknown;
}

const RECEIVER = "bench-webhook";

function deriveAlertmanagerFile(webhookUrl: string): { yaml: string; route: RouteDef } {
  const doc = parseYaml(readFileSync(AM_SOURCE, "utf8")) as {
    route: RouteDef;
    receivers: unknown[];
    [k: string]: unknown;
  };
  const rewrite = (r: RouteDef) => {
    if (r.receiver !== undefined) r.receiver = RECEIVER;
    for (const child of r.routes ?? []) rewrite(child);
  };
  doc.route.receiver = RECEIVER; // the root route must name one
  rewrite(doc.route);
  doc.receivers = [{ name: RECEIVER, webhook_configs: [{ url: webhookUrl, send_resolved: true }] }];
  return { yaml: toYaml(doc), route: doc.route };
}

// ---------------------------------------------------------------------------------------------
// 2. The recording webhook receiver

/** An alert as webhooks, /api/v1/alerts and /api/v2/alerts show it (the fields read here). */
interface WireAlert {
  status?: string;
  state?: string;
  activeAt?: string;
  labels?: Record<string, string>;
}
interface WebhookBody {
  status?: string;
  alerts?: WireAlert[];
}

interface Received {
  at: number;
  who: "embedded" | "prometheus" | "unknown";
  headers: IncomingHttpHeaders;
  json: WebhookBody | undefined;
}

async function startRecorder(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const at = Date.now();
      let json: WebhookBody | undefined;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        json = undefined;
      }
      const ua = String(req.headers["user-agent"] ?? "");
      const who = ua.startsWith("Alertmanager")
        ? "prometheus"
        : ua.startsWith("TUG-")
          ? "embedded"
          : "unknown";
      received.push({ at, who, headers: req.headers, json });
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const isFiringAlert = (r: Received) =>
  Array.isArray(r.json?.alerts) &&
  r.json.alerts.some((a) => a?.status === "firing" && a?.labels?.alertname === ALERT);

// ---------------------------------------------------------------------------------------------
// 3. Traffic with a request log

interface Req {
  sentAt: number;
  doneAt: number;
  status: number;
  error: boolean;
}

const requests: Req[] = [];
let appBase = "";

/** Every request the bench sends to the app goes through here and into the log. */
async function appFetch(path: string): Promise<Response | undefined> {
  const sentAt = Date.now();
  try {
    const res = await fetch(`${appBase}${path}`);
    const body = await res.arrayBuffer();
    const entry: Req = { sentAt, doneAt: Date.now(), status: res.status, error: res.status >= 500 };
    requests.push(entry);
    return new Response(body, { status: res.status, headers: res.headers });
  } catch {
    // No response: the app counted nothing we could know about; not logged.
    return undefined;
  }
}

const OK_PATH = "/monitoring/health/live";
const FAIL_PATH = `/monitoring/api/v1/query?query=${encodeURIComponent("vector(1)")}&timeout=0.000000001`;

class Traffic {
  private stopped = false;
  private started = 0;
  private sent = 0;
  private switchedAt: number | undefined;
  private sentSinceSwitch = 0;
  private loop: Promise<void> | undefined;
  unexpected = 0;

  start(): void {
    this.started = Date.now();
    this.loop = this.run();
  }

  /** From now on `share` of the requests fail (evenly interleaved). Returns the switch time. */
  switchToErrors(): number {
    this.switchedAt = Date.now();
    return this.switchedAt;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    const inFlight = new Set<Promise<unknown>>();
    while (!this.stopped) {
      const due = Math.floor(((Date.now() - this.started) * RATE) / 1000) + 1;
      while (this.sent < due) {
        this.sent++;
        let fail = false;
        if (this.switchedAt !== undefined) {
          const j = this.sentSinceSwitch++;
          fail = Math.floor((j + 1) * ERROR_SHARE) - Math.floor(j * ERROR_SHARE) === 1;
        }
        const p = appFetch(fail ? FAIL_PATH : OK_PATH).then((res) => {
          if (res && res.status >= 500 !== fail) this.unexpected++;
        });
        inFlight.add(p);
        p.finally(() => inFlight.delete(p));
      }
      await sleep(Math.max(1, Math.min(20, 1000 / RATE / 2)));
    }
    await Promise.all(inFlight);
  }
}

/** 5xx share over (t − W, t] of the logged requests (by response time). */
function shareAt(t: number, windowMs: number): { share: number; total: number; errors: number } {
  let total = 0;
  let errors = 0;
  for (const r of requests) {
    if (r.doneAt > t - windowMs && r.doneAt <= t) {
      total++;
      if (r.error) errors++;
    }
  }
  return { share: total ? errors / total : 0, total, errors };
}

/**
 * The first instant after `from` at which the 5xx share over (t − W, t] exceeds the threshold.
 * The share only changes when a request enters the window (at its doneAt) or leaves it (at
 * doneAt + W), so the first such event time with a share above the threshold is the exact
 * crossing. Sweep: events sorted by time, all events at one instant applied before testing.
 */
function crossingTime(from: number, windowMs: number): number | undefined {
  const events: { t: number; d: number; e: number }[] = [];
  for (const r of requests) {
    events.push({ t: r.doneAt, d: 1, e: r.error ? 1 : 0 });
    events.push({ t: r.doneAt + windowMs, d: -1, e: r.error ? -1 : 0 });
  }
  events.sort((a, b) => a.t - b.t);
  let total = 0;
  let errors = 0;
  for (let i = 0; i < events.length; ) {
    const t = (events[i] as { t: number }).t;
    while (i < events.length && (events[i] as { t: number }).t === t) {
      total += (events[i] as { d: number }).d;
      errors += (events[i] as { e: number }).e;
      i++;
    }
    if (t >= from && total > 0 && errors / total > THRESHOLD) return t;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// 4. Alert state, for progress lines and the breakdown

interface AlertState {
  state: string;
  activeAt?: string;
}

async function alertState(fetcher: () => Promise<Response | undefined>): Promise<AlertState | undefined> {
  try {
    const res = await fetcher();
    if (!res?.ok) return undefined;
    const body = (await res.json()) as { data?: { alerts?: WireAlert[] } };
    const a = body.data?.alerts?.find((x) => x?.labels?.alertname === ALERT);
    return a ? { state: String(a.state), activeAt: a.activeAt } : { state: "inactive" };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Run

async function main(): Promise<void> {
  const rules = deriveRuleFile();
  const recorder = await startRecorder();
  const am = deriveAlertmanagerFile(recorder.url);
  const rulesFile = join(work, "rules.yml");
  const amFile = join(work, "alertmanager.yml");
  writeFileSync(rulesFile, rules.yaml);
  writeFileSync(amFile, am.yaml);
  const windowMs = rules.windowMs;
  const groupIntervalMs = rules.group.interval ? durationToMs(rules.group.interval) : undefined;
  const embeddedEvalMs = groupIntervalMs ?? EMBEDDED_DEFAULT_EVAL_MS;
  const promEvalS = groupIntervalMs !== undefined ? groupIntervalMs / 1000 : PROM_DEFAULT_EVAL_S;
  const groupWait = am.route.group_wait ?? "30s"; // Alertmanager's default
  const criticalRoute = am.route.routes?.find((r) => JSON.stringify(r).includes("critical"));
  const groupWaitCritical = criticalRoute?.group_wait ?? groupWait;

  log("alert latency: embedded notifier vs Prometheus 2.42 + Alertmanager 0.25");
  log(`  work dir ${work}`);
  log(
    `  rule: ${ALERT} from ${relative(process.cwd(), RULES_SOURCE)} with for: 0s, group ${rules.group.name}` +
      ` interval ${rules.group.interval ?? "(none)"}, window ${secs(windowMs)} s`,
  );
  log(`  receivers: every route → ${RECEIVER} (${recorder.url}); group_wait ${groupWaitCritical}`);
  log(
    `  traffic: ${RATE} req/s; warm-up ${WARMUP_S} s of 2xx (${OK_PATH}), then ${(ERROR_SHARE * 100).toFixed(0)} % 503s ` +
      "(PromQL query API with a 1 ns timeout)",
  );

  // (a) the app, with default settings but the two files.
  const appPort = await freePort();
  appBase = `http://127.0.0.1:${appPort}`;
  const appDir = join(work, "app");
  mkdirSync(appDir);
  const appConfig = join(appDir, "tug.yml");
  writeFileSync(
    appConfig,
    toYaml({
      alerts: { ruleFiles: [rulesFile] },
      notifications: { alertmanagerConfig: amFile, stateFile: join(appDir, "notifier.db") },
    }),
  );
  const app = startChild(
    "app",
    process.execPath,
    [join(ROOT, "bin/tug.js"), "serve"],
    {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? appDir,
      PORT: String(appPort),
      HOST: "127.0.0.1",
      DATABASE_URL: `sqlite:${join(appDir, "data", "tug.db")}`,
      LOG_FILE_PATH: join(appDir, "logs", "application.log"),
      MONITORING_CONFIG: appConfig,
    },
    appDir,
  );
  await waitReady("app", app, `${appBase}/monitoring/health/ready`);
  log(`  app (tug serve, pid ${app.pid}) ready at ${appBase}`);

  // (b) Alertmanager and Prometheus, with their defaults.
  const amBin = await ensurePackage("prometheus-alertmanager", "prometheus-alertmanager");
  const promBin = await ensurePackage("prometheus", "prometheus");
  const amPort = await freePort();
  const amUrl = `http://127.0.0.1:${amPort}`;
  const alertmanager = startChild("alertmanager", amBin, [
    `--config.file=${amFile}`,
    `--storage.path=${join(work, "am-data")}`,
    `--web.listen-address=127.0.0.1:${amPort}`,
    "--cluster.listen-address=",
    "--log.level=info",
  ]);
  await waitReady("alertmanager", alertmanager, `${amUrl}/-/ready`);
  log(`  alertmanager (pid ${alertmanager.pid}) ready at ${amUrl}`);

  const promPort = await freePort();
  const promUrl = `http://127.0.0.1:${promPort}`;
  const promConfig = join(work, "prometheus.yml");
  // No `global`: scrape_interval and evaluation_interval keep their defaults (1m).
  writeFileSync(
    promConfig,
    toYaml({
      rule_files: [rulesFile],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
      scrape_configs: [
        {
          job_name: "tug-api",
          metrics_path: "/monitoring/metrics",
          static_configs: [{ targets: [`127.0.0.1:${appPort}`] }],
        },
      ],
    }),
  );
  const prometheus = startChild("prometheus", promBin, [
    `--config.file=${promConfig}`,
    `--storage.tsdb.path=${join(work, "prom-data")}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    "--log.level=info",
  ]);
  await waitReady("prometheus", prometheus, `${promUrl}/-/ready`);
  log(`  prometheus (pid ${prometheus.pid}) ready at ${promUrl}`);

  // What Prometheus really runs with (defaults filled in).
  let promScrapeS = PROM_DEFAULT_SCRAPE_S;
  let promGlobalEvalS = PROM_DEFAULT_EVAL_S;
  try {
    const cfg = (await (await fetch(`${promUrl}/api/v1/status/config`)).json()) as { data: { yaml: string } };
    const parsed = parseYaml(cfg.data.yaml) as {
      global: { scrape_interval: string; evaluation_interval: string };
    };
    promScrapeS = durationToMs(parsed.global.scrape_interval) / 1000;
    promGlobalEvalS = durationToMs(parsed.global.evaluation_interval) / 1000;
  } catch {
    // keep the documented defaults
  }
  try {
    const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: { interval: number }[] };
    };
    const i = r.data.groups[0]?.interval;
    if (typeof i === "number" && i > 0 && Math.abs(i - promEvalS) > 1e-9) {
      log(`  note: Prometheus reports the group interval as ${i} s`);
    }
  } catch {
    // informational only
  }
  log(
    `  intervals: embedded sample ${secs(EMBEDDED_DEFAULT_SCRAPE_MS)} s, eval ${secs(embeddedEvalMs)} s` +
      ` (group interval${groupIntervalMs === undefined ? " unset: alerts.evaluationIntervalMs" : ""});` +
      ` prometheus scrape ${promScrapeS} s, eval ${promEvalS} s (global ${promGlobalEvalS} s)`,
  );

  // Warm-up.
  const traffic = new Traffic();
  traffic.start();
  const warmStart = Date.now();
  const warmupMs = Math.round((WARMUP_S + Math.random() * JITTER_S) * 1000);
  log(`\nwarm-up: ${secs(warmupMs)} s of successful requests (${WARMUP_S} s + random jitter)`);
  while (Date.now() - warmStart < warmupMs) {
    await sleep(Math.min(15_000, Math.max(0, warmupMs - (Date.now() - warmStart))));
    const w = shareAt(Date.now(), windowMs);
    const up = await fetch(`${promUrl}/api/v1/query?query=up`)
      .then((r) => r.json() as Promise<{ data?: { result?: { value?: [number, string] }[] } }>)
      .then((b) => b?.data?.result?.[0]?.value?.[1] ?? "no sample yet")
      .catch(() => "?");
    log(
      `  warm-up ${secs(Date.now() - warmStart).padStart(5)} s: ${requests.length} requests, ` +
        `window 5xx ${(w.share * 100).toFixed(1)} % of ${w.total}, prometheus up=${up}`,
    );
    if (app.exitCode !== null) throw new Error(`the app exited:\n${logTail("app")}`);
  }

  // The switch.
  const switchAt = traffic.switchToErrors();
  // Analytically, at a constant rate: t after the switch the window holds p·t of errors among
  // min(W, warm-up + t) of requests, so the share p·t / W crosses the threshold at t = 0.1·W / p
  // (a warm-up shorter than the window: p·t / (warm-up + t) crosses at t = 0.1·warm-up / (p − 0.1)).
  const warmMs = switchAt - warmStart;
  const shortWarm = (THRESHOLD * warmMs) / (ERROR_SHARE - THRESHOLD);
  const predictedT0 =
    switchAt + (warmMs + shortWarm < windowMs ? shortWarm : (THRESHOLD * windowMs) / ERROR_SHARE);
  log(
    `\nswitch at ${iso(switchAt)}: ${(ERROR_SHARE * 100).toFixed(0)} % of requests now 503;` +
      ` predicted crossing of ${THRESHOLD * 100} % at +${secs(predictedT0 - switchAt)} s`,
  );

  const deadline = switchAt + TIMEOUT_S * 1000;
  let embeddedFirst: Received | undefined;
  let promFirst: Received | undefined;
  let embeddedActiveAt: string | undefined;
  let promActiveAt: string | undefined;
  let amFirstSeen: number | undefined;
  while (Date.now() < deadline && (!embeddedFirst || !promFirst)) {
    await sleep(5_000);
    embeddedFirst ??= recorder.received.find((r) => r.who === "embedded" && isFiringAlert(r));
    promFirst ??= recorder.received.find((r) => r.who === "prometheus" && isFiringAlert(r));
    const [ea, pa, amAlerts] = await Promise.all([
      alertState(() => appFetch("/monitoring/api/v1/alerts")),
      alertState(() => fetch(`${promUrl}/api/v1/alerts`).catch(() => undefined)),
      fetch(`${amUrl}/api/v2/alerts`)
        .then((r) => r.json() as Promise<WireAlert[]>)
        .catch(() => []),
    ]);
    if (ea?.activeAt) embeddedActiveAt ??= ea.activeAt;
    if (pa?.activeAt) promActiveAt ??= pa.activeAt;
    if (amFirstSeen === undefined && amAlerts.some((a) => a?.labels?.alertname === ALERT))
      amFirstSeen = Date.now();
    const w = shareAt(Date.now(), windowMs);
    const rel = (r: Received | undefined) => (r ? `received +${secs(r.at - switchAt)} s` : "waiting");
    log(
      `  +${secs(Date.now() - switchAt).padStart(5)} s: window 5xx ${(w.share * 100).toFixed(1).padStart(5)} %` +
        ` | embedded rule ${ea?.state ?? "?"}, webhook ${rel(embeddedFirst)}` +
        ` | prometheus rule ${pa?.state ?? "?"}, alertmanager ${amFirstSeen ? "has it" : "empty"}, webhook ${rel(promFirst)}`,
    );
    if (app.exitCode !== null) throw new Error(`the app exited:\n${logTail("app")}`);
    if (prometheus.exitCode !== null) throw new Error(`prometheus exited:\n${logTail("prometheus")}`);
    if (alertmanager.exitCode !== null) throw new Error(`alertmanager exited:\n${logTail("alertmanager")}`);
  }
  await traffic.stop();

  const t0 = crossingTime(switchAt, windowMs);
  const okBefore = requests.filter((r) => r.doneAt < switchAt);
  const badBefore = okBefore.filter((r) => r.status >= 400).length;
  log(
    `\n${requests.length} requests logged (${okBefore.length} before the switch, ${badBefore} of them not 2xx);` +
      ` ${traffic.unexpected} answered other than planned`,
  );
  if (t0 === undefined) throw new Error("the logged 5xx share never crossed the threshold");

  // ---------------------------------------------------------------------------------------------
  // Results

  const latA = embeddedFirst ? (embeddedFirst.at - t0) / 1000 : undefined;
  const latB = promFirst ? (promFirst.at - t0) / 1000 : undefined;
  const evalS = embeddedEvalMs / 1000;
  const ratioEval = latA !== undefined ? latA / evalS : undefined;
  const ratioAB = latA !== undefined && latB !== undefined ? latA / latB : undefined;
  const fmt = (v: number | undefined, d = 1) => (v === undefined ? "timed out" : v.toFixed(d));
  const since = (s: string | undefined) => (s ? `${secs(Date.parse(s) - t0)} s` : "?");

  const rows: [string, string][] = [
    ["switch to errors", `${iso(switchAt)}`],
    [
      "T0 (5xx share over 5m window > 10 %)",
      `${iso(t0)}  (switch + ${secs(t0 - switchAt)} s; predicted + ${secs(predictedT0 - switchAt)} s)`,
    ],
    ["(a) embedded: T0 → webhook", `${fmt(latA)} s   (rule active at T0 + ${since(embeddedActiveAt)})`],
    [
      "(b) Prometheus + Alertmanager: T0 → webhook",
      `${fmt(latB)} s   (rule active at T0 + ${since(promActiveAt)})`,
    ],
    [
      "evaluation interval in force (a)",
      `${evalS} s (group interval ${rules.group.interval ?? "unset"}); tsdb sample ${secs(EMBEDDED_DEFAULT_SCRAPE_MS)} s`,
    ],
    [
      "evaluation interval in force (b)",
      `${promEvalS} s (group interval; global ${promGlobalEvalS} s); scrape ${promScrapeS} s`,
    ],
    ["group_wait (both)", `${groupWaitCritical}`],
    [
      `(a) / evaluation interval  (target ≤ ${TARGET_EVAL_MULTIPLE})`,
      ratioEval === undefined
        ? "n/a"
        : `${ratioEval.toFixed(2)}  ${ratioEval <= TARGET_EVAL_MULTIPLE ? "PASS" : "FAIL"}`,
    ],
    ["(a) / (b)", fmt(ratioAB, 2)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  log("");
  for (const [k, v] of rows) log(`${k.padEnd(width)}  ${v}`);

  const result = {
    date: new Date().toISOString(),
    options: { rate: RATE, warmupS: WARMUP_S, jitterS: JITTER_S, errorShare: ERROR_SHARE },
    warmupS: warmupMs / 1000,
    rule: {
      group: rules.group.name,
      interval: rules.group.interval ?? null,
      expr: rules.rule.expr,
      windowS: windowMs / 1000,
    },
    groupWait: groupWaitCritical,
    intervals: {
      embedded: { evaluationS: evalS, sampleS: EMBEDDED_DEFAULT_SCRAPE_MS / 1000 },
      prometheus: { evaluationS: promEvalS, globalEvaluationS: promGlobalEvalS, scrapeS: promScrapeS },
    },
    switchAt: iso(switchAt),
    t0: iso(t0),
    t0AfterSwitchS: (t0 - switchAt) / 1000,
    embedded: { latencyS: latA ?? null, ruleActiveAt: embeddedActiveAt ?? null },
    prometheus: { latencyS: latB ?? null, ruleActiveAt: promActiveAt ?? null },
    ratioToEvaluationInterval: ratioEval ?? null,
    target: `(a) <= ${TARGET_EVAL_MULTIPLE} x evaluation interval`,
    pass: ratioEval !== undefined && ratioEval <= TARGET_EVAL_MULTIPLE,
    ratioEmbeddedToPrometheus: ratioAB ?? null,
    requests: requests.length,
    notifications: recorder.received.map((r) => ({
      who: r.who,
      atS: (r.at - t0) / 1000,
      status: r.json?.status,
      alerts: (r.json?.alerts ?? []).map((a) => `${a?.labels?.alertname}:${a?.status}`),
      userAgent: r.headers["user-agent"] ?? null,
      body: r.json ?? null,
    })),
  };
  mkdirSync(dirname(resolve(args.out as string)), { recursive: true });
  writeFileSync(resolve(args.out as string), `${JSON.stringify(result, null, 2)}\n`);
  log(`\nresults: ${relative(process.cwd(), resolve(args.out as string))}`);

  await Promise.all([stopChild(app), stopChild(prometheus), stopChild(alertmanager)]);
  await recorder.close();
  if (!embeddedFirst || !promFirst) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    log(`\nerror: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
