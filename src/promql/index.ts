// Public surface of the PromQL capability.
export type * from "./ast.js";
export {
  DEFAULT_LOOKBACK_DELTA_MS,
  DEFAULT_SUBQUERY_INTERVAL_MS,
  type EngineOptions,
  evaluateInstant,
  evaluateRange,
  exprType,
} from "./engine.js";
export { FUNCTIONS, type FunctionSignature } from "./function-signatures.js";
export { parseDuration, parseGoNumber, unquoteString } from "./lex.js";
export {
  isLimitError,
  PromQLCanceledError,
  PromQLSampleLimitError,
  PromQLTimeoutError,
  type QueryLimits,
} from "./limits.js";
export { PromQLParseError, parseExpr } from "./parse.js";
export { almostEqual, type CaseFailure, type FileResult, formatFileResult, runTestFile } from "./runner.js";
export * from "./testfile.js";
export * from "./value.js";
