// The cross-site guard is attached to the mutating /monitoring routes as they are registered
// (in any plugin), ahead of their own hooks, and to nothing else: API requests never run it.
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guardMonitoringMutations, isMonitoringMutation } from "../src/http/cross-site.js";

describe("guardMonitoringMutations", () => {
  const app = Fastify();
  const ran: string[] = [];
  beforeAll(async () => {
    guardMonitoringMutations(app);
    app.post("/monitoring/silences", async () => ({ ok: true }));
    app.get("/monitoring/silences", async () => ({ ok: true }));
    app.post("/api/v1/things", async () => ({ ok: true }));
    await app.register(async (child) => {
      child.route({
        method: ["GET", "DELETE"],
        url: "/monitoring/silences/:id",
        onRequest: (_req, _reply, done) => {
          ran.push("own hook");
          done();
        },
        handler: async () => ({ ok: true }),
      });
    });
    await app.ready();
  });
  afterAll(() => app.close());

  const forged = { origin: "https://evil.example", host: "localhost:80" };

  it("refuses a forged mutation of monitoring state, before the route's own hooks", async () => {
    const post = await app.inject({
      method: "POST",
      url: "/monitoring/silences",
      headers: forged,
      payload: {},
    });
    expect(post.statusCode).toBe(403);
    expect(post.body).toContain("https://evil.example");
    const del = await app.inject({
      method: "DELETE",
      url: "/monitoring/silences/x",
      headers: { "sec-fetch-site": "cross-site" },
    });
    expect(del.statusCode).toBe(403);
    expect(ran).toEqual([]);
    const tool = await app.inject({ method: "DELETE", url: "/monitoring/silences/x" });
    expect(tool.statusCode).toBe(200);
    expect(ran).toEqual(["own hook"]);
  });

  it("leaves reads and the API alone", async () => {
    expect(
      (await app.inject({ method: "GET", url: "/monitoring/silences", headers: forged })).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: "POST", url: "/api/v1/things", headers: forged, payload: {} })).statusCode,
    ).toBe(200);
    expect(isMonitoringMutation({ url: "/api/v1/things", method: "POST" })).toBe(false);
    expect(isMonitoringMutation({ url: "/monitoring/x", method: ["GET", "HEAD"] })).toBe(false);
    expect(isMonitoringMutation({ url: "/monitoring/x", method: ["GET", "PUT"] })).toBe(true);
  });
});
