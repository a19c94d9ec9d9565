// The notification channels against real components: an SMTP server (smtp-server) whose
// messages are parsed with mailparser, and a local HTTP server recording webhook, Slack and
// Alertmanager requests.
import { createHmac, timingSafeEqual } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAlertmanagerForwarder } from "../src/alerts/channels/alertmanager.js";
import { createEmailChannel } from "../src/alerts/channels/email.js";
import { createChannels } from "../src/alerts/channels/index.js";
import { createSlackChannel, SLACK_URL_MISSING } from "../src/alerts/channels/slack.js";
import {
  alertmanagerURL,
  encodeGoJson,
  GO_ZERO_TIME,
  GoMap,
  goQueryEscape,
  goQuoteMeta,
  subject,
} from "../src/alerts/channels/templates.js";
import { createWebhookChannel } from "../src/alerts/channels/webhook.js";
import type {
  EmailConfig,
  Notification,
  NotificationAlert,
  SlackConfig,
  WebhookConfig,
} from "../src/alerts/notify/types.js";
import { forceGc } from "./support/gc.js";

// ---------------------------------------------------------------------------------------------
// Fixtures

function alert(labels: Record<string, string>, over: Partial<NotificationAlert> = {}): NotificationAlert {
  return {
    status: "firing",
    labels,
    annotations: {},
    startsAt: "2026-11-27T08:41:30Z",
    endsAt: GO_ZERO_TIME,
    generatorURL: "http://app.local/rules/HighErrorRate",
    fingerprint: "da52de658495863f",
    ...over,
  };
}

function notification(over: Partial<Notification> = {}): Notification {
  const alerts = over.alerts ?? [
    alert(
      { alertname: "HighErrorRate", service: "api", severity: "page" },
      { annotations: { summary: "Error rate 20% <b>high</b>", value: "0.2" } },
    ),
  ];
  return {
    receiver: "team-a",
    status: "firing",
    alerts,
    groupLabels: { alertname: "HighErrorRate" },
    commonLabels: { alertname: "HighErrorRate", service: "api", severity: "page" },
    commonAnnotations: {},
    externalURL: "http://am.local:9093",
    groupKey: '{}:{alertname="HighErrorRate"}',
    dedupKey: "dk-1",
    ...over,
  };
}

const never = () => new AbortController().signal;

// ---------------------------------------------------------------------------------------------
// A recording HTTP server

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Responder = (req: Recorded, res: ServerResponse) => void;

let http: Server | undefined;
let httpBase: string;
let requests: Recorded[] = [];
let respond: Responder = (_req, res) => res.end("ok");

/**
 * A fresh recording server for every test: a request of an earlier test that arrives late (its
 * client timed out or aborted while a loaded machine had not yet read it) lands in that test's
 * list and is answered by that server, never seen by the next test.
 */
beforeEach(async () => {
  const mine: Recorded[] = [];
  requests = mine;
  respond = (_req, res) => res.end("ok");
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const rec = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      mine.push(rec);
      if (http === server) respond(rec, res);
      else res.end("ok");
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  http = server;
  httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  const server = http;
  http = undefined;
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
});

