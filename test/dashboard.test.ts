// The built-in dashboard's server side on a real app: the page and its assets with a strict CSP,
// the redirect, the live hub's one evaluation per interval shared by every open page (counted by
// its metric and by the evaluations' own stamps, not by timing), bad input, the cross-site check
// on mutations, and the token outside development.

import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { liveWindow } from "../src/http/dashboard.js";
import { startTestApp, type TestApp } from "./support/app.js";
import { waitFor } from "./support/wait.js";

interface Frame {
  event: string;
  data: string;
}

/** Reads an SSE stream with fetch, as the page does; frames are collected until `stop()`. */
function openStream(url: string, headers: Record<string, string> = {}) {
  const ctl = new AbortController();
  const frames: Frame[] = [];
  const opened = (async () => {
    const res = await fetch(url, { headers, signal: ctl.signal });
    const body = res.body;
    if (!body) throw new Error("no body");
    const status = res.status;
    const type = res.headers.get("content-type");
    void (async () => {
      const reader = body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += dec.decode(value, { stream: true });
          for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
            const raw = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const event = /^event: (.*)$/m.exec(raw)?.[1] ?? "message";
            const data = raw
              .split("\n")
              .filter((l) => l.startsWith("data: "))
              .map((l) => l.slice(6))
              .join("\n");
            if (data) frames.push({ event, data });
          }
        }
      } catch {
        // Aborted by stop(): the test is done with this stream.
      }
    })();
    return { status, type };
  })();
  return { frames, opened, stop: () => ctl.abort() };
}

const metricValue = (text: string, name: string, labels: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
};

describe("the live window (from/to) check", () => {
  const o = {
    presets: [{ id: "5m" }],
    retentionMs: 30 * 86_400_000,
    scrapeIntervalMs: 5000,
    now: 40 * 86_400_000,
  };
  it("refuses a window over 720 points at the longest step, naming to", () => {
    const err = (() => {
      try {
        liveWindow({ from: o.now - 8 * 86_400_000, to: o.now }, o);
      } catch (e) {
        return e as { details: Array<{ field: string; message: string }> };
      }
      return undefined;
    })();
    expect(err?.details[0]?.field).toBe("to");
    expect(err?.details[0]?.message).toContain("720 points");
    // 7 days fits at 15 min steps (672 points).
    expect(liveWindow({ from: o.now - 7 * 86_400_000, to: o.now }, o)).toEqual({
      fromMs: o.now - 7 * 86_400_000,
      toMs: o.now,
    });
  });
});

