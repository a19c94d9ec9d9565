import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { beforeAll, describe, expect, it, vi } from "vitest";
import {
  type EngineOptions,
  evaluateInstant,
  evaluateRange,
  evaluateRangeStepwise,
} from "../../src/promql/engine.js";
import {
  PromQLCanceledError,
  PromQLEvalError,
  PromQLSampleLimitError,
  PromQLTimeoutError,
  type QueryLimits,
} from "../../src/promql/index.js";
import { parseTestFile } from "../../src/promql/testfile.js";
import type { Value } from "../../src/promql/value.js";
import { labelsFromObject, labelsKey, SeriesStore } from "../../src/tsdb/index.js";

/**
 * Limits inside the evaluator (src/promql/limits.ts): a deadline, a cancel flag and max-samples
 * stop evaluation from inside its loops, on every path (per step, range plan, subqueries,
 * functions). Each adversarial query below runs for minutes without the checks; with a 100 ms
 * deadline it must end with the timeout error. The bound allowed (2 s past the deadline) is
 * generous so that a loaded machine cannot fail the test; a missing check fails it anyway.
 */

const DEADLINE_MS = 100;
const MARGIN_MS = 2_000;
const T = 400 * 86_400_000; // a "now" with a year of history before it
const MINUTE = 60_000;

/** Runs `f` with a deadline DEADLINE_MS from now; returns the error it threw and the time taken. */
function withDeadline(f: (opts: EngineOptions) => unknown): { err: unknown; elapsed: number } {
  const t0 = performance.now();
  try {
    f({ limits: { deadline: t0 + DEADLINE_MS } });
  } catch (err) {
    return { err, elapsed: performance.now() - t0 };
  }
  return { err: undefined, elapsed: performance.now() - t0 };
}

function expectTimeout(f: (opts: EngineOptions) => unknown): void {
  const { err, elapsed } = withDeadline(f);
  expect(err).toBeInstanceOf(PromQLTimeoutError);
  expect((err as Error).message).toBe("query timed out in expression evaluation");
  expect(elapsed).toBeLessThan(DEADLINE_MS + MARGIN_MS);
}

function add(
  store: SeriesStore,
  labels: Record<string, string>,
  from: number,
  to: number,
  every: number,
  v0 = 0,
) {
  const ref = store.getOrCreate(labelsFromObject(labels)) as number;
  for (let t = from, i = 0; t <= to; t += every, i++) store.appendRef(ref, t, v0 + i * (1 + (i % 7)));
}

// 100 series of 5,000 samples at 1 m (0.5 M samples): long windows, quick to select.
const deep = new SeriesStore({ maxSeries: 10_000, retentionMs: 400 * 86_400_000 });
// 5,000 series with one sample each at T: wide vectors, selected in no time.
const wide = new SeriesStore({ maxSeries: 10_000, retentionMs: 400 * 86_400_000 });

beforeAll(() => {
  for (let i = 0; i < 100; i++)
    add(deep, { __name__: "x", i: String(i), job: `j${i % 4}` }, T - 5_000 * MINUTE, T, MINUTE);
  for (let i = 0; i < 5_000; i++) {
    // Values in an order unlike the store's (labels sort "10" before "9"): sorting them is work.
    add(wide, { __name__: "w", i: String(i), job: `j${i % 50}` }, T, T, MINUTE, i);
    add(
      wide,
      { __name__: "h_bucket", i: String(i % 500), le: ["0.1", "1", "+Inf"][i % 3] as string },
      T,
      T,
      MINUTE,
    );
  }
});

// A range query of 11,000 steps (Prometheus's maximum) 1 ms apart: every step sees the same samples.
const steps11k = (expr: string, store: SeriesStore, opts: EngineOptions) =>
  evaluateRange(expr, T, T + 10_999, 1, store, opts);

