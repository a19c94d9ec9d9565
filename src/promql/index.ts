// Public surface of the PromQL capability.
export type * from "./ast.js";
export { FUNCTIONS, type FunctionSignature } from "./functions.js";
export { parseDuration, parseGoNumber, unquoteString } from "./lex.js";
export { PromQLParseError, parseExpr } from "./parse.js";
export * from "./testfile.js";
