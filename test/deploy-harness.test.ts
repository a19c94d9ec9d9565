import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signatureHeaders } from "../src/alerts/channels/index.js";
import { requestRollback } from "../src/deploy/rollback.js";
import {
  allOrStop,
  type CiCdServer,
  type DeployHarness,
  startCiCd,
  startDeployHarness,
  startLoad,
  startSwitch,
  summarize,
  TARGET_HEADER,
  verifySignature,
} from "./support/deploy-harness.js";
import { waitFor } from "./support/wait.js";

/**
 * The deployment end-to-end harness checks itself (test/support/deploy-harness.ts): the switch,
 * the load generator, the CI/CD server's signature check and its outages, and the two real TUG
 * processes wired to the team's recorder. No timing is asserted: each test waits for what it
 * needs (a count of samples, a request received) with a generous deadline.
 */

/** A stand-in backend: answers `status` with what it saw, or never answers (`hang`). */
async function backend(name: string, status: number, hang = false) {
  const seen: Array<{ url: string; authorization: string | undefined }> = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push({ url: req.url ?? "", authorization: req.headers.authorization });
    if (hang) return;
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ name, url: req.url }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    base,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

describe("the switch", () => {
  it("forwards every request to the current target, switches, counts and names the target", async () => {
    const a = await backend("a", 200);
    const b = await backend("b", 503);
    const sw = await startSwitch({ a: { base: a.base, token: "token-of-a" }, b: { base: b.base } }, "a");
    try {
      const get = async (path: string, headers: Record<string, string> = {}) => {
        const r = await fetch(`${sw.url}${path}`, { headers });
        return { status: r.status, target: r.headers.get(TARGET_HEADER), body: await r.json() };
      };
      expect(await get("/api/v1/users/me")).toEqual({
        status: 200,
        target: "a",
        body: { name: "a", url: "/api/v1/users/me" },
      });
      // The target's token goes on API requests without one; a request's own token is kept.
      await get("/api/v1/activities", { authorization: "Bearer mine" });
      await get("/monitoring/health");
      expect(a.seen.map((s) => s.authorization)).toEqual(["Bearer token-of-a", "Bearer mine", undefined]);
      sw.switchTo("b");
      expect(sw.current()).toBe("b");
      expect(await get("/api/v1/users/me?x=1")).toMatchObject({ status: 503, target: "b" });
      expect(b.seen).toEqual([{ url: "/api/v1/users/me?x=1", authorization: undefined }]);
      sw.switchTo("b");
      sw.switchTo("a");
      expect(sw.counts).toEqual({ a: 3, b: 1 });
      expect(sw.history.map((h) => `${h.from}>${h.to}`)).toEqual(["a>b", "b>a"]);
      expect(() => sw.switchTo("c")).toThrow(/no target named c/);
      // A target that is gone: the switch answers 502 itself, naming it.
      await b.close();
      sw.switchTo("b");
      const gone = await fetch(`${sw.url}/api/v1/users/me`);
      expect(gone.status).toBe(502);
      expect(gone.headers.get(TARGET_HEADER)).toBe("b");
      expect(await gone.text()).toMatch(/^switch: b did not answer/);
    } finally {
      await sw.close();
      await a.close();
      await b.close();
    }
  });
});

