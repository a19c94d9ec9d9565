// Public surface of the SLOs: the SLO file, the rules it implies, the status read from the engine.

export { burnFactor, errorBudget, generateRules, PAGE, TICKET } from "./generate.js";
export {
  BURN_WINDOWS,
  type BurnWindow,
  defaultBuckets,
  KNOWN_METRICS,
  loadSloFile,
  type Objective,
  parseSloFile,
  type Service,
  SloFileError,
  type SloSpec,
} from "./spec.js";
export { SLO_STATUS_QUERY, type SloStatusEntry, sloEntries, sloStatus } from "./status.js";
