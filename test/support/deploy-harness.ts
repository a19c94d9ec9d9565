/**
 * The deployment end-to-end harness (issue 14, "Must show"), all real and all on 127.0.0.1:
 *
 * - two TUG API processes (`tug serve`, test/support/child.ts): "current" and "new", the new one
 *   made bad by fault injection (docs/fault-injection.md); both in staging with a monitoring
 *   token, a short scrape interval, and notifications routed to a recorder through their own
 *   alertmanager.yml;
 * - a switch: a reverse proxy that sends every request to one target, `switchTo(name)`, counting
 *   requests per target; it stands in for the shared session store too (each process has its own
 *   database, so the switch puts the target's user token on API requests that carry none);
 * - a load generator: a steady rate of ordinary API requests through the switch, recording the
 *   status and latency of each per target;
 * - a CI/CD server: `POST /rollback` verifies the monitor's HMAC signature, records each request,
 *   switches traffic back to "current" and answers 200; it can be put down for a while (503s or
 *   refused connections) to show the monitor's retries.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Recorder, startRecorder } from "./alertmanager.js";
import { type ChildApp, startChildApp } from "./child.js";

export const MONITORING_TOKEN = "deploy-harness-monitoring-token-0123456789";
export const SIGNING_SECRET = "deploy-harness-signing-secret-0123456789";
const USER = { email: "load@example.com", password: "load-generator-pw" };

// ---------------------------------------------------------------------------------------------
// The TUG processes

export interface Faults {
  errorPercent?: number;
  latencyMs?: number;
  healthFail?: boolean;
}

export interface TugProcess {
  name: string;
  base: string;
  app: ChildApp;
  /** A logged-in user's bearer token on this process (its own database). */
  userToken: string;
  /** GET/POST on this process with the monitoring token; JSON in and out. */
  monitoring(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** SIGTERM, then SIGKILL if it has not exited within 20 s; its temporary folders removed. */
  stop(): Promise<void>;
}

/**
 * An alertmanager.yml sending every alert to one webhook, with short waits; the deployment
 * monitor's alerts (DeploymentFailed, DeploymentRolledBack, DeploymentInconclusive) grouped per
 * deployment.
 */
export function alertmanagerYaml(webhookUrl: string): string {
  return [
    "route:",
    "  receiver: team",
    '  group_by: ["alertname", "service"]',
    "  group_wait: 1s",
    "  group_interval: 2s",
    "  repeat_interval: 4h",
    "  routes:",
    "    # One message per deployment outcome: its own group, so another deployment's alert",
    "    # joining later does not send it again.",
    "    - matchers: ['alertname=~\"Deployment.*\"']",
    '      group_by: ["alertname", "service", "deployment_id"]',
    "receivers:",
    "  - name: team",
    "    webhook_configs:",
    `      - url: ${JSON.stringify(webhookUrl)}`,
    "        send_resolved: false",
    "",
  ].join("\n");
}

export interface TugOptions {
  name: string;
  /** Where the notifier's webhook goes (a recorder). */
  notifyUrl: string;
  faults?: Faults;
  scrapeIntervalMs?: number;
  releaseId?: string;
  env?: Record<string, string>;
  yaml?: string;
}

function faultEnv(f: Faults = {}): Record<string, string> {
  const env: Record<string, string> = {};
  if (f.errorPercent !== undefined) env.TUG_FAULT_ERROR_PERCENT = String(f.errorPercent);
  if (f.latencyMs !== undefined) env.TUG_FAULT_LATENCY_MS = String(f.latencyMs);
  if (f.healthFail !== undefined) env.TUG_FAULT_HEALTH_FAIL = String(f.healthFail);
  return env;
}

async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text; // not JSON: the caller sees the text
  }
}

/**
 * Register and log in the load generator's user. The new process may fail a share of API
 * requests on purpose (never two in a row below 50 %), so each step is retried a few times.
 */
