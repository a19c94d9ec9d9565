import { ConfigError, loadConfig } from "../core/config/index.js";
import { buildApp } from "../server.js";

/** `tug serve`: load the configuration, build the app, listen, stop cleanly on SIGTERM/SIGINT. */
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
  const app = await buildApp({ config });
  const address = await app.listen();
  app.logger.info(
    { address, environment: config.environment, database: app.db.dialect, sessions: app.sessions.kind },
    "TUG API listening",
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      app.logger.error({ signal }, "second signal during shutdown: exiting now");
      process.exit(1);
    }
    stopping = true;
    app.logger.info({ signal }, "shutting down");
    app.close().then(
      () => process.exit(0),
      (err) => {
        app.logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
