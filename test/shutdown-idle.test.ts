// A connection opened but never used (an HTTP client's spare keep-alive socket) must not hold the
// shutdown: Node's closeIdleConnections() does not see it, and close() used to wait for the
// client to give up (~70 s after an aborted fetch). Requests in flight finishing during shutdown
// are covered by test/shutdown.test.ts.
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { startTestApp } from "./support/app.js";

describe("shutdown with an unused connection open", () => {
  it("closes it instead of waiting for the client", async () => {
    const t = await startTestApp();
    const { port } = new URL(t.url);
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const t0 = performance.now();
    await t.close();
    await ended;
    // Without the fix this takes Node's headersTimeout (60 s) or the client's own timeout.
    expect(performance.now() - t0).toBeLessThan(20_000);
  });
});
