// The abuse suite (issue 11): a real `tug serve` in production mode is attacked the way a hostile
// or careless user would, one attack at a time. During each attack a probe keeps calling the API
// (an authenticated list of activities) and the liveness probe; afterwards nothing written before
// may be lost. What each attack must end in is stated next to it.
//
// Bounds (stated once, asserted for every attack):
//   - the API's own requests: p99 under 50 ms during the attack;
//   - /monitoring/health/live: every probe answers 200, p99 under 100 ms;
//   - the attack itself ends in the stated 4xx/5xx within its timeout;
//   - the server's resident memory stays under RSS_BOUND_MB (the engine worker's heap is capped at
//     engine.memoryLimitMb, here 512 MB; the main thread needs ~150 MB).
// Probe latencies are measured by a thread of this test process, so they include the machine's
// own scheduling noise. The suite runs alone (vitest.isolated.config.ts); still, on a machine
// loaded by something else the bounds become max(stated bound, 2 × the same probes' p99 with no
// attack + margin), never above CEILING_MS — a blocked server (the 61 s of the issue) fails
// either way. A stall of the measuring side during one attack (the host pausing the whole machine
// for ~50 ms, seen once in CI: API and live probes equally late) is measured too: the probe
// thread's own event-loop delay over the attack widens both bounds by its largest value, still
// never above CEILING_MS. A server that blocks does not delay the probe thread, which only waits
// on its sockets, so it fails as before. Each attack prints its figures and the bounds in force.

import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildApp, startChildApp } from "./support/child.js";
import { rawRequests } from "./support/raw-http.js";
import { waitFor } from "./support/wait.js";

const TOKEN = "abuse-suite-token-0123456789abcdef";
const RSS_BOUND_MB = 1200;
const API_P99_MS = 50;
const LIVE_P99_MS = 100;
/** The cold burst's own bound: all of its 100 requests served within this (80-110 ms at load ~1). */
const COLD_BURST_MS = 1000;
const CEILING_MS = 400;
/** The probes' p99 with no attack, measured once before the attacks (see the cold-start test). */
const quiet = { api: 0, live: 0 };
const apiBound = () => Math.min(CEILING_MS, Math.max(API_P99_MS, 2 * quiet.api + 25));
const liveBound = () => Math.min(CEILING_MS, Math.max(LIVE_P99_MS, 2 * quiet.live + 50));

let app: ChildApp;
let userToken = "";
const before: { activityId?: string; silenceId?: string; alertName: string; startedAt: number } = {
  alertName: "AbuseSuiteBefore",
  startedAt: Date.now(),
};

