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

/**
 * The durable store's folder (docs/storage.md), or undefined for a store in memory only: as
 * configured ("memory" for none), else tsdb/ beside a SQLite database, else ./data/tsdb; with
 * sqlite::memory: and nothing configured, in memory, as the database itself.
 */
export function tsdbFolder(config: Config): string | undefined {
  const configured = config.tsdb.path;
  if (configured === "memory") return undefined;
  if (!configured && config.database.url === "sqlite::memory:") return undefined;
  return stateFileBeside(config, configured, "tsdb");
}

/** The app's external URL: alerts and notifications link back to it. */
export function linkBase(config: Config): string {
  return externalUrl(config);
}
