// The monitoring engine runs in a worker thread: a runaway query cannot hold the API's event loop,
// ends at its deadline, is abandoned when its client leaves, the queue is bounded, and a worker that
// stops answering is replaced while the API keeps answering. Real app, real HTTP, real worker.
import { request } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRuleFile } from "../src/alerts/rules/index.js";
import { EngineClient, EngineError, type EngineEvent, EngineHost } from "../src/engine/index.js";
import { startTestApp, type TestApp } from "./support/app.js";

const API = "/monitoring/api/v1";
// Each step of the outer subquery evaluates a 3,600-step inner one: ~13 M evaluations, minutes of
// work without a deadline, holding few samples at a time (so the time limit, not the sample
// limit, is what stops it).
const HEAVY = "max_over_time(max_over_time(vector(1)[1h:1s])[1h:1s])";

/** Polls `probe` until it returns something truthy; fails after `timeoutMs` naming `what`. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};

// JSON bodies of the API under test.
type Json = any;

function query(t: TestApp, q: string, params: Record<string, string> = {}) {
  return fetch(`${t.url}${API}/query`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ query: q, ...params }).toString(),
  });
}

/**
 * A query on its own connection that the test can hang up on. (fetch's pool opens a spare
 * connection after an abort, which would keep the server's close waiting for its keep-alive.)
 */
function hangUpQuery(t: TestApp, q: string) {
  const body = new URLSearchParams({ query: q }).toString();
  const req = request(`${t.url}${API}/query`, {
    method: "POST",
    agent: false,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "content-length": Buffer.byteLength(body),
    },
  });
  const done = new Promise<number | "hung up">((resolve) => {
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve("hung up"));
  });
  req.end(body);
  return { hangUp: () => req.destroy(), done };
}

async function metric(t: TestApp, line: RegExp): Promise<number> {
  const text = (await t.call("GET", "/monitoring/metrics")).body as string;
  const m = text.split("\n").find((l) => line.test(l));
  return m === undefined ? Number.NaN : Number(m.slice(m.lastIndexOf(" ") + 1));
}

/** Requests /monitoring/health/live and an API route in a loop until `stop`; their latencies. */
function probe(t: TestApp) {
  const live: number[] = [];
  const api: number[] = [];
  const statuses = new Set<number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [path, into] of [
        ["/monitoring/health/live", live],
        ["/api/v1/users/me", api],
      ] as const) {
        const t0 = performance.now();
        const r = await fetch(`${t.url}${path}`);
        await r.arrayBuffer();
        into.push(performance.now() - t0);
        statuses.add(r.status);
      }
    }
  })();
  return {
    live,
    api,
    statuses,
    async stop() {
      running = false;
      await loop;
    },
  };
}

