import { performance } from "node:perf_hooks";
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8";
import type { FastifyInstance } from "fastify";
import {
  HEALTH_CONTENT_TYPE,
  type HealthReport,
  type HealthRunner,
  httpStatusFor,
  type LivenessMonitor,
  renderChecks,
  renderHealth,
  renderHealthPlain,
  type ServiceInfo,
  wantsHealthJson,
} from "../health/index.js";
import {
  type Metrics,
  type MetricsSummary,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  renderOpenMetrics,
  ScrapeBudget,
  wantsOpenMetrics,
} from "../metrics/index.js";
import { monitoringAuth } from "./auth.js";

export type Lifecycle = "starting" | "ready" | "draining" | "stopped";

export interface MonitoringRoutesOptions {
  metrics: Metrics;
  summary: MetricsSummary;
  health: HealthRunner;
  liveness: LivenessMonitor;
  token: string | undefined;
  service: ServiceInfo;
  environment: string;
  startedAt: number;
  lifecycle: () => Lifecycle;
  /** Applied to every response body: the secrets of this configuration never leave. */
  scrub: (text: string) => string;
  /** /monitoring/debug/info; undefined when it is off. */
  debugInfo: (() => Record<string, unknown>) | undefined;
  /** The notifier's counts for /monitoring/status; undefined when it is off. */
  alertSummary?: (() => Record<string, unknown>) | undefined;
  /** The deployment being watched (or the last one) for /monitoring/status; null when none. */
  deployment?: (() => Record<string, unknown> | null) | undefined;
  /** Each SLO's objective, remaining budget and burn rates, read through the engine; undefined when it is off. */
  slo?: (() => Promise<unknown>) | undefined;
  /** Renders of /monitoring/metrics allowed per second (src/metrics/scrape-budget.ts); 0: no bound. */
  scrapeRendersPerSecond: number;
}

/** The oldest render a scrape past the budget is answered with. */
const SCRAPE_MAX_AGE_MS = 1000;

/** Probes stay open whatever the token: Kubernetes cannot send one. */
export const OPEN_MONITORING_ROUTES = new Set(["/monitoring/health/live", "/monitoring/health/ready"]);

const NO_STORE = "no-store";