describe("the load generator", () => {
  it("sends a steady stream through the switch and records each answer by target", async () => {
    const a = await backend("a", 200);
    const b = await backend("b", 500);
    const sw = await startSwitch({ a: { base: a.base }, b: { base: b.base } }, "a");
    const load = startLoad({ url: sw.url, ratePerSecond: 50 });
    try {
      await waitFor("20 answers from a", () => load.stats({ target: "a" }).requests >= 20);
      sw.switchTo("b");
      const switchedAt = Date.now();
      await waitFor("20 answers from b", () => load.stats({ target: "b" }).requests >= 20);
      await load.stop();
      const total = load.samples.length;
      expect(total).toBe(a.seen.length + b.seen.length);
      // Stopped means stopped: nothing is sent afterwards.
      await new Promise((r) => setTimeout(r, 100));
      expect(load.samples.length).toBe(total);
      const sa = load.stats({ target: "a" });
      const sb = load.stats({ target: "b" });
      expect(sa.byStatus).toEqual({ 200: sa.requests });
      expect(sb).toMatchObject({ byStatus: { 500: sb.requests }, errors5xx: sb.requests });
      expect(sa.requests + sb.requests).toBe(total);
      // Everything b answered was sent after the switch; the paths cycle through the API's GETs.
      expect(load.stats({ target: "b", until: switchedAt - 1 }).requests).toBe(0);
      expect(new Set(a.seen.map((s) => s.url.split("?")[0]))).toEqual(
        new Set(["/api/v1/users/me", "/api/v1/activities"]),
      );
      expect(sa.p50Ms).toBeGreaterThan(0);
      expect(sa.p95Ms).toBeGreaterThanOrEqual(sa.p50Ms);
    } finally {
      await load.stop();
      await sw.close();
      await a.close();
      await b.close();
    }
  });

  it("skips what is due beyond maxInFlight, and records a failure as status 0", async () => {
    const stuck = await backend("stuck", 200, true);
    const load = startLoad({ url: stuck.base, ratePerSecond: 100, maxInFlight: 3 });
    try {
      await waitFor("requests skipped", () => load.skipped > 0);
      expect(stuck.seen.length).toBeLessThanOrEqual(3);
    } finally {
      await stuck.close();
      await load.stop();
    }
    expect(load.samples.length).toBeGreaterThan(0);
    expect(load.samples.every((s) => s.status === 0 && s.target === "none")).toBe(true);
  });

  it("summarises statuses and percentiles", () => {
    const s = summarize(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20].map((ms, i) => ({
        at: i,
        target: "x",
        status: i < 2 ? 500 : 200,
        ms,
      })),
    );
    expect(s).toEqual({ requests: 20, byStatus: { 200: 18, 500: 2 }, errors5xx: 2, p50Ms: 10, p95Ms: 19 });
    expect(() => startLoad({ url: "http://127.0.0.1:1", ratePerSecond: 0 })).toThrow(/ratePerSecond/);
  });
});

describe("the CI/CD server", () => {
  const secret = "the-signing-secret-of-this-test";
  let cicd: CiCdServer;
  const rollbacks: string[] = [];
  beforeAll(async () => {
    cicd = await startCiCd({ secret, onRollback: (r) => rollbacks.push(r.json?.deploymentId) });
  });
  afterAll(() => cicd?.close());

  const post = (body: string, headers: Record<string, string>) =>
    fetch(cicd.rollbackUrl, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });

  it("accepts a request signed as the notifier's webhooks are, rolls back once per Idempotency-Key", async () => {
    const body = `${JSON.stringify({ deploymentId: "d1", reason: "test" })}\n`;
    const headers = { "idempotency-key": "d1:rollback", ...signatureHeaders(body, secret) };
    const first = await post(body, headers);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ status: "rolled back" });
    const again = await post(body, { "idempotency-key": "d1:rollback", ...signatureHeaders(body, secret) });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: "rolled back already" });
    expect(rollbacks).toEqual(["d1"]);
    expect(cicd.rolledBack).toEqual(["d1:rollback"]);
    const rec = cicd.requests.at(-1);
    expect(rec).toMatchObject({ idempotencyKey: "d1:rollback", signatureValid: true, answered: 200, body });
    expect(rec?.json).toEqual({ deploymentId: "d1", reason: "test" });
  });

  it("refuses a wrong, missing or stale signature with 401 and rolls nothing back", async () => {
    const body = `${JSON.stringify({ deploymentId: "d2" })}\n`;
    const cases: Array<[Record<string, string>, RegExp]> = [
      [signatureHeaders(body, "another-secret"), /does not match/],
      [signatureHeaders(`${body} `, secret), /does not match/],
      [{}, /X-TUG-Timestamp/],
      [{ "X-TUG-Timestamp": "1700000000" }, /X-TUG-Signature/],
      [signatureHeaders(body, secret, Date.now() - 3_600_000), /more than 300 s away/],
    ];
    for (const [headers, why] of cases) {
      const r = await post(body, { "idempotency-key": "d2:rollback", ...headers });
      expect(r.status).toBe(401);
      expect(((await r.json()) as { error: string }).error).toMatch(why);
      expect(cicd.requests.at(-1)).toMatchObject({ signatureValid: false, answered: 401 });
      expect(cicd.requests.at(-1)?.signatureProblem).toMatch(why);
    }
    expect(rollbacks).not.toContain("d2");
    const lower = (h: Record<string, string>) =>
      Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
    expect(verifySignature(secret, lower(signatureHeaders(body, secret)), body)).toBe("");
    expect(verifySignature(secret, lower(signatureHeaders(body, secret)), `${body}x`)).toBe(
      "signature does not match",
    );
  });

  it("takes the monitor's own rollback request (src/deploy/rollback.ts), retried through a 503 outage", async () => {
    await cicd.down(1500, "503");
    const rec = await requestRollback(
      {
        deploymentId: "d3",
        version: "1.1.0",
        environment: "staging",
        reason: "regression",
        values: {},
        requestedAt: new Date().toISOString(),
      },
      { status: "pending", attempts: 0, idempotencyKey: "d3:rollback" },
      { url: cicd.rollbackUrl, secret, retryForMs: 60_000, initialBackoffMs: 200, maxBackoffMs: 400 },
    );
    expect(rec).toMatchObject({ status: "succeeded", lastStatus: 200 });
    const mine = cicd.requests.filter((r) => r.idempotencyKey === "d3:rollback");
    expect(mine.length).toBe(rec.attempts);
    expect(mine.length).toBeGreaterThan(1);
    expect(mine.slice(0, -1).every((r) => r.answered === 503 && r.signatureValid)).toBe(true);
    expect(mine.at(-1)?.answered).toBe(200);
    expect(rollbacks.filter((d) => d === "d3")).toHaveLength(1);
  });

  it("refuses connections while down, and comes back on the same port", async () => {
    await cicd.down(1000, "refuse");
    // A new connection is refused (a pooled one would fail differently: it was closed).
    const port = Number(new URL(cicd.url).port);
    const refused = await new Promise<string | undefined>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.on("connect", () => {
        socket.destroy();
        resolve("connected");
      });
      socket.on("error", (e: NodeJS.ErrnoException) => resolve(e.code));
    });
    expect(refused).toBe("ECONNREFUSED");
    expect(cicd.isDown()).toBe(true);
    const body = `${JSON.stringify({ deploymentId: "d4" })}\n`;
    await cicd.upAgain();
    const r = await post(body, { "idempotency-key": "d4:rollback", ...signatureHeaders(body, secret) });
    expect(r.status).toBe(200);
    expect(rollbacks).toContain("d4");
  });
});

