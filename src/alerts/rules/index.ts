// Public surface of the rules capability: rule files → evaluator state machine.

export type { Timers } from "../../core/clock.js";
export type { PostableAlert } from "../wire.js";
export {
  type Alert,
  type AlertChange,
  type AlertState,
  type ApiAlert,
  type ApiAlertingRule,
  type ApiRecordingRule,
  type ApiRuleGroup,
  DEFAULT_EVALUATION_INTERVAL_MS,
  DEFAULT_RESEND_DELAY_MS,
  type GroupEvaluation,
  type GroupEvaluationStart,
  RESOLVED_RETENTION_MS,
  RuleEngine,
  type RuleEngineOptions,
  type RuleFailure,
  type RuleHealth,
} from "./engine.js";
export { type GroupDef, loadRuleFile, parseRuleFile, type RuleDef, RuleFileError } from "./load.js";
export {
  executeTemplate,
  expandTemplate,
  humanize,
  humanize1024,
  humanizeDuration,
  humanizePercentage,
  humanizeTimestamp,
  parseTemplate,
  sprintf,
  type Template,
  type TemplateData,
  TemplateError,
} from "./template.js";
export { runRuleTestFile, type UnitTestResult } from "./unittest.js";
