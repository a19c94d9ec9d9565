export {
  databaseCheck,
  eventLoopCheck,
  redisCheck,
  resourceChecks,
  type TargetConfig,
  targetCheck,
} from "./checks.js";
export { LivenessMonitor } from "./liveness.js";
export {
  HEALTH_CONTENT_TYPE,
  httpStatusFor,
  renderChecks,
  renderHealth,
  renderHealthPlain,
  type ServiceInfo,
  wantsHealthJson,
} from "./render.js";
export { type CustomCheck, HealthRunner, type RegisterOptions } from "./runner.js";
export type { CheckResult, CheckSpec, HealthReport, HealthStatus, Observation } from "./types.js";