describe("starting several processes", () => {
  it("stops those that started when another fails, then throws its error", async () => {
    const stopped: string[] = [];
    const proc = (name: string) => ({ name, stop: async () => void stopped.push(name) });
    await expect(
      allOrStop([
        Promise.resolve(proc("a")),
        Promise.reject(new Error("b did not start")),
        Promise.resolve(proc("c")),
      ]),
    ).rejects.toThrow("b did not start");
    expect(stopped.sort()).toEqual(["a", "c"]);
    expect((await allOrStop([Promise.resolve(proc("x"))])).map((p) => p.name)).toEqual(["x"]);
    expect(stopped).toHaveLength(2);
  });
});

describe("the whole harness, with real TUG processes", () => {
  let h: DeployHarness;
  beforeAll(async () => {
    h = await startDeployHarness({ faults: { errorPercent: 50 } });
  }, 90_000);
  afterAll(() => h?.close(), 60_000);

  it("serves the load from current, then from the bad new version after the switch", async () => {
    const load = h.startLoad(20);
    await waitFor("20 answers from current", () => load.stats({ target: "current" }).requests >= 20, {
      timeoutMs: 60_000,
    });
    h.switch.switchTo("new");
    await waitFor("20 answers from new", () => load.stats({ target: "new" }).requests >= 20, {
      timeoutMs: 60_000,
    });
    await load.stop();
    const current = load.stats({ target: "current" });
    const next = load.stats({ target: "new" });
    // The switch put each process's own user token on the requests: the current version
    // answers them all; the new one fails half of them on purpose, exactly as configured.
    expect(current.byStatus).toEqual({ 200: current.requests });
    expect(next.byStatus[200]).toBeGreaterThan(0);
    expect(next.byStatus[500]).toBeGreaterThan(0);
    expect(Object.keys(next.byStatus).sort()).toEqual(["200", "500"]);
    expect(Math.abs((next.byStatus[500] ?? 0) - (next.byStatus[200] ?? 0))).toBeLessThanOrEqual(2);
  }, 120_000);

  it("each process is in staging behind its token, and notifies the team's recorder", async () => {
    for (const p of [h.current, h.next]) {
      expect((await fetch(`${p.base}/monitoring/status`)).status).toBe(401);
      const r = await p.monitoring("POST", "/monitoring/alerts/test", { receiver: "team" });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.ok).toBe(true);
    }
    await waitFor("both test notifications", () => {
      const paths = h.team.received.map((r) => r.path);
      return paths.includes("/current") && paths.includes("/new");
    });
    const releases = await Promise.all(
      [h.current, h.next].map(async (p) => (await p.monitoring("GET", "/monitoring/status")).body),
    );
    expect(JSON.stringify(releases[0])).toContain("1.0.0");
    expect(JSON.stringify(releases[1])).toContain("1.1.0");
  });
});
