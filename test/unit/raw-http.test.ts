// The abuse suite's raw-socket client (test/support/raw-http.ts) against a real HTTP server:
// every request on its own connection, status, headers and body read back as sent.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRawResponse, rawRequests } from "../support/raw-http.js";

let server: Server;
let base = "";
const seen: Array<{ method?: string; url?: string; type?: string; body: string; port?: number }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => {
      body += d;
    });
    req.on("end", () => {
      seen.push({
        method: req.method,
        url: req.url,
        type: req.headers["content-type"],
        body,
        port: req.socket.remotePort,
      });
      res.writeHead(429, { "retry-after": "7", "content-type": "text/plain" });
      res.end(`got ${body.length}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("rawRequests", () => {
  it("sends n requests at once, each on a fresh connection, and reads each answer", async () => {
    const body = JSON.stringify({ email: "é@example.com", password: "x" });
    const out = await rawRequests(
      base,
      { method: "POST", path: "/login?x=1", headers: { "content-type": "application/json" }, body },
      5,
    );
    expect(out.map((r) => r.status)).toEqual([429, 429, 429, 429, 429]);
    expect(out.every((r) => r.headers["retry-after"] === "7")).toBe(true);
    expect(seen).toHaveLength(5);
    expect(new Set(seen.map((s) => s.port)).size).toBe(5);
    for (const s of seen)
      expect(s).toMatchObject({ method: "POST", url: "/login?x=1", type: "application/json", body });
    expect(out[0]?.body).toContain(`got ${body.length}`);
  });

  it("says what it read when the answer is not HTTP", () => {
    expect(() => parseRawResponse("SSH-2.0-OpenSSH\r\n")).toThrow(/not an HTTP\/1.1 response: "SSH-2.0/);
  });

  it("fails with the request named when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(rawRequests(`http://127.0.0.1:${port}`, { method: "GET", path: "/" }, 2)).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });
});
