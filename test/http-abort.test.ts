// The app's request accounting as wired in src/app/http.ts: the HTTP metrics learn of a request's
// start from the app's own onRequest hook and of a client's hang-up from the server's per-response
// `close` listener (src/http/connections.ts), not from hooks of their own. A request answered is
// counted once with its status; one whose client went away is counted once as 499 with a warn
// access line; in-flight returns to zero either way.

import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.js";
import { waitFor } from "./support/wait.js";

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ LOG_LEVEL: "info" });
});
afterAll(async () => {
  await t?.close();
});

/** http_requests_total by status for one method and route, and http_requests_in_flight (≥ 1: the scrape itself). */
async function counts(
  method: string,
  route: string,
): Promise<{ byStatus: Map<string, number>; inFlight: number }> {
  const text = await (await fetch(`${t.url}/monitoring/metrics`)).text();
  const byStatus = new Map<string, number>();
  let inFlight = Number.NaN;
  for (const line of text.split("\n")) {
    const m = /^http_requests_total\{([^}]*)\} (\S+)$/.exec(line);
    if (m) {
      const labels = Object.fromEntries(
        [...(m[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
      );
      if (labels.method === method && labels.route === route) byStatus.set(labels.status_code, Number(m[2]));
    }
    const g = /^http_requests_in_flight (\S+)$/.exec(line);
    if (g) inFlight = Number(g[1]);
  }
  return { byStatus, inFlight };
}

const readLog = () => {
  t.app.flushLogsSync();
  return readFileSync(`${t.dir}/app.log`, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
};

describe("request accounting in the app", () => {
  it("counts answered requests once each, never again as 499 when their connection closes", async () => {
    const before = await counts("GET", "/monitoring/health/live");
    for (let i = 0; i < 5; i++) {
      // A fresh connection each, closed after the answer: the close must not count a 499.
      const res = await fetch(`${t.url}/monitoring/health/live`, { headers: { connection: "close" } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const after = await counts("GET", "/monitoring/health/live");
    expect((after.byStatus.get("200") ?? 0) - (before.byStatus.get("200") ?? 0)).toBe(5);
    expect(after.byStatus.get("499") ?? 0).toBe(before.byStatus.get("499") ?? 0);
  });

  it("counts a client that hangs up mid-body once as 499, logs it as a warning, and in-flight comes back down", async () => {
    const route = "/api/v1/auth/login";
    const before = await counts("POST", route);
    const url = new URL(t.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on("error", () => undefined);
    await new Promise<void>((res) => socket.once("connect", () => res()));
    socket.write(
      "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        "X-Request-Id: hang-up-499\r\nContent-Length: 50\r\n\r\n{",
    );
    await waitFor("the request in flight", async () => (await counts("POST", route)).inFlight > 1);
    // A reset, not a FIN: the server cannot answer.
    socket.resetAndDestroy();
    const after = await waitFor("the aborted request counted", async () => {
      const now = await counts("POST", route);
      return (now.byStatus.get("499") ?? 0) > (before.byStatus.get("499") ?? 0) ? now : undefined;
    });
    expect((after.byStatus.get("499") ?? 0) - (before.byStatus.get("499") ?? 0)).toBe(1);
    expect(after.inFlight).toBe(1); // the scrape that reads it
    const line = await waitFor("its access line", async () =>
      readLog().find((l) => l.reqId === "hang-up-499" && l.event === "access"),
    );
    expect(line).toMatchObject({ level: "WARN", statusCode: 499, route, method: "POST" });
  });
});
