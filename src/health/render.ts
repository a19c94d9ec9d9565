import type { CheckResult, HealthReport, HealthStatus } from "./types.js";

export const HEALTH_CONTENT_TYPE = "application/health+json";

export interface ServiceInfo {
  serviceId: string;
  version: string;
  releaseId: string;
  description?: string;
}

/** One check entry of the IETF "Health Check Response Format for HTTP APIs" draft. */
function entry(r: CheckResult) {
  return {
    ...(r.componentId !== undefined ? { componentId: r.componentId } : {}),
    componentType: r.componentType,
    ...(r.observedValue !== undefined ? { observedValue: r.observedValue } : {}),
    ...(r.observedUnit !== undefined ? { observedUnit: r.observedUnit } : {}),
    status: r.status,
    time: r.time,
    ...(r.output ? { output: r.output } : {}),
  };
}

/** `checks` keyed `component:measurement`, each an array of entries. */
export function renderChecks(results: CheckResult[], filter?: (r: CheckResult) => boolean) {
  const checks: Record<string, ReturnType<typeof entry>[]> = {};
  for (const r of results) {
    if (filter && !filter(r)) continue;
    let list = checks[r.key];
    if (!list) {
      list = [];
      checks[r.key] = list;
    }
    list.push(entry(r));
  }
  return checks;
}

/** The whole application/health+json document. */
export function renderHealth(
  report: HealthReport,
  service: ServiceInfo,
  opts: { status?: HealthStatus; filter?: (r: CheckResult) => boolean; output?: string } = {},
) {
  const status = opts.status ?? report.status;
  const failing = report.results.filter((r) => r.status === "fail").map((r) => r.name);
  const output =
    opts.output ?? (failing.length > 0 ? `failing: ${[...new Set(failing)].join(", ")}` : undefined);
  return {
    status,
    version: service.version,
    releaseId: service.releaseId,
    serviceId: service.serviceId,
    ...(service.description ? { description: service.description } : {}),
    ...(output ? { output } : {}),
    checks: renderChecks(report.results, opts.filter),
  };
}

export function httpStatusFor(status: HealthStatus): number {
  return status === "fail" ? 503 : 200;
}
