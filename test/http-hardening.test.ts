/**
 * Client errors classified truthfully (issue 11): every framework-level mistake — an unknown
 * method, a malformed URL, a missing or wrong content type, an oversized header, an invalid
 * Content-Length, an odd Expect — is the 4xx it is, in the API's error shape with a request id,
 * one access line and one count; strict numbers and UUIDs; the login throttle.
 *
 * Most tests run on a Fastify instance built here the way src/server.ts builds it (same
 * constructor options, hooks, error handling, metrics, access log and API plugin), so they do not
 * depend on the composition root; the last block checks the full app of test/support/app.ts.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openDatabase } from "../src/api/db/index.js";
import { apiPlugin, DatabaseSessionStore, type LoginThrottleOptions } from "../src/api/index.js";
import { HashGate } from "../src/api/passwords.js";
import { AccountThrottle } from "../src/api/throttle.js";
import { loadConfig } from "../src/core/config/index.js";
import { ERROR_CATALOG } from "../src/core/errors.js";
import { fastifyErrorOptions, installErrorHandling } from "../src/http/errors.js";
import { accessLogger } from "../src/logs/access.js";
import { createLogger, plainFileSink } from "../src/logs/logger.js";
import { createMetrics, type Metrics } from "../src/metrics/index.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { parseHttpResponse, type RawResponse } from "./support/raw-http.js";

interface Own {
  app: FastifyInstance;
  port: number;
  base: string;
  dir: string;
  metrics: Metrics;
  /** Every log line written so far (flushed first). */
  lines(): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

/** The app's HTTP stack as src/server.ts assembles it, with the API on SQLite in a temp dir. */
async function startOwn(
  opts: { loginThrottle?: LoginThrottleOptions; now?: () => number } = {},
): Promise<Own> {
  const dir = mkdtempSync(join(tmpdir(), "tug-hardening-"));
  const config = loadConfig({
    DATABASE_URL: `sqlite:${join(dir, "tug.db")}`,
    LOG_FILE_PATH: join(dir, "app.log"),
  });
  const sink = plainFileSink(join(dir, "app.log"));
  const appLogger = createLogger({ level: "info", stdout: false, file: sink });
  const logger = appLogger.logger;
  const metrics = createMetrics({
    maxSeriesPerMetric: config.metrics.maxSeriesPerMetric,
    httpDurationBuckets: config.metrics.httpDurationBuckets,
    dbDurationBuckets: config.metrics.dbDurationBuckets,
    defaultMetrics: false,
    systemPaths: [dir],
    systemSampleIntervalMs: 60_000,
    logger,
  });
  const db = openDatabase({
    url: config.database.url,
    poolSize: 1,
    connectTimeoutMs: 1000,
    statementTimeoutMs: 5000,
    slowQueryThresholdMs: 10_000,
    metrics: metrics.db,
    logger,
  });
  await migrate(db);
  const app = Fastify({
    ...fastifyErrorOptions(),
    loggerInstance: logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    // X-Forwarded-For names the client: each test can be its own address.
    trustProxy: true,
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers["x-request-id"];
      return typeof incoming === "string" && /^[A-Za-z0-9._:-]{1,128}$/.test(incoming)
        ? incoming
        : crypto.randomUUID();
    },
  });
  app.addHook("onRequest", (req, reply, done) => {
    reply.header("x-request-id", req.id);
    done();
  });
  installErrorHandling(app);
  app.removeContentTypeParser("text/plain");
  metrics.http.install(app, accessLogger(config.log.access));
  app.get("/monitoring/metrics", async (_req, reply) => {
    reply.type("text/plain; version=0.0.4");
    return metrics.registry.metrics();
  });
  await app.register(apiPlugin, {
    db,
    sessions: new DatabaseSessionStore(db),
    sessionTtlSeconds: 3600,
    passwordMinLength: 8,
    tracker: metrics.users,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.loginThrottle ? { loginThrottle: opts.loginThrottle } : {}),
  });
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  const port = Number(new URL(address).port);
  return {
    app,
    port,
    base: `http://127.0.0.1:${port}`,
    dir,
    metrics,
    async lines() {
      await appLogger.flush();
      return readFileSync(join(dir, "app.log"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async close() {
      await app.close();
      await db.close();
      await appLogger.close();
    },
  };
}

/** Sends `data` as it is on a fresh connection and reads the response until the server closes. */
function raw(port: number, data: string | Buffer, opts: { halfClose?: boolean } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `no complete response within 15 s; got ${Buffer.concat(chunks).toString("latin1").slice(0, 300)}`,
        ),
      );
    }, 15_000);
    socket.on("data", (d) => chunks.push(d));
    // The server may reset after answering (it refuses to read the rest): what arrived counts.
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseHttpResponse(Buffer.concat(chunks).toString("latin1")));
    });
    socket.write(data, () => {
      if (opts.halfClose) socket.end();
    });
  });
}

