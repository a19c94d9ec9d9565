// The log analysis (monitoring and `log.analysis` on): templates mined from the log tap, their
// per-minute queries through the engine, and the /monitoring/logs endpoints.

import { logRoutes } from "../http/logs.js";
import { createLogAnalysis } from "../logs/analysis/index.js";
import type { AppLogger } from "../logs/logger.js";
import { type AppCapability, need } from "./context.js";
import { stateFileBeside } from "./paths.js";

export const logAnalysis: AppCapability = {
  name: "log analysis",
  async build(ctx) {
    const { config, metrics } = ctx;
    if (!metrics || !config.log.analysis.enabled) return [];
    const analysis = createLogAnalysis({
      registry: metrics.registry,
      stateFile: stateFileBeside(config, config.log.analysis.stateFile, "log-analysis.json"),
      maxTemplates: config.log.analysis.maxTemplates,
      now: ctx.now,
      timers: ctx.timers,
      onError: (err) => process.stderr.write(`tug: log analysis: ${(err as Error).message}\n`),
    });
    if (ctx.engine) analysis.useEngine(ctx.engine);
    // From here on, the logger's tap feeds it (src/app/logging.ts).
    ctx.logAnalysis = analysis;
    await need(ctx, "fastify", "log analysis").register(logRoutes, {
      analyzer: analysis.analyzer,
      logFile: config.log.filePath,
      token: config.monitoring.token,
      flushLog: ctx.appLogger ? () => (ctx.appLogger as AppLogger).flush() : undefined,
    });
    return [{ name: "log analysis", start: () => analysis.start(), stop: () => analysis.stop() }];
  },
};
