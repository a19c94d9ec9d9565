/**
 * The fuzz sandbox's worker (see Sandbox in ./support.ts): runs one loader or log-analysis call
 * per message and answers what it returned or threw, with timings. Runs in a worker thread so
 * that the test can terminate it when a call hangs or exhausts its heap.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parentPort } from "node:worker_threads";
import { loadAlertmanagerConfig } from "../../src/alerts/notify/config.js";
import { loadRuleFile } from "../../src/alerts/rules/load.js";
import { loadConfig } from "../../src/core/config/index.js";
import { LogAnalyzer } from "../../src/logs/analysis/index.js";
import { TemplateMiner } from "../../src/logs/patterns/index.js";
import type { SandboxReply, SandboxRequest } from "./support.js";

const dir = mkdtempSync(join(tmpdir(), "tug-fuzz-"));
const port = parentPort;
if (!port) throw new Error("sandbox-worker runs in a worker thread");

function describeError(err: unknown): NonNullable<SandboxReply["error"]> {
  if (err instanceof Error) {
    return { name: err.name, constructor: err.constructor.name, message: err.message };
  }
  return { name: typeof err, constructor: typeof err, message: String(err) };
}

function heapMb(): number {
  return Math.round(process.memoryUsage().heapUsed / 2 ** 20);
}

function handle(req: SandboxRequest): SandboxReply {
  switch (req.kind) {
    case "config":
    case "rules":
    case "alertmanager": {
      const file = join(dir, `${req.kind}.yml`);
      writeFileSync(file, req.text);
      const started = performance.now();
      try {
        if (req.kind === "config") loadConfig({ MONITORING_CONFIG: file });
        else if (req.kind === "rules") loadRuleFile(file);
        else loadAlertmanagerConfig(file);
        return { file, ms: [performance.now() - started] };
      } catch (err) {
        return { file, ms: [performance.now() - started], error: describeError(err) };
      }
    }
    case "miner": {
      const miner = new TemplateMiner({ maxTemplates: req.maxTemplates });
      const ms: number[] = [];
      try {
        for (const line of req.lines) {
          const started = performance.now();
          miner.match(line);
          ms.push(performance.now() - started);
        }
        miner.refine();
        return {
          ms,
          templates: miner.templates().length,
          signatures: miner.toJSON().signatures.length,
          heapUsedMb: heapMb(),
        };
      } catch (err) {
        return { ms, error: describeError(err) };
      }
    }
    case "analyzer": {
      let now = Date.UTC(2026, 0, 1);
      const analyzer = new LogAnalyzer({
        anomalies: { score: () => 0 },
        maxSignatures: req.maxSignatures,
        now: () => now,
      });
      const ms: number[] = [];
      try {
        for (const line of req.lines) {
          const started = performance.now();
          analyzer.tap(line);
          analyzer.drain();
          ms.push(performance.now() - started);
          now += 7_000;
        }
        analyzer.tick();
        // Everything the API reads must work on whatever was analysed.
        analyzer.patterns({ limit: 100 });
        analyzer.errorGroups();
        analyzer.trendList();
        analyzer.anomalyList(10);
        JSON.stringify(analyzer.toJSON());
        const c = analyzer.counts();
        return { ms, templates: c.templates, signatures: c.signatures, heapUsedMb: heapMb() };
      } catch (err) {
        return { ms, error: describeError(err) };
      }
    }
  }
}

port.on("message", (req: SandboxRequest & { id: number }) => {
  port.postMessage({ ...handle(req), id: req.id });
});
port.postMessage("ready");
