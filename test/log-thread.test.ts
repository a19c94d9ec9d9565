import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { accessLogger } from "../src/logs/access.js";
import { createLogger, type FileSink } from "../src/logs/logger.js";
import { createLogThread, type LogThreadSink } from "../src/logs/thread/index.js";
import { waitFor } from "./support/wait.js";

const SECRET = "s3cret-monitoring-token";
const dirs: string[] = [];
const sinks: LogThreadSink[] = [];

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tug-log-thread-"));
  dirs.push(d);
  return d;
}

function threaded(opts: { capacityBytes?: number; errors?: Error[] } = {}) {
  const dir = tempDir();
  const filePath = join(dir, "app.log");
  const sink = createLogThread({
    rotation: { filePath, maxSizeBytes: 0, daily: false, maxFiles: 5, maxAgeDays: 0, compress: false },
    stdout: false,
    secrets: [SECRET],
    onError: (err) => opts.errors?.push(err),
    capacityBytes: opts.capacityBytes,
  });
  sinks.push(sink);
  const tapped: string[] = [];
  const same: string[] = [];
  const app = createLogger({
    level: "info",
    stdout: false,
    file: sink,
    secrets: [SECRET],
    tap: (l) => tapped.push(l),
    tapSame: (l) => same.push(l),
  });
  const lines = () =>
    readFileSync(filePath, "utf8")
      .split("\n")
      .filter((l) => l !== "");
  return { sink, app, filePath, lines, tapped, same };
}

