// The start-up summary `tug serve` shows once the app is ready (not when the socket opens):
// version, mode, where the data and logs are, the URLs that matter, and what is not configured
// yet with how to configure it. A block of text for a person at a terminal; the same fields on the
// "TUG API ready" JSON line otherwise.

import { resolve } from "node:path";
import type { App } from "../app/context.js";
import { tsdbFolder } from "../app/paths.js";
import type { Config } from "../core/config/index.js";

export interface StartupSummary {
  version: string;
  environment: string;
  mode: string;
  database: string;
  logFile: string;
  store: string;
  urls: Record<string, string>;
  notConfigured: string[];
}

/** Where the database is, without credentials. */
function databaseText(url: string, dialect: string): string {
  if (url.startsWith("sqlite:"))
    return `SQLite ${url === "sqlite::memory:" ? "in memory" : resolve(url.slice(7))}`;
  try {
    const u = new URL(url);
    return `${dialect === "postgres" ? "PostgreSQL" : dialect} ${u.host}${u.pathname}`;
  } catch {
    return dialect; // validated at load; never echo a URL that may hold a password
  }
}

export function startupSummary(app: App, config: Config, address: string): StartupSummary {
  const monitoring = app.metrics !== undefined;
  const notConfigured: string[] = [];
  if (!config.monitoring.token)
    notConfigured.push(
      "MONITORING_TOKEN: /monitoring/* is open (allowed in development only); set it, e.g. $(openssl rand -hex 32), before production",
    );
  if (!config.notifications.webhookSigningSecret && app.notifier)
    notConfigured.push(
      "WEBHOOK_SIGNING_SECRET: webhooks and rollback requests go out unsigned; set it to sign them",
    );
  if (!config.redis.url)
    notConfigured.push("REDIS_URL: sessions are kept in the database (fine for one instance)");
  notConfigured.push(...app.notes());
  const store = tsdbFolder(config);
  // Every URL listed answers a GET (the API's own routes are in docs/api.md).
  const urls: Record<string, string> = { home: `${address}/` };
  if (monitoring) {
    urls.dashboard = `${address}/monitoring/`;
    urls.health = `${address}/monitoring/health`;
    urls.metrics = `${address}/monitoring/metrics`;
    urls.prometheusApi = `${address}/monitoring/api/v1/query?query=up`;
    urls.deployments = `${address}/monitoring/deployments`;
  }
  urls.liveness = `${address}/monitoring/health/live`;
  urls.readiness = `${address}/monitoring/health/ready`;
  return {
    version: app.service.releaseId,
    environment: config.environment,
    mode: !monitoring
      ? "no monitoring"
      : app.notifier
        ? "embedded (rules, alerting and the store in this process)"
        : "stack (notifications by Alertmanager)",
    database: databaseText(config.database.url, app.db.dialect),
    logFile: resolve(config.log.filePath),
    store: store ? resolve(store) : "in memory",
    urls,
    notConfigured,
  };
}

/** The summary as a block of text for a terminal. */
export function summaryText(s: StartupSummary): string {
  const width = Math.max(...Object.keys(s.urls).map((k) => k.length));
  const lines = [
    "",
    `  TUG API ${s.version} is ready — ${s.environment}, ${s.mode}`,
    "",
    ...Object.entries(s.urls).map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    "",
    `  database   ${s.database}`,
    `  logs       ${s.logFile}`,
    `  store      ${s.store}`,
  ];
  if (s.notConfigured.length > 0) {
    lines.push("", "  Not configured yet:");
    for (const n of s.notConfigured) lines.push(`    - ${n}`);
  }
  lines.push("", "  Ctrl-C stops it gracefully. Docs: README.md and docs/ in the repository.", "");
  return `${lines.join("\n")}\n`;
}