describe("engine worker: queries cannot hold the API's event loop", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(
      {},
      { yaml: "engine:\n  queryTimeoutMs: 20000\n  maxQueuedQueries: 2\n  watchdogGraceMs: 10000\n" },
    );
    expect(t.app.engine).toBeInstanceOf(EngineClient);
    // The worker is up once a trivial query answers.
    expect((await query(t, "1")).status).toBe(200);
  }, 60_000);
  afterAll(() => t?.close());

  it("a heavy query ends with 503 timeout at its deadline while the probes and the API answer", async () => {
    // The same probes without a heavy query, before and after: what this machine's load alone
    // does to the loop.
    const quiet = async () => {
      const h = monitorEventLoopDelay({ resolution: 10 });
      const pr = probe(t);
      h.enable();
      await new Promise((r) => setTimeout(r, 1_000));
      h.disable();
      await pr.stop();
      return h.percentile(99) / 1e6;
    };
    const idleBefore = await quiet();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    const p = probe(t);
    delay.enable();
    const t0 = performance.now();
    const r = await query(t, HEAVY, { timeout: "500ms" });
    const elapsed = performance.now() - t0;
    const long = await query(t, "count_over_time(vector(1)[1d:1ms])", { timeout: "2s" });
    delay.disable();
    await p.stop();
    expect(r.status).toBe(503);
    // "in query queue" when the log analysis' per-minute queries happened to be ahead of it.
    expect(await r.json()).toEqual({
      status: "error",
      errorType: "timeout",
      error: expect.stringMatching(/^query timed out in (expression evaluation|query queue)$/),
    });
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(elapsed).toBeLessThan(5_000); // stopped at the deadline, not after minutes of work
    expect(long.status).toBe(503);
    expect(((await long.json()) as Json).errorType).toBe("timeout");
    expect(p.statuses).toEqual(new Set([200, 401]));
    expect(p.live.length).toBeGreaterThan(5);
    const loopP99 = delay.percentile(99) / 1e6;
    const idleP99 = Math.max(idleBefore, await quiet());
    console.log(
      `main loop delay during heavy queries: p99 ${loopP99.toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms ` +
        `(same probes without them: p99 ${idleP99.toFixed(1)} ms); live p99 ${pct(p.live, 99).toFixed(1)} ms, ` +
        `api p99 ${pct(p.api, 99).toFixed(1)} ms (n=${p.live.length})`,
    );
    // 50 ms on a quiet machine. Where other processes already delay this loop (a loaded CI
    // machine), the bound follows what the same probes see without the queries: up to twice that
    // plus 25 ms. Either way it stays far below what the engine on this thread would do: stall
    // the loop for each query's whole 0.5 s and 2 s.
    const bound = Math.max(50, 2 * idleP99 + 25);
    expect(bound).toBeLessThan(500);
    expect(loopP99).toBeLessThan(bound);
    expect(await metric(t, /^tug_engine_queries_total\{outcome="timeout"\}/)).toBeGreaterThanOrEqual(2);
  });

  it("a disconnected client's query is cancelled: the worker is free for the next one", async () => {
    const before = await metric(t, /^tug_engine_queries_total\{outcome="canceled"\}/);
    const heavy = hangUpQuery(t, HEAVY);
    // Let it reach the worker, then hang up.
    await until("the heavy query to run", async () => t.app.engine?.queueLength() === 0);
    await new Promise((r) => setTimeout(r, 200));
    heavy.hangUp();
    expect(await heavy.done).toBe("hung up");
    const t0 = performance.now();
    const small = await query(t, "1 + 1");
    const waited = performance.now() - t0;
    expect(small.status).toBe(200);
    expect(((await small.json()) as Json).data.result[1]).toBe("2");
    // Without the cancellation it would wait for the heavy query's 20 s limit.
    expect(waited).toBeLessThan(10_000);
    expect(await metric(t, /^tug_engine_queries_total\{outcome="canceled"\}/)).toBe(before + 1);
  });

  it("a queued query whose client left is dropped without running", async () => {
    const first = query(t, HEAVY, { timeout: "1s" });
    const second = hangUpQuery(t, HEAVY);
    await until("the second query to queue", async () => t.app.engine?.queueLength() === 1);
    second.hangUp();
    await second.done;
    await until("the queue to empty", async () => t.app.engine?.queueLength() === 0);
    expect((await first).status).toBe(503);
    const t0 = performance.now();
    expect((await query(t, "2")).status).toBe(200);
    // Had the abandoned one run, this would wait for its 20 s.
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it("beyond engine.maxQueuedQueries a query is refused with 503 unavailable", async () => {
    const rejected = await metric(t, /^tug_engine_queries_total\{outcome="rejected"\}/);
    const held = [hangUpQuery(t, HEAVY), hangUpQuery(t, HEAVY), hangUpQuery(t, HEAVY)];
    try {
      // One running, two waiting: the queue is full.
      await until("two queries waiting", async () => t.app.engine?.queueLength() === 2);
      const r = await query(t, "1");
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({
        status: "error",
        errorType: "unavailable",
        error: "too many queries waiting for the query engine (engine.maxQueuedQueries = 2); try again later",
      });
    } finally {
      for (const h of held) h.hangUp();
      await Promise.all(held.map((h) => h.done));
    }
    await until("the queue to empty", async () => t.app.engine?.queueLength() === 0);
    expect((await query(t, "3")).status).toBe(200);
    // (The log analysis' per-minute queries may have been refused too, if they came just then.)
    expect(await metric(t, /^tug_engine_queries_total\{outcome="rejected"\}/)).toBeGreaterThan(rejected);
  });

  it("every PromQL route answers through the worker (range, series, labels, federate)", async () => {
    const now = Date.now() / 1000;
    const range = await t.call(
      "GET",
      `${API}/query_range?query=vector(1)&start=${now - 60}&end=${now}&step=15`,
    );
    expect(range.status).toBe(200);
    expect(range.body.data.result[0].values).toHaveLength(5);
    const tooMany = await t.call("GET", `${API}/query_range?query=1&start=0&end=20000&step=1`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toBe(
      "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    );
    const bad = await t.call("GET", `${API}/query?query=${encodeURIComponent("sum(")}`);
    expect(bad.status).toBe(400);
    expect(bad.body.errorType).toBe("bad_data");
    expect((await t.call("GET", `${API}/labels`)).body.data).toContain("__name__");
  });
});

describe("engine worker: the watchdog", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { yaml: "engine:\n  watchdogGraceMs: 300\n" });
    expect((await query(t, "1")).status).toBe(200);
  }, 60_000);
  afterAll(() => t?.close());

  it("replaces a worker that stops answering; the API keeps answering and queries work again", async () => {
    const engine = t.app.engine as EngineClient;
    const p = probe(t);
    const t0 = performance.now();
    // Test-only operation (NODE_ENV=test): holds the worker's thread without ever checking a limit.
    const stuck = await engine
      .run({ op: "test_block", ms: 120_000 }, { timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(stuck).toBeInstanceOf(EngineError);
    expect((stuck as EngineError).type).toBe("timeout");
    expect(performance.now() - t0).toBeLessThan(5_000);
    // Each wait has its own limit under the test's, so a failure names the step: it timed out at
    // 30 s, with no word of which wait, in one of five busy-machine CI runs (session 8). At least
    // one restart: with this test's 300 ms grace, a replacement worker that a loaded machine keeps
    // busy past two heartbeats may be replaced once more, and exactly one would then never come.
    await until(
      "the restart to be counted",
      async () =>
        (await metric(t, /^tug_engine_restarts_total\{reason="unresponsive"\}/)) >= 1 ? true : undefined,
      25_000,
    );
    const again = await until(
      "a query to answer on the new worker",
      async () => {
        const r = await query(t, "41 + 1");
        return r.status === 200 ? ((await r.json()) as Json) : undefined;
      },
      25_000,
    );
    await p.stop();
    expect(again.data.result[1]).toBe("42");
    expect(p.statuses).toEqual(new Set([200, 401]));
    expect(Math.max(...p.live)).toBeLessThan(5_000);
  }, 60_000);

  it("replaces a worker that runs out of its heap (engine.memoryLimitMb); the request gets 503", async () => {
    const small = await startTestApp(
      {},
      { yaml: "engine:\n  memoryLimitMb: 64\n  maxSamples: 1000000000\n  queryTimeoutMs: 120000\n" },
    );
    try {
      expect((await query(small, "1")).status).toBe(200);
      // 86 M subquery points with no sample limit: far beyond a 64 MB heap.
      const r = await query(small, "count_over_time(vector(1)[1d:1ms])");
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({
        status: "error",
        errorType: "unavailable",
        error: "the query engine was restarted (oom); try again",
      });
      expect(await metric(small, /^tug_engine_restarts_total\{reason="oom"\}/)).toBe(1);
      await until(
        "a query to answer on the new worker",
        async () => (await query(small, "1")).status === 200,
      );
      expect((await small.call("GET", "/monitoring/health/live")).status).toBe(200);
    } finally {
      await small.close();
    }
  }, 120_000);

  it("the test-only operation exists only with the test flag", async () => {
    const off = new EngineClient({
      settings: {},
      queryTimeoutMs: 1_000,
      maxQueuedQueries: 1,
      watchdogGraceMs: 1_000,
      memoryLimitMb: 64,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      testHooks: false,
    });
    const r = await off.run({ op: "test_block", ms: 10 }).catch((e: unknown) => e);
    expect(r).toBeInstanceOf(EngineError);
    expect((r as EngineError).type).toBe("bad_data");
    await off.stop();
  });
});

