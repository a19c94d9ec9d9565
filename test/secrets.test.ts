import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, expect, it } from "vitest";
import { startChildApp } from "./support/child.js";
import { freePort, startPostgres } from "./support/services.js";

const ROOT = new URL("..", import.meta.url).pathname;
const rnd = () => randomBytes(9).toString("hex");
let pg: Awaited<ReturnType<typeof startPostgres>> | undefined;
afterAll(async () => {
  await pg?.stop();
});

it("secrets planted in headers, bodies, query strings, environment and configuration appear in no log and no monitoring output", async () => {
  pg = await startPostgres();
  const closedPort = await freePort();
  const s = {
    monitoringToken: `montok-${rnd()}`,
    smtpPassword: `smtppw-${rnd()}`,
    slackPath: `T0SECRET/B0SECRET/${rnd()}`,
    dbPassword: `dbpw-${rnd()}`,
    targetPassword: `targetpw-${rnd()}`,
    userPassword: `userpw-${rnd()}`,
    wrongPassword: `wrongpw-${rnd()}`,
    cookie: `cookie-${rnd()}`,
    apiKey: `apikey-${rnd()}`,
    queryToken: `qtok-${rnd()}`,
    queryKey: `qkey-${rnd()}`,
    queryPassword: `qpw-${rnd()}`,
    jsonPassword: `jsonpw-${rnd()}`,
    sessionToken: "", // filled after login
  };
  const dbUrl = pg.url.replace("postgres://postgres@", `postgres://postgres:${s.dbPassword}@`);
  const env = {
    ENVIRONMENT: "production",
    MONITORING_TOKEN: s.monitoringToken,
    SMTP_HOST: "127.0.0.1",
    SMTP_PORT: String(closedPort),
    SMTP_USERNAME: "alerts",
    SMTP_PASSWORD: s.smtpPassword,
    SLACK_WEBHOOK_URL: `https://hooks.slack.com/services/${s.slackPath}`,
    DATABASE_URL: dbUrl,
    LOG_LEVEL: "debug",
  };
  const yaml = [
    "monitoring:",
    "  debugInfo: true",
    "health:",
    "  targets:",
    `    - { name: partner, url: "http://partner:${s.targetPassword}@127.0.0.1:${closedPort}/health" }`,
  ].join("\n");
  const app = await startChildApp(env, yaml);
  const outputs: string[] = [];
  const json = { "content-type": "application/json" };
  const call = (path: string, init: RequestInit = {}) => fetch(`${app.base}${path}`, init);

  await call("/api/v1/auth/register", {
    method: "POST",
    headers: json,
    body: JSON.stringify({ email: "s@example.com", password: s.userPassword }),
  });
  const login = await call("/api/v1/auth/login", {
    method: "POST",
    headers: json,
    body: JSON.stringify({ email: "s@example.com", password: s.userPassword }),
  });
  s.sessionToken = ((await login.json()) as { token: string }).token;
  await call("/api/v1/auth/login", {
    method: "POST",
    headers: json,
    body: JSON.stringify({ email: "s@example.com", password: s.wrongPassword }),
  });
  const auth = {
    authorization: `Bearer ${s.sessionToken}`,
    cookie: `session=${s.cookie}`,
    "x-api-key": s.apiKey,
  };
  await call(`/api/v1/activities?token=${s.queryToken}&api_key=${s.queryKey}&limit=5`, { headers: auth });
  await call(`/api/v1/users/me?password=${s.queryPassword}`, { headers: auth });
  await call(`/no/such/route?access_token=${s.queryToken}`, { headers: auth });
  await call("/api/v1/auth/login", {
    method: "POST",
    headers: json,
    body: `{"email":"s@example.com","password":"${s.jsonPassword}"`,
  });
  await call("/api/v1/activities", {
    method: "POST",
    headers: { ...json, ...auth },
    body: JSON.stringify({ type: "run", title: "t", token: s.queryToken }),
  });
  // A wrong monitoring token and a right one.
  await call("/monitoring/metrics", { headers: { authorization: `Bearer ${s.apiKey}` } });
  const mon = { authorization: `Bearer ${s.monitoringToken}` };
  for (const path of [
    "/monitoring/health",
    "/monitoring/health/live",
    "/monitoring/health/ready",
    "/monitoring/status",
    "/monitoring/debug/info",
    "/monitoring/metrics",
    "/monitoring/metrics/json",
  ]) {
    const r = await call(path, { headers: mon });
    expect(r.status, path).toBeLessThan(600);
    outputs.push(`${path}: ${await r.text()}`);
  }
  // The database goes away and comes back: its errors get logged too.
  await pg.pause();
  await call("/api/v1/users/me", { headers: auth });
  outputs.push(await (await call("/monitoring/health", { headers: mon })).text());
  await pg.resume();

  const check = spawnSync(process.execPath, [join(ROOT, "bin/tug.js"), "config", "check"], {
    env: { PATH: process.env.PATH ?? "", ...env, MONITORING_CONFIG: join(app.dir, "tug.yml") },
    encoding: "utf8",
  });
  expect(check.status).toBe(0);
  outputs.push(check.stdout, check.stderr);

  app.child.kill("SIGTERM");
  expect(await app.exited).toBe(0);
  outputs.push(app.stdout(), app.stderr());
  const logDir = join(app.dir, "logs");
  let logText = "";
  for (const f of readdirSync(logDir)) {
    const raw = readFileSync(join(logDir, f));
    logText += f.endsWith(".gz") ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
  }
  outputs.push(logText);
  // The scan is worth something only if the secrets' surroundings were written at all.
  expect(logText).toContain('"event":"access"');
  expect(logText).toContain("/api/v1/activities?token=[REDACTED]&api_key=[REDACTED]&limit=5");
  expect(app.stdout()).toContain("TUG API ready");
  const everything = outputs.join("\n");
  expect(everything).toContain("partner:connectivity");
  for (const [name, value] of Object.entries(s)) {
    expect(value.length, name).toBeGreaterThan(8);
    const at = everything.indexOf(value);
    expect(at < 0, `${name} leaked: ...${everything.slice(Math.max(0, at - 200), at + 50)}`).toBe(true);
  }
  expect(everything).not.toContain("hooks.slack.com/services/T0SECRET");
}, 180_000);
