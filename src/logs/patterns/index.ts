// Template mining: messages in, templates with stable ids out (pure: no I/O here).
export {
  compileLogFormat,
  type InputMode,
  LineParser,
  type LogFormat,
  parseLine,
  pinoLevelName,
} from "./format.js";
export {
  type MinedTemplate,
  type MinerOptions,
  type MinerSnapshot,
  type TemplateInfo,
  TemplateMiner,
  templateId,
  VARIABLE_MIN_DISTINCT,
} from "./miner.js";
export { maskMessage, WILDCARD } from "./tokenize.js";