/** /monitoring/*: health, probes, status, debug info, the scrape endpoint and its JSON summary. */
export async function monitoringRoutes(app: FastifyInstance, opts: MonitoringRoutesOptions): Promise<void> {
  const { registry } = opts.metrics;
  const { health, service } = opts;
  app.addHook("onRequest", monitoringAuth(opts.token, OPEN_MONITORING_ROUTES));
  // Last line of defence for outputs, as for logs: check outputs quote errors from drivers.
  app.addHook("onSend", async (_req, _reply, payload) =>
    typeof payload === "string" ? opts.scrub(payload) : payload,
  );

  // Two forms of one document: the IETF application/health+json one when Accept asks for it,
  // else plain JSON whose checks are a list with names (the seed's jq filter). The probes below
  // keep health+json: Kubernetes reads only their status codes.
  app.get("/monitoring/health", async (req, reply) => {
    const report = await health.report();
    reply.code(httpStatusFor(report.status)).header("cache-control", NO_STORE).header("vary", "accept");
    if (wantsHealthJson(req.headers.accept))
      return reply.type(HEALTH_CONTENT_TYPE).send(renderHealth(report, service));
    return reply.type("application/json; charset=utf-8").send(renderHealthPlain(report, service));
  });

  app.get("/monitoring/health/live", async (_req, reply) => {
    const live = opts.liveness.check();
    reply.code(httpStatusFor(live.status)).type(HEALTH_CONTENT_TYPE).header("cache-control", NO_STORE);
    return {
      status: live.status,
      serviceId: service.serviceId,
      ...(live.output ? { output: live.output } : {}),
    };
  });

  // Readiness is read on every probe under load: the body is rendered once per report.
  const readyBodies = new WeakMap<HealthReport, string>();
  app.get("/monitoring/health/ready", async (_req, reply) => {
    reply.type(HEALTH_CONTENT_TYPE).header("cache-control", NO_STORE);
    const state = opts.lifecycle();
    if (state !== "ready") {
      return reply.code(503).send({
        status: "fail",
        serviceId: service.serviceId,
        output: state === "starting" ? "starting: migrations and first checks not done" : "shutting down",
      });
    }
    const report = await health.report({ stale: "serve" });
    let body = readyBodies.get(report);
    if (body === undefined) {
      body = JSON.stringify(
        renderHealth(report, service, {
          status: report.criticalStatus,
          filter: (r) => r.critical,
          output: report.criticalStatus === "fail" ? undefined : "",
        }),
      );
      readyBodies.set(report, body);
    }
    return reply.code(httpStatusFor(report.criticalStatus)).send(body);
  });

  app.get("/monitoring/status", async (_req, reply) => {
    reply.header("cache-control", NO_STORE);
    const [report, summary, slo] = await Promise.all([
      health.report(),
      opts.summary.build({ families: false }),
      opts.slo?.(),
    ]);
    const now = Date.now();
    return {
      service: service.serviceId,
      version: service.releaseId,
      environment: opts.environment,
      state: opts.lifecycle(),
      startedAt: new Date(opts.startedAt).toISOString(),
      uptimeSeconds: Math.round((now - opts.startedAt) / 100) / 10,
      status: report.status,
      checks: renderChecks(report.results),
      http: summary.http,
      database: summary.database,
      system: summary.system,
      users: summary.users,
      ...(opts.alertSummary ? { alerts: opts.alertSummary() } : {}),
      ...(opts.deployment ? { deployment: opts.deployment() } : {}),
      ...(opts.slo ? { slo } : {}),
    };
  });

  app.get("/monitoring/debug/info", async (_req, reply) => {
    if (!opts.debugInfo) return reply.callNotFound();
    reply.header("cache-control", NO_STORE);
    return opts.debugInfo();
  });

  // A render is scrubbed and encoded once (a Buffer passes the onSend scrub above untouched), so a
  // scrape answered with the last render costs only its connection and the write.
  const budget = new ScrapeBudget<Buffer>({
    perSecond: opts.scrapeRendersPerSecond,
    maxAgeMs: SCRAPE_MAX_AGE_MS,
  });
  const { scrapes } = opts.metrics;
  app.get("/monitoring/metrics", async (req, reply) => {
    reply.header("cache-control", NO_STORE);
    const om = wantsOpenMetrics(req.headers.accept);
    reply.type(om ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE);
    const { body, fresh, ageMs } = await budget.serve(om ? "openmetrics" : "text", async () =>
      Buffer.from(opts.scrub(await (om ? renderOpenMetrics(registry) : registry.metrics()))),
    );
    scrapes.inc({ render: fresh ? "fresh" : "reused" });
    // Past the budget the answer is the last render: say how old its values are (under 1 s).
    if (!fresh) reply.header("x-tug-render-age-ms", ageMs.toFixed(1));
    return body;
  });

  app.get("/monitoring/metrics/json", async (_req, reply) => {
    reply.header("cache-control", NO_STORE);
    return opts.summary.build();
  });
}

/** Runtime details for /monitoring/debug/info; `config` must already be redacted. */
export function debugInfo(
  config: unknown,
  service: ServiceInfo,
  startedAt: number,
): () => Record<string, unknown> {
  let lastElu = performance.eventLoopUtilization();
  return () => {
    const elu = performance.eventLoopUtilization(lastElu);
    lastElu = performance.eventLoopUtilization();
    const resources: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
    const heap = getHeapStatistics();
    return {
      service: service.serviceId,
      version: service.releaseId,
      startedAt: new Date(startedAt).toISOString(),
      uptimeSeconds: Math.round(process.uptime() * 10) / 10,
      pid: process.pid,
      platform: `${process.platform} ${process.arch}`,
      versions: process.versions,
      memory: {
        ...process.memoryUsage(),
        heapSizeLimit: heap.heap_size_limit,
        heapSpaces: getHeapSpaceStatistics().map((s) => ({
          name: s.space_name,
          size: s.space_size,
          used: s.space_used_size,
          available: s.space_available_size,
        })),
      },
      activeResources: resources,
      eventLoopUtilization: { sinceLastCall: Math.round(elu.utilization * 1e4) / 1e4 },
      resourceUsage: process.resourceUsage(),
      config,
    };
  };
}
