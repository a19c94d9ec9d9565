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

/**
 * The plain application/json form of the same document (what `curl` gets): `checks` is a list of
 * objects carrying their `name` and `measurement`, so the seed's documented
 * `jq '.checks[] | select(.name=="database")'` works. The IETF form is served when the client's
 * Accept asks for application/health+json (see `wantsHealthJson`).
 */
export function renderHealthPlain(report: HealthReport, service: ServiceInfo) {
  const { checks: _keyed, ...doc } = renderHealth(report, service);
  return {
    ...doc,
    checks: report.results.map((r) => ({
      name: r.name,
      measurement: r.key.slice(r.key.indexOf(":") + 1),
      ...entry(r),
    })),
  };
}

/** True when the Accept header names application/health+json (the IETF draft's media type). */
export function wantsHealthJson(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*application\/health\+json\s*(;|,|$)/i.test(accept);
}

export function httpStatusFor(status: HealthStatus): number {
  return status === "fail" ? 503 : 200;
}
