// The deployment monitor's PromQL source against hostile or broken query endpoints: an answer past
// MAX_ANSWER_BYTES (declared or streamed) is refused with a clear error, read no further.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_ANSWER_BYTES, PromqlSource } from "../../src/deploy/source.js";

let server: Server;
let url = "";
let mode: "declared" | "streamed" | "garbage" = "declared";

beforeAll(async () => {
  server = createServer((_req, res) => {
    if (mode === "garbage") return void res.writeHead(200, { "content-type": "text/plain" }).end("not json");
    if (mode === "declared") {
      res.writeHead(200, { "content-length": String(50 * 1024 * 1024), "content-type": "application/json" });
      res.write("{");
      return; // never finishes: the client must not wait for the 50 MB
    }
    res.writeHead(200, { "content-type": "application/json" });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const more = () => {
      while (sent < 50 && res.write(chunk)) sent++;
      if (sent < 50) res.once("drain", more);
      else res.end();
    };
    res.on("close", () => {
      sent = 50;
    });
    more();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/query`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe("PromqlSource against a hostile endpoint", () => {
  for (const m of ["declared", "streamed"] as const) {
    it(`refuses an answer past ${MAX_ANSWER_BYTES} bytes (${m} size)`, async () => {
      mode = m;
      const r = await new PromqlSource({ url, timeoutMs: 30_000 }).measure(0, 60_000);
      expect(r).toEqual({ error: expect.stringMatching(/the answer is larger than 4194304 bytes/) });
    });
  }

  it("names an answer that is not JSON", async () => {
    mode = "garbage";
    const r = await new PromqlSource({ url, timeoutMs: 30_000 }).measure(0, 60_000);
    expect(r).toEqual({ error: expect.stringMatching(/HTTP 200, not JSON/) });
  });
});
