import { existsSync } from "node:fs";
import type { Config } from "./config/index.js";

/** A relative path from the working directory if it is there, else from the install folder. */
export function resolveInstallPath(p: string): string {
  if (p.startsWith("/") || existsSync(p)) return p;
  const bundled = new URL(`../../${p}`, import.meta.url).pathname;
  return existsSync(bundled) ? bundled : p;
}

/** Base of links back to the app (alerts' generatorURL, notifications): configured, else HOST:PORT. */
export function externalUrl(config: Config): string {
  return config.notifications.externalUrl ?? `http://${config.server.host}:${config.server.port}/monitoring`;
}