function statusResponder(status: number, body = ""): Responder {
  return (_req, res) => {
    res.statusCode = status;
    res.end(body);
  };
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((done) => srv.listen(0, "127.0.0.1", done));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((done) => srv.close(() => done()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// A real SMTP server

interface Smtp {
  port: number;
  messages: ParsedMail[];
  logins: string[];
  close(): Promise<void>;
}

async function startSmtp(opts: { rcptReply?: { code: number; text: string } } = {}): Promise<Smtp> {
  const messages: ParsedMail[] = [];
  const logins: string[] = [];
  const server = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === "alerts" && auth.password === "s3cret-pass") {
        logins.push(auth.username);
        cb(null, { user: auth.username });
      } else {
        cb(new Error("Invalid username or password"));
      }
    },
    onRcptTo(_address, _session, cb) {
      if (!opts.rcptReply) return cb();
      const err = Object.assign(new Error(opts.rcptReply.text), { responseCode: opts.rcptReply.code });
      cb(err);
    },
    onData(stream, _session, cb) {
      simpleParser(stream)
        .then((mail) => {
          messages.push(mail);
          cb();
        })
        .catch((err: Error) => cb(err));
    },
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", () => done()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, messages, logins, close: () => new Promise<void>((done) => server.close(() => done())) };
}

function emailConfig(port: number, over: Partial<EmailConfig> = {}): EmailConfig {
  return {
    sendResolved: true,
    to: "oncall@example.org",
    from: "alertmanager@example.org",
    smarthost: `127.0.0.1:${port}`,
    hello: "tug.test",
    authUsername: "alerts",
    authPassword: "s3cret-pass",
    requireTls: false,
    headers: { "X-Team": "payments" },
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------

describe("templates", () => {
  it("renders __subject with the group labels first and the other common labels in parentheses", () => {
    const n = notification({
      alerts: [
        alert({ alertname: "HighErrorRate", service: "api" }),
        alert({ alertname: "HighErrorRate", service: "api" }),
      ],
      groupLabels: { service: "api", alertname: "HighErrorRate" },
      commonLabels: { alertname: "HighErrorRate", service: "api", severity: "page" },
    });
    expect(subject(n)).toBe("[FIRING:2] HighErrorRate api (page)");
  });

  it("puts alertname first, as template.KV.SortedPairs does", () => {
    const n = notification({
      groupLabels: { a: "x", alertname: "Z" },
      commonLabels: { a: "x", alertname: "Z" },
    });
    expect(subject(n)).toBe("[FIRING:1] Z x ");
  });

  it("keeps the template's trailing space when no common label lies outside the group", () => {
    const n = notification({ status: "resolved", commonLabels: { alertname: "HighErrorRate" } });
    expect(subject(n)).toBe("[RESOLVED] HighErrorRate ");
  });

  it("escapes the receiver like Go's url.QueryEscape in the alerts URL", () => {
    expect(goQueryEscape("team a/b!*~")).toBe("team+a%2Fb%21%2A~");
    expect(alertmanagerURL({ externalURL: "http://am", receiver: goQuoteMeta("team.a") })).toBe(
      "http://am/#/alerts?receiver=team%5C.a",
    );
  });

  it("encodes JSON as Go does: sorted maps, HTML-safe escapes, trailing newline", () => {
    const text = encodeGoJson({ z: "<a&b>\b\f\u2028", m: new GoMap({ b: "1", a: "2", "10": "x" }) });
    expect(text).toBe(
      `{"z":"\\u003ca\\u0026b\\u003e\\u0008\\u000c\\u2028","m":{"10":"x","a":"2","b":"1"}}\n`,
    );
  });
});

describe("email channel", () => {
  let smtp: Smtp;
  beforeAll(async () => {
    smtp = await startSmtp();
  });
  afterAll(() => smtp.close());

  it("delivers through SMTP with auth: subject, text and HTML bodies, dedup headers", async () => {
    const resolved = alert(
      { alertname: "HighErrorRate", service: "api", severity: "page" },
      { status: "resolved", endsAt: "2026-11-27T08:45:00Z", fingerprint: "0000000000000002" },
    );
    const n = notification();
    n.alerts.push(resolved);
    const channel = createEmailChannel(emailConfig(smtp.port), 0, { timeoutMs: 5000 });
    expect(channel.multiGroup).toBe(true);
    await expect(channel.send([n], never())).resolves.toEqual({ ok: true });

    expect(smtp.logins).toContain("alerts");
    const mail = smtp.messages.at(-1);
    if (!mail) throw new Error("no message received");
    expect(mail.subject).toBe("[FIRING:1] HighErrorRate (api page)");
    expect(mail.headers.get("idempotency-key")).toBe("dk-1");
    expect(mail.headers.get("x-tug-dedup-key")).toBe("dk-1");
    expect(mail.headers.get("x-team")).toBe("payments");

    const text = mail.text ?? "";
    expect(text).toContain("[1] Firing");
    expect(text).toContain("[1] Resolved");
    expect(text).toContain(" - alertname = HighErrorRate");
    expect(text).toContain(" - summary = Error rate 20% <b>high</b>");
    expect(text).toContain("Value: 0.2");
    expect(text).toContain("Started: 2026-11-27T08:41:30Z");
    expect(text).toContain("Ended: 2026-11-27T08:45:00Z");
    expect(text).toContain("Source: http://app.local/rules/HighErrorRate");
    expect(text).toContain("http://am.local:9093/#/alerts?receiver=team-a");

    const html = typeof mail.html === "string" ? mail.html : "";
    expect(html).toContain("summary = Error rate 20% &#60;b&#62;high&#60;/b&#62;");
    expect(html).not.toContain("<b>high</b>");
    expect(html).toContain(
      '<a href="http://am.local:9093/#/alerts?receiver=team-a">View in Alertmanager</a>',
    );
    expect(html).toContain('<a href="http://app.local/rules/HighErrorRate">Source</a>');
    expect(html).toContain("<strong>Ended</strong>: 2026-11-27T08:45:00Z");
  });

  it("lets configured headers override Subject/To, and coalesces groups into one message", async () => {
    const cfg = emailConfig(smtp.port, { headers: { subject: "Custom subject", To: "other@example.org" } });
    await expect(
      createEmailChannel(cfg, 0, { timeoutMs: 5000 }).send([notification()], never()),
    ).resolves.toEqual({ ok: true });
    expect(smtp.messages.at(-1)?.subject).toBe("Custom subject");
    expect(smtp.messages.at(-1)?.headers.get("to")).toMatchObject({ text: "other@example.org" });

    const second = notification({
      alerts: [
        alert({ alertname: "DiskFull", instance: "db1" }),
        alert({ alertname: "DiskFull", instance: "db2" }),
      ],
      groupLabels: { alertname: "DiskFull" },
      commonLabels: { alertname: "DiskFull" },
      dedupKey: "dk-2",
    });
    const channel = createEmailChannel(emailConfig(smtp.port), 0, { timeoutMs: 5000 });
    await expect(channel.send([notification(), second], never())).resolves.toEqual({ ok: true });
    const mail = smtp.messages.at(-1);
    expect(mail?.subject).toBe("[FIRING:3] 2 groups: HighErrorRate (api page); DiskFull");
    expect(mail?.headers.get("idempotency-key")).toMatch(/^multi-[0-9a-f]{32}$/);
    expect(mail?.text).toContain("2 alerts for alertname=DiskFull");
    expect(mail?.text).toContain(" - instance = db2");
  });

  it("fails permanently on refused credentials, without showing the password", async () => {
    const cfg = emailConfig(smtp.port, { authPassword: "wrong-password" });
    const r = await createEmailChannel(cfg, 0, { timeoutMs: 5000 }).send([notification()], never());
    expect(r).toMatchObject({ ok: false, retryable: false });
    if (!r.ok) {
      expect(r.error).toMatch(/535/);
      expect(r.error).not.toContain("wrong-password");
    }
  });

  it("fails with a clear, permanent error when TLS is required and the server has no STARTTLS", async () => {
    const cfg = emailConfig(smtp.port, { requireTls: true });
    const r = await createEmailChannel(cfg, 0, { timeoutMs: 5000 }).send([notification()], never());
    expect(r).toMatchObject({ ok: false, retryable: false });
    if (!r.ok) expect(r.error).toMatch(/require_tls is set but the STARTTLS upgrade failed/);
  });

  it("retries after a 4xx reply and gives up after a 5xx reply", async () => {
    for (const [code, retryable] of [
      [451, true],
      [550, false],
    ] as const) {
      const server = await startSmtp({ rcptReply: { code, text: "mailbox says no" } });
      try {
        const r = await createEmailChannel(emailConfig(server.port), 0, { timeoutMs: 5000 }).send(
          [notification()],
          never(),
        );
        expect(r).toMatchObject({ ok: false, retryable });
        if (!r.ok) expect(r.error).toContain(`SMTP ${code}`);
      } finally {
        await server.close();
      }
    }
  });

  it("retries when the server cannot be reached", async () => {
    const cfg = emailConfig(await closedPort());
    const r = await createEmailChannel(cfg, 0, { timeoutMs: 2000 }).send([notification()], never());
    expect(r).toMatchObject({ ok: false, retryable: true });
  });

  it("retries after a timeout when the server never greets, a garbage collection while it waits", async () => {
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => {
      sockets.push(socket);
      forceGc();
    });
    await new Promise<void>((done) => silent.listen(0, "127.0.0.1", done));
    try {
      const cfg = emailConfig((silent.address() as AddressInfo).port);
      const r = await createEmailChannel(cfg, 0, { timeoutMs: 300 }).send([notification()], never());
      expect(r).toMatchObject({ ok: false, retryable: true });
      if (!r.ok) expect(r.error).toContain("timed out after 300ms");
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => silent.close(() => done()));
    }
  });
});

describe("webhook channel", () => {
  const secret = "hmac-signing-secret";
  const cfg = (over: Partial<WebhookConfig> = {}): WebhookConfig => ({
    sendResolved: true,
    url: `${httpBase}/hook`,
    maxAlerts: 0,
    ...over,
  });

  it("posts the version 4 body with Idempotency-Key and a verifiable HMAC signature", async () => {
    const channel = createWebhookChannel(cfg(), 0, {
      timeoutMs: 2000,
      signingSecret: secret,
      userAgent: "tug-test",
    });
    expect(channel.multiGroup).toBe(false);
    await expect(channel.send([notification()], never())).resolves.toEqual({ ok: true });
    const [req] = requests;
    if (!req) throw new Error("no request");
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/hook");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["user-agent"]).toBe("tug-test");
    expect(req.headers["idempotency-key"]).toBe("dk-1");

    // Verified independently of the implementation: HMAC-SHA256 over "<timestamp>.<raw body>".
    const ts = String(req.headers["x-tug-timestamp"]);
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(60);
    const expected = createHmac("sha256", secret).update(`${ts}.${req.body}`).digest();
    const given = Buffer.from(String(req.headers["x-tug-signature"]).replace(/^sha256=/, ""), "hex");
    expect(given.length).toBe(expected.length);
    expect(timingSafeEqual(given, expected)).toBe(true);

    const body = JSON.parse(req.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual([
      "receiver",
      "status",
      "alerts",
      "groupLabels",
      "commonLabels",
      "commonAnnotations",
      "externalURL",
      "version",
      "groupKey",
      "truncatedAlerts",
      "dedupKey",
    ]);
    expect(body).toMatchObject({ version: "4", dedupKey: "dk-1", truncatedAlerts: 0, receiver: "team-a" });
  });

  it("sends no signature headers without a secret", async () => {
    await createWebhookChannel(cfg(), 0, { timeoutMs: 2000 }).send([notification()], never());
    expect(requests[0]?.headers["x-tug-signature"]).toBeUndefined();
    expect(requests[0]?.headers["x-tug-timestamp"]).toBeUndefined();
  });

  it("truncates to max_alerts and counts the rest in truncatedAlerts", async () => {
    const alerts = [
      alert({ alertname: "A", instance: "1", zone: "a" }),
      alert({ alertname: "A", instance: "2", zone: "a" }),
      alert({ alertname: "A", instance: "3", zone: "b" }),
    ];
    const n = notification({ alerts, groupLabels: { alertname: "A" }, commonLabels: { alertname: "A" } });
    await createWebhookChannel(cfg({ maxAlerts: 2 }), 0, { timeoutMs: 2000 }).send([n], never());
    const body = JSON.parse(requests[0]?.body ?? "{}") as {
      alerts: unknown[];
      truncatedAlerts: number;
      commonLabels: Record<string, string>;
    };
    expect(body.alerts).toHaveLength(2);
    expect(body.truncatedAlerts).toBe(1);
    // Alertmanager computes the common labels from the alerts it actually sends.
    expect(body.commonLabels).toEqual({ alertname: "A", zone: "a" });
  });

  it("maps statuses: 2xx ok, 5xx/408/429 retryable, other 4xx permanent", async () => {
    const channel = createWebhookChannel(cfg(), 0, { timeoutMs: 2000 });
    const cases: Array<[number, boolean | "ok"]> = [
      [200, "ok"],
      [204, "ok"],
      [500, true],
      [503, true],
      [408, true],
      [429, true],
      [400, false],
      [404, false],
    ];
    for (const [status, expected] of cases) {
      respond = statusResponder(status, "nope");
      const r = await channel.send([notification()], never());
      if (expected === "ok") expect(r, `HTTP ${status}`).toEqual({ ok: true });
      else {
        expect(r, `HTTP ${status}`).toMatchObject({ ok: false, retryable: expected });
        if (!r.ok) expect(r.error).toContain(`HTTP ${status}`);
      }
    }
  });

  it("never shows URL credentials or query secrets in errors; sends URL credentials as Basic auth", async () => {
    respond = statusResponder(500, "internal error");
    const url = `http://hookuser:pa55word-xyz@127.0.0.1:${new URL(httpBase).port}/hook?token=qsecret-123`;
    const r = await createWebhookChannel(cfg({ url }), 0, { timeoutMs: 2000 }).send(
      [notification()],
      never(),
    );
    expect(r).toMatchObject({ ok: false, retryable: true });
    if (!r.ok) {
      expect(r.error).not.toContain("pa55word-xyz");
      expect(r.error).not.toContain("qsecret-123");
      expect(r.error).not.toContain("hookuser");
    }
    const auth = String(requests[0]?.headers.authorization);
    expect(Buffer.from(auth.replace(/^Basic /, ""), "base64").toString()).toBe("hookuser:pa55word-xyz");
    expect(requests[0]?.url).toBe("/hook?token=qsecret-123");
  });

  it("retries a refused connection, naming the error code", async () => {
    const url = `http://u:pa55word-xyz@127.0.0.1:${await closedPort()}/hook?token=qsecret-123`;
    const r = await createWebhookChannel(cfg({ url }), 0, { timeoutMs: 2000 }).send(
      [notification()],
      never(),
    );
    expect(r).toMatchObject({ ok: false, retryable: true });
    if (!r.ok) {
      expect(r.error).toContain("ECONNREFUSED");
      expect(r.error).not.toContain("pa55word-xyz");
      expect(r.error).not.toContain("qsecret-123");
    }
  });

  it("retries after a timeout, a garbage collection while it waits", async () => {
    // Never answers; the collection is what made AbortSignal.any's timeout vanish on Node 20.
    respond = () => forceGc();
    const started = Date.now();
    const r = await createWebhookChannel(cfg(), 0, { timeoutMs: 300 }).send([notification()], never());
    expect(r).toMatchObject({ ok: false, retryable: true });
    if (!r.ok) expect(r.error).toContain("timed out after 300ms");
    // At the timeout, not when the server (never) answers; the bound leaves a loaded machine room.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("stops when the caller aborts", async () => {
    respond = () => {};
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const r = await createWebhookChannel(cfg(), 0, { timeoutMs: 10_000 }).send([notification()], ac.signal);
    expect(r).toMatchObject({ ok: false, retryable: true });
    if (!r.ok) expect(r.error).toContain("aborted");
  });
});

describe("slack channel", () => {
  const cfg = (over: Partial<SlackConfig> = {}): SlackConfig => ({
    sendResolved: true,
    apiUrl: `${httpBase}/services/T000/B000/secretpath123`,
    linkNames: false,
    mrkdwnIn: [],
    fields: [],
    shortFields: false,
    ...over,
  });

  it("refuses to send without an api_url", async () => {
    const r = await createSlackChannel(cfg({ apiUrl: undefined }), 0, { timeoutMs: 2000 }).send(
      [notification()],
      never(),
    );
    expect(r).toEqual({ ok: false, retryable: false, error: SLACK_URL_MISSING });
    expect(SLACK_URL_MISSING).toBe("slack api_url not configured (set SLACK_WEBHOOK_URL)");
  });

  it("sends one attachment per coalesced group, with configured fields", async () => {
    const resolved = notification({
      status: "resolved",
      alerts: [alert({ alertname: "DiskFull" }, { status: "resolved", endsAt: "2026-11-27T09:00:00Z" })],
      groupLabels: { alertname: "DiskFull" },
      commonLabels: { alertname: "DiskFull" },
    });
    const channel = createSlackChannel(
      cfg({ channel: "#ops", fields: [{ title: "Runbook", value: "http://wiki/x" }], shortFields: true }),
      0,
      { timeoutMs: 2000 },
    );
    await expect(channel.send([notification(), resolved], never())).resolves.toEqual({ ok: true });
    const body = JSON.parse(requests[0]?.body ?? "{}") as {
      channel: string;
      username: string;
      attachments: Array<Record<string, unknown>>;
    };
    expect(body.channel).toBe("#ops");
    expect(body.username).toBe("Alertmanager");
    expect(body.attachments.map((a) => [a.title, a.color])).toEqual([
      ["[FIRING:1] HighErrorRate (api page)", "danger"],
      ["[RESOLVED] DiskFull ", "good"],
    ]);
    expect(body.attachments[0]?.fields).toEqual([{ title: "Runbook", value: "http://wiki/x", short: true }]);
    expect(requests[0]?.headers["idempotency-key"]).toMatch(/^multi-[0-9a-f]{32}$/);
    expect(body.attachments[0]?.fallback).toBe(
      "[FIRING:1] HighErrorRate (api page) | http://am.local:9093/#/alerts?receiver=team-a",
    );
  });

  it("maps statuses like the webhook and hides the webhook path in errors", async () => {
    const channel = createSlackChannel(cfg(), 0, { timeoutMs: 2000 });
    for (const [status, retryable] of [
      [500, true],
      [429, true],
      [404, false],
      [403, false],
    ] as const) {
      respond = statusResponder(status, "invalid_token /services/T000/B000/secretpath123");
      const r = await channel.send([notification()], never());
      expect(r, `HTTP ${status}`).toMatchObject({ ok: false, retryable });
      if (!r.ok) expect(r.error).not.toContain("secretpath123");
    }
  });

  it("treats a Web API {ok:false} answer as a permanent failure", async () => {
    respond = (_req, res) => {
      res.setHeader("Content-Type", "application/json; charset=utf-8");
      res.end('{"ok":false,"error":"channel_not_found"}');
    };
    const r = await createSlackChannel(cfg(), 0, { timeoutMs: 2000 }).send([notification()], never());
    expect(r).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringContaining("channel_not_found"),
    });
  });
});

