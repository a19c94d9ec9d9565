// Where the app's state files go, and the app's own external URL.

import { dirname, join } from "node:path";
import type { Config } from "../core/config/index.js";
import { externalUrl } from "../core/install.js";

/** A state file: as configured, else beside the SQLite database, else under ./data. */
export function stateFileBeside(config: Config, configured: string | undefined, name: string): string {
  if (configured) return configured;
  const url = config.database.url;
  if (url.startsWith("sqlite:") && url !== "sqlite::memory:")
    return join(dirname(url.slice("sqlite:".length)), name);
  return join("./data", name);
}

/** The app's external URL: alerts and notifications link back to it. */
export function linkBase(config: Config): string {
  return externalUrl(config);
}