async function loginUser(base: string): Promise<string> {
  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  let last = "";
  for (let i = 0; i < 20; i++) {
    const r = await post("/api/v1/auth/register", USER);
    if (r.status === 201 || r.status === 409) {
      await r.arrayBuffer();
      break;
    }
    last = `register ${r.status} ${await r.text()}`;
  }
  for (let i = 0; i < 20; i++) {
    const r = await post("/api/v1/auth/login", USER);
    const b = await json(r);
    if (r.status === 200 && typeof b?.token === "string") return b.token;
    last = `login ${r.status} ${JSON.stringify(b)}`;
  }
  throw new Error(`${base}: could not log the load generator's user in: ${last}`);
}

export async function startTug(o: TugOptions): Promise<TugProcess> {
  const dir = mkdtempSync(join(tmpdir(), `tug-deploy-${o.name}-`));
  const am = join(dir, "alertmanager.yml");
  writeFileSync(am, alertmanagerYaml(o.notifyUrl));
  const yaml = [
    "log:",
    "  stdout: false",
    "shutdown:",
    "  drainDelayMs: 0",
    "tsdb:",
    `  scrapeIntervalMs: ${o.scrapeIntervalMs ?? 1000}`,
    "notifications:",
    `  alertmanagerConfig: ${JSON.stringify(am)}`,
    ...(o.releaseId ? ["service:", `  releaseId: ${JSON.stringify(o.releaseId)}`] : []),
    o.yaml ?? "",
  ].join("\n");
  let app: ChildApp;
  try {
    app = await startChildApp(
      {
        ENVIRONMENT: "staging",
        MONITORING_TOKEN,
        WEBHOOK_SIGNING_SECRET: SIGNING_SECRET,
        ...faultEnv(o.faults),
        ...o.env,
      },
      yaml,
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const stop = async () => {
    if (app.child.exitCode === null && app.child.signalCode === null) {
      app.child.kill("SIGTERM");
      const timer = setTimeout(() => app.child.kill("SIGKILL"), 20_000);
      await app.exited;
      clearTimeout(timer);
    }
    // Its database, store and logs: set KEEP_DEPLOY_HARNESS_DIRS=1 to read them afterwards.
    if (!process.env.KEEP_DEPLOY_HARNESS_DIRS) {
      rmSync(app.dir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  };
  let userToken: string;
  try {
    userToken = await loginUser(app.base);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: o.name,
    base: app.base,
    app,
    userToken,
    async monitoring(method, path, body) {
      const headers: Record<string, string> = { authorization: `Bearer ${MONITORING_TOKEN}` };
      if (body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(`${app.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await json(res) };
    },
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// The switch

export interface SwitchTarget {
  base: string;
  /** Put on /api/* requests that carry no Authorization header. */
  token?: string;
}

export interface Switch {
  url: string;
  current(): string;
  switchTo(name: string): void;
  /** Another target to switch to (a new version started later). */
  addTarget(name: string, target: SwitchTarget): void;
  /** Requests forwarded to each target (answered or not). */
  counts: Record<string, number>;
  /** Every switch, in order. */
  history: Array<{ at: number; from: string; to: string }>;
  close(): Promise<void>;
}

/** The response header naming the target that answered. */
export const TARGET_HEADER = "x-harness-target";

export async function startSwitch(given: Record<string, SwitchTarget>, initial: string): Promise<Switch> {
  const targets = { ...given };
  if (!targets[initial]) throw new Error(`switch: no target named ${initial}`);
  let current = initial;
  const counts: Record<string, number> = Object.fromEntries(Object.keys(targets).map((k) => [k, 0]));
  const history: Switch["history"] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const name = current;
    const target = targets[name] as SwitchTarget;
    counts[name] = (counts[name] ?? 0) + 1;
    const url = new URL(target.base);
    const headers: IncomingHttpHeaders = { ...req.headers, host: url.host };
    if (target.token && !headers.authorization && (req.url ?? "").startsWith("/api/")) {
      headers.authorization = `Bearer ${target.token}`;
    }
    const upstream = request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, { ...up.headers, [TARGET_HEADER]: name });
        up.pipe(res);
      },
    );
    upstream.on("error", (err) => {
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      res
        .writeHead(502, { "content-type": "text/plain", [TARGET_HEADER]: name })
        .end(`switch: ${name} did not answer: ${err.message}`);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    current: () => current,
    switchTo(name) {
      if (!targets[name]) throw new Error(`switch: no target named ${name}`);
      if (name !== current) history.push({ at: Date.now(), from: current, to: name });
      current = name;
    },
    addTarget(name, target) {
      if (targets[name]) throw new Error(`switch: a target named ${name} exists already`);
      targets[name] = target;
      counts[name] = 0;
    },
    counts,
    history,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// The load generator

export interface Sample {
  /** When the request was sent (epoch ms). */
  at: number;
  /** The target that answered (the switch's header), or "none" when nothing answered. */
  target: string;
  /** HTTP status, or 0 for a network error. */
  status: number;
  ms: number;
}

export interface LoadStats {
  requests: number;
  byStatus: Record<string, number>;
  errors5xx: number;
  p50Ms: number;
  p95Ms: number;
}

export interface LoadGenerator {
  samples: Sample[];
  /** Requests not sent because `maxInFlight` were already waiting. */
  skipped: number;
  stats(filter?: { target?: string; since?: number; until?: number }): LoadStats;
  /** Stop sending; resolves when every request in flight has been answered. */
  stop(): Promise<void>;
}

/** The API requests the load generator cycles through (GETs a logged-in client makes). */
export const LOAD_PATHS = [
  "/api/v1/users/me",
  "/api/v1/activities?limit=10",
  "/api/v1/activities?limit=5&offset=0",
];

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export function summarize(samples: Sample[]): LoadStats {
  const byStatus: Record<string, number> = {};
  for (const s of samples) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  return {
    requests: samples.length,
    byStatus,
    errors5xx: samples.filter((s) => s.status >= 500).length,
    p50Ms: percentile(ms, 0.5),
    p95Ms: percentile(ms, 0.95),
  };
}

/**
 * A steady `ratePerSecond` of requests to `url` (the switch): the schedule is kept against the
 * clock (a late tick sends what is due), with at most `maxInFlight` waiting at once.
 */
export function startLoad(o: {
  url: string;
  ratePerSecond: number;
  paths?: string[];
  maxInFlight?: number;
  timeoutMs?: number;
}): LoadGenerator {
  if (!(o.ratePerSecond > 0)) throw new Error(`load: ratePerSecond must be above 0, got ${o.ratePerSecond}`);
  const paths = o.paths ?? LOAD_PATHS;
  const maxInFlight = o.maxInFlight ?? 200;
  const samples: Sample[] = [];
  const inFlight = new Set<Promise<void>>();
  const started = Date.now();
  let sent = 0;
  const gen: LoadGenerator = {
    samples,
    skipped: 0,
    stats(f = {}) {
      return summarize(
        samples.filter(
          (s) =>
            (f.target === undefined || s.target === f.target) &&
            (f.since === undefined || s.at >= f.since) &&
            (f.until === undefined || s.at < f.until),
        ),
      );
    },
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
    },
  };
  const one = (path: string) => {
    const at = Date.now();
    const t0 = performance.now();
    const p = fetch(`${o.url}${path}`, { signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) })
      .then(async (res) => {
        await res.arrayBuffer();
        samples.push({
          at,
          target: res.headers.get(TARGET_HEADER) ?? "none",
          status: res.status,
          ms: performance.now() - t0,
        });
      })
      .catch(() => {
        // A network error or a timeout is a sample too (status 0): the switch answers 502 itself
        // when a target is gone, so this is the switch or the client failing.
        samples.push({ at, target: "none", status: 0, ms: performance.now() - t0 });
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const tick = () => {
    const due = Math.floor(((Date.now() - started) / 1000) * o.ratePerSecond);
    while (sent < due) {
      const path = paths[sent % paths.length] as string;
      sent += 1;
      if (inFlight.size >= maxInFlight) gen.skipped += 1;
      else one(path);
    }
  };
  const timer = setInterval(tick, Math.max(5, Math.min(50, 1000 / o.ratePerSecond / 2)));
  return gen;
}

// ---------------------------------------------------------------------------------------------
// The CI/CD server

export interface RollbackRequest {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  idempotencyKey: string | undefined;
  signatureValid: boolean;
  /** Why the signature was refused (empty when valid). */
  signatureProblem: string;
  /** The status answered, or "refused" for attempts that found the port closed (not recorded). */
  answered: number;
}

export interface CiCdServer {
  url: string;
  /** The rollback endpoint's URL. */
  rollbackUrl: string;
  requests: RollbackRequest[];
  /** Distinct Idempotency-Keys of rollbacks performed (signature valid, answered 200). */
  rolledBack: string[];
  /**
   * Down for `ms` from now: `"503"` answers 503 (each attempt recorded), `"refuse"` closes the
   * port (connections refused). Resolves when it is down; it comes back up by itself.
   */
  down(ms: number, how: "503" | "refuse"): Promise<void>;
  /** Resolves once it is up again after a `down`. */
  upAgain(): Promise<void>;
  isDown(): boolean;
  close(): Promise<void>;
}

/** The signature scheme of src/alerts/channels/webhook.ts: problems in words, "" when valid. */
export function verifySignature(
  secret: string,
  headers: IncomingHttpHeaders,
  rawBody: string,
  nowMs = Date.now(),
  maxSkewS = 300,
): string {
  const ts = headers["x-tug-timestamp"];
  const sig = headers["x-tug-signature"];
  if (typeof ts !== "string" || !/^\d+$/.test(ts)) return "no X-TUG-Timestamp of whole seconds";
  if (typeof sig !== "string" || !sig.startsWith("sha256=")) return "no X-TUG-Signature: sha256=<hex>";
  if (Math.abs(nowMs / 1000 - Number(ts)) > maxSkewS)
    return `timestamp ${ts} is more than ${maxSkewS} s away`;
  const expected = Buffer.from(createHmac("sha256", secret).update(`${ts}.${rawBody}`).digest("hex"));
  const given = Buffer.from(sig.slice("sha256=".length));
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return "signature does not match";
  return "";
}

export async function startCiCd(o: {
  secret: string;
  onRollback: (r: RollbackRequest) => void;
}): Promise<CiCdServer> {
  const requests: RollbackRequest[] = [];
  const rolledBack: string[] = [];
  let downUntil = 0;
  let upAgain: Promise<void> = Promise.resolve();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      if (req.method !== "POST" || req.url !== "/rollback") {
        res.writeHead(404, { "content-type": "text/plain" }).end("only POST /rollback");
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined; // recorded as received; a rollback needs no particular body here
      }
      const problem = verifySignature(o.secret, req.headers, body);
      const key = req.headers["idempotency-key"];
      const record: RollbackRequest = {
        at: Date.now(),
        headers: req.headers,
        body,
        json: parsed,
        idempotencyKey: typeof key === "string" ? key : undefined,
        signatureValid: problem === "",
        signatureProblem: problem,
        answered: 0,
      };
      requests.push(record);
      const answer = (status: number, payload: unknown) => {
        record.answered = status;
        res.writeHead(status, { "content-type": "application/json" }).end(`${JSON.stringify(payload)}\n`);
      };
      if (Date.now() < downUntil) return answer(503, { error: "the CI/CD system is down (harness)" });
      if (problem) return answer(401, { error: `signature refused: ${problem}` });
      if (record.idempotencyKey && rolledBack.includes(record.idempotencyKey)) {
        return answer(200, { status: "rolled back already", idempotencyKey: record.idempotencyKey });
      }
      o.onRollback(record);
      if (record.idempotencyKey) rolledBack.push(record.idempotencyKey);
      return answer(200, { status: "rolled back" });
    });
  };
  let server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const closeServer = (s: Server) =>
    new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  let reopen: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  let closed = false;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    rollbackUrl: `${url}/rollback`,
    requests,
    rolledBack,
    isDown: () => Date.now() < downUntil,
    upAgain: () => upAgain,
    async down(ms, how) {
      if (reopen || closed) throw new Error("the CI/CD server is down or closed already");
      downUntil = Date.now() + ms;
      if (how === "503") {
        upAgain = new Promise((r) => setTimeout(r, ms));
        return;
      }
      await closeServer(server);
      upAgain = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          reopen = undefined;
          if (closed) return resolve();
          server = createServer(handler);
          // The port was ours a moment ago; should another process have taken it, the error
          // says so when the next request is refused.
          server.listen(port, "127.0.0.1", () => resolve());
        }, ms);
        reopen = { timer, resolve };
      });
    },
    async close() {
      closed = true;
      if (reopen) {
        clearTimeout(reopen.timer);
        reopen.resolve();
        reopen = undefined;
      }
      if (server.listening) await closeServer(server);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Everything together

export interface DeployHarness {
  current: TugProcess;
  next: TugProcess;
  switch: Switch;
  cicd: CiCdServer;
  /** The team's notifications (the webhook receiver of both processes' alertmanager.yml). */
  team: Recorder;
  /** Start the load generator through the switch (one at a time). */
  startLoad(ratePerSecond: number): LoadGenerator;
  load: LoadGenerator | undefined;
  /** Notifications received for these alert names. */
  notifications(alertnames: string[]): Array<{ at: number; alertnames: string[]; json: any }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Faults of the new version (none: a healthy new version). */
  faults?: Faults;
  scrapeIntervalMs?: number;
  currentVersion?: string;
  newVersion?: string;
}

/**
 * Every process, or none: when one fails to start, those that did are stopped before the error
 * is thrown (Promise.all would leave them running).
 */
export async function allOrStop<T extends { stop(): Promise<void> }>(
  starting: Array<Promise<T>>,
): Promise<T[]> {
  const settled = await Promise.allSettled(starting);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (!failed) return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
  for (const r of settled) if (r.status === "fulfilled") await r.value.stop();
  throw failed.reason;
}

export async function startDeployHarness(o: HarnessOptions = {}): Promise<DeployHarness> {
  const team = await startRecorder();
  const started: Array<{ stop(): Promise<void> } | { close(): Promise<void> }> = [team];
  const closeAll = async () => {
    for (const s of started.reverse()) await ("stop" in s ? s.stop() : s.close());
  };
  try {
    const both = await allOrStop([
      startTug({
        name: "current",
        notifyUrl: `${team.url}/current`,
        scrapeIntervalMs: o.scrapeIntervalMs,
        releaseId: o.currentVersion ?? "1.0.0",
      }),
      startTug({
        name: "new",
        notifyUrl: `${team.url}/new`,
        faults: o.faults,
        scrapeIntervalMs: o.scrapeIntervalMs,
        releaseId: o.newVersion ?? "1.1.0",
      }),
    ]);
    const [current, next] = [both[0] as TugProcess, both[1] as TugProcess];
    started.push(current, next);
    const sw = await startSwitch(
      {
        current: { base: current.base, token: current.userToken },
        new: { base: next.base, token: next.userToken },
      },
      "current",
    );
    started.push(sw);
    const cicd = await startCiCd({ secret: SIGNING_SECRET, onRollback: () => sw.switchTo("current") });
    started.push(cicd);
    const h: DeployHarness = {
      current,
      next,
      switch: sw,
      cicd,
      team,
      load: undefined,
      startLoad(rate) {
        if (h.load) throw new Error("the load generator is running already");
        h.load = startLoad({ url: sw.url, ratePerSecond: rate });
        return h.load;
      },
      notifications(names) {
        return team.received
          .filter((r) => Array.isArray(r.json?.alerts))
          .map((r) => ({
            at: r.at,
            alertnames: (r.json.alerts as Array<{ labels?: Record<string, string> }>).map(
              (a) => a.labels?.alertname ?? "",
            ),
            json: r.json,
          }))
          .filter((n) => n.alertnames.some((a) => names.includes(a)));
      },
      async close() {
        await h.load?.stop();
        await closeAll();
      },
    };
    return h;
  } catch (err) {
    await closeAll();
    throw err;
  }
}
