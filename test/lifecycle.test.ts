import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { need } from "../src/app/context.js";
import { loadConfig } from "../src/core/config/index.js";
import { type Capability, type LifecycleLog, LifecycleRunner, type Unit } from "../src/core/lifecycle.js";
import { type AppCapability, type AppContext, buildApp } from "../src/server.js";
import { buildTestApp, startTestApp } from "./support/app.js";
import { ManualClock } from "./support/clock.js";
import { waitFor } from "./support/wait.js";

interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

function recorder(): { log: LifecycleLog; lines: Line[] } {
  const lines: Line[] = [];
  return { lines, log: (level, fields, msg) => lines.push({ level, fields, msg }) };
}

/** A capability whose units record their start and stop in `events`. */
function recording(name: string, events: string[], units = [name]): Capability<unknown> {
  return {
    name,
    build: () =>
      units.map(
        (u): Unit => ({
          name: u,
          start: () => {
            events.push(`start ${u}`);
          },
          stop: async () => {
            events.push(`stop ${u}`);
          },
        }),
      ),
  };
}

const never = () => new Promise<void>(() => undefined);

describe("LifecycleRunner", () => {
  it("starts a capability added to the list in its place and stops it in reverse order", async () => {
    // The list as a composition root would hold it, then the same list with one more
    // capability: the runner's start and stop are the same code for both.
    const base = (events: string[]) => [
      recording("db", events),
      recording("engine", events, ["engine", "sampler"]),
      recording("http", events),
    ];
    const plain: string[] = [];
    const r1 = new LifecycleRunner({ log: recorder().log });
    await r1.build(base(plain), undefined);
    await r1.start();
    await r1.stop();
    expect(plain).toEqual([
      "start db",
      "start engine",
      "start sampler",
      "start http",
      "stop http",
      "stop sampler",
      "stop engine",
      "stop db",
    ]);

    const events: string[] = [];
    const list = base(events);
    list.splice(2, 0, recording("deployments", events)); // after the engine, before HTTP
    const r2 = new LifecycleRunner({ log: recorder().log });
    await r2.build(list, undefined);
    expect(r2.names()).toEqual(["db", "engine", "sampler", "deployments", "http"]);
    await r2.start();
    await r2.stop();
    expect(events).toEqual([
      "start db",
      "start engine",
      "start sampler",
      "start deployments",
      "start http",
      "stop http",
      "stop deployments",
      "stop sampler",
      "stop engine",
      "stop db",
    ]);
  });

  it("logs every step with its name and duration, and a summary per phase", async () => {
    const { log, lines } = recorder();
    const r = new LifecycleRunner({ log });
    await r.build([recording("a", []), recording("b", [])], undefined);
    await r.start();
    await r.stop();
    const steps = lines.filter((l) => l.level === "debug").map((l) => [l.fields.phase, l.fields.unit]);
    expect(steps).toEqual([
      ["start", "a"],
      ["start", "b"],
      ["stop", "b"],
      ["stop", "a"],
    ]);
    for (const l of lines.filter((x) => x.level === "debug"))
      expect(typeof l.fields.durationMs).toBe("number");
    const summaries = lines.filter((l) => l.level === "info");
    expect(summaries.map((l) => l.fields.phase)).toEqual(["start", "stop"]);
    expect(Object.keys(summaries[1]?.fields.steps as object)).toEqual(["b", "a"]);
  });

  it("a start step past its bound is logged and the next one starts; its late failure is logged", async () => {
    const clock = new ManualClock();
    const { log, lines } = recorder();
    const events: string[] = [];
    let failLate: (e: Error) => void = () => undefined;
    const r = new LifecycleRunner({ log, timers: clock, startTimeoutMs: 1_000 });
    r.add(
      {
        name: "slow",
        start: () =>
          new Promise<void>((_resolve, reject) => {
            failLate = reject;
          }),
      },
      { name: "next", start: () => void events.push("next started") },
    );
    const started = r.start();
    await waitFor("the slow step's bound is set", () => clock.size === 1);
    expect(events).toEqual([]);
    await clock.advanceAsync(999);
    expect(events).toEqual([]);
    await clock.advanceAsync(1);
    const reports = await started;
    expect(events).toEqual(["next started"]);
    expect(reports.map((x) => [x.name, x.outcome])).toEqual([
      ["slow", "timeout"],
      ["next", "ok"],
    ]);
    expect(lines.find((l) => l.level === "warn")?.msg).toBe("start of slow exceeded 1000 ms; going on");
    failLate(new Error("gave up"));
    await waitFor("the late failure logged", () => lines.some((l) => l.level === "error"));
    expect(lines.find((l) => l.level === "error")?.msg).toBe("start of slow failed after its timeout");
  });

  it("stop never hangs: a stuck stop is bounded, a failing one logged, and the rest still stop", async () => {
    const clock = new ManualClock();
    const { log, lines } = recorder();
    const events: string[] = [];
    const r = new LifecycleRunner({ log, timers: clock, stopTimeoutMs: 10_000 });
    r.add(
      { name: "db", stop: () => void events.push("db closed") },
      {
        name: "broken",
        stop: () => {
          throw new Error("boom");
        },
      },
      { name: "stuck", stop: never, stopTimeoutMs: () => 2_000 },
    );
    const stopped = r.stop();
    expect(r.stop()).toBe(stopped); // once
    await waitFor("the stuck step's bound is set", () => clock.size === 1);
    expect(clock.dueTimes()).toEqual([clock.now() + 2_000]);
    await clock.advanceAsync(2_000);
    const reports = await stopped;
    expect(reports.map((x) => [x.name, x.outcome])).toEqual([
      ["stuck", "timeout"],
      ["broken", "failed"],
      ["db", "ok"],
    ]);
    expect(events).toEqual(["db closed"]);
    const err = lines.find((l) => l.level === "error");
    expect(err?.msg).toBe("stop of broken failed");
    expect(err?.fields.err).toMatchObject({ message: "boom" });
  });

  it("a failing start rejects with its error and starts nothing more; stop after it stops everything", async () => {
    const events: string[] = [];
    const r = new LifecycleRunner({ log: recorder().log });
    const failure = new Error("port in use");
    await r.build(
      [
        recording("a", events),
        {
          name: "b",
          build: () => [
            {
              name: "b",
              start: () => Promise.reject(failure),
              stop: () => void events.push("stop b"),
            },
          ],
        },
        recording("c", events),
      ],
      undefined,
    );
    await expect(r.start()).rejects.toBe(failure);
    expect(events).toEqual(["start a"]);
    await r.stop();
    expect(events).toEqual(["start a", "stop c", "stop b", "stop a"]);
  });

  it("stop during start-up: the units not yet started are not started", async () => {
    const events: string[] = [];
    let release: () => void = () => undefined;
    const r = new LifecycleRunner({ log: recorder().log });
    r.add(
      {
        name: "migrations",
        start: () => new Promise<void>((resolve) => (release = resolve)),
        startTimeoutMs: Number.POSITIVE_INFINITY,
      },
      { name: "ready", start: () => void events.push("ready"), stop: () => void events.push("drained") },
    );
    const started = r.start();
    const stopped = r.stop();
    release();
    await started;
    await stopped;
    expect(events).toEqual(["drained"]);
  });

  it("refuses units added once started", async () => {
    const r = new LifecycleRunner({ log: recorder().log });
    await r.start();
    expect(() => r.add({ name: "late" })).toThrow("cannot add late once started");
  });
});