describe("alertmanager forwarder", () => {
  it("posts the alerts to /api/v2/alerts of every URL and succeeds when one accepts", async () => {
    respond = (req, res) => {
      res.statusCode = req.url?.startsWith("/broken") ? 500 : 200;
      res.end();
    };
    const fwd = createAlertmanagerForwarder([`${httpBase}/broken`, `${httpBase}/prefix/`], {
      timeoutMs: 2000,
    });
    const alerts = [
      {
        labels: { alertname: "A" },
        annotations: { summary: "s" },
        startsAt: "2026-11-27T08:41:30Z",
        endsAt: "",
        generatorURL: "http://app.local/x",
      },
    ];
    await expect(fwd.send(alerts, never())).resolves.toEqual({ ok: true });
    expect(requests.map((r) => r.url).sort()).toEqual(["/broken/api/v2/alerts", "/prefix/api/v2/alerts"]);
    expect(JSON.parse(requests[0]?.body ?? "null")).toEqual([
      {
        labels: { alertname: "A" },
        annotations: { summary: "s" },
        startsAt: "2026-11-27T08:41:30Z",
        generatorURL: "http://app.local/x",
      },
    ]);
  });

  it("fails, retryably, when no Alertmanager accepts", async () => {
    respond = statusResponder(503);
    const fwd = createAlertmanagerForwarder([httpBase, `http://127.0.0.1:${await closedPort()}`], {
      timeoutMs: 2000,
    });
    const r = await fwd.send(
      [{ labels: { a: "b" }, annotations: {}, startsAt: "", endsAt: "", generatorURL: "" }],
      never(),
    );
    expect(r).toMatchObject({ ok: false, retryable: true });
    if (!r.ok) expect(r.error).toMatch(/HTTP 503.*ECONNREFUSED|ECONNREFUSED.*HTTP 503/);
  });
});

describe("createChannels", () => {
  it("builds a receiver's integrations in Alertmanager's order: webhook, email, slack", () => {
    const channels = createChannels(
      {
        name: "r",
        emailConfigs: [emailConfig(25), emailConfig(25)],
        slackConfigs: [
          { sendResolved: false, linkNames: false, mrkdwnIn: [], fields: [], shortFields: false },
        ],
        webhookConfigs: [{ sendResolved: true, url: "http://x", maxAlerts: 0 }],
      },
      { timeoutMs: 1000 },
    );
    expect(channels.map((c) => `${c.kind}/${c.index}`)).toEqual([
      "webhook/0",
      "email/0",
      "email/1",
      "slack/0",
    ]);
    expect(channels.map((c) => c.sendResolved)).toEqual([true, true, true, false]);
  });
});
