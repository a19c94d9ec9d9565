/**
 * Fuzz: log lines. Batches of random lines (pino-shaped JSON with wrong types, other JSON, plain
 * text, binary, deeply nested JSON, lines of up to 1 MB) through the template miner
 * (src/logs/patterns, what `tug logs analyze` runs) and through the analyzer's tap
 * (src/logs/analysis, what the server runs on its own log), each in a sandboxed worker
 * (./support.ts). Property: no throw; every line within a time bound (linear work: no line may
 * cost more than 2 s, even 1 MB ones on a loaded machine); templates and signatures held stay
 * within the configured cap however many distinct lines arrive; no hang (8 s per batch), no
 * exhausted heap (512 MB). Budget and seeds: see ./support.ts.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { logLine, sameShapeLines } from "./arbitraries.js";
import { checkProperty, HEAVY, Sandbox, type SandboxOutcome } from "./support.js";

const FILE = "test/fuzz/logs.test.ts";
const LINE_MS = 2_000;
const CAP = 40;
// Below the properties' time cap, so that a hang is reported as one rather than cut short.
const sandbox = new Sandbox(8_000);
// The worker's start (tsx compiling the sources) is not part of any property's time budget.
beforeAll(() => sandbox.warm(), 60_000);
afterAll(() => sandbox.close());

function check(o: SandboxOutcome, lines: string[]): true {
  if (o.kind === "hang") throw new Error("no answer within 8 s for the batch");
  if (o.kind === "crash") throw new Error(`crashed its worker: ${o.message}`);
  const r = o.reply;
  if (r.error) throw new Error(`threw ${r.error.constructor}: ${r.error.message.slice(0, 300)}`);
  const slowest = Math.max(0, ...r.ms);
  if (slowest > LINE_MS) {
    const i = r.ms.indexOf(slowest);
    const line = lines[i] ?? "";
    throw new Error(
      `line ${i} (${line.length} chars) took ${Math.round(slowest)} ms: ${JSON.stringify(line.slice(0, 120))}`,
    );
  }
  if ((r.templates ?? 0) > CAP || (r.signatures ?? 0) > CAP) {
    throw new Error(`${r.templates} templates and ${r.signatures} signatures held, cap ${CAP}`);
  }
  return true;
}

/** Batches with repeats (so templates form) and many distinct lines (so the cap is exercised). */
const mixed = fc
  .tuple(fc.array(logLine, { minLength: 1, maxLength: 60 }), fc.array(fc.nat(), { maxLength: 60 }))
  .map(([lines, repeats]) => [...lines, ...repeats.map((i) => lines[i % lines.length] as string)]);
const batch = HEAVY ? fc.oneof(mixed, sameShapeLines) : mixed;

describe("fuzz: log lines", () => {
  it("the template miner never throws, stays linear and keeps at most its cap of templates", async () => {
    await checkProperty(
      "log lines: template miner",
      FILE,
      fc.asyncProperty(batch, async (lines) =>
        check(await sandbox.run({ kind: "miner", lines, maxTemplates: CAP }), lines),
      ),
      { runs: 150, timeMs: 10_000 },
    );
  }, 60_000);

  it("the analyzer's tap never throws, stays linear and keeps at most its cap of signatures", async () => {
    await checkProperty(
      "log lines: analyzer tap",
      FILE,
      fc.asyncProperty(batch, async (lines) =>
        check(await sandbox.run({ kind: "analyzer", lines, maxSignatures: CAP }), lines),
      ),
      { runs: 150, timeMs: 10_000 },
    );
  }, 60_000);
});
