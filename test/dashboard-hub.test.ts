// The live hub on its own, over an engine that answers what each test needs: shared evaluations
// only while someone listens, each query's failure or excess shown in its panel (the page then
// shows an error, never a blank), the listener bound, and the SSE framing.

import { describe, expect, it } from "vitest";
import { countSeries, HubFullError, LiveHub, sseFrame } from "../src/dashboard/hub.js";
import { PANELS } from "../src/dashboard/panels.js";
import type { Engine } from "../src/engine/protocol.js";
import { waitFor } from "./support/wait.js";

const matrix = (n: number) =>
  new TextEncoder().encode(
    JSON.stringify({
      status: "success",
      data: {
        resultType: "matrix",
        result: Array.from({ length: n }, (_, i) => ({ metric: { route: `/r${i}` }, values: [[1, "1"]] })),
      },
    }),
  );

function engine(answer: (query: string) => Uint8Array | Error) {
  const queries: string[] = [];
  const e: Pick<Engine, "run"> = {
    run: (async (req: { op: string; query: string }) => {
      queries.push(req.query);
      const a = answer(req.query);
      if (a instanceof Error) throw a;
      return a;
    }) as Engine["run"],
  };
  return { e, queries };
}

const hubWith = (e: Pick<Engine, "run">, o: Partial<ConstructorParameters<typeof LiveHub>[0]> = {}) =>
  new LiveHub({
    engine: e,
    scrapeIntervalMs: 5000,
    maxClients: 3,
    maxSeriesPerPanel: 10,
    queryTimeoutMs: 1000,
    ...o,
  });

function parse(frame: Buffer) {
  const text = frame.toString("utf8");
  expect(text.startsWith("event: data\n")).toBe(true);
  const data = text
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .map((l) => l.slice(6))
    .join("\n");
  return JSON.parse(data) as {
    head: { stepMs: number };
    panels: Record<string, Array<{ error?: string; status?: string }>>;
  };
}

describe("live hub", () => {
  it("evaluates each panel query once for every listener of a view, and stops when they leave", async () => {
    const { e, queries } = engine(() => matrix(1));
    const hub = hubWith(e);
    const got: Buffer[][] = [[], []];
    const off1 = hub.subscribe("users", "1h", { send: (f) => got[0]?.push(f) });
    const off2 = hub.subscribe("users", "1h", { send: (f) => got[1]?.push(f) });
    await waitFor("the first evaluation", () => got[0]?.length === 1);
    await waitFor("the second listener to get it", () => got[1]?.length === 1);
    const perEvaluation = PANELS.users.reduce((n, p) => n + p.queries.length, 0);
    expect(queries.length).toBe(perEvaluation);
    expect(hub.evaluations).toBe(1);
    expect(got[0]?.[0]).toBe(got[1]?.[0]); // the same frame, built once
    // A third listener joining gets the last frame at once, without an evaluation.
    const late: Buffer[] = [];
    const off3 = hub.subscribe("users", "1h", { send: (f) => late.push(f) });
    expect(late).toHaveLength(1);
    expect(hub.evaluations).toBe(1);
    off1();
    off2();
    off3();
    expect(hub.listeners).toBe(0);
    hub.stop();
  });

  it("puts a failed or oversized query's reason in its panel, and the others' results beside it", async () => {
    const { e } = engine((q) =>
      q.includes("user_logins_total")
        ? new Error("query timed out in expression evaluation")
        : q.includes("feature_usage")
          ? matrix(11)
          : matrix(2),
    );
    const hub = hubWith(e);
    const frame = parse(await hub.evaluate("users", "15m"));
    expect(frame.panels.logins?.[0]?.error).toBe("query timed out in expression evaluation");
    expect(frame.panels.features?.[0]?.error).toBe(
      "11 series, more than the dashboard draws in one panel (10)",
    );
    expect(frame.panels.registrations?.[0]?.status).toBe("success");
    expect(frame.head.stepMs).toBe(5000);
    hub.stop();
  });

  it("refuses a listener beyond its bound and takes one again when another leaves", () => {
    const { e } = engine(() => matrix(0));
    const hub = hubWith(e);
    const offs = [0, 1, 2].map(() => hub.subscribe("overview", "5m", { send: () => undefined }));
    expect(() => hub.subscribe("traffic", "5m", { send: () => undefined })).toThrow(HubFullError);
    offs[0]?.();
    offs[0]?.(); // twice is once
    expect(hub.listeners).toBe(2);
    const again = hub.subscribe("traffic", "5m", { send: () => undefined });
    expect(hub.listeners).toBe(3);
    again();
    for (const off of offs) off();
    hub.stop();
  });

  it("counts series by their keys and frames bodies with newlines as several data lines", () => {
    expect(countSeries(matrix(0))).toBe(0);
    expect(countSeries(matrix(7))).toBe(7);
    // A label value that spells the key is escaped inside its string and not counted.
    const tricky = new TextEncoder().encode(
      JSON.stringify({ result: [{ metric: { x: '{"metric":' }, values: [] }] }),
    );
    expect(countSeries(tricky)).toBe(1);
    const f = sseFrame("data", Buffer.from('{"a":\n1}')).toString();
    expect(f).toBe('event: data\ndata: {"a":\ndata: 1}\n\n');
  });
});
