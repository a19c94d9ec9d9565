export { ConfigError, loadConfig, redactConfig } from "./load.js";
export type { Config, ConfigInput } from "./schema.js";
export { configSchema, ENV_SETTINGS, SECRET_PATHS } from "./schema.js";
