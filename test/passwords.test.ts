import { execFileSync } from "node:child_process";
import { randomBytes, scryptSync } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, it, vi } from "vitest";
import { HASH_NICE, HashWorkers } from "../src/api/hash-workers.js";
import { HashGate, HashQueueFull, hashPassword, verifyPassword } from "../src/api/passwords.js";

/** Nice values of this process's threads (Linux), by thread id; field 19 of /proc/…/stat. */
function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(Number(tid), Number(fields[16]));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}
const onLinux = process.platform === "linux";

describe("password hashing in low-priority threads", () => {
  const workers = new HashWorkers();
  afterAll(() => workers.close());
  const params = { n: 1024, r: 8, p: 1, keylen: 32, maxmem: 64 * 1024 * 1024 };

  it("computes scrypt as node:crypto does", async () => {
    const salt = randomBytes(16);
    const key = await workers.scrypt("pässword", salt, params);
    expect(key.equals(scryptSync("pässword", salt, 32, { N: 1024, r: 8, p: 1 }))).toBe(true);
    expect(workers.size).toBe(1);
  });

  it.runIf(onLinux)(
    "runs the hashes in a thread of nice HASH_NICE, the rest of the process at its own",
    async () => {
      const before = threadNices();
      await workers.scrypt("x", randomBytes(16), params);
      const after = threadNices();
      const mine = after.get(process.pid);
      expect(mine).not.toBe(HASH_NICE);
      expect([...after.values()]).toContain(HASH_NICE);
      // Only the hashing thread was lowered: every thread of before keeps its value.
      for (const [tid, nice] of before) if (after.has(tid)) expect(after.get(tid)).toBe(nice);
    },
  );

  it("a thread that dies fails its hash; the next hash gets a new thread", async () => {
    const own = new HashWorkers();
    const pending = own.scrypt("y", randomBytes(16), { ...params, n: 1 << 16 });
    await own.close();
    await expect(pending).rejects.toThrow(/password hashing thread/);
    const key = await own.scrypt("y", Buffer.alloc(16), params);
    expect(key.length).toBe(32);
    await own.close();
  });

  it("hashes in a process started with --input-type=module (the threads take none of its flags)", () => {
    const script = [
      `import { HashWorkers } from ${JSON.stringify(new URL("../src/api/hash-workers.ts", import.meta.url).href)};`,
      "const workers = new HashWorkers();",
      "const key = await workers.scrypt('x', Buffer.alloc(16), { n: 1024, r: 8, p: 1, keylen: 32, maxmem: 1 << 26 });",
      "console.log('key', key.length);",
      "await workers.close();",
    ].join("\n");
    const tsx = new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
    const out = execFileSync(process.execPath, ["--import", tsx, "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(out.trim()).toBe("key 32");
  });

  it("a bad parameter is an error, not a dead thread", async () => {
    await expect(workers.scrypt("z", randomBytes(16), { ...params, n: 1000 })).rejects.toThrow(
      /scrypt failed/,
    );
    expect((await workers.scrypt("z", randomBytes(16), params)).length).toBe(32);
  });
});

describe("hashPassword / verifyPassword", () => {
  it("verifies the right password only, against the parameters stored with the hash", async () => {
    const stored = await hashPassword("correct horse");
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(await verifyPassword("correct horse", stored)).toBe(true);
    expect(await verifyPassword("correct horsf", stored)).toBe(false);
    // A hash made with other parameters (an older cost) is checked with its own.
    const salt = randomBytes(16);
    const old = `scrypt$1024$8$1$${salt.toString("base64url")}$${scryptSync("pw", salt, 32, { N: 1024 }).toString("base64url")}`;
    expect(await verifyPassword("pw", old)).toBe(true);
    expect(await verifyPassword("pw", "bcrypt$whatever")).toBe(false);
  });
});

describe("HashGate admission", () => {
  it("refuses at once with 429 LIMIT_EXCEEDED when maxWaiting tasks wait already", async () => {
    const gate = new HashGate(1, 2);
    const releases: Array<() => void> = [];
    const task = () => new Promise<void>((resolve) => releases.push(resolve));
    const admitted = [gate.run(task), gate.run(task), gate.run(task)];
    expect(gate.load).toEqual({ running: 1, waiting: 2 });
    const refused = gate.run(task);
    await expect(refused).rejects.toBeInstanceOf(HashQueueFull);
    await expect(refused).rejects.toMatchObject({
      code: "LIMIT_EXCEEDED",
      status: 429,
      retryAfterSeconds: 1,
      details: [{ field: "password" }],
    });
    expect(gate.load).toEqual({ running: 1, waiting: 2 });
    // As the queue drains, there is room again.
    while (gate.load.running > 0) {
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(admitted);
    const later = gate.run(task);
    releases.shift()?.();
    await later;
  });
});

describe("burnPasswordCheck", () => {
  it("a dummy hash refused by a full queue is made again by the next unknown-email login", async () => {
    vi.resetModules();
    const fresh = await import("../src/api/passwords.js");
    fresh.hashGate.concurrency = 1;
    fresh.hashGate.maxWaiting = 0;
    let release = () => {};
    const blocker = fresh.hashGate.run(() => new Promise<void>((resolve) => (release = resolve)));
    await expect(fresh.burnPasswordCheck("guess")).rejects.toBeInstanceOf(fresh.HashQueueFull);
    release();
    await blocker;
    await expect(fresh.burnPasswordCheck("guess")).resolves.toBeUndefined();
    await fresh.hashWorkers.close();
  });
});