const mon = (path: string, init: RequestInit = {}) =>
  fetch(`${app.base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers ?? {}) },
  });

async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number);
};

interface Probe {
  api: number[];
  live: number[];
  liveStatuses: number[];
  apiStatuses: number[];
  rssMaxMb: number;
  /** The probe thread's own largest event-loop delay over the recording, ms: the measuring side's stall. */
  stallMs: number;
}

// The probes run in a thread of their own, so that what this test does to build an attack
// (a 1 MB string, 1,000-alert bodies) cannot delay them and be mistaken for the server's stall.
// The thread probes all along (its connections and its fetch stay warm) and records between a
// "start" and a "stop" message; a recording holds at least five probes of each kind.
const PROBE_THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const { readFileSync } = require("node:fs");
const { monitorEventLoopDelay } = require("node:perf_hooks");
const { base, pid } = workerData;
const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
let token = null;
let recording = false;
let stopAsked = false;
let exiting = false;
const fresh = () => ({ api: [], live: [], liveStatuses: [], apiStatuses: [], rssMaxMb: 0, stallMs: 0 });
let probe = fresh();
parentPort.on("message", (m) => {
  if (m.type === "token") token = m.token;
  else if (m.type === "start") { probe = fresh(); delay.reset(); recording = true; stopAsked = false; }
  else if (m.type === "stop") { stopAsked = true; maybeReport(); }
  else if (m.type === "exit") exiting = true;
});
function maybeReport() {
  if (recording && stopAsked && probe.api.length >= 5 && probe.live.length >= 5) {
    recording = false;
    stopAsked = false;
    probe.stallMs = Math.max(0, delay.max / 1e6 - 5); // the histogram counts whole 5 ms intervals
    parentPort.postMessage(probe);
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function rss() {
  const m = /VmRSS:\\s+(\\d+) kB/.exec(readFileSync("/proc/" + pid + "/status", "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}
async function api() {
  while (!exiting) {
    if (token === null) { await sleep(20); continue; }
    const t0 = performance.now();
    const r = await fetch(base + "/api/v1/activities?limit=5", { headers: { authorization: "Bearer " + token } });
    await r.arrayBuffer();
    if (recording) { probe.api.push(performance.now() - t0); probe.apiStatuses.push(r.status); maybeReport(); }
    await sleep(20);
  }
}
async function live() {
  while (!exiting) {
    const t0 = performance.now();
    const r = await fetch(base + "/monitoring/health/live");
    await r.arrayBuffer();
    if (recording) {
      probe.live.push(performance.now() - t0);
      probe.liveStatuses.push(r.status);
      probe.rssMaxMb = Math.max(probe.rssMaxMb, rss());
      maybeReport();
    }
    await sleep(20);
  }
}
Promise.all([api(), live()]);
`;
let prober: Worker | undefined;

/** Runs `attack` while the probe thread calls the API and the liveness probe every 20 ms. */
async function underAttack<T>(attack: () => Promise<T>): Promise<{ result: T; probe: Probe }> {
  const thread = prober as Worker;
  // One listener pair per attack, removed when it settles (13 attacks would pass Node's 10-listener warning).
  const finished = new Promise<Probe>((resolve, reject) => {
    const onMessage = (p: Probe) => {
      thread.off("error", onError);
      resolve(p);
    };
    const onError = (err: Error) => {
      thread.off("message", onMessage);
      reject(err);
    };
    thread.once("message", onMessage);
    thread.once("error", onError);
  });
  thread.postMessage({ type: "token", token: userToken });
  thread.postMessage({ type: "start" });
  const result = await attack();
  thread.postMessage({ type: "stop" });
  return { result, probe: await finished };
}

/** A bound widened by the measuring side's own stall, never past CEILING_MS unless it already was. */
const widenByStall = (bound: number, stallMs: number) =>
  Math.max(bound, Math.min(CEILING_MS, bound + stallMs));

function expectUnharmed(probe: Probe, what: string, stated = { api: apiBound(), live: liveBound() }) {
  const api = pct(probe.api, 99);
  const live = pct(probe.live, 99);
  const bounds = {
    api: widenByStall(stated.api, probe.stallMs),
    live: widenByStall(stated.live, probe.stallMs),
  };
  const summary =
    `${what}: api p99 ${api.toFixed(1)} ms (n=${probe.api.length}), live p99 ${live.toFixed(1)} ms ` +
    `max ${Math.max(...probe.live).toFixed(1)} ms, rss max ${probe.rssMaxMb.toFixed(0)} MB; ` +
    `bounds api ${bounds.api.toFixed(0)} ms, live ${bounds.live.toFixed(0)} ms ` +
    `(quiet p99 api ${quiet.api.toFixed(1)}, live ${quiet.live.toFixed(1)}; probe thread stall ${probe.stallMs.toFixed(1)} ms)`;
  console.log(summary);
  expect(probe.api.length, summary).toBeGreaterThan(0);
  expect(new Set(probe.apiStatuses), summary).toEqual(new Set([200]));
  expect(new Set(probe.liveStatuses), summary).toEqual(new Set([200]));
  expect(api, summary).toBeLessThan(bounds.api);
  expect(live, summary).toBeLessThan(bounds.live);
  expect(probe.rssMaxMb, summary).toBeLessThan(RSS_BOUND_MB);
}

const query = (q: string, extra: Record<string, string> = {}, signal?: AbortSignal) =>
  mon("/monitoring/api/v1/query", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ query: q, ...extra }).toString(),
    signal,
  });

beforeAll(async () => {
  app = await startChildApp(
    { ENVIRONMENT: "production", MONITORING_TOKEN: TOKEN, LOG_LEVEL: "warn" },
    [
      "log:",
      "  stdout: false",
      "tsdb:",
      "  scrapeIntervalMs: 1000",
      "engine:",
      "  queryTimeoutMs: 5000",
      "  memoryLimitMb: 512",
      "shutdown:",
      "  drainDelayMs: 0",
      "",
    ].join("\n"),
  );
  prober = new Worker(PROBE_THREAD, { eval: true, workerData: { base: app.base, pid: app.child.pid } });
  // The cold-start burst comes first, while the process is fresh (see the first test).
}, 120_000);

afterAll(async () => {
  prober?.postMessage({ type: "exit" });
  await prober?.terminate();
  if (!app) return;
  app.child.kill("SIGTERM");
  await app.exited;
});

