// Logging: the secrets every log line and response is scrubbed of, the logger (stdout and the
// rotating file, tapped by the log analysis once it exists), and the service's identity. The
// logger outlives the lifecycle (the lifecycle logs through it): the composition root closes it
// after the last unit stopped.

import { readFileSync } from "node:fs";
import type { Config } from "../core/config/index.js";
import { type AppLogger, createLogger, type FileSink } from "../logs/logger.js";
import { secretValues } from "../logs/redact.js";
import { createLogThread } from "../logs/thread/index.js";
import type { AppCapability } from "./context.js";

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0"; // no package.json beside the sources (an unusual install): the version is unknown
  }
}

/**
 * The log file of `log.*`: rotated by size and day, kept by count and age, gzipped; written by
 * the log thread (src/logs/thread), which also writes the JSON lines of `stdout` when asked to.
 */
function logThreadSink(config: Config, secrets: string[], stdout: boolean): FileSink {
  const r = config.log.rotation;
  return createLogThread({
    rotation: {
      filePath: config.log.filePath,
      maxSizeBytes: r.maxSizeBytes,
      daily: r.daily,
      maxFiles: r.maxFiles,
      maxAgeDays: r.maxAgeDays,
      compress: r.compress,
    },
    stdout,
    secrets,
    onError: (err) => process.stderr.write(`tug: log file error: ${err.message}\n`),
  });
}

export const logging: AppCapability = {
  name: "logging",
  build(ctx) {
    const { config, opts } = ctx;
    const secrets = secretValues(
      [
        config.monitoring.token,
        config.notifications.smtp.password,
        config.notifications.slackWebhookUrl,
        config.notifications.webhookSigningSecret,
        config.monitoring.grafanaAdminPassword,
      ],
      [config.database.url, config.redis.url, ...config.health.targets.map((t) => t.url)],
    );
    let appLogger: AppLogger;
    if (opts.logger) {
      const given = opts.logger;
      appLogger = {
        logger: given,
        flush: async () => undefined,
        close: async () => undefined,
        flushSync: () => given.flush(),
      };
    } else {
      const pretty =
        config.log.pretty === "always" ||
        (config.log.pretty === "auto" &&
          Boolean(process.stdout.isTTY) &&
          config.environment === "development");
      appLogger = createLogger({
        level: config.log.level,
        stdout: config.log.stdout,
        pretty,
        file: opts.fileSink
          ? opts.fileSink(config)
          : logThreadSink(config, secrets, config.log.stdout && !pretty),
        secrets,
        // Lines written before the analysis exists (the first start-up lines) are not analysed.
        tap: (line) => ctx.logAnalysis?.analyzer.tap(line),
        tapSame: (line) => ctx.logAnalysis?.analyzer.tapSame(line),
      });
    }
    const logger = appLogger.logger;
    if (config.environment === "production" && config.monitoring.grafanaAdminPassword === "admin123") {
      logger.warn(
        { event: "insecure_default", setting: "GRAFANA_ADMIN_PASSWORD" },
        "GRAFANA_ADMIN_PASSWORD is the documented development default: set a strong password for the stack's Grafana",
      );
    }
    const version = packageVersion();
    ctx.secrets = secrets;
    ctx.appLogger = appLogger;
    ctx.logger = logger;
    ctx.service = {
      serviceId: config.service.name,
      version: version.split(".")[0] ?? "0",
      releaseId: config.service.releaseId ?? version,
      description: "TUG API",
    };
    return [];
  },
};