describe("buildApp's lifecycle", () => {
  it("a capability listed before what it needs fails the build, naming both", async () => {
    const early: AppCapability = { name: "dashboard", build: (ctx) => void need(ctx, "engine", "dashboard") };
    const r = new LifecycleRunner({ log: recorder().log });
    const ctx = { state: { phase: "starting" } } as unknown as AppContext;
    await expect(r.build([early], ctx)).rejects.toThrow(
      "capability dashboard needs engine, built by a capability listed before it",
    );
  });

  it("starts and stops a real app in order, a plugged-in capability in its place, as its log shows", async () => {
    const events: string[] = [];
    // A capability as deployment monitoring or the dashboard would add: it uses what earlier
    // capabilities built (the database, the engine) and neither start nor stop code changes.
    const probe: AppCapability = {
      name: "probe",
      build(ctx) {
        const db = ctx.db;
        const engine = ctx.engine;
        if (!db || !engine) throw new Error("probe: the database and the engine must be built first");
        return [
          {
            name: "probe",
            start: async () => {
              events.push(`start probe: phase ${ctx.state.phase}`);
              await db.query("SELECT 1");
            },
            stop: async () => {
              // After the drain (the server no longer serves), before the database closes.
              events.push(`stop probe: phase ${ctx.state.phase}`);
              await db.query("SELECT 1");
              events.push("stop probe: database still open");
            },
          },
        ];
      },
    };
    const dir = mkdtempSync(join(tmpdir(), "tug-lifecycle-"));
    const yaml = join(dir, "tug.yml");
    writeFileSync(yaml, "log:\n  stdout: false\n");
    const config = loadConfig({
      MONITORING_CONFIG: yaml,
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: `sqlite:${join(dir, "tug.db")}`,
      LOG_FILE_PATH: join(dir, "app.log"),
      LOG_LEVEL: "debug",
    });
    const app = await buildApp({ config, capabilities: [probe] });
    await app.listen();
    expect(app.lifecycle()).toBe("ready");
    const units = app.units();
    expect(units.slice(-2)).toEqual(["probe", "readiness"]);
    expect(units.indexOf("http listen")).toBeLessThan(units.indexOf("migrations"));
    expect(units.indexOf("migrations")).toBeLessThan(units.indexOf("health"));
    expect(units.indexOf("notifier")).toBeLessThan(units.indexOf("engine"));
    expect(units.indexOf("engine")).toBeLessThan(units.indexOf("sampler"));
    await app.close();
    expect(events).toEqual([
      "start probe: phase starting",
      "stop probe: phase stopped",
      "stop probe: database still open",
    ]);

    const lines = readFileSync(join(dir, "app.log"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; unit?: string; phase?: string; durationMs?: number });
    const started = lines.filter((l) => l.phase === "start" && l.unit).map((l) => l.unit);
    const stopped = lines.filter((l) => l.phase === "stop" && l.unit).map((l) => l.unit);
    // Every unit with a start logged it, in the list's order; stop in the reverse order.
    expect(started).toEqual(units.filter((u) => started.includes(u)));
    expect(started).toEqual(
      expect.arrayContaining(["liveness", "http listen", "migrations", "engine", "probe"]),
    );
    expect(stopped).toEqual([...units].reverse().filter((u) => stopped.includes(u)));
    expect(stopped[0]).toBe("readiness");
    expect(stopped.slice(0, 2)).toEqual(["readiness", "probe"]);
    expect(stopped.indexOf("engine")).toBeLessThan(stopped.indexOf("notifier"));
    expect(stopped.indexOf("notifier")).toBeLessThan(stopped.indexOf("database"));
    for (const l of lines.filter((x) => x.unit)) expect(typeof l.durationMs).toBe("number");
    const msgs = lines.map((l) => l.msg);
    expect(msgs.indexOf("shutdown: readiness now fails; draining")).toBeLessThan(msgs.indexOf("stop probe"));
    expect(msgs.at(-1)).toBe("shutdown complete");
  }, 60_000);
  it("leaves out the optional capabilities it is told to, and refuses to leave out the API's", async () => {
    await expect(buildTestApp({}, { omit: ["database"] })).rejects.toThrow(
      /cannot omit "database"; omittable: .*engine/,
    );
    const t = await startTestApp({}, { omit: ["engine", "rules", "sampler"] });
    try {
      const units = t.app.units();
      expect(units).not.toContain("engine");
      expect(units).not.toContain("sampler");
      expect(units).toEqual(expect.arrayContaining(["http listen", "migrations", "health", "readiness"]));
      expect((await t.call("GET", "/monitoring/health/ready")).status).toBe(200);
    } finally {
      await t.close();
    }
  }, 60_000);
});