/** Polls until `probe` gives a value (not undefined/false), or fails after 20 s naming `what`. */
async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  seen?: () => unknown,
): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${seen ? `; last seen ${JSON.stringify(seen())}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const req = (lines: string[], body = "") => `${lines.join("\r\n")}\r\n\r\n${body}`;

interface Case {
  name: string;
  data: string;
  status: number;
  code?: string;
  allow?: string;
  interim?: number[];
}

const bigBody = `{"email":"${"x".repeat(64)}`;

/** Every framework-level client error of the issue, with the answer it must get. */
const JSON_TYPE = "Content-Type: application/json";
const LOGIN = "POST /api/v1/auth/login";
/** A request line and headers (Host and Connection: close added), then the body as given. */
const http = (line: string, headers: string[] = [], body = "") =>
  req([`${line} HTTP/1.1`, "Host: x", ...headers, "Connection: close"], body);
const c = (name: string, data: string, status: number, more: Partial<Case> = {}): Case => ({
  name,
  data,
  status,
  ...more,
});
const NOT_FOUND = { code: "ROUTE_NOT_FOUND" };
const NOT_ALLOWED = (allow: string) => ({ code: "METHOD_NOT_ALLOWED", allow });
const BAD = { code: "BAD_REQUEST" };
const BAD_URL = { code: "INVALID_URL" };
const MEDIA = { code: "UNSUPPORTED_MEDIA_TYPE" };
const TOO_LARGE = { code: "BODY_TOO_LARGE" };
const JSON_BAD = { code: "INVALID_JSON" };

/** Every framework-level client error of the issue, with the answer it must get. */
const CASES: Case[] = [
  c("QUERY on an unknown path, no Content-Type", http("QUERY /anything"), 404, NOT_FOUND),
  c("QUERY on an API route", http("QUERY /api/v1/users/me"), 405, NOT_ALLOWED("GET, HEAD, OPTIONS")),
  c(
    "QUERY with a body, unknown path",
    http("QUERY /anything", [JSON_TYPE, "Content-Length: 2"], "{}"),
    404,
    NOT_FOUND,
  ),
  c("PROPFIND on an unknown path", http("PROPFIND /anything"), 404, NOT_FOUND),
  c(
    "PROPFIND on an API route",
    http("PROPFIND /api/v1/activities"),
    405,
    NOT_ALLOWED("GET, HEAD, OPTIONS, POST"),
  ),
  c("BREW (unknown to HTTP's parser)", http("BREW /api/v1/users/me"), 405, NOT_ALLOWED("GET, HEAD, OPTIONS")),
  c(
    "bytes that are no request line",
    "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003junk\r\n\r\n",
    400,
    BAD,
  ),
  c("a body with no Content-Type", http(LOGIN, ["Content-Length: 2"], "{}"), 415, MEDIA),
  c(
    "an unsupported Content-Type",
    http(LOGIN, ["Content-Type: application/xml", "Content-Length: 2"], "{}"),
    415,
    MEDIA,
  ),
  c("an unparsable Content-Type", http(LOGIN, ["Content-Type: ;;;", "Content-Length: 2"], "{}"), 415, MEDIA),
  c("malformed JSON", http(LOGIN, [JSON_TYPE, "Content-Length: 2"], "{x"), 400, JSON_BAD),
  c("an empty JSON body", http(LOGIN, [JSON_TYPE, "Content-Length: 0"]), 400, JSON_BAD),
  c(
    "JSON with __proto__",
    http(LOGIN, [JSON_TYPE, "Content-Length: 27"], '{"__proto__":{"a":1},"b":1}'),
    400,
    JSON_BAD,
  ),
  c("a body over the limit", http(LOGIN, [JSON_TYPE, "Content-Length: 2000000"], bigBody), 413, TOO_LARGE),
  c(
    "a chunked body over the limit",
    http(LOGIN, [JSON_TYPE, "Transfer-Encoding: chunked"], `124f80\r\n${"x".repeat(1_200_000)}\r\n0\r\n\r\n`),
    413,
    TOO_LARGE,
  ),
  c("/%", http("GET /%"), 400, BAD_URL),
  c("/%E0%A4%A", http("GET /%E0%A4%A"), 400, BAD_URL),
  c("a bad escape in a path parameter", http("GET /api/v1/activities/%zz"), 400, BAD_URL),
  c("a bad escape in the query string", http("GET /api/v1/activities?limit=%E0%A4%A"), 400, BAD_URL),
  c("a lone % in the query string", http("GET /monitoring/metrics?x=5%"), 400, BAD_URL),
  c("a path parameter over maxParamLength", http(`GET /api/v1/activities/${"a".repeat(200)}`), 414, {
    code: "URL_TOO_LONG",
  }),
  c("headers over Node's limit", http("GET /api/v1/users/me", [`X-Big: ${"a".repeat(17_000)}`]), 431, {
    code: "HEADERS_TOO_LARGE",
  }),
  c("an invalid header name", http("GET /api/v1/users/me", ["X-B\u0001d: y"]), 400, BAD),
  c("Content-Length: abc", http(LOGIN, [JSON_TYPE, "Content-Length: abc"], "{}"), 400, BAD),
  c(
    "two different Content-Lengths",
    http(LOGIN, [JSON_TYPE, "Content-Length: 2", "Content-Length: 3"], "{}"),
    400,
    BAD,
  ),
  c(
    "Content-Length with Transfer-Encoding",
    http(LOGIN, [JSON_TYPE, "Content-Length: 2", "Transfer-Encoding: chunked"], "0\r\n\r\n"),
    400,
    BAD,
  ),
  c(
    "a malformed chunk size",
    http(LOGIN, [JSON_TYPE, "Transfer-Encoding: chunked"], "zz\r\n{}\r\n0\r\n\r\n"),
    400,
    BAD,
  ),
  c("Expect: 200-ok", http(LOGIN, [JSON_TYPE, "Expect: 200-ok", "Content-Length: 2"], "{}"), 417, {
    code: "EXPECTATION_FAILED",
  }),
  c(
    "Expect: 100-continue, body over the limit",
    http(LOGIN, [JSON_TYPE, "Expect: 100-continue", "Content-Length: 2000000"]),
    413,
    { ...TOO_LARGE, interim: [] },
  ),
  c(
    "Expect: 100-continue, then an invalid body",
    http(LOGIN, [JSON_TYPE, "Expect: 100-continue", "Content-Length: 2"], "{}"),
    400,
    { code: "VALIDATION_FAILED", interim: [100] },
  ),
  c("HEAD on an API route", http("HEAD /api/v1/users/me"), 401),
  c("HEAD on a POST-only route", http("HEAD /api/v1/auth/login"), 405, { allow: "OPTIONS, POST" }),
  c("OPTIONS on an API route", http("OPTIONS /api/v1/activities/0b7e5b0e-54a5-4cb3-8d7e-6b1e0d6a8f10"), 204, {
    allow: "DELETE, GET, HEAD, OPTIONS, PATCH",
  }),
  c("OPTIONS on an unknown path", http("OPTIONS /nothing"), 404, NOT_FOUND),
  c(
    "a POST with a body to an unknown path",
    http("POST /nothing", [JSON_TYPE, "Content-Length: 9"], '{"a":"b"}'),
    404,
    NOT_FOUND,
  ),
];

function expectAnswered(c: Case, r: RawResponse): void {
  const what = `${c.name}: ${r.status} ${r.text.slice(0, 300)}`;
  expect(r.status, what).toBe(c.status);
  expect(r.headers["x-request-id"], what).toMatch(/^[0-9a-f-]{36}$/);
  if (c.allow !== undefined) expect(r.headers.allow, what).toBe(c.allow);
  if (c.interim !== undefined) expect(r.interim, what).toEqual(c.interim);
  if (c.code === undefined) return;
  expect(r.body, what).toMatchObject({ error: { code: c.code }, requestId: r.headers["x-request-id"] });
  expect(typeof r.body.error.message, what).toBe("string");
  expect(ERROR_CATALOG[c.code as keyof typeof ERROR_CATALOG].status, what).toBe(c.status);
}

/** http_requests_total by status code, summed over every other label. */
async function countsByStatus(metrics: Metrics): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await metrics.registry.metrics()).split("\n")) {
    const m = /^http_requests_total\{[^}]*status_code="(\d+)"[^}]*\} (\d+)$/.exec(line);
    if (m) out.set(m[1] as string, (out.get(m[1] as string) ?? 0) + Number(m[2]));
  }
  return out;
}

