// /monitoring/logs/*: what the logs say, grouped — templates, error groups, anomalies, trends —
// and a search over the log files themselves.

import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parseInput, queryInt } from "../api/validation.js";
import type { LogAnalyzer } from "../logs/analysis/analyzer.js";
import { searchLogs } from "../logs/search.js";
import { monitoringAuth } from "./auth.js";

export interface LogRoutesOptions {
  analyzer: LogAnalyzer;
  logFile: string;
  token: string | undefined;
  /** Writes the logger's buffered lines to the file (they reach it within 50 ms otherwise). */
  flushLog?: () => Promise<void>;
}

// Any case: the log lines say ERROR, people type error.
const level = z.preprocess(
  (v) => (typeof v === "string" ? v.toLowerCase() : v),
  z.enum(["trace", "debug", "info", "warn", "error", "fatal"]),
);
const time = z.iso.datetime({ offset: true });

export async function logRoutes(app: FastifyInstance, opts: LogRoutesOptions): Promise<void> {
  const { analyzer } = opts;
  app.addHook("onRequest", monitoringAuth(opts.token, new Set()));
  app.addHook("onRequest", async (_req, reply) => {
    reply.header("cache-control", "no-store");
  });

  app.get("/monitoring/logs/patterns", async (req) => {
    analyzer.drain();
    const q = parseInput(
      z.strictObject({
        limit: queryInt({ min: 1, max: 1000 }).default(50),
        level: level.optional(),
      }),
      req.query,
      "query",
    );
    return { ...analyzer.counts(), patterns: analyzer.patterns(q) };
  });

  app.get("/monitoring/logs/errors", async (req) => {
    analyzer.drain();
    const q = parseInput(
      z.strictObject({
        limit: queryInt({ min: 1, max: 1000 }).default(100),
        status: z.enum(["new", "regressed", "ongoing"]).optional(),
      }),
      req.query,
      "query",
    );
    const groups = analyzer.errorGroups().filter((g) => !q.status || g.status === q.status);
    return { groups: groups.slice(0, q.limit), total: groups.length };
  });

  app.get("/monitoring/logs/anomalies", async (req) => {
    const q = parseInput(
      z.strictObject({ limit: queryInt({ min: 1, max: 1000 }).default(100) }),
      req.query,
      "query",
    );
    return { threshold: 0.5, anomalies: analyzer.anomalyList(q.limit) };
  });

  app.get("/monitoring/logs/trends", async (req) => {
    const q = parseInput(
      z.strictObject({ windowMinutes: queryInt({ min: 5, max: 720 }).default(60) }),
      req.query,
      "query",
    );
    return { windowMinutes: q.windowMinutes, ...analyzer.trendList(q.windowMinutes) };
  });

  app.get("/monitoring/logs/search", async (req) => {
    const q = parseInput(
      z.strictObject({
        level: level.optional(),
        template: z.string().min(1).optional(),
        requestId: z.string().min(1).optional(),
        from: time.optional(),
        to: time.optional(),
        q: z.string().min(1).max(200).optional(),
        limit: queryInt({ min: 1, max: 1000 }).default(100),
      }),
      req.query,
      "query",
    );
    // A search right after a request must find that request's lines.
    await opts.flushLog?.();
    return searchLogs(
      opts.logFile,
      {
        limit: q.limit,
        ...(q.level ? { level: q.level } : {}),
        ...(q.template ? { templateId: q.template } : {}),
        ...(q.requestId ? { requestId: q.requestId } : {}),
        ...(q.from ? { fromMs: Date.parse(q.from) } : {}),
        ...(q.to ? { toMs: Date.parse(q.to) } : {}),
        ...(q.q ? { text: q.q } : {}),
      },
      (msg) => analyzer.templateIdOf(msg),
    );
  });
}