describe("abuse suite: the API and its probes are unharmed by hostile monitoring input", () => {
  it("100 connections at once on a cold start", async () => {
    const email = "cold@example.com";
    {
      // The probe needs a user: registered before the burst, nothing else warmed up.
      const reg = await fetch(`${app.base}/api/v1/auth/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password: "correct horse battery" }),
      });
      expect(reg.status).toBe(201);
      const login = await json(
        await fetch(`${app.base}/api/v1/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email, password: "correct horse battery" }),
        }),
      );
      userToken = login.token;
    }
    // 100 fresh connections at once (see support/raw-http.ts), a third each to the user's
    // profile, the metrics and the activities; each request timed from its connection's start.
    const timed = (path: string, authorization: string, n: number) => {
      const t0 = performance.now();
      return rawRequests(app.base, { method: "GET", path, headers: { authorization } }, n).then((rs) =>
        rs.map((r) => ({ status: r.status, ms: performance.now() - t0 })),
      );
    };
    const { result, probe } = await underAttack(async () =>
      (
        await Promise.all([
          timed("/api/v1/users/me", `Bearer ${userToken}`, 34),
          timed("/monitoring/metrics", `Bearer ${TOKEN}`, 33),
          timed("/api/v1/activities", `Bearer ${userToken}`, 33),
        ])
      ).flat(),
    );
    expect(result.every((r) => r.status === 200)).toBe(true);
    // Each third is timed to its last response (rawRequests answers a batch at once), so this is
    // how long the server took to serve the burst.
    const burstMs = pct(
      result.map((r) => r.ms),
      99,
    );
    console.log(`cold burst: served in ${burstMs.toFixed(1)} ms`);
    expect(burstMs).toBeLessThan(COLD_BURST_MS);
    // Scrapes are bounded in renders (metrics.scrapeRendersPerSecond, default 5 a second): most of
    // the 33 got a render made for another. Read from the first render made after the burst.
    const scrapes = await waitFor("a scrape rendered after the burst", async () => {
      const r = await mon("/monitoring/metrics");
      const text = await r.text();
      if (r.headers.get("x-tug-render-age-ms") !== null) return undefined;
      const count = (render: string) =>
        Number(new RegExp(`^metrics_scrapes_total\\{render="${render}"\\} (\\S+)$`, "m").exec(text)?.[1]);
      return { fresh: count("fresh"), reused: count("reused") };
    });
    console.log(
      `cold burst: of 33 scrapes ${scrapes.fresh} rendered, the others answered with the last render`,
    );
    expect(scrapes.fresh).toBeGreaterThanOrEqual(1);
    expect(scrapes.fresh).toBeLessThanOrEqual(5 + Math.ceil((5 * burstMs) / 1000));
    expect(scrapes.reused).toBeGreaterThanOrEqual(33 - scrapes.fresh);
    // What must survive every attack below.
    const act = await json(
      await fetch(`${app.base}/api/v1/activities`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${userToken}` },
        body: JSON.stringify({ type: "run", title: "written before the attacks" }),
      }),
    );
    before.activityId = act.activity.id;
    expect(before.activityId).toMatch(/^[0-9a-f-]{36}$/);
    const sil = await json(
      await mon("/monitoring/silences", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          matchers: [{ name: "alertname", value: "Never", isRegex: false, isEqual: true }],
          startsAt: new Date().toISOString(),
          endsAt: new Date(Date.now() + 3_600_000).toISOString(),
          createdBy: "abuse",
          comment: "written before the attacks",
        }),
      }),
    );
    before.silenceId = sil.silenceID;
    const posted = await mon("/monitoring/api/v2/alerts", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ labels: { alertname: before.alertName, severity: "info" } }]),
    });
    expect(posted.status).toBe(200);
    // The machine's own noise, once the process is warm: the same probes with no attack.
    const calm = await underAttack(async () => {
      for (let i = 0; i < 100; i++) await (await fetch(`${app.base}/monitoring/health/ready`)).arrayBuffer();
    });
    quiet.api = pct(calm.probe.api, 99);
    quiet.live = pct(calm.probe.live, 99);
    console.log(`quiet: api p99 ${quiet.api.toFixed(1)} ms, live p99 ${quiet.live.toFixed(1)} ms`);
    // The burst is itself 100 requests on fresh connections at once, two thirds of them the API's
    // own (a profile and a list, from SQLite): the server works through them in turn, so a probe
    // that lands behind them waits for them, whatever monitoring does. Those 67 cost the app
    // ~35-50 ms of its main thread here (100 on a bare Fastify with one route: ~15 ms); the
    // scrapes' share is their ~5 renders (~2.5 ms each). So the probes are held to the common
    // bounds, or, where it is longer, to the burst's own time plus a probe's (2 x quiet + 25, as
    // the loaded-machine margin above): served in their turn, never behind anything but the burst.
    const inTurn = burstMs + Math.max(2 * quiet.api, 2 * quiet.live) + 25;
    expectUnharmed(probe, "cold burst", {
      api: Math.max(apiBound(), inTurn),
      live: Math.max(liveBound(), inTurn),
    });
  });

  it("count_over_time(vector(1)[1d:1ms]) ends in 422 (too many samples) or 503 (timeout) without stalling anything", async () => {
    const { result, probe } = await underAttack(async () => {
      const t0 = performance.now();
      const r = await query("count_over_time(vector(1)[1d:1ms])");
      return { status: r.status, body: await json(r), ms: performance.now() - t0 };
    });
    // 86.4 M subquery steps: whichever limit comes first, max samples or the 5 s timeout, ends it.
    expect([422, 503], JSON.stringify(result.body)).toContain(result.status);
    expect(result.body.status).toBe("error");
    expect(result.body.error).toMatch(/too many samples|timed out/);
    expect(result.ms).toBeLessThan(5_000 + 2_000);
    expectUnharmed(probe, "1d:1ms subquery");
  });

  it("three nested 1h:1s subqueries end in 503 timeout at the configured 5 s", async () => {
    const q = "max_over_time(max_over_time(max_over_time(vector(1)[1h:1s])[1h:1s])[1h:1s])";
    const { result, probe } = await underAttack(async () => {
      const t0 = performance.now();
      const r = await query(q);
      return { status: r.status, body: await json(r), ms: performance.now() - t0 };
    });
    expect(result.status, JSON.stringify(result.body)).toBe(503);
    expect(result.body).toMatchObject({ status: "error", errorType: "timeout" });
    expect(result.ms).toBeLessThan(5_000 + 2_000);
    expectUnharmed(probe, "nested subqueries");
  });

  it("&timeout=100ms cancels the same query at about 100 ms", async () => {
    const q = "max_over_time(max_over_time(max_over_time(vector(1)[1h:1s])[1h:1s])[1h:1s])";
    const { result, probe } = await underAttack(async () => {
      const t0 = performance.now();
      const r = await query(q, { timeout: "100ms" });
      return { status: r.status, body: await json(r), ms: performance.now() - t0 };
    });
    expect(result.status).toBe(503);
    expect(result.body.errorType).toBe("timeout");
    expect(result.ms).toBeLessThan(1_500);
    expectUnharmed(probe, "timeout=100ms");
  });

  it("heavy queries from clients that disconnected are abandoned, not run one after another", async () => {
    const q = "max_over_time(max_over_time(vector(1)[1h:1s])[1h:1s])";
    const { result, probe } = await underAttack(async () => {
      const aborted = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const c = new AbortController();
          const p = query(q, {}, c.signal).then(
            () => "answered",
            () => "aborted",
          );
          setTimeout(() => c.abort(), 100);
          return p;
        }),
      );
      // Right after, a small query must not wait behind ten 5-second evaluations.
      const t0 = performance.now();
      const r = await query("vector(1)");
      return { aborted, status: r.status, ms: performance.now() - t0 };
    });
    expect(result.aborted.every((x) => x === "aborted")).toBe(true);
    expect(result.status).toBe(200);
    expect(result.ms).toBeLessThan(2_000);
    expectUnharmed(probe, "abandoned queries");
  });

  it("a backtracking regex in label_replace runs in linear time, at n = 48 and n = 10,000", async () => {
    for (const n of [48, 10_000]) {
      const value = "a".repeat(n);
      const q = `label_replace(label_replace(vector(1), "v", "${value}", "", ""), "w", "$1", "v", "(a+)+b")`;
      const { result, probe } = await underAttack(async () => {
        const t0 = performance.now();
        const r = await query(q);
        return { status: r.status, body: await json(r), ms: performance.now() - t0 };
      });
      expect(result.status, JSON.stringify(result.body).slice(0, 300)).toBe(200);
      expect(result.body.data.result).toHaveLength(1);
      expect(result.ms).toBeLessThan(2_000);
      expectUnharmed(probe, `(a+)+b at n=${n}`);
    }
  });

  it("RE2's rejections: a back-reference is refused in PromQL and in a silence", async () => {
    const r = await query('up{job=~"(a)\\\\1"}');
    expect(r.status).toBe(400);
    expect((await json(r)).errorType).toBe("bad_data");
    const s = await mon("/monitoring/silences", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        matchers: [{ name: "job", value: "(a)\\1", isRegex: true, isEqual: true }],
        startsAt: new Date().toISOString(),
        endsAt: new Date(Date.now() + 60_000).toISOString(),
        createdBy: "abuse",
        comment: "backreference",
      }),
    });
    expect(s.status).toBe(400);
  });

  it("a backtracking regex in a silence does not make GET /monitoring/alerts exponential", async () => {
    const { result, probe } = await underAttack(async () => {
      const s = await mon("/monitoring/silences", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          matchers: [{ name: "v", value: "(a+)+b", isRegex: true, isEqual: true }],
          startsAt: new Date().toISOString(),
          endsAt: new Date(Date.now() + 60_000).toISOString(),
          createdBy: "abuse",
          comment: "catastrophic backtracking in JS, linear in RE2",
        }),
      });
      const a = await mon("/monitoring/api/v2/alerts", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([{ labels: { alertname: "Backtrack", v: "a".repeat(2000) } }]),
      });
      const t0 = performance.now();
      const l = await mon("/monitoring/alerts");
      await l.arrayBuffer();
      return { silence: s.status, alert: a.status, list: l.status, ms: performance.now() - t0 };
    });
    expect(result).toMatchObject({ silence: 200, alert: 200, list: 200 });
    expect(result.ms).toBeLessThan(2_000);
    expectUnharmed(probe, "regex silence");
  });

  it("25,000 distinct alerts: the intake is bounded and the listing stays small and fast", async () => {
    const { result, probe } = await underAttack(async () => {
      const statuses: number[] = [];
      for (let b = 0; b < 25; b++) {
        const alerts = Array.from({ length: 1000 }, (_, i) => ({
          labels: { alertname: "Flood", n: String(b * 1000 + i) },
        }));
        const r = await mon("/monitoring/api/v2/alerts", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(alerts),
        });
        await r.arrayBuffer();
        statuses.push(r.status);
      }
      const tooMany = await mon("/monitoring/api/v2/alerts", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(
          Array.from({ length: 1001 }, (_, i) => ({ labels: { alertname: "Big", n: String(i) } })),
        ),
      });
      const t0 = performance.now();
      const list = await mon("/monitoring/alerts");
      const text = await list.text();
      return {
        statuses,
        tooMany: tooMany.status,
        list: list.status,
        bytes: text.length,
        ms: performance.now() - t0,
      };
    });
    expect(result.statuses.slice(0, 9)).toEqual(Array(9).fill(200));
    expect(result.statuses).toContain(429);
    expect(result.tooMany).toBe(400);
    expect(result.list).toBe(200);
    expect(result.bytes).toBeLessThan(1_000_000);
    expect(result.ms).toBeLessThan(1_000);
    expectUnharmed(probe, "alert flood");
  });

  it("`-X QUERY` with no token, 20/s for 3 s: 4xx, never a 5xx, and no error-rate alert", async () => {
    const fiveHundreds = async () => {
      const text = await (await mon("/monitoring/metrics")).text();
      let n = 0;
      for (const m of text.matchAll(/^http_requests_total\{[^}]*status_code="5\d\d"[^}]*\} (\S+)$/gm))
        n += Number(m[1]);
      return n;
    };
    const before5xx = await fiveHundreds();
    const { result, probe } = await underAttack(async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) {
        const r = await fetch(`${app.base}/anything`, { method: "QUERY" });
        await r.arrayBuffer();
        statuses.push(r.status);
        await new Promise((res) => setTimeout(res, 50));
      }
      return statuses;
    });
    expect(result.every((s) => s >= 400 && s < 500)).toBe(true);
    expect(await fiveHundreds()).toBe(before5xx);
    expectUnharmed(probe, "QUERY method");
  });

  it("50 concurrent wrong-password logins are throttled with 429 and Retry-After", async () => {
    // Sent as a flood would send them: 50 fresh connections at once (see support/raw-http.ts).
    const { result: responses, probe } = await underAttack(() =>
      rawRequests(
        app.base,
        {
          method: "POST",
          path: "/api/v1/auth/login",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: "cold@example.com", password: "wrong password!" }),
        },
        50,
      ),
    );
    const result = responses.map((r) => ({ status: r.status, retryAfter: r.headers["retry-after"] }));
    const throttled = result.filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled.every((r) => Number(r.retryAfter) > 0)).toBe(true);
    expect(result.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    // The password checks run on hashing threads at nice 10 (src/api/hash-workers.ts), so they
    // give way to the API's thread. Until the flood was sent with raw sockets this was asserted
    // at 150 ms: the probes measured 24-73 ms, of which most was fetch's own CPU on the shared
    // cores (45-52 ms per burst of 50 against the server's 16-17 ms); since, 7.5-18.9 ms.
    expectUnharmed(probe, "login flood");
  });

  it("our own: 1 MB query bodies under and over the body limit, a million-step range query, a match-all federate", async () => {
    // Built before the attack: encoding a megabyte here costs this process tens of ms of the
    // cores the server shares, which is not what is measured. The first body (just under the
    // 1 MiB body limit, one "+" or escape every few bytes) is read and parsed; the second is
    // refused on its Content-Length before it is read.
    const form = (q: string) => new URLSearchParams({ query: q }).toString();
    const underLimit = form(`sum(${"up + ".repeat(140_000)}up)`);
    const overLimit = form(`sum(${"up + ".repeat(200_000)}up)`);
    expect(underLimit.length).toBeLessThan(1_048_576);
    expect(overLimit.length).toBeGreaterThan(1_048_576);
    const post = (body: string) =>
      mon("/monitoring/api/v1/query", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
    const { result, probe } = await underAttack(async () => {
      const parsed = await post(underLimit);
      await parsed.arrayBuffer();
      const huge = await post(overLimit);
      await huge.arrayBuffer();
      const steps = await mon(`/monitoring/api/v1/query_range?query=vector(1)&start=0&end=${1e6}&step=1`);
      const fed = await mon(`/monitoring/federate?match[]=${encodeURIComponent('{__name__=~".+"}')}`);
      await fed.arrayBuffer();
      return {
        parsed: parsed.status,
        huge: huge.status,
        steps: steps.status,
        stepsBody: await json(steps),
        fed: fed.status,
      };
    });
    expect([400, 422, 503]).toContain(result.parsed);
    expect(result.huge).toBe(413);
    expect(result.steps).toBe(400);
    expect(result.stepsBody.error).toMatch(/11,000 points/);
    expect(result.fed).toBe(200);
    // The body under the limit cost the main thread 50-70 ms of URLSearchParams parsing; with
    // src/http/form.ts ~25 ms of CPU at load 13 (the one over the limit ~1.5 ms). Asserted at
    // 150 ms while the suite's floods were sent with fetch (23-558 ms over nine runs at load
    // 9-13, the long ones in runs where every attack stalled as much); 6-22 ms in the eight runs
    // at load ~1 of session 8, and within the common bounds with two busy loops beside it.
    expectUnharmed(probe, "own attacks");
  });

  it("afterwards everything written before is intact, and the engine was never restarted", async () => {
    const login = await json(
      await fetch(`${app.base}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "cold@example.com", password: "correct horse battery" }),
      }),
    );
    // The throttle counts failures per account: the right password may still be refused for a
    // while after the login flood; the session from before must keep working either way.
    const act = await fetch(`${app.base}/api/v1/activities/${before.activityId}`, {
      headers: { authorization: `Bearer ${userToken}` },
    });
    expect(act.status).toBe(200);
    expect(login.token ?? login.error?.code).toBeTruthy();
    const silences = (await json(await mon("/monitoring/silences"))) as Array<{ id: string }>;
    expect(silences.some((s) => s.id === before.silenceId)).toBe(true);
    const alerts = await json(await mon(`/monitoring/alerts?limit=1000`));
    expect(JSON.stringify(alerts)).toContain(before.alertName);
    // The store kept its samples from before the first attack: one per second since start.
    const r = await json(await query(`count_over_time(process_resident_memory_bytes[10m])`));
    expect(r.status).toBe("success");
    const seconds = (Date.now() - before.startedAt) / 1000;
    expect(Number(r.data.result[0]?.value[1])).toBeGreaterThan(seconds * 0.5);
    const metrics = await (await mon("/monitoring/metrics")).text();
    expect(metrics).not.toMatch(/^tug_engine_restarts_total\{[^}]*\} [1-9]/m);
  });
});
