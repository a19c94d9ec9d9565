// Public surface of the monitoring engine: the async interface the app codes against, the worker
// client the app runs by default, and the in-process engine for injected clocks and tests.
export { EngineClient, type EngineClientOptions, type EngineLogger } from "./client.js";
export { EngineHost, type EngineHostOptions, type EngineSettings, toEngineError } from "./host.js";
export { InlineEngine, type InlineEngineOptions } from "./inline.js";
export * from "./protocol.js";
export { formatTimestamp, renderQueryData } from "./queries.js";