describe("a deadline stops evaluation", () => {
  it("a subquery at a 1 ms step (86.4 M steps)", () => {
    expectTimeout((o) => evaluateInstant("count_over_time(vector(1)[1d:1ms])", T, deep, o));
  });

  it("three nested subqueries (4.7e10 steps)", () => {
    expectTimeout((o) =>
      evaluateInstant(
        "max_over_time(max_over_time(max_over_time(vector(1)[1h:1s])[1h:1s])[1h:1s])",
        T,
        deep,
        o,
      ),
    );
  });

  it("sum(rate(x[1y])) over a big store, step by step", () => {
    expectTimeout((o) => evaluateRangeStepwise("sum(rate(x[1y]))", T - 3_000 * MINUTE, T, MINUTE, deep, o));
  });

  it("a range function over year-long windows in the range plan", () => {
    expectTimeout((o) => evaluateRange("sum(max_over_time(x[1y]))", T - 3_000 * MINUTE, T, MINUTE, deep, o));
  });

  it("a range query of 11,000 steps with a subquery inside", () => {
    expectTimeout((o) =>
      evaluateRange("max_over_time(sum by (job) (x)[1h:10s])", T - 11_000 * 15_000, T, 15_000, deep, o),
    );
  });

  it.each([
    ["vector matching over many series", "w * on() group_left vector(1)"],
    ["many-to-one matching by label", "w * on(job) group_left sum by (job) (w)"],
    ["set operations", "w or on(i) (w + 1) unless w > 1e9"],
    [
      "label_replace chains",
      'label_replace(label_replace(label_replace(w, "a", "$1", "i", "(.*)"), "b", "$1", "a", "(.*)"), "c", "$1", "b", "(.*)")',
    ],
    ["aggregation over many series", 'count_values("v", w)'],
    ["quantile over many series", "quantile(0.5, w)"],
    ["sorting", "sort_desc(w)"],
    ["histogram_quantile", "histogram_quantile(0.9, h_bucket)"],
  ])("%s, 11,000 steps", (_name, expr) => {
    expectTimeout((o) => steps11k(expr, wide, o));
  });

  it("an instant query past its deadline does not start", () => {
    expect(() =>
      evaluateInstant("vector(1)", T, deep, { limits: { deadline: performance.now() - 1 } }),
    ).toThrow(PromQLTimeoutError);
  });
});

describe("cancellation", () => {
  it("a flag set by another thread mid-query stops it", async () => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    // The worker stands for the API thread: it raises the flag 50 ms after it starts.
    const worker = new Worker(
      "const { workerData, parentPort } = require('node:worker_threads');" +
        "parentPort.postMessage('up');" +
        "setTimeout(() => { Atomics.store(workerData, 0, 1); }, 50);",
      { eval: true, workerData: flag },
    );
    try {
      await new Promise((ok) => worker.once("message", ok));
      const t0 = performance.now();
      let err: unknown;
      try {
        evaluateInstant("count_over_time(vector(1)[1d:1ms])", T, deep, {
          limits: { isCancelled: () => Atomics.load(flag, 0) === 1 },
        });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PromQLCanceledError);
      expect((err as Error).message).toBe("query was canceled in expression evaluation");
      expect(performance.now() - t0).toBeLessThan(MARGIN_MS);
    } finally {
      await worker.terminate();
    }
  });

  it("the range plan lets a cancellation through instead of starting over step by step", () => {
    // After the first true, any further poll would mean the plan caught the error and fell
    // back to the per-step path.
    let trues = 0;
    let polls = 0;
    const isCancelled = () => {
      polls++;
      if (polls < 3) return false;
      trues++;
      return true;
    };
    expect(() =>
      evaluateRange("sum(max_over_time(x[1d]))", T - 1_000 * MINUTE, T, MINUTE, deep, {
        limits: { isCancelled },
      }),
    ).toThrow(PromQLCanceledError);
    expect(trues).toBe(1);
  });

  it("neither timeout nor cancellation is an execution error (they are 503s, not 422s)", () => {
    expect(new PromQLTimeoutError()).not.toBeInstanceOf(PromQLEvalError);
    expect(new PromQLCanceledError()).not.toBeInstanceOf(PromQLEvalError);
    expect(new PromQLSampleLimitError()).toBeInstanceOf(PromQLEvalError);
  });
});

// 50,000 series with one sample each: a selection over all of them is a long loop of the store's.
const many = new SeriesStore({ maxSeries: 60_000, retentionMs: 400 * 86_400_000 });

/**
 * Runs `f` with limits that stop it at the first poll made from inside a function whose name
 * matches `where` (a frame of the stack at the poll): by the cancel flag, or by the deadline on a
 * clock (performance.now, mocked) that reads past it only there. Deterministic on any machine:
 * without a poll inside `where` the query never sees its limit and runs to completion.
 */
