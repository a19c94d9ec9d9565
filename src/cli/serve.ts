import { ConfigError, loadConfig } from "../core/config/index.js";
import { buildApp } from "../server.js";
import { startupSummary, summaryText } from "./startup.js";

/** `tug serve`: load the configuration, build the app, listen, shut down gracefully on SIGTERM/SIGINT. */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tug: invalid configuration: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp({ config });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tug: invalid configuration: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const { logger } = app;
  let signalled: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.error(
        { signal, first: signalled },
        `second signal (${signal}) during shutdown: exiting now without draining`,
      );
      app.flushLogsSync();
      process.exit(130);
    }
    signalled = signal;
    const timeoutMs = config.shutdown.timeoutMs;
    const timer = setTimeout(() => {
      const inFlight = app.metrics?.http.inFlight;
      logger.error(
        { signal, timeoutMs, inFlight: inFlight ? "see http_requests_in_flight" : undefined },
        `shutdown did not finish within ${timeoutMs} ms: exiting`,
      );
      app.flushLogsSync();
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    logger.info({ signal }, "shutdown requested");
    app.shutdown().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "shutdown failed");
        app.flushLogsSync();
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // A bug must never take the process down silently: log it, then stop gracefully.
  process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled promise rejection"));

  const address = await app.listen();
  const summary = startupSummary(app, config, address);
  // A person at a terminal gets the block, and a short line; a process reading stdout gets the
  // whole summary on the JSON line (the file always has it).
  const terminal = Boolean(process.stdout.isTTY) && config.log.stdout;
  logger.info({ address, sessions: app.sessions.kind, ...summary }, "TUG API ready");
  if (terminal) process.stdout.write(summaryText(summary));
}
