// `tug deploy watch`: the deployment monitor as a CI/CD gate. It runs the same monitor as
// POST /monitoring/deployments (src/deploy/monitor.ts) from the pipeline's machine: health from
// --health-url, metrics from the app's own query API (--metrics-url, default the health URL's
// app) or a Prometheus (--prometheus), the rollback request to --rollback-url, and the outcome
// told to the team through the app's alert intake or an Alertmanager (--alertmanager-url).
//
// Exit codes: 0 succeeded; 1 failed, rolled back, rollback failed, inconclusive or interrupted;
// 2 could not run (bad arguments, unreachable target). Progress: one line rewritten in place on
// a terminal, plain lines otherwise (CI logs); --json prints the report as JSON on stdout.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { alertsEndpoint, postJson } from "../alerts/channels/index.js";
import type { PostableAlert } from "../alerts/wire.js";
import { TugError } from "../core/errors.js";
import { type DeploymentConfig, normaliseKeys } from "../deploy/config.js";
import { DeploymentMonitor, type DeploymentView } from "../deploy/monitor.js";
import { promqlSources } from "../deploy/source.js";
import { DeploymentStore } from "../deploy/store.js";

const USAGE = `usage: tug deploy watch --version V --health-url URL [--rollback-url URL] [--max-error-rate 5]
         [--duration 15m] [--interval 60s] [--metrics-url URL | --prometheus URL]
         [--baseline-metrics-url URL] [--baseline-window 30m] [--token T] [--environment E] [--id ID]
         [--health-failures-allowed N] [--min-requests N] [--on-inconclusive fail|pass|hold]
         [--selector 'k="v"'] [--alertmanager-url URL] [--config FILE] [--state FILE] [--json]
  --config FILE   a JSON or YAML DeploymentConfig (camelCase or the seed's snake_case); flags win
  exit 0 succeeded, 1 failed / rolled back / inconclusive, 2 could not run
`;

const OPTIONS = {
  version: { type: "string" },
  "health-url": { type: "string" },
  "rollback-url": { type: "string" },
  "no-auto-rollback": { type: "boolean" },
  "max-error-rate": { type: "string" },
  duration: { type: "string" },
  interval: { type: "string" },
  "metrics-url": { type: "string" },
  prometheus: { type: "string" },
  "baseline-metrics-url": { type: "string" },
  "baseline-window": { type: "string" },
  "baseline-concurrent": { type: "boolean" },
  token: { type: "string" },
  environment: { type: "string" },
  id: { type: "string" },
  "health-failures-allowed": { type: "string" },
  "min-requests": { type: "string" },
  "on-inconclusive": { type: "string" },
  selector: { type: "string" },
  "baseline-selector": { type: "string" },
  "alertmanager-url": { type: "string" },
  "signing-secret": { type: "string" },
  config: { type: "string" },
  state: { type: "string" },
  json: { type: "boolean" },
} as const;

class UsageError extends Error {}

/** "15m", "90s", "1h", "1.5m", or a bare number of `unit`s. */
export function parseDuration(flag: string, s: string, unit: "s" | "m"): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new UsageError(`--${flag} ${s}: write a positive duration such as 90s, 15m or 1h`);
  const n = Number(m[1]);
  const seconds = { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[(m[2] ?? unit) as "ms" | "s" | "m" | "h"];
  if (!(seconds > 0)) throw new UsageError(`--${flag} ${s}: must be more than zero`);
  return unit === "s" ? seconds : seconds / 60;
}

function num(flag: string, s: string): number {
  if (!/^-?\d+(\.\d+)?$/.test(s)) throw new UsageError(`--${flag} ${s}: not a number`);
  return Number(s);
}

type Values = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string;
};

/** The DeploymentConfig input the flags (and --config) describe. */
function configInput(v: Values): Record<string, unknown> {
  const fromFile = v.config
    ? (normaliseKeys(parseYaml(readFileSync(v.config, "utf8"))) as Record<string, unknown>)
    : {};
  if (fromFile === null || typeof fromFile !== "object" || Array.isArray(fromFile))
    throw new UsageError(`--config ${v.config}: expected a mapping of DeploymentConfig fields`);
  const c: Record<string, unknown> = { ...fromFile };
  const set = (k: string, x: unknown) => {
    if (x !== undefined) c[k] = x;
  };
  set("version", v.version);
  set("healthCheckUrl", v["health-url"]);
  set("rollbackUrl", v["rollback-url"]);
  if (v["rollback-url"] !== undefined || c.rollbackUrl !== undefined)
    c.autoRollbackEnabled = v["no-auto-rollback"] ? false : (c.autoRollbackEnabled ?? true);
  set(
    "maxErrorRatePercent",
    v["max-error-rate"] === undefined ? undefined : num("max-error-rate", v["max-error-rate"]),
  );
  set(
    "monitoringDurationMinutes",
    v.duration === undefined ? undefined : parseDuration("duration", v.duration, "m"),
  );
  set(
    "checkIntervalSeconds",
    v.interval === undefined ? undefined : parseDuration("interval", v.interval, "s"),
  );
  set("metricsUrl", v["metrics-url"]);
  set("prometheusUrl", v.prometheus);
  set("baselineMetricsUrl", v["baseline-metrics-url"]);
  set(
    "baselineWindowMinutes",
    v["baseline-window"] === undefined
      ? undefined
      : parseDuration("baseline-window", v["baseline-window"], "m"),
  );
  set("baselineConcurrent", v["baseline-concurrent"]);
  set("metricsToken", v.token ?? process.env.MONITORING_TOKEN);
  set("environment", v.environment);
  set("deploymentId", v.id);
  set(
    "healthFailuresAllowed",
    v["health-failures-allowed"] === undefined
      ? undefined
      : num("health-failures-allowed", v["health-failures-allowed"]),
  );
  set("minRequests", v["min-requests"] === undefined ? undefined : num("min-requests", v["min-requests"]));
  set("onInconclusive", v["on-inconclusive"]);
  set("selector", v.selector);
  set("baselineSelector", v["baseline-selector"]);
  return c;
}