function stopInside(how: "deadline" | "cancel", where: RegExp, f: (o: EngineOptions) => unknown): unknown {
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 200;
  let polls = 0;
  const inside = () => {
    polls++;
    return where.test(new Error().stack ?? "");
  };
  const clock =
    how === "deadline"
      ? vi.spyOn(globalThis.performance, "now").mockImplementation(() => (inside() ? 2 : 0))
      : undefined;
  try {
    f({ limits: how === "cancel" ? { isCancelled: inside } : { deadline: 1 } });
    return undefined;
  } catch (err) {
    return err;
  } finally {
    clock?.mockRestore();
    Error.stackTraceLimit = stackTraceLimit;
    // The guard polled at all (else the test would prove nothing about its loops).
    expect(polls).toBeGreaterThan(0);
  }
}

describe("long loops outside the evaluator's own stop mid-way", () => {
  beforeAll(() => {
    for (let i = 0; i < 50_000; i++)
      add(many, { __name__: "m", i: String(i), job: `j${i % 100}`, v: "a".repeat(i % 40) }, T, T, MINUTE);
  });

  const inStore = /SeriesStore\.(select|matching|copyRange)/;
  const errorOf = { deadline: PromQLTimeoutError, cancel: PromQLCanceledError } as const;

  it.each(["deadline", "cancel"] as const)(
    "the store's select over 50,000 series (instant query): %s",
    (how) => {
      const err = stopInside(how, inStore, (o) => evaluateInstant("count(m)", T, many, o));
      expect(err).toBeInstanceOf(errorOf[how]);
    },
  );

  it.each(["deadline", "cancel"] as const)(
    "the store's select under a regex matcher (range plan): %s",
    (how) => {
      const err = stopInside(how, inStore, (o) =>
        evaluateRange('count(m{job=~"j1.*"})', T, T + 4 * MINUTE, MINUTE, many, o),
      );
      expect(err).toBeInstanceOf(errorOf[how]);
    },
  );

  it.each(["deadline", "cancel"] as const)("label_replace over 50,000 series: %s", (how) => {
    const err = stopInside(how, /labelReplace/, (o) =>
      evaluateInstant('count(label_replace(m, "dst", "x$1", "v", "(a*)"))', T, many, o),
    );
    expect(err).toBeInstanceOf(errorOf[how]);
  });

  it.each(["deadline", "cancel"] as const)("label_join over 50,000 series: %s", (how) => {
    const err = stopInside(how, /labelJoin/, (o) =>
      evaluateInstant('count(label_join(m, "dst", "-", "i", "job", "v"))', T, many, o),
    );
    expect(err).toBeInstanceOf(errorOf[how]);
  });

  it("without limits the same queries complete (the stops above are the limits')", () => {
    const n = (v: Value) => (v.type === "vector" ? v.samples[0]?.value : undefined);
    expect(n(evaluateInstant("count(m)", T, many))).toBe(50_000);
    expect(n(evaluateInstant('count(label_replace(m, "dst", "x$1", "v", "(a*)"))', T, many))).toBe(50_000);
    expect(n(evaluateInstant('count(label_join(m, "dst", "-", "i", "job", "v"))', T, many))).toBe(50_000);
  });
});

