import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRotatingFile, type RotatingFile, type RotationOptions } from "../src/logs/rotation.js";
import { waitFor } from "./support/wait.js";

const DAY_MS = 86_400_000;
const ROTATED = /^application\.\d{4}-\d{2}-\d{2}\.\d{4,}\.log(\.gz)?$/;

let dir: string;
let filePath: string;
const open: RotatingFile[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "tug-rotation-"));
  filePath = path.join(dir, "logs", "application.log");
});

afterEach(async () => {
  for (const r of open.splice(0)) await r.close();
  rmSync(dir, { recursive: true, force: true });
});

function rotating(opts: Partial<RotationOptions>): RotatingFile {
  const r = createRotatingFile({
    filePath,
    maxSizeBytes: 0,
    daily: false,
    maxFiles: Number.POSITIVE_INFINITY,
    maxAgeDays: 0,
    compress: false,
    ...opts,
  });
  open.push(r);
  return r;
}

function readText(file: string): string {
  const raw = readFileSync(file);
  return (file.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
}

/** Lines of one file; every file must end with a newline (no line cut in two). */
function linesOf(file: string): string[] {
  const text = readText(file);
  if (text === "") return [];
  expect(text.endsWith("\n"), `${file} ends mid-line`).toBe(true);
  return text.slice(0, -1).split("\n");
}

function idsOf(file: string): number[] {
  return linesOf(file).map((l) => (JSON.parse(l) as { i: number }).i);
}

const logDir = () => path.dirname(filePath);
const namesIn = () => readdirSync(logDir()).sort();

describe("rotating log file", () => {
  it("1,000,000 lines through pino: each present exactly once across the gzipped rotated files", async () => {
    const maxSizeBytes = 4 * 1024 * 1024;
    const r = rotating({ maxSizeBytes, compress: true, maxFiles: 10_000 });
    const logger = pino(
      { base: null, timestamp: false },
      pino.multistream([{ stream: r.stream, level: "info" }]),
    );
    const total = 1_000_000;
    const started = performance.now();
    for (let i = 0; i < total; i++) {
      logger.info({ i }, "rotation under load");
      // let the writer and the compressions run alongside, as they do in a live process
      if (i % 50_000 === 49_999) await new Promise((resolve) => setImmediate(resolve));
    }
    await r.flush();
    const elapsedMs = performance.now() - started;

    const rotated = await r.rotatedFiles();
    expect(rotated.length).toBeGreaterThan(5);
    for (const f of rotated)
      expect(path.basename(f)).toMatch(/^application\.\d{4}-\d{2}-\d{2}\.\d{4}\.log\.gz$/);
    // nothing else in the directory: no leftover plain copies or temp files
    expect(namesIn()).toEqual([...rotated.map((f) => path.basename(f)), "application.log"].sort());

    // count problems instead of calling expect() a million times (that alone takes ~20 s)
    const seen = new Uint8Array(total);
    let lines = 0;
    let invalid = 0;
    let duplicates = 0;
    for (const file of [...rotated, filePath]) {
      expect(Buffer.byteLength(readText(file))).toBeLessThanOrEqual(maxSizeBytes);
      for (const line of linesOf(file)) {
        lines++;
        let i: unknown;
        try {
          const obj: unknown = JSON.parse(line);
          i =
            typeof obj === "object" && obj !== null && !Array.isArray(obj)
              ? (obj as { i?: unknown }).i
              : undefined;
        } catch {
          i = undefined;
        }
        if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= total) invalid++;
        else if (seen[i] === 1) duplicates++;
        else seen[i] = 1;
      }
    }
    expect({ lines, invalid, duplicates, missing: seen.indexOf(0) }).toEqual({
      lines: total,
      invalid: 0,
      duplicates: 0,
      missing: -1,
    });
    // rotated files are in order: each holds a contiguous run following the previous one
    let next = 0;
    for (const file of [...rotated, filePath]) {
      const ids = idsOf(file);
      expect(ids[0]).toBe(next);
      expect(ids.at(-1)).toBe(next + ids.length - 1);
      next += ids.length;
    }
    console.info(`1e6 lines, ${rotated.length} rotated .gz files, ${Math.round(elapsedMs)} ms to flushed`);
  }, 180_000);

  it.each([false, true])(
    "retention by count keeps exactly the newest maxFiles (compress %s)",
    async (compress) => {
      const r = rotating({ maxSizeBytes: 1000, maxFiles: 3, compress });
      mkdirForeign();
      const logger = pino({ base: null, timestamp: false }, r.stream);
      for (let i = 0; i < 600; i++) {
        logger.info({ i }, "retention by count");
        if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await r.flush();

      const rotated = await r.rotatedFiles();
      expect(rotated).toHaveLength(3);
      for (const f of rotated) expect(f.endsWith(".gz")).toBe(compress);
      expect(namesIn()).toEqual(
        [...rotated.map((f) => path.basename(f)), "application.log", ...FOREIGN].sort(),
      );
      // they are the newest: the highest sequence numbers, holding the last lines up to the active file
      const seqs = rotated.map((f) => Number(path.basename(f).split(".")[2]));
      expect(seqs[0]).toBeGreaterThan(20);
      expect(seqs).toEqual([seqs[0], (seqs[0] ?? 0) + 1, (seqs[0] ?? 0) + 2]);
      const ids = [...rotated, filePath].flatMap(idsOf);
      expect(ids.at(-1)).toBe(599);
      expect(ids).toEqual(ids.map((_, k) => 600 - ids.length + k));
    },
  );

  it("retention by count also applies at start to files left by an earlier run", async () => {
    mkdirForeign();
    for (let d = 1; d <= 6; d++)
      writeFileSync(path.join(logDir(), `application.2020-01-0${d}.0001.log`), "{}\n");
    const r = rotating({ maxSizeBytes: 1000, maxFiles: 3 });
    await r.flush();
    expect((await r.rotatedFiles()).map((f) => path.basename(f))).toEqual([
      "application.2020-01-04.0001.log",
      "application.2020-01-05.0001.log",
      "application.2020-01-06.0001.log",
    ]);
    expect(namesIn()).toEqual(expect.arrayContaining(FOREIGN));
  });

  it("retention by age deletes rotated files whose mtime is older than maxAgeDays", async () => {
    const clock = Date.now();
    const r = rotating({ maxSizeBytes: 500, maxAgeDays: 2, now: () => clock });
    const logger = pino({ base: null, timestamp: false }, r.stream);
    let i = 0;
    for (; i < 60; i++) logger.info({ i }, "retention by age");
    await r.flush();
    const before = await r.rotatedFiles();
    expect(before.length).toBeGreaterThanOrEqual(5);

    const old = before.slice(0, 3);
    const threeDaysAgo = new Date(clock - 3 * DAY_MS);
    for (const f of old) utimesSync(f, threeDaysAgo, threeDaysAgo);
    // retention runs after the next rotation
    for (; i < 80; i++) logger.info({ i }, "retention by age");
    await r.flush();

    const after = await r.rotatedFiles();
    for (const f of old) expect(existsSync(f)).toBe(false);
    expect(after.slice(0, before.length - 3)).toEqual(before.slice(3));
    expect(after.length).toBeGreaterThan(before.length - 3);
  });

  it("retention by age at start, and compression keeps the rotated file's mtime", async () => {
    mkdirSync(logDir(), { recursive: true });
    const clock = Date.now();
    const at = (daysAgo: number) => new Date(clock - daysAgo * DAY_MS);
    const leftovers: [string, number][] = [
      ["application.2020-01-01.0001.log", 10],
      ["application.2020-01-02.0001.log.gz", 9],
      ["application.2020-01-09.0001.log", 1],
    ];
    for (const [name, daysAgo] of leftovers) {
      const file = path.join(logDir(), name);
      writeFileSync(file, '{"i":0}\n');
      utimesSync(file, at(daysAgo), at(daysAgo));
    }
    const r = rotating({ maxAgeDays: 7, compress: true, now: () => clock });
    await r.flush();
    const rotated = await r.rotatedFiles();
    expect(rotated.map((f) => path.basename(f))).toEqual(["application.2020-01-09.0001.log.gz"]);
    expect(readText(rotated[0] ?? "")).toBe('{"i":0}\n');
    expect(Math.abs(statSync(rotated[0] ?? "").mtimeMs - at(1).getTime())).toBeLessThan(1000);
  });

  it("daily: writes before and after local midnight land in different files", async () => {
    let clock = new Date(2026, 10, 27, 23, 59, 30).getTime();
    const r = rotating({ daily: true, now: () => clock });
    const logger = pino({ base: null, timestamp: false }, r.stream);
    for (let i = 0; i < 10; i++) logger.info({ i }, "before midnight");
    clock = new Date(2026, 10, 28, 0, 0, 5).getTime();
    for (let i = 10; i < 20; i++) logger.info({ i }, "after midnight");
    clock = new Date(2026, 10, 28, 23, 0, 0).getTime();
    for (let i = 20; i < 25; i++) logger.info({ i }, "same day");
    await r.flush();

    let rotated = await r.rotatedFiles();
    expect(rotated.map((f) => path.basename(f))).toEqual(["application.2026-11-28.0001.log"]);
    expect(idsOf(rotated[0] ?? "")).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(idsOf(filePath)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);

    // a day without writes makes no empty file; the next write after midnight rotates
    clock = new Date(2026, 10, 30, 8, 0, 0).getTime();
    logger.info({ i: 25 }, "two days later");
    await r.flush();
    rotated = await r.rotatedFiles();
    expect(rotated.map((f) => path.basename(f))).toEqual([
      "application.2026-11-28.0001.log",
      "application.2026-11-30.0001.log",
    ]);
    expect(idsOf(filePath)).toEqual([25]);
  });

  it("daily: an active file left from an earlier day is rotated at the first write after a restart", async () => {
    mkdirSync(logDir(), { recursive: true });
    const yesterday = new Date(Date.now() - DAY_MS);
    writeFileSync(filePath, '{"i":0}\n');
    utimesSync(filePath, yesterday, yesterday);
    const r = rotating({ daily: true });
    r.stream.write('{"i":1}\n');
    await r.flush();
    const rotated = await r.rotatedFiles();
    expect(rotated).toHaveLength(1);
    expect(idsOf(rotated[0] ?? "")).toEqual([0]);
    expect(idsOf(filePath)).toEqual([1]);
  });

  it("compression off: rotated files are plain .log", async () => {
    const r = rotating({ maxSizeBytes: 300 });
    const logger = pino({ base: null, timestamp: false }, r.stream);
    for (let i = 0; i < 50; i++) logger.info({ i }, "plain");
    await r.flush();
    const rotated = await r.rotatedFiles();
    expect(rotated.length).toBeGreaterThan(3);
    for (const f of rotated) {
      expect(path.basename(f)).toMatch(/^application\.\d{4}-\d{2}-\d{2}\.\d{4}\.log$/);
      expect(readFileSync(f, "utf8").startsWith("{")).toBe(true);
    }
    expect(namesIn().filter((n) => n.endsWith(".gz") || n.endsWith(".tmp"))).toEqual([]);
    expect([...rotated, filePath].flatMap(idsOf)).toEqual([...Array(50).keys()]);
  });

  it("never splits a line; a line larger than maxSizeBytes goes alone into a file", async () => {
    const r = rotating({ maxSizeBytes: 100 });
    const line = (i: number, bytes: number) => {
      const head = `{"i":${i},"pad":"`;
      return `${head}${"x".repeat(bytes - head.length - 3)}"}\n`;
    };
    for (const [i, bytes] of [
      [0, 40],
      [1, 40],
      [2, 300],
      [3, 70],
      [4, 40],
      [5, 40],
    ] as const) {
      r.stream.write(line(i, bytes));
    }
    await r.flush();
    const files = [...(await r.rotatedFiles()), filePath];
    expect(files.map(idsOf)).toEqual([[0, 1], [2], [3], [4, 5]]);
    for (const f of files.slice(0, -1)) expect(path.basename(f)).toMatch(ROTATED);
  });

  it("a deleted log directory neither throws nor crashes; reported once, recovered at the next rotation", async () => {
    const errors: Error[] = [];
    const r = rotating({ maxSizeBytes: 2000, onError: (err) => errors.push(err) });
    const logger = pino({ base: null, timestamp: false }, r.stream);
    logger.info({ i: 0 }, "before");
    await r.flush();
    rmSync(logDir(), { recursive: true, force: true });
    for (let i = 1; i < 100; i++) logger.info({ i }, "directory gone");
    await r.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/log rotation: cannot write .*application\.log/);
    expect(existsSync(filePath)).toBe(true);
    const ids = idsOf(filePath);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.at(-1)).toBe(99);
  });

  it("an unwritable path neither throws nor crashes and is reported once", async () => {
    writeFileSync(path.join(dir, "not-a-dir"), "");
    filePath = path.join(dir, "not-a-dir", "application.log");
    const errors: Error[] = [];
    const r = rotating({ maxSizeBytes: 100, onError: (err) => errors.push(err) });
    const logger = pino({ base: null, timestamp: false }, r.stream);
    for (let i = 0; i < 50; i++) logger.info({ i }, "nowhere to go");
    await r.flush();
    expect(errors).toHaveLength(1);
    expect(await r.rotatedFiles()).toEqual([]);
  });

  it("flushSync writes everything, including pending rotations, before exit; no line twice", async () => {
    const r = rotating({ maxSizeBytes: 4096 });
    const logger = pino({ base: null, timestamp: false }, r.stream);
    // 1000 lines of ~120 bytes pass the 64 KB a write waits for: after this tick a write is in flight
    const pad = "x".repeat(80);
    for (let i = 0; i < 1000; i++) logger.info({ i, pad }, "exit");
    await new Promise((resolve) => process.nextTick(resolve));
    for (let i = 1000; i < 2000; i++) logger.info({ i, pad }, "exit");
    r.flushSync();
    const sync = [...(await r.rotatedFiles()), filePath].flatMap(idsOf);
    expect(sync).toEqual([...Array(2000).keys()]);
    await r.flush();
    expect([...(await r.rotatedFiles()), filePath].flatMap(idsOf)).toEqual([...Array(2000).keys()]);
  });

  it("writes a few lines without flush() once they have waited their timer", async () => {
    const r = rotating({});
    r.stream.write('{"i":0}\n');
    r.stream.write('{"i":1}\n');
    await waitFor(
      "two lines in the file, unflushed",
      () => existsSync(filePath) && idsOf(filePath).length === 2,
    );
    expect(idsOf(filePath)).toEqual([0, 1]);
  });

  it("writes what is buffered when the process exits, by process.exit or an uncaught exception", async () => {
    const rotation = new URL("../src/logs/rotation.ts", import.meta.url).pathname;
    for (const [end, code] of [
      ["process.exit(3)", 3],
      ["setImmediate(() => { throw new Error('crash') })", 1],
    ] as const) {
      const file = path.join(dir, `exit-${code}.log`);
      // 100 short lines stay under the bytes that start a write, and the process ends within the
      // same turn of the event loop: only the exit hook can write them.
      const script = [
        `import { createRotatingFile } from ${JSON.stringify(rotation)};`,
        `const r = createRotatingFile({ filePath: ${JSON.stringify(file)}, maxSizeBytes: 0, daily: false, maxFiles: 1, maxAgeDays: 0, compress: false });`,
        `for (let i = 0; i < 100; i++) r.stream.write(JSON.stringify({ i }) + "\\n");`,
        end,
      ].join("\n");
      const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        encoding: "utf8",
      });
      expect(child.status, child.stderr).toBe(code);
      expect(idsOf(file)).toEqual([...Array(100).keys()]);
    }
  });

  it("appends to an existing active file and closes a half-written last line", async () => {
    mkdirSync(logDir(), { recursive: true });
    writeFileSync(filePath, '{"i":0}\n{"i":1,"cut');
    const r = rotating({});
    r.stream.write('{"i":2}\n');
    await r.flush();
    expect(readFileSync(filePath, "utf8")).toBe('{"i":0}\n{"i":1,"cut\n{"i":2}\n');
  });
});

const FOREIGN = [
  "application.log.bak",
  "application.2020-01-01.log",
  "other.2020-01-01.0001.log",
  "notes.txt",
];

function mkdirForeign(): void {
  mkdirSync(logDir(), { recursive: true });
  for (const name of FOREIGN) writeFileSync(path.join(logDir(), name), "keep me\n");
}