describe("framework-level client errors are the 4xx they are", () => {
  let own: Own;
  beforeAll(async () => {
    own = await startOwn();
  });
  afterAll(() => own?.close());

  it.each(CASES)("$name → $status", async (c) => {
    expectAnswered(c, await raw(own.port, c.data));
  });

  it("100 of them: no 5xx in http_requests_total, each counted once, one access line each", async () => {
    const before = await countsByStatus(own.metrics);
    const ids: string[] = [];
    const caseOf = new Map<string, string>();
    for (let i = 0; i < 100; i++) {
      const c = CASES[i % CASES.length] as Case;
      const r = await raw(own.port, c.data);
      expectAnswered(c, r);
      ids.push(r.headers["x-request-id"] as string);
      caseOf.set(r.headers["x-request-id"] as string, c.name);
    }
    const after = await countsByStatus(own.metrics);
    const added = new Map<string, number>();
    for (const [s, n] of after) if (n - (before.get(s) ?? 0) > 0) added.set(s, n - (before.get(s) ?? 0));
    expect([...added.keys()].filter((s) => s.startsWith("5"))).toEqual([]);
    expect(
      [...added.values()].reduce((a, b) => a + b, 0),
      JSON.stringify(Object.fromEntries(added)),
    ).toBe(100);
    const expected = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const s = String((CASES[i % CASES.length] as Case).status);
      expected.set(s, (expected.get(s) ?? 0) + 1);
    }
    expect(Object.fromEntries(added)).toEqual(Object.fromEntries(expected));

    // A request answered on its socket (a malformed chunk) is logged when its connection closes.
    let missing: string[] = [];
    const lines = await waitFor(
      "an access line for each request",
      async () => {
        const all = await own.lines();
        const logged = new Set(all.filter((l) => l.event === "access").map((l) => l.reqId));
        missing = ids.filter((id) => !logged.has(id)).map((id) => caseOf.get(id) ?? id);
        return missing.length === 0 ? all : undefined;
      },
      () => missing,
    );
    const access = lines.filter((l) => l.event === "access");
    for (const id of ids) {
      const mine = access.filter((l) => l.reqId === id);
      expect(mine.length, `access lines of ${id}`).toBe(1);
      expect(mine[0]?.level).toBe(Number(mine[0]?.statusCode) >= 400 ? "WARN" : "INFO");
    }
    // Not one of them is logged as a server fault.
    const errors = lines.filter((l) => l.level === "ERROR" && ids.includes(String(l.reqId)));
    expect(errors).toEqual([]);
  });

  it("labels what never matched a route as __unmatched__, and an unknown method as __unknown__", async () => {
    await raw(own.port, req(["BREW /pot HTTP/1.1", "Host: x", "Connection: close"]));
    await raw(own.port, req(["GET /% HTTP/1.1", "Host: x", "Connection: close"]));
    const text = await own.metrics.registry.metrics();
    expect(text).toMatch(
      /^http_requests_total\{method="__unknown__",route="__unmatched__",status_code="405"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^http_requests_total\{method="GET",route="__unmatched__",status_code="400"\} [1-9]/m,
    );
    expect(text).not.toMatch(/method="BREW"/);
    expect(text).not.toMatch(/route="\/%/);
    const lines = await own.lines();
    const bad = lines.find((l) => l.event === "access" && l.url === "/%");
    expect(bad).toMatchObject({ statusCode: 400, route: "__unmatched__", method: "GET" });
  });

  it("a body cut short (the client half-closes): 400 counted once, never a logged server fault", async () => {
    const before = await countsByStatus(own.metrics);
    const r = await raw(
      own.port,
      req(
        [
          "POST /api/v1/auth/login HTTP/1.1",
          "Host: x",
          "Content-Type: application/json",
          "Content-Length: 50",
        ],
        "{",
      ),
      { halfClose: true },
    );
    expectAnswered({ name: "cut short", data: "", status: 400, code: "BAD_REQUEST" }, r);
    const id = r.headers["x-request-id"];
    const lines = await waitFor("the access line of the cut-short request", async () => {
      const all = await own.lines();
      return all.some((l) => l.event === "access" && l.reqId === id) ? all : undefined;
    });
    expect(lines.filter((l) => l.event === "access" && l.reqId === id)).toMatchObject([
      { statusCode: 400, route: "/api/v1/auth/login", method: "POST" },
    ]);
    const after = await countsByStatus(own.metrics);
    expect((after.get("400") ?? 0) - (before.get("400") ?? 0)).toBe(1);
    expect(after.get("499") ?? 0).toBe(before.get("499") ?? 0);
    for (const [s, n] of after) if (s.startsWith("5")) expect(n).toBe(before.get(s) ?? 0);
    expect(lines.filter((l) => l.level === "ERROR")).toEqual([]);
  });

  it("a client that hangs up mid-body is counted 499, never a logged server fault", async () => {
    const before = await countsByStatus(own.metrics);
    const socket = connect(own.port, "127.0.0.1");
    socket.on("error", () => undefined);
    await new Promise<void>((res) => socket.once("connect", () => res()));
    socket.write(
      req(
        [
          "POST /api/v1/auth/login HTTP/1.1",
          "Host: x",
          "Content-Type: application/json",
          "Content-Length: 50",
        ],
        "{",
      ),
    );
    // The server has the request once it is in flight; then the client goes away.
    await waitFor("the request in flight", () =>
      own.metrics.http.inFlight.get().then((g) => (g.values[0]?.value ?? 0) > 0),
    );
    // A reset, not a FIN: the server cannot answer (a FIN gets the 400 of the test above).
    socket.resetAndDestroy();
    const after = await waitFor("the aborted request counted", async () => {
      const now = await countsByStatus(own.metrics);
      return (now.get("499") ?? 0) > (before.get("499") ?? 0) ? now : undefined;
    });
    expect((after.get("499") ?? 0) - (before.get("499") ?? 0)).toBe(1);
    for (const [s, n] of after) if (s.startsWith("5")) expect(n).toBe(before.get(s) ?? 0);
    expect((await own.lines()).filter((l) => l.level === "ERROR")).toEqual([]);
  });
});

describe("strict input: ids and numbers", () => {
  let own: Own;
  let token: string;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${own.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  beforeAll(async () => {
    own = await startOwn();
    const creds = { email: "strict@example.com", password: "correct horse" };
    await fetch(`${own.base}/api/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(creds),
    });
    const r = await fetch(`${own.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(creds),
    });
    token = ((await r.json()) as { token: string }).token;
  });
  afterAll(() => own?.close());

  it("an upper-case UUID is the same activity as its lower-case spelling", async () => {
    const created = await call("POST", "/api/v1/activities", { type: "run", title: "Case" });
    const id = created.body.activity.id as string;
    const upper = id.toUpperCase();
    expect(upper).not.toBe(id);
    const got = await call("GET", `/api/v1/activities/${upper}`);
    expect(got.status).toBe(200);
    expect(got.body.activity.id).toBe(id);
    expect((await call("PATCH", `/api/v1/activities/${upper}`, { title: "Upper" })).body.activity.title).toBe(
      "Upper",
    );
    expect((await call("DELETE", `/api/v1/activities/${upper}`)).status).toBe(204);
    expect((await call("GET", `/api/v1/activities/${id}`)).status).toBe(404);
  });

  it.each([
    ["limit", "0x10"],
    ["limit", "1e2"],
    ["limit", "%205"],
    ["limit", "5.0"],
    ["limit", "%2B5"],
    ["limit", "-0"],
    ["limit", ""],
    ["limit", "05"],
    ["offset", "1e2"],
    ["offset", "0x0"],
    ["offset", ""],
    ["offset", "Infinity"],
  ])("%s=%s → 400 naming the field", async (field, value) => {
    const r = await call("GET", `/api/v1/activities?${field}=${value}`);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error.code).toBe("VALIDATION_FAILED");
    expect(r.body.error.details).toEqual([{ field, message: expect.stringMatching(/whole number/) }]);
    expect(r.body.error.message).toContain(field);
  });

  it("a parameter given twice, and out-of-range values, name the field too", async () => {
    const twice = await call("GET", "/api/v1/activities?limit=1&limit=2");
    expect(twice.status).toBe(400);
    expect(twice.body.error.details).toEqual([{ field: "limit", message: expect.stringMatching(/once/) }]);
    const range = await call("GET", "/api/v1/activities?limit=0&offset=-1");
    expect(range.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      "limit",
      "offset",
    ]);
    const ok = await call("GET", "/api/v1/activities?limit=100&offset=0");
    expect(ok.status).toBe(200);
    expect(ok.body.pagination).toMatchObject({ limit: 100, offset: 0 });
  });
});

