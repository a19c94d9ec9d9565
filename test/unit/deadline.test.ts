import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deadline } from "../../src/core/deadline.js";
import { ManualClock } from "../support/clock.js";
import { forceGc } from "../support/gc.js";

/** A server that reads every request and never answers; each arrival runs `onRequest`. */
let onRequest: () => void = () => undefined;
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req) => {
    req.resume();
    onRequest();
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
});

/** What a POST to the silent server ends with: "name: message" of its error, or "answered". */
async function post(signal: AbortSignal): Promise<string> {
  return fetch(url, { method: "POST", body: "x", signal }).then(
    () => "answered",
    (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err)),
  );
}

describe("deadline", () => {
  it("ends a request to a server that never answers at the limit, a garbage collection in between", async () => {
    // The collection runs once the request is in flight, where Node 20 loses the timeout of
    // AbortSignal.any([signal, AbortSignal.timeout(ms)]) and the request waits forever. The
    // signal goes straight to fetch, held by nothing else, as in the channels.
    onRequest = forceGc;
    try {
      expect(await post(deadline(new AbortController().signal, 200).signal)).toBe(
        "TimeoutError: timed out after 200ms",
      );
    } finally {
      onRequest = () => undefined;
    }
  });

  it("ends it when the caller aborts, with the caller's reason", async () => {
    const caller = new AbortController();
    onRequest = () => {
      forceGc();
      caller.abort(new Error("shutting down"));
    };
    const limit = deadline(caller.signal, 60_000);
    try {
      expect(await post(limit.signal)).toBe("Error: shutting down");
    } finally {
      limit.dispose();
      onRequest = () => undefined;
    }
  });

  it("is aborted from the start when the caller's signal already is", () => {
    const caller = new AbortController();
    caller.abort("gone");
    const limit = deadline(caller.signal, 1000);
    expect(limit.signal.aborted).toBe(true);
    expect(limit.signal.reason).toBe("gone");
  });

  it("fires at the limit on the given timers, and never after dispose()", () => {
    const clock = new ManualClock(0);
    const fires = deadline(new AbortController().signal, 500, clock);
    const disposed = deadline(new AbortController().signal, 500, clock);
    disposed.dispose();
    clock.advance(499);
    expect(fires.signal.aborted).toBe(false);
    clock.advance(1);
    expect(fires.signal.aborted).toBe(true);
    expect(disposed.signal.aborted).toBe(false);
  });

  it("leaves no listener on the caller's signal once disposed", () => {
    const caller = new AbortController();
    const limit = deadline(caller.signal, 1000, new ManualClock(0));
    limit.dispose();
    caller.abort();
    expect(limit.signal.aborted).toBe(false);
  });
});