describe("engine host: rule evaluation under limits", () => {
  it("a runaway rule is stopped after its group's interval; the other rules still evaluate and fire", async () => {
    const groups = parseRuleFile(
      [
        "groups:",
        "  - name: runaway",
        "    interval: 1s",
        "    rules:",
        `      - record: heavy`,
        `        expr: ${HEAVY}`,
        "      - alert: Always",
        "        expr: vector(1)",
      ].join("\n"),
      "rules.yml",
    );
    const events: EngineEvent[] = [];
    const host = new EngineHost({ groups, emit: (e) => events.push(e) });
    host.start();
    try {
      const rules = await until("the group's first evaluation", async () => {
        const body = new TextDecoder().decode(host.execute({ op: "rules" }) as Uint8Array);
        const g = JSON.parse(body).data.groups[0];
        return g.lastEvaluation.startsWith("0001") ? undefined : g.rules;
      });
      expect(rules[0]).toMatchObject({
        name: "heavy",
        health: "err",
        lastError: "query timed out in expression evaluation",
      });
      expect(rules[0].evaluationTime).toBeLessThan(5); // seconds: stopped at the 1 s budget
      // The runaway rule's time is its own: its sibling still evaluates and fires.
      expect(rules[1]).toMatchObject({ name: "Always", health: "ok", state: "firing" });
      // Before the evaluation the worker announced how long it may be busy; after it, the alerts
      // for the notifier and the mirror for synchronous readers.
      expect(events.some((e) => e.kind === "busy")).toBe(true);
      const notify = events.find((e) => e.kind === "notify");
      expect(notify).toMatchObject({ kind: "notify", alerts: [{ labels: { alertname: "Always" } }] });
      const mirror = events.find((e) => e.kind === "mirror");
      expect(mirror).toMatchObject({ kind: "mirror", mirror: { pending: 0, firing: 1, truncated: false } });
    } finally {
      host.stop();
    }
  }, 30_000);
});
