import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { accessLogger } from "../src/logs/access.js";
import { createLogger, type FileSink, isoTime, lineWriterOf } from "../src/logs/logger.js";

const SECRET = "s3cret-monitoring-token";

function capture(level = "info") {
  const written: string[] = [];
  const tapped: string[] = [];
  const file: FileSink = {
    stream: {
      write: (s: string) => {
        written.push(s);
        return true;
      },
    } as unknown as NodeJS.WritableStream,
    flush: async () => undefined,
    close: async () => undefined,
  };
  const app = createLogger({ level, stdout: false, file, secrets: [SECRET], tap: (l) => tapped.push(l) });
  return { app, written, tapped };
}

const reply = (bytes?: string) => ({
  getHeader: (name: string) => (name === "content-length" ? bytes : undefined),
});

/** The line without its timestamp, which differs between two calls. */
const untimed = (line: string) => line.replace(/,"time":"[^"]+"/, ',"time":"T"');

afterEach(() => {
  vi.useRealTimers();
});

describe("timestamp", () => {
  it("is pino's isoTime text at every millisecond, across seconds and days", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const base = Date.UTC(2026, 11, 31, 23, 59, 58);
    for (const offset of [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1999, 2000, 2005, 2050, 86_400_000 + 7]) {
      vi.setSystemTime(base + offset);
      expect(isoTime()).toBe(pino.stdTimeFunctions.isoTime());
      expect(isoTime()).toBe(pino.stdTimeFunctions.isoTime()); // the cached text too
    }
  });
});

describe("access line", () => {
  it("writes the same bytes as pino would for the same fields, at each level", () => {
    const { app, written } = capture();
    const access = accessLogger({ enabled: true, sampleRates: {} });
    const cases = [
      { status: 200, level: "info", msg: "request completed", url: "/api/v1/users/me", bytes: "87" },
      {
        status: 404,
        level: "warn",
        msg: "request rejected",
        url: '/x?q="quoted"\\\u0001é',
        bytes: undefined,
      },
      { status: 503, level: "error", msg: "request failed", url: "/api/v1/x", bytes: "not a number" },
      { status: 200, level: "info", msg: "request completed", url: "/a\ud800b/\u2028", bytes: "1" },
      { status: 200, level: "info", msg: "request completed", url: `/${"é".repeat(300)}`, bytes: "1" },
    ] as const;
    for (const c of cases) {
      const log = app.logger.child({ reqId: `req-${c.status}` });
      access({ method: "GET", url: c.url, log }, reply(c.bytes), "/api/v1/:id", c.status, 0.0004125);
      log[c.level](
        {
          event: "access",
          method: "GET",
          route: "/api/v1/:id",
          url: c.url,
          statusCode: c.status,
          durationMs: 0.413,
          bytes: c.bytes === undefined ? undefined : Number(c.bytes),
        },
        c.msg,
      );
    }
    expect(written).toHaveLength(2 * cases.length);
    for (let i = 0; i < written.length; i += 2) {
      const [ours, pinos] = [untimed(written[i] as string), untimed(written[i + 1] as string)];
      // A lone surrogate: pino writes it raw (invalid once encoded), we escape it as JSON.stringify does.
      if (cases[i / 2]?.url.includes("\ud800")) {
        expect(ours).toContain('"url":"/a\\ud800b/\u2028"');
        expect(JSON.parse(ours)).toEqual(JSON.parse(pinos));
      } else expect(ours).toBe(pinos);
    }
    const first = JSON.parse(written[0] as string);
    expect(first).toMatchObject({
      level: "INFO",
      reqId: "req-200",
      statusCode: 200,
      bytes: 87,
      url: "/api/v1/users/me",
    });
    expect(first.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(JSON.parse(written[4] as string).bytes).toBeNull();
  });

  it("keeps secrets out: sensitive parameters, configured secret values in the URL and in the bindings", () => {
    const { app, written, tapped } = capture();
    const access = accessLogger({ enabled: true, sampleRates: {} });
    const log = app.logger.child({ reqId: `x-${SECRET}` });
    access({ method: "GET", url: `/a?token=abcdef123456&q=${SECRET}`, log }, undefined, "/a", 200, 0.001);
    expect(written).toHaveLength(1);
    const line = written[0] as string;
    expect(line).not.toContain(SECRET);
    expect(line).not.toContain("abcdef123456");
    expect(JSON.parse(line).url).toBe("/a?token=[REDACTED]&q=[REDACTED]");
    // The log analysis tap sees the line as written.
    expect(tapped).toEqual([line]);
  });

  it("follows the logger's level, a child's own level included; never samples failures", () => {
    const { app, written } = capture("warn");
    const access = accessLogger({ enabled: true, sampleRates: { "/r": 0 } });
    const log = app.logger.child({ reqId: "r1" });
    access({ method: "GET", url: "/r", log }, undefined, "/r", 200, 0.001);
    access({ method: "GET", url: "/r", log }, undefined, "/r", 404, 0.001);
    access({ method: "GET", url: "/r", log }, undefined, "/r", 500, 0.001);
    expect(written.map((l) => JSON.parse(l).statusCode)).toEqual([404, 500]);
    const verbose = app.logger.child({ reqId: "r2" }, { level: "info" });
    const all = accessLogger({ enabled: true, sampleRates: {} });
    all({ method: "GET", url: "/r", log: verbose }, undefined, "/r", 200, 0.001);
    expect(JSON.parse(written.at(-1) as string)).toMatchObject({ reqId: "r2", statusCode: 200 });
  });

  it("logs through any other pino logger the usual way", () => {
    const lines: string[] = [];
    const foreign = pino({ base: null, timestamp: false }, { write: (s: string) => lines.push(s) });
    expect(lineWriterOf(foreign)).toBeUndefined();
    const access = accessLogger({ enabled: true, sampleRates: {} });
    access({ method: "POST", url: "/p", log: foreign.child({ reqId: "f" }) }, reply("3"), "/p", 201, 0.002);
    expect(JSON.parse(lines[0] as string)).toEqual({
      level: 30,
      reqId: "f",
      event: "access",
      method: "POST",
      route: "/p",
      url: "/p",
      statusCode: 201,
      durationMs: 2,
      bytes: 3,
      msg: "request completed",
    });
  });
});