describe("login throttle", () => {
  const login = (own: Own, email: string, password: string, address: string) =>
    fetch(`${own.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": address },
      body: JSON.stringify({ email, password }),
    }).then(async (r) => ({
      status: r.status,
      retryAfter: r.headers.get("retry-after"),
      requestId: r.headers.get("x-request-id"),
      body: (await r.json()) as any,
    }));
  const register = (own: Own, email: string) =>
    fetch(`${own.base}/api/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: "correct horse" }),
    }).then((r) => expect(r.status).toBe(201));
  const throttled = async (own: Own, reason: string) => {
    const m = new RegExp(`^auth_login_throttled_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(
      await own.metrics.registry.metrics(),
    );
    return Number(m?.[1]);
  };

  describe("per account", () => {
    let own: Own;
    let clock = Date.now();
    beforeAll(async () => {
      own = await startOwn({
        loginThrottle: { perAccount: 3, perAddress: 10_000, windowMs: 60_000 },
        now: () => clock,
      });
    });
    afterAll(() => own?.close());

    it("after perAccount failures: 429 with Retry-After, even for the right password, from any address", async () => {
      await register(own, "victim@example.com");
      const before = await throttled(own, "account");
      for (let i = 0; i < 3; i++) {
        expect((await login(own, "victim@example.com", "wrong password", `10.1.0.${i}`)).status).toBe(401);
      }
      // The email is normalised: another spelling is the same account.
      const r = await login(own, " Victim@EXAMPLE.com", "correct horse", "10.1.0.9");
      expect(r.status).toBe(429);
      expect(r.body).toMatchObject({ error: { code: "LOGIN_THROTTLED" }, requestId: r.requestId });
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      expect(Number(r.retryAfter)).toBeLessThanOrEqual(60);
      expect(await throttled(own, "account")).toBe(before + 1);
      // Other accounts are not affected.
      await register(own, "bystander@example.com");
      expect((await login(own, "bystander@example.com", "correct horse", "10.1.0.9")).status).toBe(200);
      // When the window has passed, the account can log in again.
      clock += 60_001;
      expect((await login(own, "victim@example.com", "correct horse", "10.1.0.9")).status).toBe(200);
    });

    it("a successful login clears the account's failures", async () => {
      await register(own, "forgetful@example.com");
      for (let i = 0; i < 2; i++) {
        expect((await login(own, "forgetful@example.com", "wrong password", "10.2.0.1")).status).toBe(401);
      }
      expect((await login(own, "forgetful@example.com", "correct horse", "10.2.0.1")).status).toBe(200);
      for (let i = 0; i < 3; i++) {
        expect((await login(own, "forgetful@example.com", "wrong password", "10.2.0.1")).status).toBe(401);
      }
      expect((await login(own, "forgetful@example.com", "wrong password", "10.2.0.1")).status).toBe(429);
    });

    it("unknown emails are throttled alike, and concurrent guesses cannot overtake the limit", async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => login(own, "nobody@example.com", `guess ${i}`, "10.3.0.1")),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 401)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(17);
      expect(results.filter((r) => r.status === 429).every((r) => Number(r.retryAfter) > 0)).toBe(true);
    });
  });

  describe("per address", () => {
    let own: Own;
    beforeAll(async () => {
      own = await startOwn({ loginThrottle: { perAccount: 10_000, perAddress: 5, windowMs: 5_000 } });
      await register(own, "shared@example.com");
    });
    afterAll(() => own?.close());

    it("after perAddress attempts from one address: 429 with Retry-After; other addresses go on", async () => {
      const before = await throttled(own, "address");
      // Every attempt counts, even one whose body is refused (and these need no hashing: the
      // five fit in the window however slow the machine is).
      const statuses = [];
      for (let i = 0; i < 5; i++)
        statuses.push((await login(own, "shared@example.com", "", "10.9.0.1")).status);
      expect(statuses).toEqual([400, 400, 400, 400, 400]);
      const r = await login(own, "shared@example.com", "correct horse", "10.9.0.1");
      expect(r.status).toBe(429);
      expect(r.body).toMatchObject({ error: { code: "LOGIN_THROTTLED" }, requestId: r.requestId });
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      expect(Number(r.retryAfter)).toBeLessThanOrEqual(5);
      expect(await throttled(own, "address")).toBe(before + 1);
      expect((await login(own, "shared@example.com", "correct horse", "10.9.0.2")).status).toBe(200);
      // The window passes (real time: the plugin's clock): the address may try again.
      const deadline = Date.now() + 20_000;
      let again = 429;
      while (again === 429 && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 100));
        again = (await login(own, "shared@example.com", "correct horse", "10.9.0.1")).status;
      }
      expect(again).toBe(200);
    });
  });

  it("AccountThrottle forgets the least recently used account beyond maxKeys", () => {
    const t = new AccountThrottle({ limit: 1, windowMs: 60_000, maxKeys: 3, now: () => 0 });
    for (const k of ["a", "b", "c", "d"]) {
      const a = t.attempt(k);
      if ("failed" in a) a.failed();
    }
    expect(t.size).toBe(3);
    expect("retryAfterSeconds" in t.attempt("d")).toBe(true);
    // "a" was forgotten: it may try again.
    expect("failed" in t.attempt("a")).toBe(true);
  });
});

describe("password hashing gate", () => {
  it("runs at most `concurrency` hashes at once, in order, and drops those whose client left", async () => {
    const gate = new HashGate(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const task = (i: number) => () =>
      new Promise<number>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        releases.push(() => {
          running--;
          resolve(i);
        });
      });
    const ac = new AbortController();
    const results = [0, 1, 2, 3, 4].map((i) => gate.run(task(i), i === 3 ? ac.signal : undefined));
    expect(gate.load).toEqual({ running: 2, waiting: 3 });
    ac.abort();
    await expect(results[3]).rejects.toMatchObject({ code: "BAD_REQUEST" });
    expect(gate.load).toEqual({ running: 2, waiting: 2 });
    while (releases.length > 0 || gate.load.running > 0) {
      const next = releases.shift();
      if (next) next();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all([results[0], results[1], results[2], results[4]]);
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 4]);
  });
});

describe("the full app (test/support/app.ts, as src/server.ts builds it)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(
      { LOG_LEVEL: "info" },
      { yaml: "api:\n  loginThrottle:\n    perAccount: 2\n    perAddress: 1000\n    windowMs: 60000\n" },
    );
  });
  afterAll(() => t?.close());
  const port = () => Number(new URL(t.url).port);

  it("answers `-X QUERY` with no token 4xx in the error shape, and counts no 5xx", async () => {
    for (let i = 0; i < 20; i++) {
      const r = await raw(port(), req(["QUERY /anything HTTP/1.1", "Host: x", "Connection: close"]));
      expectAnswered({ name: "QUERY", data: "", status: 404, code: "ROUTE_NOT_FOUND" }, r);
    }
    const m = await t.call("GET", "/monitoring/metrics");
    expect(m.body as string).not.toMatch(/^http_requests_total\{[^}]*status_code="5\d\d"[^}]*\} /m);
  });

  it("answers malformed URLs, oversized headers and unknown methods in the error shape (needs fastifyErrorOptions in src/server.ts)", async () => {
    for (const c of CASES.filter((x) =>
      [
        "/%",
        "/%E0%A4%A",
        "headers over Node's limit",
        "BREW (unknown to HTTP's parser)",
        "Content-Length: abc",
      ].includes(x.name),
    )) {
      expectAnswered(c, await raw(port(), c.data));
    }
  });

  it("throttles logins per account as api.loginThrottle says (needs loginThrottle passed to apiPlugin in src/server.ts)", async () => {
    await t.call("POST", "/api/v1/auth/register", {
      body: { email: "full@example.com", password: "correct horse" },
    });
    const wrong = () =>
      t.call("POST", "/api/v1/auth/login", { body: { email: "full@example.com", password: "nope nope" } });
    expect((await wrong()).status).toBe(401);
    expect((await wrong()).status).toBe(401);
    const r = await wrong();
    expect(r.status).toBe(429);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    const m = (await t.call("GET", "/monitoring/metrics")).body as string;
    expect(m).toMatch(/^auth_login_throttled_total\{reason="account"\} 1$/m);
  });
});