/** The same logger writing on this thread, to compare bytes with. */
function inPlace() {
  const written: string[] = [];
  const file: FileSink = {
    stream: { write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WritableStream,
    flush: async () => undefined,
    close: async () => undefined,
  };
  return { app: createLogger({ level: "info", stdout: false, file, secrets: [SECRET] }), written };
}

const untimed = (line: string) => line.replace(/,"time":"[^"]+"/, ',"time":"T"');
const reply = (bytes?: string) => ({
  getHeader: (n: string) => (n === "content-length" ? bytes : undefined),
});

const CASES = [
  { status: 200, url: "/api/v1/users/me", bytes: "87", reqId: "r-1" },
  { status: 200, url: "/api/v1/users/me?page=2", bytes: "90", reqId: "r-2" },
  { status: 404, url: '/x?q="quoted"\\\u0001é', bytes: undefined, reqId: "r-3" },
  { status: 503, url: "/api/v1/x", bytes: "not a number", reqId: "r-4" },
  { status: 200, url: `/a?token=abcdef123456&q=${SECRET}`, bytes: "1", reqId: `x-${SECRET}` },
  { status: 200, url: `/${"é".repeat(300)}\ud800`, bytes: "1", reqId: "r-6" },
  { status: 404, url: "/y", bytes: "2", reqId: "r-7" },
  { status: 200, url: "/api/v1/users/me", bytes: "87", reqId: "r-8" },
] as const;

describe("the log thread", () => {
  it("writes the same bytes as the logger on the API's thread, pino's lines in their place, secrets out", async () => {
    const t = threaded();
    const ref = inPlace();
    const access = accessLogger({ enabled: true, sampleRates: {} });
    for (const [i, c] of CASES.entries()) {
      for (const app of [t.app, ref.app]) {
        const log = app.logger.child({ reqId: c.reqId });
        log.info({ step: i }, "handling");
        access({ method: "GET", url: c.url, log }, reply(c.bytes), "/api/v1/:id", c.status, 0.0004125);
      }
    }
    await t.app.flush();
    const got = t.lines().map(untimed);
    const want = ref.written.join("").split("\n").filter(Boolean).map(untimed);
    expect(got).toEqual(want);
    expect(got).toHaveLength(2 * CASES.length);
    expect(got.join("\n")).not.toContain(SECRET);
    expect(got.join("\n")).not.toContain("abcdef123456");
    // Lines after the first of their level, method and route were sent as parts: the tap got an
    // earlier line of the same shape for them; error lines are always whole.
    const accessTapped = t.tapped.filter((l) => l.includes('"event":"access"'));
    expect(accessTapped.length + t.same.length).toBe(CASES.length);
    expect(t.same.length).toBeGreaterThan(0);
    for (const s of t.same) expect(accessTapped).toContain(s);
    expect(accessTapped.some((l) => l.includes('"statusCode":503'))).toBe(true);
  });

  it("loses nothing when the ring is full: lines wait, in order, and long lines go aside", async () => {
    const t = threaded({ capacityBytes: 8 * 1024 });
    const access = accessLogger({ enabled: true, sampleRates: {} });
    const n = 3000;
    for (let i = 0; i < n; i++) {
      const log = t.app.logger.child({ reqId: `req-${i}` });
      if (i % 500 === 0) log.info({ blob: "b".repeat(5000) }, "a long line");
      access({ method: "GET", url: `/items/${i}`, log }, reply("10"), "/items/:id", 200, 0.001);
    }
    await t.app.flush();
    const lines = t.lines().map((l) => JSON.parse(l) as { reqId: string; msg: string; blob?: string });
    expect(lines).toHaveLength(n + n / 500);
    let i = 0;
    for (const l of lines) {
      expect(l.reqId).toBe(`req-${i}`);
      if (l.msg === "a long line") expect(l.blob).toHaveLength(5000);
      else i++;
    }
  });

  it("keeps every line right across the reset of its constant texts' ids (10,000 texts)", async () => {
    const t = threaded();
    const ref = inPlace();
    const access = accessLogger({ enabled: true, sampleRates: {} });
    // Each route is a new constant text; 10,500 of them pass the bound at which the API's thread
    // forgets the ids it gave, while the kinds of the first routes still hold ids from before.
    const routes = Array.from({ length: 10_500 }, (_, i) => `/r${i}/:id`);
    const send = (route: string, i: number) => {
      for (const app of [t.app, ref.app]) {
        const log = app.logger.child({ reqId: `q-${i}` });
        access({ method: "GET", url: `/u/${i}`, log }, reply("5"), route, 200, 0.001);
      }
    };
    let i = 0;
    for (const round of [0, 1])
      for (const route of round === 0 ? routes : routes.slice(0, 50)) send(route, i++);
    await t.app.flush();
    const got = t.lines().map(untimed);
    const want = ref.written.join("").split("\n").filter(Boolean).map(untimed);
    expect(got).toHaveLength(10_550);
    expect(got).toEqual(want);
  });

  it("is written out by flushSync, synchronously (the process' exit)", () => {
    const t = threaded();
    for (let i = 0; i < 100; i++) t.app.logger.child({ reqId: `s-${i}` }).info("sync line");
    t.app.flushSync();
    expect(t.lines()).toHaveLength(100);
  });

  it("when the thread dies, the API's thread takes the file over and says so", async () => {
    const errors: Error[] = [];
    const t = threaded({ errors });
    const access = accessLogger({ enabled: true, sampleRates: {} });
    const log = t.app.logger.child({ reqId: "before" });
    access({ method: "GET", url: "/a", log }, reply("1"), "/a", 200, 0.001);
    access({ method: "GET", url: "/a", log }, reply("1"), "/a", 200, 0.001);
    await t.app.flush();
    await t.sink.worker()?.terminate();
    await waitFor("the takeover reported", () => errors.some((e) => /log thread exited/.test(e.message)));
    expect(t.sink.worker()).toBeNull();
    const after = t.app.logger.child({ reqId: "after" });
    access({ method: "GET", url: "/b", log: after }, reply("1"), "/b", 200, 0.001);
    after.info("still logging");
    await t.app.flush();
    const lines = t.lines().map((l) => JSON.parse(l) as { reqId: string; url?: string });
    expect(lines.map((l) => `${l.reqId} ${l.url ?? "-"}`)).toEqual([
      "before /a",
      "before /a",
      "after /b",
      "after -",
    ]);
  });

  it("a long line posted to a thread that dies is written by the API's thread in its place", async () => {
    const errors: Error[] = [];
    // An 8 KB ring: a line over 2 KB is posted aside, its place kept in the ring.
    const t = threaded({ capacityBytes: 8192, errors });
    t.app.logger.info({ n: 1 }, "before");
    await t.app.flush();
    // The thread is told to stop; in the same turn, before this thread learns it is gone, a long
    // line is posted to it (the message is lost with it) and a short one follows in the ring.
    const dying = t.sink.worker()?.terminate();
    t.app.logger.info({ n: 2, blob: "x".repeat(5000) }, "long");
    t.app.logger.info({ n: 3 }, "after");
    await dying;
    await waitFor("the takeover reported", () => errors.some((e) => /log thread exited/.test(e.message)));
    await t.app.flush();
    const lines = t.lines().map((l) => JSON.parse(l) as { n: number; blob?: string });
    expect(lines.map((l) => l.n)).toEqual([1, 2, 3]);
    expect(lines[1]?.blob).toHaveLength(5000);
  });

  it("writes stdout's JSON lines too, and a process that exits at once loses none", async () => {
    const dir = tempDir();
    const filePath = join(dir, "app.log");
    const script = join(dir, "child.mts");
    const src = new URL("../src/", import.meta.url).href;
    writeFileSync(
      script,
      [
        `import { createLogger } from ${JSON.stringify(`${src}logs/logger.ts`)};`,
        `import { createLogThread } from ${JSON.stringify(`${src}logs/thread/index.ts`)};`,
        `const file = createLogThread({ rotation: { filePath: ${JSON.stringify(filePath)}, maxSizeBytes: 0, daily: false, maxFiles: 1, maxAgeDays: 0, compress: false }, stdout: true, secrets: [], onError: (e) => console.error(e.message) });`,
        "const app = createLogger({ level: 'info', stdout: true, file });",
        "for (let i = 0; i < 500; i++) app.logger.info({ i }, 'line');",
        "process.exit(0);",
      ].join("\n"),
    );
    const tsx = new URL("../node_modules/tsx/dist/esm/index.mjs", import.meta.url).href;
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", tsx, script], {
      maxBuffer: 10 * 1024 * 1024,
    });
    const out = stdout.split("\n").filter(Boolean);
    const file = readFileSync(filePath, "utf8").split("\n").filter(Boolean);
    expect(out).toHaveLength(500);
    expect(file).toEqual(out);
    expect(JSON.parse(out[499] as string)).toMatchObject({ i: 499, msg: "line", level: "INFO" });
  });
});