/** Where the outcome goes: --alertmanager-url, else the watched app's own intake (embedded mode). */
function teller(v: Values, token: string | undefined, err: (s: string) => void) {
  return (c: DeploymentConfig) => async (alert: PostableAlert) => {
    const base =
      v["alertmanager-url"] ??
      (c.prometheusUrl || c.metricsUrl ? undefined : new URL("/monitoring", c.healthCheckUrl).href);
    if (!base) {
      err(`tug: no --alertmanager-url: the outcome (${alert.labels.alertname}) was not sent to the team\n`);
      return;
    }
    const res = await postJson(
      "alertmanager",
      alertsEndpoint(base),
      JSON.stringify([alert]),
      token ? { authorization: `Bearer ${token}` } : {},
      AbortSignal.timeout(15_000),
      10_000,
    );
    const ok = res.kind === "response" && res.status >= 200 && res.status < 300;
    if (!ok)
      err(
        `tug: telling the team failed: ${res.kind === "failed" ? res.result.error : `HTTP ${res.status} ${res.body.slice(0, 200)}`}\n`,
      );
  };
}

function progressLine(d: DeploymentView, now: number): string {
  const elapsed = Math.max(0, Math.round((now - d.startedAt) / 1000));
  const total = Math.round((d.endsAt - d.startedAt) / 1000);
  const mmss = (s: number) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  const last = d.looks[d.looks.length - 1];
  const health = last ? (last.health.ok ? "health ok" : `health FAIL (${last.health.reason})`) : "waiting";
  const verdict = d.verdict ? ` · ${d.verdict.outcome}: ${d.verdict.reason}` : "";
  return `[${mmss(Math.min(elapsed, total))}/${mmss(total)}] ${d.phase} · ${health}${verdict}`;
}

const EXIT: Record<string, number> = { succeeded: 0 };

/** Returns the exit code (see the header). */
export async function deployCommand(
  argv: string[],
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "watch") {
    err(USAGE);
    return 2;
  }
  let v: Values;
  let input: Record<string, unknown>;
  try {
    v = parseArgs({ args: rest, options: OPTIONS, strict: true, allowPositionals: false }).values as Values;
    input = configInput(v);
  } catch (e) {
    err(`tug: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const token = (input.metricsToken as string | undefined) ?? undefined;
  const store = new DeploymentStore(v.state ?? ":memory:");
  const tell = teller(v, token, err);
  let current: DeploymentConfig | undefined;
  const tty = Boolean(process.stderr.isTTY) && !process.env.CI;
  const monitor = new DeploymentMonitor({
    store,
    sources: (c) => {
      current = c;
      return promqlSources(c, { timeoutMs: 10_000 });
    },
    notify: (alert) => (current ? tell(current)(alert) : undefined),
    defaultEnvironment: process.env.ENVIRONMENT ?? "production",
    service: process.env.SERVICE_NAME ?? "tug-api",
    ...((v["signing-secret"] ?? process.env.WEBHOOK_SIGNING_SECRET)
      ? { signingSecret: (v["signing-secret"] ?? process.env.WEBHOOK_SIGNING_SECRET) as string }
      : {}),
    ...(token ? { token } : {}),
    ...(token ? { token } : {}),
    log: () => {},
  });
  let id: string;
  try {
    id = await monitor.startDeploymentMonitoring(input);
  } catch (e) {
    store.close();
    if (e instanceof TugError) {
      const details = (e.details ?? []).map((d) => `  ${d.field}: ${d.message}`).join("\n");
      err(`tug: ${e.message}${details ? `\n${details}` : ""}\n`);
      return 2;
    }
    throw e;
  }
  const view = await follow(monitor, id, tty, err);
  await monitor.stop();
  store.close();
  if (v.json) out(`${JSON.stringify(view, null, 2)}\n`);
  else out(`${view.id}: ${view.outcome ?? view.phase} — ${view.reason ?? ""}\n`);
  return EXIT[view.outcome ?? ""] ?? 1;
}

/** Waits for the end, showing progress: each transition on its own line; the look in place on a terminal. */
async function follow(monitor: DeploymentMonitor, id: string, tty: boolean, err: (s: string) => void) {
  let shown = 0;
  let looks = 0;
  for (;;) {
    const d = monitor.get(id) as DeploymentView;
    const fresh = d.transitions.slice(shown);
    if (tty && fresh.length > 0) err("\r\x1b[2K");
    for (const t of fresh) err(`${new Date(t.at).toISOString()} ${t.from ?? "-"} → ${t.to}: ${t.reason}\n`);
    shown = d.transitions.length;
    if (d.looks.length !== looks || fresh.length > 0) {
      looks = d.looks.length;
      if (tty) err(`\r\x1b[2K${progressLine(d, Date.now())}`);
      else if (fresh.length === 0) err(`${progressLine(d, Date.now())}\n`);
    }
    if (d.outcome !== null) {
      if (tty) err("\r\x1b[2K");
      return d;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