describe("dashboard (development, no token)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { yaml: "tsdb:\n  scrapeIntervalMs: 200\n" });
  }, 60_000);
  afterAll(() => t?.close());

  it("serves the page and its assets as files under a strict CSP, and redirects to it", async () => {
    const page = await fetch(`${t.url}/monitoring/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/<style|style=/); // no inline style
    const js = /src="([^"]+\.js)"/.exec(html)?.[1];
    const css = /href="([^"]+\.css)"/.exec(html)?.[1];
    expect(js).toMatch(/^\/monitoring\/dashboard\/assets\/app\.[0-9a-f]{16}\.js$/);
    const jsRes = await fetch(`${t.url}${js}`, { headers: { "accept-encoding": "gzip" } });
    expect(jsRes.status).toBe(200);
    expect(jsRes.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(jsRes.headers.get("cache-control")).toContain("immutable");
    const cssRes = await fetch(`${t.url}${css}`);
    expect(cssRes.headers.get("content-type")).toMatch(/^text\/css/);
    expect(await cssRes.text()).toContain(".uplot");
    // The bundle is the whole page's code: Preact, htm and uPlot, nothing fetched from elsewhere.
    const code = await jsRes.text();
    expect(code).not.toMatch(/https?:\/\/(?:cdn|unpkg|jsdelivr)/);
    for (const path of ["/monitoring/dashboard", "/monitoring"]) {
      const r = await fetch(`${t.url}${path}`, { redirect: "manual" });
      expect(r.status, path).toBe(302);
      expect(r.headers.get("location")).toBe("/monitoring/");
    }
    const missing = await t.call("GET", "/monitoring/dashboard/assets/app.0000.js");
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toContain("app.0000.js");
  });

  it("serves the bundle gzipped to clients that take it, the same bytes as plain", async () => {
    const html = await (await fetch(`${t.url}/monitoring/`)).text();
    const js = /src="([^"]+\.js)"/.exec(html)?.[1] as string;
    const { request } = await import("node:http");
    const raw = await new Promise<{ enc: string | undefined; body: Buffer }>((resolve, reject) => {
      request(`${t.url}${js}`, { headers: { "accept-encoding": "gzip" } }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ enc: res.headers["content-encoding"], body: Buffer.concat(parts) }));
      })
        .on("error", reject)
        .end();
    });
    expect(raw.enc).toBe("gzip");
    const plain = Buffer.from(
      await (await fetch(`${t.url}${js}`, { headers: { "accept-encoding": "identity" } })).arrayBuffer(),
    );
    expect(gunzipSync(raw.body).equals(plain)).toBe(true);
  });

  it("evaluates a view once per interval however many pages watch it", async () => {
    const N = 5;
    const streams = Array.from({ length: N }, () =>
      openStream(`${t.url}/monitoring/dashboard/live?view=resources&range=5m`),
    );
    for (const s of streams) {
      const { status, type } = await s.opened;
      expect(status).toBe(200);
      expect(type).toMatch(/^text\/event-stream/);
    }
    const evaluations = async () =>
      metricValue(
        await (await fetch(`${t.url}/monitoring/metrics`)).text(),
        "dashboard_evaluations_total",
        'view="resources"',
      );
    const before = await evaluations();
    // Every stream has seen at least 3 evaluations after `before` was read.
    const atsOf = (s: (typeof streams)[number]) =>
      s.frames
        .filter((f) => f.event === "data")
        .map((f) => (JSON.parse(f.data) as { head: { at: number } }).head.at);
    await waitFor(
      "three more evaluations seen by every page",
      () => streams.every((s) => atsOf(s).length >= 4),
      { timeoutMs: 60_000, last: () => streams.map((s) => atsOf(s).length) },
    );
    const after = await evaluations();
    for (const s of streams) s.stop();
    const distinct = new Set(streams.flatMap(atsOf));
    // Each evaluation reached every page: the pages saw the same evaluations, one set for all.
    const first = atsOf(streams[0] as (typeof streams)[number]);
    for (const s of streams) expect(atsOf(s).slice(-3)).toEqual(first.slice(-3));
    // And the hub counted no more evaluations than the distinct ones the pages saw (not N times).
    expect(after - before).toBeLessThanOrEqual(distinct.size);
    expect(distinct.size).toBeLessThan(first.length + 2);
    // The payload carries each panel's engine result, with its series.
    const last = JSON.parse(streams[0]?.frames.filter((f) => f.event === "data").at(-1)?.data ?? "{}");
    expect(Object.keys(last.panels)).toContain("cpu_memory");
    expect(last.panels.cpu_memory[0].status).toBe("success");
    expect(last.panels.cpu_memory[0].data.result.length).toBeGreaterThan(0);
    // With nobody watching, the hub lets the pages go and stops evaluating.
    const metrics = async () => (await fetch(`${t.url}/monitoring/metrics`)).text();
    await waitFor("no live page counted", async () => /^dashboard_live_clients 0$/m.test(await metrics()));
    const idle = await evaluations();
    // Two ticks of another view's group (the groups tick on the same interval boundaries): a
    // group still evaluating would have evaluated at each.
    const other = openStream(`${t.url}/monitoring/dashboard/live?view=users&range=5m`);
    await waitFor(
      "three evaluations of another view",
      () => other.frames.filter((f) => f.event === "data").length >= 3,
      {
        timeoutMs: 60_000,
      },
    );
    other.stop();
    expect(await evaluations()).toBeLessThanOrEqual(idle + 1); // one may have been running as they left
  }, 90_000);

  it("runs every panel query of every view on the engine without an error", async () => {
    const views = ["overview", "traffic", "errors", "resources", "alerts", "deployments", "users"];
    await t.call("GET", "/api/v1/nope"); // some traffic, so the HTTP series exist
    for (const view of views) {
      const s = openStream(`${t.url}/monitoring/dashboard/live?view=${view}&range=15m`);
      expect((await s.opened).status, view).toBe(200);
      const frame = await waitFor(
        `the first ${view} evaluation`,
        () => s.frames.find((f) => f.event === "data"),
        {
          timeoutMs: 30_000,
        },
      );
      s.stop();
      const data = JSON.parse(frame.data) as {
        panels: Record<string, Array<{ status?: string; error?: string }>>;
      };
      for (const [id, results] of Object.entries(data.panels)) {
        for (const r of results) expect(r.error, `${view}/${id}`).toBeUndefined();
      }
    }
  }, 90_000);

  it("links a deployment's outcome alert to its page on the dashboard", async () => {
    // The CI/CD side of a rollback: accepts it.
    const server = createServer((_req, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end("{}"),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const rollback = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rollback` };
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const started = await t.call("POST", "/monitoring/deployments", {
      body: {
        version: "1.2.3-link",
        healthCheckUrl: `${t.url}/monitoring/health/live`,
        checkIntervalSeconds: 10,
        rollbackUrl: rollback.url,
      },
    });
    expect(started.status).toBe(201);
    const id = started.body.deployment.id as string;
    expect(
      (await t.call("POST", `/monitoring/deployments/${encodeURIComponent(id)}/rollback`, { body: {} }))
        .status,
    ).toBe(200);
    const alert = await waitFor("the outcome alert", () =>
      t.app.notifier?.alertPage({ offset: 0, limit: 1000 }).alerts.find((a) => a.labels.deployment_id === id),
    );
    const url = new URL(alert.generatorURL);
    expect(url.pathname).toBe("/monitoring/");
    expect(url.hash).toBe(`#/deployments/${encodeURIComponent(id)}`);
  });

  it("answers unknown views and malformed or too long ranges with a 400 naming the parameter", async () => {
    const bad = [
      ["view=nope&range=1h", "view"],
      ["view=overview&range=banana", "range"],
      ["view=overview&range=7d", "range"], // longer than the in-memory store's hour
      ["view=overview", "range"],
      ["view=overview&range=1h&extra=1", "extra"],
    ] as const;
    for (const [q, field] of bad) {
      const r = await t.call("GET", `/monitoring/dashboard/live?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe("VALIDATION_FAILED");
      expect(
        r.body.error.details.map((d: { field: string }) => d.field),
        q,
      ).toContain(field);
    }
    const c = await t.call("GET", "/monitoring/dashboard/config");
    expect(c.status).toBe(200);
    expect(c.body.ranges.map((r: { id: string }) => r.id)).toEqual(["5m", "15m", "1h"]);
  });

  it("takes a from/to window within retention and answers a wrong one with a 400 naming the field", async () => {
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const bad = [
      [`from=${iso(now - 600_000)}&to=${iso(now - 1_200_000)}`, "from", "before to"],
      [`from=${iso(now - 600_000)}&to=${iso(now - 600_000)}`, "from", "before to"],
      [`from=${iso(now - 2 * 3_600_000)}&to=${iso(now - 600_000)}`, "from", "older than the store keeps"],
      [`from=${iso(now - 600_000)}&to=${iso(now + 3_600_000)}`, "to", "future"],
      [`from=yesterday&to=${iso(now)}`, "from", "ISO 8601"],
      [`from=2026-12-06T10:00&to=${iso(now)}`, "from", "zone"], // no zone: ambiguous
      [`from=${iso(now - 600_000)}`, "to", "required"],
      [`range=1h&from=${iso(now - 600_000)}&to=${iso(now)}`, "range", "not both"],
      ["range=1h&route=%2Fa%0Ab", "route", "printable"],
      ["range=1h&route=", "route", "printable"],
    ] as const;
    for (const [q, field, why] of bad) {
      const view = q.includes("route") ? "traffic" : "overview";
      const r = await t.call("GET", `/monitoring/dashboard/live?view=${view}&${q}`);
      expect(r.status, q).toBe(400);
      const d = r.body.error.details as Array<{ field: string; message: string }>;
      expect(
        d.map((x) => x.field),
        q,
      ).toContain(field);
      expect(d.map((x) => x.message).join(" "), q).toContain(why);
    }
    const notTraffic = await t.call("GET", "/monitoring/dashboard/live?view=users&range=1h&route=%2Fa");
    expect(notTraffic.status).toBe(400);
    expect(notTraffic.body.error.details[0].field).toBe("route");
    // A good window, in ISO and in Unix seconds: its frame says so, at the presets' step.
    for (const [from, to] of [
      [iso(now - 900_000), iso(now - 60_000)],
      [String((now - 900_000) / 1000), String(Math.floor((now - 60_000) / 1000))],
    ]) {
      const s = openStream(
        `${t.url}/monitoring/dashboard/live?view=traffic&from=${encodeURIComponent(from as string)}&to=${encodeURIComponent(to as string)}&route=${encodeURIComponent("/api/v1/users/me")}`,
      );
      onTestFinished(s.stop);
      expect((await s.opened).status).toBe(200);
      const data = await waitFor("the window's frame", () => s.frames.find((f) => f.event === "data"));
      const frame = JSON.parse(data.data) as {
        head: { range: string; stepMs: number; route: string; fromMs: number };
        panels: Record<string, Array<{ error?: string }>>;
      };
      expect(frame.head).toMatchObject({ range: "custom", stepMs: 5000, route: "/api/v1/users/me" });
      expect(frame.head.fromMs).toBe(
        Math.round(Number.isNaN(Number(from)) ? Date.parse(from as string) : Number(from) * 1000),
      );
      expect(Object.keys(frame.panels)).toEqual(expect.arrayContaining(["routes", "route_reqps", "route_s"]));
      for (const [id, rs] of Object.entries(frame.panels))
        for (const r of rs) expect(r.error, id).toBeUndefined();
      s.stop();
    }
  });

  it("refuses a forged cross-site mutation with 403 and the API's error shape; same-origin and tools pass", async () => {
    const silence = {
      matchers: [{ name: "alertname", value: "DashboardTest", isRegex: false }],
      endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      createdBy: "test",
      comment: "csrf",
    };
    const forged = await t.call("POST", "/monitoring/silences", {
      body: silence,
      headers: { origin: "https://evil.example" },
    });
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe("FORBIDDEN");
    expect(forged.body.error.message).toContain("https://evil.example");
    expect(forged.body.requestId).toBeTruthy();
    const crossSite = await t.call("DELETE", "/monitoring/silences/x", {
      headers: { "sec-fetch-site": "cross-site" },
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.error.message).toContain("cross-site");
    const host = new URL(t.url).host;
    const same = await t.call("POST", "/monitoring/silences", {
      body: silence,
      headers: { origin: `http://${host}`, "sec-fetch-site": "same-origin" },
    });
    expect(same.status).toBe(200);
    const tool = await t.call("DELETE", `/monitoring/silences/${same.body.silenceID}`);
    expect(tool.status).toBe(200);
    // Reads are not mutations: a cross-site GET is left to the token (and the CSP of the page).
    const read = await t.call("GET", "/monitoring/silences", { headers: { origin: "https://evil.example" } });
    expect(read.status).toBe(200);
  });
});