describe("max samples", () => {
  const tooMany = "query processing would load too many samples into memory in query execution";

  /** `expr` passes with `limit` samples and fails with one fewer. */
  function boundary(f: (limits: QueryLimits) => unknown, limit: number): void {
    expect(() => f({ maxSamples: limit })).not.toThrow();
    let err: unknown;
    try {
      f({ maxSamples: limit - 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PromQLSampleLimitError);
    expect((err as Error).message).toBe(tooMany);
  }

  it("a subquery's points count (instant query)", () => {
    const v = evaluateInstant("count_over_time(vector(1)[1h:1s])", T, deep);
    const n = v.type === "vector" ? (v.samples[0]?.value as number) : 0;
    expect(n).toBeGreaterThan(3_000);
    // Prometheus's count: the subquery's n points, then the function's window over them (n
    // again) and its output.
    boundary(
      (limits) => evaluateInstant("count_over_time(vector(1)[1h:1s])", T, deep, { limits }),
      2 * n + 1,
    );
  });

  it("one series' window of a range function counts (instant query)", () => {
    // 61 samples in the hour of each series; one window is held at a time, with the outputs
    // made so far and its own (Prometheus's count).
    boundary((limits) => evaluateInstant('sum_over_time(x{i="7"}[1h])', T, deep, { limits }), 61 + 1);
    boundary((limits) => evaluateInstant("sum(sum_over_time(x[1h]))", T, deep, { limits }), 99 + 61 + 1);
  });

  it("a range vector's points count (instant query)", () => {
    boundary((limits) => evaluateInstant('x{job="j1"}[10m]', T, deep, { limits }), 25 * 11);
  });

  it("a range query's output points count, in the range plan and step by step", () => {
    const points = 100 * 31;
    boundary((limits) => evaluateRange("x", T - 30 * MINUTE, T, MINUTE, deep, { limits }), points);
    boundary((limits) => evaluateRangeStepwise("x", T - 30 * MINUTE, T, MINUTE, deep, { limits }), points);
  });

  it("86.4 M subquery steps stop at the limit, long before they are all in memory", () => {
    const t0 = performance.now();
    expect(() =>
      evaluateInstant("count_over_time(vector(1)[1d:1ms])", T, deep, { limits: { maxSamples: 100_000 } }),
    ).toThrow(PromQLSampleLimitError);
    expect(performance.now() - t0).toBeLessThan(MARGIN_MS);
  });

  it("the range plan's node matrices count and the error is not retried step by step", () => {
    const t0 = performance.now();
    expect(() =>
      evaluateRange("sum(rate(x[5m]))", T - 7 * 86_400_000, T, MINUTE, deep, {
        limits: { maxSamples: 50_000 },
      }),
    ).toThrow(PromQLSampleLimitError);
    expect(performance.now() - t0).toBeLessThan(MARGIN_MS);
  });
});

// Same results, bit for bit, with generous limits as without: the checks only observe.
type Outcome = { error: string } | { value: string[] };

function outcome(f: () => Value): Outcome {
  try {
    const v = f();
    const bits = (x: number) =>
      Number.isNaN(x) ? "NaN" : new DataView(new Float64Array([x]).buffer).getBigUint64(0).toString(16);
    switch (v.type) {
      case "scalar":
        return { value: [bits(v.value)] };
      case "string":
        return { value: [v.value] };
      case "vector":
        return { value: v.samples.map((s) => `${labelsKey(s.labels)} ${bits(s.value)}`) };
      case "matrix":
        return {
          value: v.series.map(
            (s) =>
              `${labelsKey(s.labels)} ${s.values.map((x, i) => `${s.timestamps[i]}=${bits(x)}`).join(" ")}`,
          ),
        };
    }
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const confDir = join(process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance"), "promql");

describe("limits change no result", () => {
  it.skipIf(!existsSync(confDir))(
    "on every eval of Prometheus's PromQL test files, instant and range",
    () => {
      const generous = (): EngineOptions => ({
        limits: { deadline: performance.now() + 600_000, maxSamples: 1e12, isCancelled: () => false },
      });
      let compared = 0;
      for (const name of readdirSync(confDir).filter((f) => f.endsWith(".test"))) {
        let store = new SeriesStore({ maxSeries: 1_000_000 });
        for (const cmd of parseTestFile(readFileSync(join(confDir, name), "utf8"), name)) {
          if (cmd.kind === "clear") store = new SeriesStore({ maxSeries: 1_000_000 });
          else if (cmd.kind === "load") {
            for (const s of cmd.series) {
              const ref = store.getOrCreate(labelsFromObject(s.labels)) as number;
              for (const p of s.samples) {
                if (p.value === "stale") store.appendStale(ref, p.t);
                else store.appendRef(ref, p.t, p.value);
              }
            }
          } else {
            const at = cmd.atMs;
            const runs: Array<(o: EngineOptions) => Value> = [
              (o) => evaluateInstant(cmd.expr, at, store, o),
              (o) => evaluateRange(cmd.expr, at - 600_000, at + 300_000, 37_000, store, o),
              (o) => evaluateRangeStepwise(cmd.expr, Math.max(0, at - 3_600_000), at, 433_000, store, o),
            ];
            for (const run of runs) {
              expect(
                outcome(() => run(generous())),
                cmd.expr,
              ).toEqual(outcome(() => run({})));
              compared++;
            }
          }
        }
      }
      expect(compared).toBeGreaterThan(1000);
    },
  );
});