describe("dashboard (production, token)", () => {
  let t: TestApp;
  const token = "dashboard-test-token-0123456789abcdef";
  beforeAll(async () => {
    t = await startTestApp({ ENVIRONMENT: "production", MONITORING_TOKEN: token }, {});
  }, 60_000);
  afterAll(() => t?.close());

  it("serves the shell without the token but no data without it", async () => {
    const page = await fetch(`${t.url}/monitoring/`);
    expect(page.status).toBe(200);
    expect(await page.text()).not.toContain(token);
    const config = await t.call("GET", "/monitoring/dashboard/config");
    expect(config.status).toBe(401);
    const live = await t.call("GET", "/monitoring/dashboard/live?view=overview&range=1h");
    expect(live.status).toBe(401);
    const wrong = await t.call("GET", "/monitoring/dashboard/config", { token: "wrong" });
    expect(wrong.status).toBe(403);
    const ok = await t.call("GET", "/monitoring/dashboard/config", { token });
    expect(ok.status).toBe(200);
    expect(ok.body.environment).toBe("production");
    expect(JSON.stringify(ok.body)).not.toContain(token);
    const s = openStream(`${t.url}/monitoring/dashboard/live?view=overview&range=15m`, {
      authorization: `Bearer ${token}`,
    });
    expect((await s.opened).status).toBe(200);
    await waitFor("the first overview", () => s.frames.some((f) => f.event === "data"), {
      timeoutMs: 30_000,
    });
    s.stop();
    const data = JSON.parse(s.frames.find((f) => f.event === "data")?.data ?? "{}");
    expect(data.extra.version).toBeTruthy();
    expect(JSON.stringify(data)).not.toContain(token);
  }, 60_000);
});

describe("dashboard at shutdown", () => {
  it("ends the live streams when the server closes, so the drain does not wait for them", async () => {
    const t = await startTestApp({}, { yaml: "shutdown:\n  timeoutMs: 3000\n" });
    const res = await fetch(`${t.url}/monitoring/dashboard/live?view=users&range=5m`);
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    let ended = false;
    const reading = (async () => {
      try {
        for (;;) if ((await reader?.read())?.done !== false) break;
      } catch {
        // A reset instead of an end: ended all the same.
      }
      ended = true;
    })();
    await t.close();
    // Ended by the server before close() returned (without it, close() would give up after
    // shutdown.timeoutMs and leave the stream open).
    await reading;
    expect(ended).toBe(true);
    const log = readFileSync(join(t.dir, "app.log"), "utf8");
    expect(log).not.toContain("stop of readiness exceeded");
  }, 60_000);
});
